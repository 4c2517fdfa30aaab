/**
 * Broker limits that Aedes does not have: a packet-size guard on every connection, a
 * per-device message rate limit, and a throttled reporter that turns what the broker
 * refuses into stored, reported rejections.
 *
 * The packet guard. Aedes has no maximum packet size: mqtt-packet buffers a packet until
 * it is complete, whatever its announced length (up to 256 MB), and it does so before any
 * authentication (docs/measurements.md: two unauthenticated sockets streaming 100 MB each grew the
 * broker by ~198 MB). The guard sits on the connection's `read()`, which Aedes calls on
 * every 'readable' before handing the bytes to its parser, and follows the MQTT framing
 * itself: the fixed header's remaining length [MQTT-2.2.3] says how big each packet will be
 * before its body arrives, and a PUBLISH's topic length (the next two bytes) gives the
 * payload size. A packet over its limit closes the connection on its first bytes, so
 * memory per connection stays at one socket read (≤ 64 KiB) whatever the client announces.
 * The same scanner is a strict MQTT 3.1.1 validator (mqtt-conformance.ts): every rule it
 * enforces cites its clause there. Overriding `read` on the instance costs no extra stream hop.
 */
import type { Duplex } from 'node:stream';
import { createPacketScanner, type GuardViolation, type PacketLimits } from './mqtt-conformance.ts';
import type { ReadingKind, Rejection, RejectionReason } from '../contracts/index.ts';
import { REJECTION_EXCERPT_CHARS, REJECTION_REASONS } from '../contracts/index.ts';

export { createPacketScanner, type GuardViolation, type GuardViolationReason, type PacketLimits } from './mqtt-conformance.ts';

export const DEFAULT_PACKET_LIMITS: PacketLimits = {
  maxPayloadBytes: 16 * 1024,
  maxConnectBytes: 16 * 1024 + 2048,
  maxControlBytes: 16 * 1024,
};

export function packetLimitsFor(maxPayloadBytes: number): PacketLimits {
  // A will message carries a payload too; credentials and ids need well under 2 KiB.
  return { maxPayloadBytes, maxConnectBytes: maxPayloadBytes + 2048, maxControlBytes: DEFAULT_PACKET_LIMITS.maxControlBytes };
}

/**
 * Puts the packet guard on a connection (TCP, TLS or WebSocket stream) before Aedes reads
 * from it. On a violation the connection is destroyed and `onViolation` told why.
 */
export function guardConnection(stream: Duplex, limits: PacketLimits, onViolation: (violation: GuardViolation) => void): void {
  const scan = createPacketScanner(limits);
  const read = stream.read.bind(stream);
  let violated = false;
  stream.read = function guardedRead(size?: number) {
    const chunk: unknown = read(size);
    if (violated || chunk === null || !(chunk instanceof Uint8Array)) return violated ? null : chunk;
    const violation = scan(chunk);
    if (!violation) return chunk;
    violated = true;
    try {
      onViolation(violation);
    } finally {
      if (violation.connackReturnCode === undefined) stream.destroy();
      else {
        // [MQTT-3.1.2-2]: answer CONNACK with the return code, then close.
        stream.end(Buffer.from([0x20, 0x02, 0x00, violation.connackReturnCode]));
        setTimeout(() => stream.destroy(), 1_000).unref();
      }
    }
    return null;
  };
}

/** Token buckets per key (device id): `ratePerSecond` sustained, `burst` at once. */
export interface RateLimiter {
  /** Takes one token; false when the key is over its rate. */
  take(key: string): boolean;
  size(): number;
}

export function createRateLimiter(options: { ratePerSecond: number; burst: number; now?: () => number; maxKeys?: number }): RateLimiter {
  const now = options.now ?? Date.now;
  const maxKeys = options.maxKeys ?? 1_000_000;
  const buckets = new Map<string, { tokens: number; at: number }>();

  function prune(t: number): void {
    // Full buckets carry no information: forgetting them changes nothing.
    for (const [key, bucket] of buckets) {
      if (bucket.tokens + ((t - bucket.at) / 1000) * options.ratePerSecond >= options.burst) buckets.delete(key);
    }
  }

  return {
    take(key) {
      const t = now();
      let bucket = buckets.get(key);
      if (!bucket) {
        if (buckets.size >= maxKeys) prune(t);
        bucket = { tokens: options.burst, at: t };
        buckets.set(key, bucket);
      } else {
        bucket.tokens = Math.min(options.burst, bucket.tokens + ((t - bucket.at) / 1000) * options.ratePerSecond);
        bucket.at = t;
      }
      if (bucket.tokens < 1) return false;
      bucket.tokens -= 1;
      return true;
    },
    size: () => buckets.size,
  };
}

/**
 * A per-device rate limit that slows a device down instead of dropping what it sent: work
 * over the budget waits, in arrival order, until the bucket refills. The broker runs each
 * PUBLISH's authorisation through it; Aedes reads the next chunk of a connection only once
 * every packet of the last one called back, so a waiting device stops being read and TCP
 * pushes back on it. A store-and-forward logger uploading a backlog gets it all through,
 * at the device's rate.
 */
export interface Throttle {
  /** Runs `work` now if `key` has a token and nothing waiting, else once its turn and token come. */
  admit(key: string, work: () => void): void;
  /** Work items waiting, over all keys. */
  waiting(): number;
  /** How many times work had to wait (each wait counted once). */
  throttled(): number;
  close(): void;
}

