/**
 * Writes one batch of line-protocol lines to InfluxDB until it is stored, deciding from each
 * failure what can help (influxdb-client-js pairs every error with a retry decision; so do we):
 *
 * - network errors, timeouts, 5xx, 429, 408, and also 401/403/404 (credentials or database
 *   missing: an operator's fix, not the data's fault) and any other refusal but 400/413:
 *   retried for as long as it takes. The log holds the batch meanwhile; nothing is dropped.
 *   The error decides (`canRetry()`, from the `influx-write` table in common/errors.ts) and
 *   says how long to wait (`retryAfterMs()`): the server's `Retry-After` when it sent one
 *   (capped at `retryAfterMaxMs`), else exponential backoff with full jitter capped at
 *   `retryMaxMs`.
 * - 413 (body too large): the batch is halved until the halves fit; a single line that is
 *   still too large is a dead letter (`LINE_TOO_LARGE`).
 * - 400 (InfluxDB 1.x: "partial write …" for a field-type conflict, "unable to parse" for a
 *   malformed line; either way it has stored every good line already): the batch is bisected
 *   and the halves written again — rewriting good lines is harmless because the same
 *   measurement + tags + timestamp overwrites — until each bad line is isolated and
 *   dead-lettered with its reason. Cost: about 2·k·log2(n) extra writes for k bad lines.
 * - 422 (InfluxDB 2.x/3.x: points it will not take, e.g. outside the bucket's retention): the
 *   same bisection, so the refused points become dead letters instead of holding up the log.
 */
import { AppError, isAppError, RETRY_AFTER_MAX_MS } from '../common/errors.ts';
import type { InfluxClient } from '../common/influx.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';

export const DEAD_LETTER_REASONS = ['FIELD_TYPE_CONFLICT', 'LINE_UNPARSEABLE', 'LINE_TOO_LARGE', 'OUTSIDE_RETENTION', 'REFUSED'] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

export interface DeadLetter {
  line: string;
  reason: DeadLetterReason;
  status: number;
  error: string;
}

export interface BatchWriterOptions {
  client: Pick<InfluxClient, 'write'> & Partial<Pick<InfluxClient, 'ensureDatabase'>>;
  /** Ceiling of the first retry's jittered delay; doubles per retry. Default 200 ms. */
  retryInitialMs?: number;
  /** Largest backoff ceiling. Default 5 s. */
  retryMaxMs?: number;
  /** Longest `Retry-After` honoured. Default 60 s. */
  retryAfterMaxMs?: number;
  /** Uniform in [0, 1), for the jitter. Default Math.random; tests inject a seeded one. */
  random?: () => number;
  /**
   * Waits between retries; must resolve early when `signal` aborts (`interrupt()`). Default a
   * timer; tests inject one that records the waits and returns at once.
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  logger?: Logger;
  /** A write that stored lines (for metrics). */
  onWrite?: (lines: number, seconds: number) => void;
  onRetry?: (error: AppError) => void;
  /** Outage edges, for logs and the outage gauge. */
  onOutage?: (state: 'start' | 'end', info: { error?: string; outageMs?: number }) => void;
  /** What is buffered right now, for the outage log lines. */
  buffered?: () => Record<string, unknown>;
}

export interface BatchResult {
  stored: number;
  deadLetters: DeadLetter[];
  writes: number;
}

export interface BatchWriter {
  /**
   * Writes `lines` until stored (retrying what can be retried) and returns the dead letters.
   * Rejects with STORE_UNAVAILABLE only when `stop()` says to give up (shutting down).
   */
  write(lines: readonly string[], stop?: () => boolean): Promise<BatchResult>;
  /** true while InfluxDB is failing and the writer is retrying. */
  inOutage(): boolean;
  /** Wakes a writer sleeping between retries (e.g. on shutdown). */
  interrupt(): void;
}

export function classifyRefusal(status: number, body: string): DeadLetterReason {
  if (status === 413) return 'LINE_TOO_LARGE';
  if (/field type conflict/i.test(body)) return 'FIELD_TYPE_CONFLICT';
  if (/unable to parse|invalid|bad timestamp|missing/i.test(body)) return 'LINE_UNPARSEABLE';
  if (/retention/i.test(body)) return 'OUTSIDE_RETENTION';
  return 'REFUSED';
}

function timerSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export function createBatchWriter(options: BatchWriterOptions): BatchWriter {
  const log = options.logger ?? createSilentLogger();
  const backoff = {
    initialMs: options.retryInitialMs ?? 200,
    maxMs: options.retryMaxMs ?? 5_000,
    retryAfterMaxMs: options.retryAfterMaxMs ?? RETRY_AFTER_MAX_MS,
    random: options.random ?? Math.random,
  };
  const sleepFor = options.sleep ?? timerSleep;
  let outageSince: number | undefined;
  let sleeping: AbortController | undefined;

  function toAppError(error: unknown): AppError {
    return isAppError(error) ? error : new AppError('STORE_UNAVAILABLE', String(error), { cause: error });
  }

  async function sleep(ms: number): Promise<void> {
    const controller = new AbortController();
    sleeping = controller;
    try {
      await sleepFor(ms, controller.signal);
    } finally {
      if (sleeping === controller) sleeping = undefined;
    }
  }

  /** Still worth retrying later (canRetry: STORE_UNAVAILABLE); just not by this call. */
  function givingUp(error: AppError): AppError {
    return new AppError('STORE_UNAVAILABLE', `giving up for now: ${error.message}`, { cause: error });
  }

  /** One attempt loop for `lines` as a unit: resolves when stored, throws only non-retryable errors. */
  async function writeUntilAnswered(lines: readonly string[], stop: () => boolean, result: BatchResult): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const started = process.hrtime.bigint();
      try {
        result.writes += 1;
        await options.client.write(lines);
        options.onWrite?.(lines.length, Number(process.hrtime.bigint() - started) / 1e9);
        if (outageSince !== undefined) {
          const outageMs = Date.now() - outageSince;
          outageSince = undefined;
          log.info({ outageMs, ...options.buffered?.() }, 'InfluxDB outage ended; writing the backlog');
          options.onOutage?.('end', { outageMs });
        }
        return;
      } catch (caught) {
        const error = toAppError(caught);
        if (!error.canRetry()) throw error;
        const delay = error.retryAfterMs(attempt, backoff);
        if (outageSince === undefined) {
          outageSince = Date.now();
          log.warn({ err: error.message, status: error.status, retryInMs: delay, ...options.buffered?.() }, 'InfluxDB outage started; the log holds the readings, retrying');
          options.onOutage?.('start', { error: error.message });
        }
        options.onRetry?.(error);
        if (error.status === 404 && options.client.ensureDatabase) {
          await options.client.ensureDatabase().catch(() => {});
        }
        if (stop()) throw givingUp(error);
        await sleep(delay);
        if (stop()) throw givingUp(error);
      }
    }
  }

  async function writePart(lines: readonly string[], stop: () => boolean, result: BatchResult): Promise<void> {
    try {
      await writeUntilAnswered(lines, stop, result);
      result.stored += lines.length;
    } catch (caught) {
      const error = toAppError(caught);
      const status = error.status;
      if (error.canRetry() || (status !== 400 && status !== 413 && status !== 422)) throw error;
      const body = String(error.details?.body ?? error.message);
      if (lines.length === 1) {
        const reason = classifyRefusal(status, body);
        result.deadLetters.push({ line: lines[0]!, reason, status, error: body.slice(0, 500) });
        return;
      }
      // 413: halve until it fits. 400/422: the good lines are stored already; bisect to find the bad.
      const half = Math.ceil(lines.length / 2);
      await writePart(lines.slice(0, half), stop, result);
      await writePart(lines.slice(half), stop, result);
    }
  }

  return {
    async write(lines, stop = () => false) {
      const result: BatchResult = { stored: 0, deadLetters: [], writes: 0 };
      if (lines.length === 0) return result;
      await writePart(lines, stop, result);
      if (result.deadLetters.length > 0) {
        const byReason: Record<string, number> = {};
        for (const d of result.deadLetters) byReason[d.reason] = (byReason[d.reason] ?? 0) + 1;
        log.warn({ lines: lines.length, deadLetters: result.deadLetters.length, byReason, writes: result.writes }, 'InfluxDB refused lines of a batch; the rest is stored');
      }
      return result;
    },
    inOutage: () => outageSince !== undefined,
    interrupt: () => sleeping?.abort(),
  };
}
