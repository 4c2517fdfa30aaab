/**
 * A lease in Redis: at most one holder at a time of work that must not run twice across API
 * nodes (the alert engine, the rollup and summary jobs). The holder sets `key` to its id with
 * a time to live (SET NX PX) and extends it every third of the TTL, with a check-and-extend
 * script so only the holder can extend or release it. A holder that dies stops extending;
 * another node takes the lease once the TTL has run out — within `ttlMs` plus one attempt.
 *
 * Failure cases: a holder cut off from Redis keeps believing it holds the lease only until its
 * last successful extension's TTL has passed (it then gives the work up, `onChange(false)`),
 * so two holders can overlap by at most the clock drift between nodes. Work under the lease
 * must tolerate that: the rollups recompute idempotently; an alert may be raised twice.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from './logger.ts';
import { createSilentLogger } from './logger.ts';

const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface LeaseOptions {
  redisUrl: string;
  key: string;
  /** How long a lease lasts without an extension (default 10 s). */
  ttlMs?: number;
  /** This holder's id (default: random). */
  holderId?: string;
  /** Told when this node starts or stops holding the lease. */
  onChange?: (held: boolean) => void;
  logger?: Logger;
}

export interface Lease {
  readonly holderId: string;
  /** This node holds the lease now. */
  held(): boolean;
  /** Stops trying and releases the lease if held (another node may take it at once). */
  close(): Promise<void>;
}

export function createLease(options: LeaseOptions): Lease {
  const log = options.logger ?? createSilentLogger();
  const ttlMs = options.ttlMs ?? 10_000;
  const holderId = options.holderId ?? randomBytes(8).toString('hex');
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1, lazyConnect: false });
  redis.on('error', () => {
    // Reported through the attempts below; ioredis reconnects by itself.
  });
  let heldUntil = 0;
  let holding = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;

  function set(next: boolean): void {
    if (next === holding) return;
    holding = next;
    log.info({ key: options.key, holderId }, next ? 'lease acquired' : 'lease lost');
    options.onChange?.(next);
  }

  async function attempt(): Promise<void> {
    const started = Date.now();
    try {
      if (holding) {
        const extended = await redis.eval(EXTEND, 1, options.key, holderId, String(ttlMs));
        if (extended === 1) heldUntil = started + ttlMs;
        else heldUntil = 0;
      } else {
        const taken = await redis.set(options.key, holderId, 'PX', ttlMs, 'NX');
        if (taken === 'OK') heldUntil = started + ttlMs;
      }
    } catch (error) {
      log.warn({ key: options.key, err: error instanceof Error ? error.message : String(error) }, 'lease: Redis did not answer');
    }
    set(heldUntil > Date.now());
  }

  const loop = async () => {
    if (closed) return;
    await attempt();
    if (closed) return;
    // Holding: extend well before it runs out. Not holding: try again soon after a TTL could end.
    timer = setTimeout(() => void loop(), holding ? Math.max(50, Math.floor(ttlMs / 3)) : Math.max(50, Math.floor(ttlMs / 4)));
    timer.unref();
  };
  void loop();

  return {
    holderId,
    held: () => holding && heldUntil > Date.now(),
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      if (holding) {
        await redis.eval(RELEASE, 1, options.key, holderId).catch(() => {});
        set(false);
      }
      redis.disconnect();
    },
  };
}
