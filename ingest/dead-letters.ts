/**
 * Lines InfluxDB refused for good (type conflict, unparseable, too large): kept, not retried
 * forever. Each goes to an append-only NDJSON file (time, reason, status, InfluxDB's error,
 * the line) and, as a `dead_letter` point, to InfluxDB itself, where operators can query them.
 */
import { appendFile } from 'node:fs/promises';
import { deadLetterToLine } from '../common/influx-schema.ts';
import type { Logger } from '../common/logger.ts';
import type { BatchWriter, DeadLetter } from './influx-writer.ts';

export interface DeadLetterKeeper {
  /** Keeps the letters; `stop` says when to give up writing them to InfluxDB (shutdown). */
  keep(letters: DeadLetter[], stop: () => boolean): Promise<void>;
}

export function createDeadLetterKeeper(options: { file: string; writer: BatchWriter; logger: Logger; onKept?: (letter: DeadLetter) => void }): DeadLetterKeeper {
  const log = options.logger;
  return {
    async keep(letters, stop) {
      const at = Date.now();
      const text = letters.map((l) => JSON.stringify({ at: new Date(at).toISOString(), ...l })).join('\n');
      try {
        await appendFile(options.file, `${text}\n`);
      } catch (error) {
        log.error({ err: String(error), file: options.file }, 'could not append to the dead-letter file');
      }
      for (const letter of letters) options.onKept?.(letter);
      try {
        const result = await options.writer.write(letters.map((l) => deadLetterToLine(l, at)), stop);
        if (result.deadLetters.length > 0) log.error({ count: result.deadLetters.length }, 'InfluxDB refused dead-letter records too; they are in the dead-letter file');
      } catch {
        // shutting down: the file has them
      }
    },
  };
}
