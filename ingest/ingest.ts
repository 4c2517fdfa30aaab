/**
 * The ingest worker: drains the edge's durable log into InfluxDB.
 *
 *   edge (broker process) ──append, fsync, PUBACK──▶ log (DATA_DIR/log)
 *                                                     └─▶ ingest ──batches, retry──▶ InfluxDB ─▶ checkpoint
 *
 * Every line in the log is line protocol (a reading or a rejection) that the edge already
 * validated and acknowledged. Ingest reads whole frames after its checkpoint, writes them in
 * batches, and moves the checkpoint once InfluxDB has them (or has refused them for good: dead
 * letters, kept in a file and as `dead_letter` points). A crash replays from the checkpoint;
 * the repeat is absorbed because a point with the same measurement, tags and timestamp
 * overwrites itself. An InfluxDB outage only makes the log longer.
 *
 * Ingest needs neither the broker nor a session on it: it reads files. It runs as its own
 * process (`npm run ingest`, sharing DATA_DIR with the broker) or in the broker's process
 * (the lab), and is restartable on its own at any moment without loss.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { InfluxClient } from '../common/influx.ts';
import { REJECTED_MEASUREMENT } from '../common/influx-schema.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { createMetricsRegistry, type MetricsRegistry } from '../common/metrics.ts';
import { openLogReader, type LogBacklog, type LogReader } from '../common/spool/log-reader.ts';
import { createDeadLetterKeeper } from './dead-letters.ts';
import { createBatchWriter, type DeadLetter } from './influx-writer.ts';
import { createIngestMetrics } from './metrics.ts';

export interface IngestOptions {
  /** The edge's log directory (DATA_DIR/log). */
  logDir: string;
  /** This consumer's name: its checkpoint is `<logDir>/consumers/<name>.json` (default `ingest`). */
  consumer?: string;
  influx: Pick<InfluxClient, 'write'> & Partial<Pick<InfluxClient, 'ensureDatabase' | 'ping'>>;
  /** Lines per InfluxDB write (default 5,000). */
  batchSize?: number;
  /** Longest a lightly loaded drainer waits to fill a batch (default 100 ms). */
  flushIntervalMs?: number;
  /** How often an idle drainer looks for new frames (default 20 ms); `wake()` skips the wait. */
  pollIntervalMs?: number;
  retryMaxMs?: number;
  /** On close, how long to keep draining into InfluxDB (default 5 s); the rest waits in the log. */
  closeDrainTimeoutMs?: number;
  /** Where dead letters are kept (default `<logDir>/dead-letters.ndjson`). */
  deadLetterFile?: string;
  logger?: Logger;
  /** Where the metrics go (a fresh registry when omitted). */
  metrics?: MetricsRegistry;
}

export interface IngestCounters {
  /** Lines stored in InfluxDB (readings and rejections). */
  stored: number;
  storedReadings: number;
  storedRejections: number;
  /** Lines InfluxDB refused, kept as dead letters. */
  deadLettered: number;
}

export interface WriterStats {
  writtenLines: number;
  batches: number;
  retries: number;
  failedBatches: number;
  refusedLines: number;
  /** true while InfluxDB is failing and the drainer is retrying */
  outage: boolean;
  lastWriteMs: number | undefined;
}

export interface Ingest {
  /** Resolves once the log is open and the drainer running. */
  ready: Promise<void>;
  counters(): IngestCounters;
  writer(): WriterStats;
  /** What is in the log and not yet stored. */
  backlog(): LogBacklog;
  /** New frames were committed (an edge in the same process says so): read now. */
  wake(): void;
  /** InfluxDB reachable and writes succeeding. */
  health(): Promise<{ ok: boolean; checks: Record<string, { ok: boolean; detail?: string }> }>;
  readonly metrics: MetricsRegistry;
  /** Resolves once everything in the log when called is stored in InfluxDB. */
  flush(): Promise<void>;
  /** Drains within the bound, then closes; what is left waits in the log for the next start. */
  close(): Promise<void>;
}

const REJECTED_PREFIX = `${REJECTED_MEASUREMENT},`;

