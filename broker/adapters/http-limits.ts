/**
 * The HTTP ingestion listener's limits, without sockets (broker/ingest-http.ts uses them):
 *
 * - Failed requests per source address. A request that fails to authenticate (no or a wrong
 *   secret, an unknown device or integration, another device's credentials) costs a secret
 *   check, a look at the registry and often a rejection record; a caller that keeps failing
 *   is answered 429 with Retry-After before any of that, until its budget refills. Only
 *   failures spend the budget, so a device that authenticates is never slowed down by it —
 *   unless it shares its address with a failing caller that has run out.
 * - Devices that authenticated are slowed down like MQTT devices (broker/limits.ts
 *   createThrottle): over their rate a request waits its turn instead of being refused. An
 *   HTTP request holds a connection while it waits, so the wait is bounded: a device with
 *   more than `maxWaiting` requests already waiting is answered 429 with Retry-After.
 * - Repeated DEVICE_UNKNOWN records for one identifier: the first in a window is recorded,
 *   the rest counted, and the count recorded once when the window ends.
 */
import { createThrottle } from '../limits.ts';

export interface FailureLimiter {
  /** Seconds until `address` may be served again, or undefined when it is within its budget. */
  retryAfterSeconds(address: string): number | undefined;
  /** Spends one failure of `address`'s budget. */
  fail(address: string): void;
  /** Addresses tracked (full budgets are forgotten). */
  size(): number;
}

export interface FailureLimiterOptions {
  /** Failures an address may have at once. */
  burst: number;
  /** Failures per minute the budget refills by. */
  perMinute: number;
  now?: () => number;
  /** Addresses tracked before full budgets are forgotten (default 100,000). */
  maxAddresses?: number;
}

export function createFailureLimiter(options: FailureLimiterOptions): FailureLimiter {
  const now = options.now ?? Date.now;
  const perMs = options.perMinute / 60_000;
  const maxAddresses = options.maxAddresses ?? 100_000;
  const budgets = new Map<string, { tokens: number; at: number }>();

  function tokensOf(budget: { tokens: number; at: number }, t: number): number {
    return Math.min(options.burst, budget.tokens + (t - budget.at) * perMs);
  }

  function prune(t: number): void {
    for (const [address, budget] of budgets) if (tokensOf(budget, t) >= options.burst) budgets.delete(address);
    // Still full of callers mid-flood: forget the oldest rather than grow without bound.
    for (const address of budgets.keys()) {
      if (budgets.size < maxAddresses) break;
      budgets.delete(address);
    }
  }

  return {
    retryAfterSeconds(address) {
      const budget = budgets.get(address);
      if (!budget) return undefined;
      const t = now();
      const tokens = tokensOf(budget, t);
      if (tokens >= 1) return undefined;
      return Math.max(1, Math.ceil((1 - tokens) / perMs / 1000));
    },
    fail(address) {
      const t = now();
      let budget = budgets.get(address);
      if (!budget) {
        if (budgets.size >= maxAddresses) prune(t);
        budget = { tokens: options.burst, at: t };
        budgets.set(address, budget);
      }
      budget.tokens = Math.max(0, tokensOf(budget, t) - 1);
      budget.at = t;
    },
    size: () => budgets.size,
  };
}

export interface DeviceGate {
  /**
   * Resolves when `deviceId` may go on (at once within its rate, later over it), or with the
   * seconds to tell it to wait when too many of its requests already wait.
   */
  enter(deviceId: string): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }>;
  /** Requests waiting now, over all devices. */
  waiting(): number;
  /** How many requests had to wait. */
  throttled(): number;
  close(): void;
}

export interface DeviceGateOptions {
  ratePerSecond: number;
  burst: number;
  /** Requests of one device that may wait at once (default: one second's worth at its rate, at least 1). */
  maxWaiting?: number;
  now?: () => number;
}

export function createDeviceGate(options: DeviceGateOptions): DeviceGate {
  const throttle = createThrottle(options);
  const maxWaiting = options.maxWaiting ?? Math.max(1, Math.ceil(options.ratePerSecond));
  const waitingOf = new Map<string, number>();

  return {
    enter(deviceId) {
      const waiting = waitingOf.get(deviceId) ?? 0;
      if (waiting >= maxWaiting) return Promise.resolve({ ok: false, retryAfterSeconds: Math.max(1, Math.ceil((waiting + 1) / options.ratePerSecond)) });
      return new Promise((resolve) => {
        let ran = false;
        let queued = false;
        throttle.admit(deviceId, () => {
          ran = true;
          if (queued) {
            const left = (waitingOf.get(deviceId) ?? 1) - 1;
            if (left > 0) waitingOf.set(deviceId, left);
            else waitingOf.delete(deviceId);
          }
          resolve({ ok: true });
        });
        // admit runs the work at once when the device has a token; otherwise it waits its turn.
        if (!ran) {
          queued = true;
          waitingOf.set(deviceId, waiting + 1);
        }
      });
    },
    waiting: () => throttle.waiting(),
    throttled: () => throttle.throttled(),
    close: () => throttle.close(),
  };
}