export function createThrottle(options: { ratePerSecond: number; burst: number; now?: () => number }): Throttle {
  const limiter = createRateLimiter(options);
  const queues = new Map<string, { items: (() => void)[]; timer: NodeJS.Timeout | undefined }>();
  const intervalMs = 1000 / options.ratePerSecond;
  let waitingCount = 0;
  let throttledCount = 0;
  let closed = false;

  function pump(key: string): void {
    const queue = queues.get(key);
    if (!queue) return;
    queue.timer = undefined;
    while (queue.items.length > 0 && limiter.take(key)) {
      waitingCount -= 1;
      queue.items.shift()!();
    }
    if (queue.items.length === 0) {
      queues.delete(key);
      return;
    }
    if (!closed) queue.timer = setTimeout(() => pump(key), Math.max(1, Math.ceil(intervalMs)));
  }

  return {
    admit(key, work) {
      const queue = queues.get(key);
      if (!queue && limiter.take(key)) return work();
      throttledCount += 1;
      waitingCount += 1;
      if (queue) {
        queue.items.push(work);
        return;
      }
      const fresh = { items: [work], timer: undefined as NodeJS.Timeout | undefined };
      queues.set(key, fresh);
      fresh.timer = setTimeout(() => pump(key), Math.max(1, Math.ceil(intervalMs)));
    },
    waiting: () => waitingCount,
    throttled: () => throttledCount,
    close() {
      closed = true;
      // Whatever waits runs now: the broker is closing and must not leave callbacks hanging.
      for (const [key, queue] of queues) {
        if (queue.timer) clearTimeout(queue.timer);
        queues.delete(key);
        for (const work of queue.items) work();
      }
      waitingCount = 0;
    },
  };
}

export interface BrokerRejectionInput {
  reason: RejectionReason;
  kind: ReadingKind;
  deviceId: string;
  /** The topic the device used (sanitised before it is reported). */
  topic: string;
  payload?: Uint8Array;
  size: number;
  detail: string;
}

export interface RejectionReporter {
  /** Counts a refused message and reports it (at most once per device and reason per interval). */
  report(input: BrokerRejectionInput): void;
  counts(): Partial<Record<RejectionReason, number>>;
  close(): void;
}

/** Replaces control characters and U+0000 so a hostile topic cannot corrupt logs or line protocol. */
export function sanitiseForReport(text: string, maxLength = 512): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '\ufffd').slice(0, maxLength);
}

/** The Rejection document for a message the broker refused; `covers` > 1 when one report stands for several. */
export function toBrokerRejection(input: BrokerRejectionInput, atMs: number, covers = 1): Rejection {
  const message = covers > 1 ? `${input.detail} (${covers} messages refused since the last report)` : input.detail;
  const excerpt = input.payload ? Buffer.from(input.payload.subarray(0, REJECTION_EXCERPT_CHARS * 4)).toString('utf8').slice(0, REJECTION_EXCERPT_CHARS) : '';
  return {
    reason: input.reason,
    message,
    issues: [{ path: '', code: input.reason, message: REJECTION_REASONS[input.reason] }],
    kind: input.kind,
    deviceId: input.deviceId,
    topic: sanitiseForReport(input.topic),
    receivedAt: new Date(atMs).toISOString(),
    excerpt: sanitiseForReport(excerpt, REJECTION_EXCERPT_CHARS),
    size: input.size,
  };
}

/**
 * Turns refused messages into Rejection documents. A device over its rate limit may send
 * thousands of messages a second; storing one rejection per message would hand the flood
 * on to InfluxDB, so each (device, reason) is reported at most once per `intervalMs`, and
 * every report says how many messages it covers. Every refused message is counted.
 */
export function createRejectionReporter(options: {
  publish: (rejection: Rejection) => void;
  intervalMs?: number;
  now?: () => number;
}): RejectionReporter {
  const intervalMs = options.intervalMs ?? 1_000;
  const now = options.now ?? Date.now;
  const counts: Partial<Record<RejectionReason, number>> = {};
  const pending = new Map<string, { input: BrokerRejectionInput; suppressed: number; timer: NodeJS.Timeout | undefined; lastAt: number }>();
  let closed = false;

  function emit(input: BrokerRejectionInput, covers: number): void {
    options.publish(toBrokerRejection(input, now(), covers));
  }

  return {
    report(input) {
      counts[input.reason] = (counts[input.reason] ?? 0) + 1;
      if (closed) return;
      const key = `${input.deviceId}\u0000${input.reason}`;
      const t = now();
      const entry = pending.get(key);
      if (!entry || t - entry.lastAt >= intervalMs) {
        if (entry?.timer) clearTimeout(entry.timer);
        const covers = 1 + (entry?.suppressed ?? 0);
        pending.set(key, { input, suppressed: 0, timer: undefined, lastAt: t });
        if (pending.size > 10_000) {
          for (const [k, e] of pending) if (!e.timer && t - e.lastAt >= intervalMs) pending.delete(k);
        }
        emit(input, covers);
        return;
      }
      entry.suppressed += 1;
      entry.input = input;
      entry.timer ??= setTimeout(() => {
        entry.timer = undefined;
        if (entry.suppressed === 0 || closed) return;
        const covers = entry.suppressed;
        entry.suppressed = 0;
        entry.lastAt = now();
        emit(entry.input, covers);
      }, Math.max(1, intervalMs - (t - entry.lastAt)));
      entry.timer.unref?.();
    },
    counts: () => ({ ...counts }),
    close() {
      closed = true;
      for (const entry of pending.values()) if (entry.timer) clearTimeout(entry.timer);
      pending.clear();
    },
  };
}