export function createIngest(options: IngestOptions): Ingest {
  const log = options.logger ?? createSilentLogger();
  const batchSize = options.batchSize ?? 5_000;
  const flushIntervalMs = options.flushIntervalMs ?? 100;
  const closeDrainTimeoutMs = options.closeDrainTimeoutMs ?? 5_000;
  const deadLetterFile = options.deadLetterFile ?? join(options.logDir, 'dead-letters.ndjson');
  const counters: IngestCounters = { stored: 0, storedReadings: 0, storedRejections: 0, deadLettered: 0 };
  const stats = { batches: 0, retries: 0, failedBatches: 0, lastWriteMs: undefined as number | undefined };
  let reader: LogReader | undefined;

  const metrics = options.metrics ?? createMetricsRegistry();
  const m = createIngestMetrics(metrics, { backlog: () => reader?.backlog(), inOutage: () => writer.inOutage() });

  const backlogForLogs = () => {
    const backlog = reader?.backlog();
    return { backlogBytes: backlog?.bytes ?? 0, oldestSeconds: backlog?.oldestAtMs ? Math.round((Date.now() - backlog.oldestAtMs) / 1000) : 0 };
  };

  const writer = createBatchWriter({
    client: options.influx,
    logger: log,
    retryMaxMs: options.retryMaxMs ?? 5_000,
    onWrite(lines, seconds) {
      m.wrote(lines, seconds);
      stats.batches += 1;
      stats.lastWriteMs = Math.round(seconds * 1000);
    },
    onRetry() {
      m.retried();
      stats.retries += 1;
    },
    onOutage(state) {
      if (state === 'start') m.outageStarted();
    },
    buffered: backlogForLogs,
  });

  let drainStop = false;
  let flushRequested = 0;

  async function drainLoop(): Promise<void> {
    const source = reader!;
    while (!drainStop) {
      // Lightly loaded: wait up to flushIntervalMs for a batch worth a request.
      const batch = await source.nextBatch(batchSize, batchSize * 512, flushRequested > 0 ? 20 : flushIntervalMs);
      if (!batch) continue;
      let result;
      try {
        result = await writer.write(batch.records, () => drainStop);
      } catch (error) {
        log.info({ err: error instanceof Error ? error.message : String(error), ...backlogForLogs() }, 'drain stopped with lines left in the log; they are written on the next start');
        return;
      }
      counters.stored += result.stored;
      if (result.deadLetters.length > 0) {
        stats.failedBatches += 1;
        await keepDeadLetters(result.deadLetters);
      }
      let rejections = 0;
      const refused = new Set(result.deadLetters.map((d) => d.line));
      for (const line of batch.records) if (line.startsWith(REJECTED_PREFIX) && !refused.has(line)) rejections += 1;
      counters.storedRejections += rejections;
      counters.storedReadings += result.stored - rejections;
      m.stored(result.stored - rejections, rejections);
      await source.acknowledge(batch);
    }
  }

  const deadLetters = createDeadLetterKeeper({ file: deadLetterFile, writer, logger: log, onKept: (letter) => m.deadLettered(letter.reason) });
  async function keepDeadLetters(letters: DeadLetter[]): Promise<void> {
    counters.deadLettered += letters.length;
    await deadLetters.keep(letters, () => drainStop);
  }

  let draining: Promise<void> | undefined;
  let closing = false;
  const ready = (async () => {
    mkdirSync(options.logDir, { recursive: true });
    reader = await openLogReader({
      dir: options.logDir,
      consumer: options.consumer ?? 'ingest',
      ...(options.pollIntervalMs ? { pollIntervalMs: options.pollIntervalMs } : {}),
      onCorruptFrame(info) {
        log.warn(info, 'log: skipped a damaged frame (a write cut short by a crash, never acknowledged)');
      },
    });
    const backlog = reader.backlog();
    if (backlog.bytes > 0) log.info({ ...backlogForLogs(), dir: options.logDir }, 'log has lines not yet stored; writing them into InfluxDB');
    if (closing) return;
    draining = drainLoop().catch((error: unknown) => log.error({ err: error }, 'drain loop failed'));
  })();
  ready.catch(() => {});

  let closingPromise: Promise<void> | undefined;
  async function doClose(): Promise<void> {
    closing = true;
    await ready.catch(() => {});
    if (!reader) return;
    const drainedInTime = await Promise.race([reader.drained().then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), closeDrainTimeoutMs))]);
    drainStop = true;
    writer.interrupt();
    reader.wake();
    // A write already on the wire gets a moment to finish (its batch is then acknowledged).
    await Promise.race([draining, new Promise((resolve) => setTimeout(resolve, 2_000))]);
    const left = reader.backlog();
    await reader.close();
    if (!drainedInTime || left.bytes > 0) log.warn({ backlogBytes: left.bytes, dir: options.logDir }, 'closed with lines still in the log; the next start writes them');
    log.info(counters, 'ingest closed');
  }

  return {
    ready,
    counters: () => ({ ...counters }),
    writer: () => ({
      writtenLines: counters.stored,
      batches: stats.batches,
      retries: stats.retries,
      failedBatches: stats.failedBatches,
      refusedLines: counters.deadLettered,
      outage: writer.inOutage(),
      lastWriteMs: stats.lastWriteMs,
    }),
    backlog: () => reader?.backlog() ?? { bytes: 0, oldestAtMs: undefined },
    wake: () => reader?.wake(),
    async health() {
      const influxOk = options.influx.ping ? await options.influx.ping() : !writer.inOutage();
      const ok = influxOk && !writer.inOutage();
      return { ok, checks: { influxdb: ok ? { ok: true } : { ok: false, detail: 'writes failing; the log holds the readings' } } };
    },
    metrics,
    async flush() {
      await ready.catch(() => {});
      if (!reader) return;
      flushRequested += 1;
      reader.wake();
      try {
        await reader.drained();
      } finally {
        flushRequested -= 1;
      }
    },
    close() {
      closingPromise ??= doClose();
      return closingPromise;
    },
  };
}
