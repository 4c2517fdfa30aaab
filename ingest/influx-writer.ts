/**
 * Batches line-protocol lines into InfluxDB writes: a batch goes out when it reaches
 * `batchSize` lines or `flushIntervalMs` after its first line, whichever is first. One
 * write is in flight at a time so batches land in order; retryable failures (network,
 * 5xx, 429) are retried with capped exponential backoff, a 413 splits the batch, and a
 * 400 (InfluxDB has already stored every good line of it) is reported to `onRejectedBatch`.
 *
 * Each `add` returns a promise settled when its batch is stored (or finally refused), so a
 * caller can acknowledge upstream only after the data is safe.
 */
import type { InfluxClient } from '../common/influx.ts';
import { AppError, isAppError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';

export interface InfluxWriterOptions {
  client: Pick<InfluxClient, 'write'>;
  batchSize?: number;
  flushIntervalMs?: number;
  /** Lines held (queued + in flight) before `add` refuses more: memory stays bounded. */
  maxBufferLines?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  logger?: Logger;
  /** A batch InfluxDB refused with 400: its good lines are stored, the bad ones dropped by the server. */
  onRejectedBatch?: (lines: readonly string[], error: AppError) => void;
}

export interface WriterStats {
  queuedLines: number;
  writtenLines: number;
  batches: number;
  retries: number;
  failedBatches: number;
  refusedLines: number;
  /** true while InfluxDB is failing and the writer is retrying */
  outage: boolean;
  lastWriteMs: number | undefined;
}

interface Pending {
  line: string;
  settle: (error?: Error) => void;
}

export interface InfluxWriter {
  /** Queues a line; resolves once stored, rejects if it was refused. Throws BUFFER_FULL synchronously when full. */
  add(line: string): Promise<void>;
  /** Like add, for a caller that does not wait for the outcome. Returns false when the buffer is full. */
  offer(line: string): boolean;
  flush(): Promise<void>;
  stats(): WriterStats;
  close(): Promise<void>;
}

export function createInfluxWriter(options: InfluxWriterOptions): InfluxWriter {
  const log = options.logger ?? createSilentLogger();
  const batchSize = options.batchSize ?? 5_000;
  const flushIntervalMs = options.flushIntervalMs ?? 100;
  const maxBufferLines = options.maxBufferLines ?? 100_000;
  const retryInitialMs = options.retryInitialMs ?? 200;
  const retryMaxMs = options.retryMaxMs ?? 10_000;

  let queue: Pending[] = [];
  let inFlight = 0;
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> | undefined;
  let closed = false;
  let outageSince: number | undefined;
  const stats = { writtenLines: 0, batches: 0, retries: 0, failedBatches: 0, refusedLines: 0, lastWriteMs: undefined as number | undefined };
  const noop = () => {};

  function enqueue(pending: Pending): boolean {
    if (closed || queue.length + inFlight >= maxBufferLines) return false;
    queue.push(pending);
    if (queue.length >= batchSize) kick();
    else timer ??= setTimeout(kick, flushIntervalMs);
    return true;
  }

  function kick(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    writing ??= drain().finally(() => {
      writing = undefined;
      if (queue.length > 0) kick();
    });
  }

  async function drain(): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice(0, batchSize);
      queue = queue.slice(batch.length);
      inFlight = batch.length;
      await writeWithRetry(batch);
      inFlight = 0;
    }
  }

  async function writeWithRetry(batch: Pending[]): Promise<void> {
    let delay = retryInitialMs;
    for (;;) {
      try {
        const started = Date.now();
        await options.client.write(batch.map((p) => p.line));
        stats.lastWriteMs = Date.now() - started;
        stats.batches += 1;
        stats.writtenLines += batch.length;
        if (outageSince !== undefined) {
          log.info({ outageMs: Date.now() - outageSince, buffered: queue.length + batch.length }, 'InfluxDB writes recovered');
          outageSince = undefined;
        }
        for (const p of batch) p.settle();
        return;
      } catch (error) {
        const storeError = isAppError(error) ? error : new AppError('STORE_UNAVAILABLE', String(error), { cause: error, retryable: true });
        const status = storeError.details?.status;
        if (status === 413 && batch.length > 1) {
          // Body too large for the server: halve until it fits.
          const half = Math.ceil(batch.length / 2);
          await writeWithRetry(batch.slice(0, half));
          await writeWithRetry(batch.slice(half));
          return;
        }
        if (!storeError.retryable || closed) {
          stats.failedBatches += 1;
          stats.refusedLines += batch.length;
          log.warn({ lines: batch.length, status, err: storeError.message }, 'InfluxDB refused a batch');
          options.onRejectedBatch?.(batch.map((p) => p.line), storeError);
          for (const p of batch) p.settle(storeError);
          return;
        }
        if (outageSince === undefined) {
          outageSince = Date.now();
          log.warn({ err: storeError.message, buffered: queue.length + batch.length }, 'InfluxDB write failing; buffering and retrying');
        }
        stats.retries += 1;
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, retryMaxMs);
      }
    }
  }

  return {
    add(line) {
      return new Promise<void>((resolve, reject) => {
        const accepted = enqueue({ line, settle: (error) => (error ? reject(error) : resolve()) });
        if (!accepted) reject(new AppError('STORE_UNAVAILABLE', 'write buffer full', { retryable: true }));
      });
    },
    offer(line) {
      return enqueue({ line, settle: noop });
    },
    async flush() {
      if (queue.length > 0) kick();
      while (writing) await writing;
    },
    stats() {
      return { queuedLines: queue.length + inFlight, ...stats, outage: outageSince !== undefined };
    },
    async close() {
      if (queue.length > 0) kick();
      while (writing) await writing;
      closed = true;
      if (timer) clearTimeout(timer);
    },
  };
}
