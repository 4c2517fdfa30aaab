/**
 * Alert delivery to an HTTP webhook (ALERT_WEBHOOK_URL): every alert event is POSTed as JSON,
 * in order, by one background sender.
 *
 * A failing webhook never blocks anything: `enqueue` only appends to a bounded in-memory
 * queue (the oldest event is dropped and counted when it is full); each attempt has a
 * timeout; network errors, timeouts, 408, 429 and 5xx are retried with exponential backoff
 * and jitter (Retry-After honoured up to the cap) up to `maxAttempts`, other answers are
 * final. `Idempotency-Key` is the same on every attempt of one event, so a receiver can drop
 * the duplicate of an attempt whose answer was lost.
 */
import type { Alert } from '../../contracts/index.ts';
import type { Logger } from '../../common/logger.ts';
import { createSilentLogger } from '../../common/logger.ts';

export interface WebhookOptions {
  url: string;
  /** Per attempt; default 5 s. */
  timeoutMs?: number | undefined;
  /** Attempts per event, the first included; default 5. */
  maxAttempts?: number | undefined;
  /** First retry delay; doubles each time up to maxBackoffMs. Default 1 s / 60 s. */
  backoffMs?: number | undefined;
  maxBackoffMs?: number | undefined;
  /** Events waiting; default 1,000. */
  queueMax?: number | undefined;
  logger?: Logger | undefined;
  /** Tests may inject; default the global fetch. */
  fetch?: typeof fetch | undefined;
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

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

export function createWebhookSender(options: WebhookOptions): WebhookSender {
  const log = options.logger ?? createSilentLogger();
  const timeoutMs = options.timeoutMs ?? 5_000;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 5);
  const backoffMs = options.backoffMs ?? 1_000;
  const maxBackoffMs = options.maxBackoffMs ?? 60_000;
  const queueMax = Math.max(1, options.queueMax ?? 1_000);
  const doFetch = options.fetch ?? fetch;
  const queue: Alert[] = [];
  const stats = { sent: 0, failed: 0, dropped: 0, retries: 0 };
  let worker: Promise<void> | undefined;
  let closed = false;
  const closing = new AbortController();
  let idleWaiters: (() => void)[] = [];

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (closing.signal.aborted) return resolve();
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        closing.signal.removeEventListener('abort', done);
        resolve();
      }
      closing.signal.addEventListener('abort', done, { once: true });
    });
  }

  /** 'ok', 'final' (do not retry) or a retry delay hint in ms (0 = none). */
  async function attempt(alert: Alert, body: string): Promise<'ok' | 'final' | number> {
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
      if (!RETRYABLE_STATUS.has(response.status)) {
        log.warn({ status: response.status, alertId: alert.id }, 'alert webhook refused the event; not retried');
        return 'final';
      }
      const retryAfter = Number(response.headers.get('retry-after'));
      log.warn({ status: response.status, alertId: alert.id }, 'alert webhook failed; will retry');
      return Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 0;
    } catch (error) {
      if (closing.signal.aborted) return 'final';
      log.warn({ err: (error as Error).message, alertId: alert.id }, 'alert webhook unreachable or timed out; will retry');
      return 0;
    }
  }

  async function work(): Promise<void> {
    while (queue.length > 0 && !closed) {
      const alert = queue[0]!;
      const body = JSON.stringify(alert);
      let outcome: 'ok' | 'final' | number = 'final';
      for (let n = 1; n <= maxAttempts && !closed; n++) {
        outcome = await attempt(alert, body);
        if (typeof outcome !== 'number') break;
        if (n === maxAttempts) break;
        stats.retries += 1;
        const exponential = Math.min(maxBackoffMs, backoffMs * 2 ** (n - 1));
        // Full jitter on half the delay: spread retries without ever going below half.
        const delay = Math.min(maxBackoffMs, Math.max(outcome, exponential / 2 + Math.random() * (exponential / 2)));
        await sleep(delay);
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
