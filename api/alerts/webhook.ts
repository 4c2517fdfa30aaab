/**
 * Alert delivery to an HTTP webhook (ALERT_WEBHOOK_URL): every alert event is POSTed as JSON,
 * in order, by one background sender.
 *
 * A failing webhook never blocks anything: `enqueue` only appends to a bounded in-memory
 * queue (the oldest event is dropped and counted when it is full); each attempt has a
 * timeout; network errors, timeouts, 408, 425, 429 and 5xx are retried (the failure's
 * AppError decides: `canRetry()`) with exponential backoff and full jitter, or the receiver's
 * Retry-After when it sent one, either capped at `maxBackoffMs` (`retryAfterMs()`), up to
 * `maxAttempts`; other answers are final. `Idempotency-Key` is the same on every attempt of
 * one event, so a receiver can drop the duplicate of an attempt whose answer was lost.
 */
import type { Alert } from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { createSilentLogger } from '../../common/logger.ts';

export interface WebhookOptions {
  url: string;
  /** Per attempt; default 5 s. */
  timeoutMs?: number | undefined;
  /** Attempts per event, the first included; default 5. */
  maxAttempts?: number | undefined;
  /** Ceiling of the first retry's jittered delay; doubles each time up to maxBackoffMs. Default 1 s / 60 s. */
  backoffMs?: number | undefined;
  maxBackoffMs?: number | undefined;
  /** Events waiting; default 1,000. */
  queueMax?: number | undefined;
  logger?: Logger | undefined;
  /** Tests may inject; default the global fetch. */
  fetch?: typeof fetch | undefined;
  /** Uniform in [0, 1), for the jitter; default Math.random. */
  random?: (() => number) | undefined;
  /** Waits between attempts, resolving early when `signal` aborts (close); default a timer. */
  sleep?: ((ms: number, signal: AbortSignal) => Promise<void>) | undefined;
}

export interface WebhookStats {
  queued: number;
  sent: number;
  /** Events given up on (attempts exhausted or a final 4xx). */
  failed: number;
  /** Events dropped because the queue was full. */
  dropped: number;
  retries: number;
}

export interface WebhookSender {
  enqueue(alert: Alert): void;
  stats(): WebhookStats;
  /** Resolves when the queue is empty (tests). */
  idle(): Promise<void>;
  /** Stops sending; an attempt in flight is aborted, queued events are dropped (and logged). */
  close(): Promise<void>;
}

function timerSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    timer.unref();
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export function createWebhookSender(options: WebhookOptions): WebhookSender {
  const log = options.logger ?? createSilentLogger();
  const timeoutMs = options.timeoutMs ?? 5_000;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5);
  const maxBackoffMs = options.maxBackoffMs ?? 60_000;
  // Retry-After is honoured up to the same cap as the backoff.
  const backoff = { initialMs: options.backoffMs ?? 1_000, maxMs: maxBackoffMs, retryAfterMaxMs: maxBackoffMs, random: options.random ?? Math.random };
  const sleep = options.sleep ?? timerSleep;
  const queueMax = Math.max(1, options.queueMax ?? 1_000);
  const doFetch = options.fetch ?? fetch;
  const queue: Alert[] = [];
  const stats = { sent: 0, failed: 0, dropped: 0, retries: 0 };
  let worker: Promise<void> | undefined;
  let closed = false;
  const closing = new AbortController();
  let idleWaiters: (() => void)[] = [];

  /**
   * 'ok', 'closed' (aborted by close()), or the failure as an AppError carrying its retry
   * decision (the `transient` table: 408, 425, 429, 5xx, network errors and timeouts) and the
   * receiver's Retry-After.
   */
  async function attempt(alert: Alert, body: string): Promise<'ok' | 'closed' | AppError> {
    const signal = AbortSignal.any([closing.signal, AbortSignal.timeout(timeoutMs)]);
    try {
      const response = await doFetch(options.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'StreetLab-alerts/1',
          'x-streetlab-event': 'alert',
          'idempotency-key': `${alert.id}:${alert.state}:${alert.repeats}`,
        },
        body,
        signal,
        redirect: 'error',
      });
      // The body is not needed; release the connection.
      await response.body?.cancel().catch(() => {});
      if (response.ok) return 'ok';
      const error = new AppError('WEBHOOK_FAILED', `alert webhook answered HTTP ${response.status}`, {
        status: response.status,
        retryAfter: response.headers.get('retry-after'),
      });
      if (error.canRetry()) log.warn({ status: response.status, alertId: alert.id }, 'alert webhook failed; will retry');
      else log.warn({ status: response.status, alertId: alert.id }, 'alert webhook refused the event; not retried');
      return error;
    } catch (caught) {
      if (closing.signal.aborted) return 'closed';
      const message = caught instanceof Error ? caught.message : String(caught);
      const error = new AppError('WEBHOOK_FAILED', `alert webhook request failed: ${message}`, { cause: caught });
      if (error.canRetry()) log.warn({ err: message, alertId: alert.id }, 'alert webhook unreachable or timed out; will retry');
      else log.warn({ err: message, alertId: alert.id }, 'alert webhook request failed; not retried');
      return error;
    }
  }

  async function work(): Promise<void> {
    while (queue.length > 0 && !closed) {
      const alert = queue[0]!;
      const body = JSON.stringify(alert);
      let outcome: 'ok' | 'closed' | AppError = 'closed';
      for (let n = 1; n <= maxAttempts && !closed; n++) {
        outcome = await attempt(alert, body);
        if (outcome === 'ok' || outcome === 'closed' || !outcome.canRetry()) break;
        if (n === maxAttempts) break;
        stats.retries += 1;
        await sleep(outcome.retryAfterMs(n, backoff), closing.signal);
      }
      if (closed) break;
      // The head may have been dropped by a full queue meanwhile: remove exactly this event.
      const index = queue.indexOf(alert);
      if (index >= 0) queue.splice(index, 1);
      if (outcome === 'ok') stats.sent += 1;
      else {
        stats.failed += 1;
        log.error({ alertId: alert.id, attempts: maxAttempts }, 'alert webhook delivery given up');
      }
    }
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  function kick(): void {
    worker ??= work().finally(() => {
      worker = undefined;
      if (queue.length > 0 && !closed) kick();
    });
  }

  return {
    enqueue(alert) {
      if (closed) return;
      if (queue.length >= queueMax) {
        // Drop the oldest waiting event, not the one being sent (index 0).
        queue.splice(queue.length > 1 ? 1 : 0, 1);
        stats.dropped += 1;
        log.warn({ queueMax }, 'alert webhook queue full: oldest waiting event dropped');
      }
      queue.push(alert);
      kick();
    },
    stats: () => ({ queued: queue.length, ...stats }),
    idle() {
      if (queue.length === 0 && !worker) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    async close() {
      closed = true;
      closing.abort();
      await worker;
      if (queue.length > 0) log.warn({ dropped: queue.length }, 'alert webhook closed with events still queued');
      queue.length = 0;
      for (const resolve of idleWaiters) resolve();
      idleWaiters = [];
    },
  };
}
