/**
 * Fault injection: what real street devices do wrong, at a chosen rate, and a record of
 * everything injected so a test or a trial report can hold ingest's answers against it.
 *
 * Two families:
 * - **payload faults**, named after the rejection reason ingest must answer with
 *   (contracts/rejections.ts): each turns one reading into a message that is invalid in
 *   exactly that one way — a firmware that truncates JSON, sends `"7.1"` for 7.1, mistypes a
 *   field name, forgets the zone of its timestamp, dumps its raw sample buffer…
 * - **behaviour faults** that keep messages valid but make the stream hard: dropouts
 *   (the device goes offline, stores readings, and forwards them in a burst with their
 *   original timestamps when it is back), stuck sensors, drifting sensors, clock skew,
 *   duplicates and out-of-order delivery.
 *
 * Rates are probabilities per message. For the episode faults (dropout, stuck, drift,
 * clockSkew) the rate is the chance that an episode starts with this message; its length
 * is drawn from the options below.
 *
 * Why ~450 lines: the catalogue of faults is a table, each entry a few lines next to the reason code it provokes.
 */
import {
  kindDefinitionOf,
  metricsOf,
  type ReadingKind,
  type ReadingPayload,
  type RejectionReason,
} from '../contracts/index.ts';
import { clamp, round, type Random } from './random.ts';
import { contractRange } from './devices/common.ts';
import { formatCopenhagenIso } from './local-time.ts';

/** Payload faults: each is the rejection reason ingest must give for it. */
export const PAYLOAD_FAULTS = [
  'PAYLOAD_NOT_JSON',
  'PAYLOAD_NOT_OBJECT',
  'PAYLOAD_NOT_UTF8',
  'PAYLOAD_TOO_LARGE',
  'FIELD_UNKNOWN',
  'FIELD_MISSING',
  'FIELD_TYPE',
  'FIELD_RANGE',
  'NO_MEASUREMENT',
  'TS_INVALID',
  'TS_IN_FUTURE',
  'TS_TOO_OLD',
] as const satisfies readonly RejectionReason[];
export type PayloadFault = (typeof PAYLOAD_FAULTS)[number];

/** Faults that keep each message valid but disturb the stream. */
export const BEHAVIOUR_FAULTS = ['dropout', 'stuck', 'drift', 'clockSkew', 'duplicate', 'outOfOrder'] as const;
export type BehaviourFault = (typeof BEHAVIOUR_FAULTS)[number];

export const FAULT_KINDS = [...PAYLOAD_FAULTS, ...BEHAVIOUR_FAULTS] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Probability per message of each fault (episode faults: of an episode starting). */
export type FaultRates = Partial<Record<FaultKind, number>>;

/** How many of each fault were injected (payload faults: messages; episode faults: episodes). */
export type FaultCounts = Record<FaultKind, number>;

export interface FaultOptions {
  rates?: FaultRates;
  /** The rate of every fault kind not named in `rates` (default 0). */
  defaultRate?: number;
  /** Mean length of a dropout, ms of simulated time (exponential; default 60 s). */
  dropoutMeanMs?: number;
  /** Mean length of a stuck-sensor episode, in messages (default 20). */
  stuckMeanMessages?: number;
  /** Mean length of a drift episode, in messages (default 200). */
  driftMeanMessages?: number;
  /** Drift per message as a share of the value when the drift began (default 0.5 %). */
  driftPerMessage?: number;
  /** Mean length of a clock-skew episode, in messages (default 100). */
  clockSkewMeanMessages?: number;
  /** Largest clock skew, ms; keep it inside ingest's future allowance (default 120 s). */
  clockSkewMaxMs?: number;
  /** Ingest's limits, so invalid messages are invalid by a clear margin (defaults as ingest's). */
  maxPayloadBytes?: number;
  maxFutureMs?: number;
  maxAgeMs?: number;
}

export const DEFAULT_FAULT_LIMITS = {
  maxPayloadBytes: 16 * 1024,
  maxFutureMs: 5 * 60_000,
  maxAgeMs: 7 * 24 * 3_600_000,
} as const;

/** The fields a reading of this kind must carry (traffic: period; waste: fill; air: none). */
function requiredFieldsOf(kind: ReadingKind): string[] {
  return kindDefinitionOf(kind)?.fields.filter((f) => f.required).map((f) => f.name) ?? [];
}

/**
 * The fields whose absence makes a reading NO_MEASUREMENT (air: all of them); empty when the
 * kind asks for none, or when one of them is required (leaving it out is then FIELD_MISSING).
 */
function measurementFieldsOf(kind: ReadingKind): string[] {
  const oneOf = kindDefinitionOf(kind)?.atLeastOneOf ?? [];
  const required = requiredFieldsOf(kind);
  return oneOf.some((name) => required.includes(name)) ? [] : oneOf;
}

/**
 * The payload faults a device of this kind can commit, as its definition allows: FIELD_MISSING
 * needs a required field (an air reading has none), NO_MEASUREMENT an `atLeastOneOf` (only air's).
 */
export function applicablePayloadFaults(kind: ReadingKind): readonly PayloadFault[] {
  const hasRequired = requiredFieldsOf(kind).length > 0;
  const needsMeasurement = measurementFieldsOf(kind).length > 0;
  return PAYLOAD_FAULTS.filter((fault) => (fault === 'FIELD_MISSING' ? hasRequired : fault === 'NO_MEASUREMENT' ? needsMeasurement : true));
}

export function createFaultCounts(): FaultCounts {
  return Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as FaultCounts;
}

/** Adds `from` into `into` (for totals over devices or runs). */
export function addFaultCounts(into: FaultCounts, from: Readonly<FaultCounts>): FaultCounts {
  for (const kind of FAULT_KINDS) into[kind] += from[kind];
  return into;
}

/** Resolves `rates` + `defaultRate` into a rate for every fault kind, each within [0, 1]. */
export function resolveFaultRates(options: FaultOptions = {}): Record<FaultKind, number> {
  const out = {} as Record<FaultKind, number>;
  for (const kind of FAULT_KINDS) out[kind] = clamp(options.rates?.[kind] ?? options.defaultRate ?? 0, 0, 1);
  return out;
}

/** One message as it leaves the device. */
export interface OutgoingMessage {
  payload: Buffer;
  /** The reading's counter (also kept by most corrupted messages). */
  seq: number | undefined;
  /** What ingest should make of it. */
  expect: 'accepted' | PayloadFault;
  /** The faults that shaped it. */
  faults: FaultKind[];
  /**
   * QoS to send it with instead of the fleet's. Oversized payloads go at QoS 0: a broker that
   * guards its sockets (ours does) closes the connection on one, and mqtt.js would re-send a
   * QoS 1 copy on every reconnect, wedging the device.
   */
  qos?: 0;
}

export interface FaultStep {
  /** Messages this reading produced, in sending order (0 when held back, 2+ with duplicates). */
  messages: OutgoingMessage[];
  /** The device is offline: store the messages, send nothing. */
  offline: boolean;
  /** A dropout began with this reading: drop the connection. */
  wentOffline: boolean;
  /** A dropout ended with this reading: reconnect and forward what was stored. */
  cameBack: boolean;
}

export interface DeviceFaults {
  /** Passes one valid reading taken at sim time `tMs` through the faults; `nowMs` is the wall clock ingest will compare timestamps with. */
  apply(payload: ReadingPayload, tMs: number, nowMs: number): FaultStep;
  /** A message still held back for out-of-order delivery (sent when the device stops). */
  flush(): OutgoingMessage[];
  /** Whether the device is in a dropout now. */
  offline(): boolean;
}

interface Episode {
  remaining: number;
}

/**
 * The fault state of one device. `counts` is shared by a fleet, so the totals are there
 * without asking every device.
 */
export function createDeviceFaults(kind: ReadingKind, options: FaultOptions, random: Random, counts: FaultCounts = createFaultCounts()): DeviceFaults {
  const rates = resolveFaultRates(options);
  const payloadFaults = applicablePayloadFaults(kind);
  const limits = {
    maxPayloadBytes: options.maxPayloadBytes ?? DEFAULT_FAULT_LIMITS.maxPayloadBytes,
    maxFutureMs: options.maxFutureMs ?? DEFAULT_FAULT_LIMITS.maxFutureMs,
    maxAgeMs: options.maxAgeMs ?? DEFAULT_FAULT_LIMITS.maxAgeMs,
  };
  const dropoutMeanMs = options.dropoutMeanMs ?? 60_000;
  const metrics = metricsOf(kind).filter((m) => m !== 'period');

  let offlineUntilMs: number | undefined;
  let stuck: (Episode & { values: Record<string, unknown> }) | undefined;
  let drift: (Episode & { field: string; step: number; offset: number }) | undefined;
  let skew: (Episode & { ms: number }) | undefined;
  let held: OutgoingMessage | undefined;

  const episodeLength = (mean: number) => Math.max(1, Math.round(random.exponential(mean)));

  function applyStuck(payload: Record<string, unknown>, applied: FaultKind[]): void {
    if (!stuck && random.chance(rates.stuck)) {
      const values: Record<string, unknown> = {};
      for (const m of metrics) if (payload[m] !== undefined) values[m] = payload[m];
      stuck = { remaining: episodeLength(options.stuckMeanMessages ?? 20), values };
      counts.stuck += 1;
    }
    if (!stuck) return;
    Object.assign(payload, stuck.values);
    applied.push('stuck');
    stuck.remaining -= 1;
    if (stuck.remaining <= 0) stuck = undefined;
  }

  function applyDrift(payload: Record<string, unknown>, applied: FaultKind[]): void {
    if (!drift && random.chance(rates.drift)) {
      const candidates = metrics.filter((m) => typeof payload[m] === 'number' && !contractRange(kind, m)?.integer);
      if (candidates.length > 0) {
        const field = random.pick(candidates);
        const base = Math.abs(payload[field] as number) + 1;
        const step = (random.chance(0.5) ? 1 : -1) * base * (options.driftPerMessage ?? 0.005);
        drift = { remaining: episodeLength(options.driftMeanMessages ?? 200), field, step, offset: 0 };
        counts.drift += 1;
      }
    }
    if (!drift) return;
    drift.offset += drift.step;
    const value = payload[drift.field];
    if (typeof value === 'number') {
      const range = contractRange(kind, drift.field)!;
      payload[drift.field] = clamp(round(value + drift.offset, 2), range.min, range.max);
      applied.push('drift');
    }
    drift.remaining -= 1;
    if (drift.remaining <= 0) drift = undefined;
  }

  function applySkew(payload: Record<string, unknown>, applied: FaultKind[]): void {
    if (!skew && random.chance(rates.clockSkew)) {
      const max = Math.min(options.clockSkewMaxMs ?? 120_000, limits.maxFutureMs * 0.8);
      const magnitude = random.range(Math.min(5_000, max), max);
      skew = { remaining: episodeLength(options.clockSkewMeanMessages ?? 100), ms: Math.round(random.chance(0.5) ? magnitude : -magnitude) };
      counts.clockSkew += 1;
    }
    if (!skew) return;
    if (payload.ts !== undefined) {
      payload.ts = shiftTimestamp(payload.ts as string | number, skew.ms);
      applied.push('clockSkew');
    }
    skew.remaining -= 1;
    if (skew.remaining <= 0) skew = undefined;
  }

  function pickPayloadFault(): PayloadFault | undefined {
    let total = 0;
    for (const fault of payloadFaults) total += rates[fault];
    if (total <= 0) return undefined;
    const u = random.next() * Math.max(1, total);
    let acc = 0;
    for (const fault of payloadFaults) {
      acc += rates[fault];
      if (u < acc) return fault;
    }
    return undefined;
  }

  return {
    apply(original, tMs, nowMs) {
      const payload = { ...original } as Record<string, unknown>;
      const applied: FaultKind[] = [];
      let wentOffline = false;
      let cameBack = false;
      if (offlineUntilMs !== undefined && tMs >= offlineUntilMs) {
        offlineUntilMs = undefined;
        cameBack = true;
      }
      if (offlineUntilMs === undefined && !cameBack && random.chance(rates.dropout)) {
        offlineUntilMs = tMs + Math.max(1, random.exponential(dropoutMeanMs));
        wentOffline = true;
        counts.dropout += 1;
      }

      applyStuck(payload, applied);
      applyDrift(payload, applied);
      applySkew(payload, applied);

      const fault = pickPayloadFault();
      let message: OutgoingMessage;
      const seq = typeof payload.seq === 'number' ? payload.seq : undefined;
      if (fault) {
        counts[fault] += 1;
        const bytes = corruptPayload(fault, payload as ReadingPayload, { kind, random, nowMs, ...limits });
        message = { payload: bytes, seq, expect: fault, faults: [...applied, fault], ...(fault === 'PAYLOAD_TOO_LARGE' ? { qos: 0 as const } : {}) };
      } else {
        message = { payload: Buffer.from(JSON.stringify(payload)), seq, expect: 'accepted', faults: applied };
      }

      const messages: OutgoingMessage[] = [];
      if (random.chance(rates.outOfOrder) && !held) {
        // Held back and sent after the next message: ingest sees the timestamps go backwards.
        counts.outOfOrder += 1;
        held = { ...message, faults: [...message.faults, 'outOfOrder'] };
      } else {
        messages.push(message);
        if (random.chance(rates.duplicate)) {
          counts.duplicate += 1;
          messages.push({ ...message, faults: [...message.faults, 'duplicate'] });
        }
        if (held) {
          messages.push(held);
          held = undefined;
        }
      }
      return { messages, offline: offlineUntilMs !== undefined, wentOffline, cameBack };
    },
    flush() {
      const out = held ? [held] : [];
      held = undefined;
      return out;
    },
    offline: () => offlineUntilMs !== undefined,
  };
}

/** Moves a device timestamp by `deltaMs`, keeping the firmware's format (epoch ms, ISO Z, ISO with offset). */
export function shiftTimestamp(ts: string | number, deltaMs: number): string | number {
  if (typeof ts === 'number') return Math.max(0, Math.round(ts + deltaMs));
  const ms = Date.parse(ts);
  if (!Number.isFinite(ms)) return ts;
  return /[+-]\d\d:\d\d$/.test(ts) ? formatCopenhagenIso(ms + deltaMs) : new Date(ms + deltaMs).toISOString();
}

export interface CorruptionContext {
  kind: ReadingKind;
  random: Random;
  /** The wall clock ingest will receive the message at (for TS_IN_FUTURE / TS_TOO_OLD). */
  nowMs: number;
  maxPayloadBytes: number;
  maxFutureMs: number;
  maxAgeMs: number;
}

const COMMON_TYPOS = ['timestamp', 'batt', 'rssi_dbm', 'fw', 'firmware', 'uptime', 'snr', 'deviceId'];
const TYPOS: Record<ReadingKind, readonly string[]> = {
  air: ['PM25', 'pm2.5', 'pm2_5', 'no2_ppb', 'temp', 'hum', 'co2', 'voc', 'lux', 'noise_db'],
  traffic: ['vehicles', 'bikes', 'cycles', 'peds', 'avgSpeed', 'lane', 'Cars', 'periodS'],
  waste: ['level', 'fillLevel', 'temp', 'lid', 'lid_open', 'angle', 'kg'],
};

/**
 * Turns a valid reading into a message ingest must reject for exactly `fault`, the way a
 * faulty firmware would. Pure given the random stream.
 */
export function corruptPayload(fault: PayloadFault, reading: ReadingPayload, ctx: CorruptionContext): Buffer {
  const { kind, random } = ctx;
  const payload = { ...reading } as Record<string, unknown>;
  const json = (value: unknown) => Buffer.from(JSON.stringify(value));
  const numericFields = () => Object.keys(payload).filter((k) => k !== 'ts' && typeof payload[k] === 'number');

  switch (fault) {
    case 'PAYLOAD_NOT_JSON': {
      const text = JSON.stringify(payload);
      const variants = [
        // Cut off mid-message (a proper prefix of an object is never valid JSON).
        () => text.slice(0, random.int(1, text.length - 1)),
        // key=value text from a debug build.
        () => numericFields().map((k) => `${k}=${String(payload[k])}`).join(',') || 'status=ok',
        // Single-quoted pseudo-JSON.
        () => text.replace(/"/g, "'"),
        // A trailing comma.
        () => `${text.slice(0, -1)},}`,
        // NaN where a sensor failed (JavaScript's, not JSON's).
        () => `${text.slice(0, -1)},"error":NaN}`,
      ];
      return Buffer.from(random.pick(variants)());
    }
    case 'PAYLOAD_NOT_OBJECT': {
      const first = numericFields()[0];
      const variants = [
        () => json([payload]),
        () => json(null),
        () => json(first === undefined ? 0 : payload[first]),
        () => json(`${kind} reading ${String(payload.seq ?? 0)}`),
        () => json(true),
      ];
      return random.pick(variants)();
    }
    case 'PAYLOAD_NOT_UTF8': {
      // A Latin-1 degree sign (0xB0) where UTF-8 needs two bytes: a classic firmware slip.
      const text = JSON.stringify(payload);
      return Buffer.concat([Buffer.from(`${text.slice(0, -1)},"unit":"`), Buffer.from([0xb0]), Buffer.from('C"}')]);
    }
    case 'PAYLOAD_TOO_LARGE': {
      // The device dumps its raw sample buffer with the reading.
      const target = ctx.maxPayloadBytes + random.int(1, 8_192);
      const base = JSON.stringify(payload).slice(0, -1);
      const samples: string[] = [];
      let size = base.length + 14;
      while (size <= target) {
        const sample = random.range(0, 100).toFixed(3);
        samples.push(sample);
        size += sample.length + 1;
      }
      return Buffer.from(`${base},"samples":[${samples.join(',')}]}`);
    }
    case 'FIELD_UNKNOWN': {
      const names = [...(TYPOS[kind] ?? []), ...COMMON_TYPOS];
      const name = random.pick(names);
      payload[name] = random.chance(0.7) ? round(random.range(0, 100), 1) : 'v2.3.1';
      return json(payload);
    }
    case 'FIELD_MISSING': {
      const required = requiredFieldsOf(kind);
      if (required.length === 0) throw new RangeError(`a ${kind} reading has no required field to leave out`);
      // One required field (every built-in kind) draws nothing, so their fault series stay as they were.
      delete payload[required.length === 1 ? required[0]! : random.pick(required)];
      return json(payload);
    }
    case 'FIELD_TYPE': {
      const fields = Object.keys(payload).filter((k) => k !== 'ts');
      const field = random.pick(fields);
      const value = payload[field];
      if (typeof value === 'boolean') payload[field] = random.pick([String(value), value ? 1 : 0]);
      else payload[field] = random.pick([String(value), null, [value], { value }]);
      return json(payload);
    }
    case 'FIELD_RANGE': {
      const field = random.pick(numericFields());
      const range = contractRange(kind, field)!;
      const span = range.max - range.min;
      // `seq` has no room above its maximum that a double still counts as an integer.
      const below = field === 'seq' || random.chance(0.5);
      let value = below ? range.min - random.range(1, Math.max(2, span * 0.1)) : range.max + random.range(1, Math.max(2, span * 0.5));
      value = range.integer ? (below ? Math.floor(value) : Math.ceil(value)) : round(value, 1);
      if (below && value >= range.min) value = range.min - 1;
      if (!below && value <= range.max) value = range.max + 1;
      payload[field] = value;
      return json(payload);
    }
    case 'NO_MEASUREMENT': {
      const measurements = new Set(measurementFieldsOf(kind));
      for (const key of Object.keys(payload)) if (measurements.has(key)) delete payload[key];
      return json(payload);
    }
    case 'TS_INVALID': {
      const ms = typeof payload.ts === 'number' ? payload.ts : typeof payload.ts === 'string' ? Date.parse(payload.ts) : ctx.nowMs;
      const iso = new Date(Number.isFinite(ms) ? ms : ctx.nowMs).toISOString();
      const variants = [
        () => iso.slice(0, -1), // no zone
        () => iso.replace('T', ' ').slice(0, 19), // SQL-style
        () => `${iso.slice(8, 10)}/${iso.slice(5, 7)}/${iso.slice(0, 4)} ${iso.slice(11, 16)}`, // Danish d/m/y
        () => 'yesterday',
        () => -Math.abs(Math.round(ms / 1000)), // a sign bug
        () => ms + 0.5, // fractional epoch ms
      ];
      payload.ts = random.pick(variants)();
      return json(payload);
    }
    case 'TS_IN_FUTURE': {
      const ahead = ctx.nowMs + ctx.maxFutureMs + random.range(3_600_000, 48 * 3_600_000);
      payload.ts = timestampLike(payload.ts, ahead);
      return json(payload);
    }
    case 'TS_TOO_OLD': {
      // A clock that reset to the epoch, or a stale buffer from weeks ago.
      const old = random.chance(0.3) ? random.range(0, 86_400_000) : ctx.nowMs - ctx.maxAgeMs - random.range(3_600_000, 30 * 86_400_000);
      payload.ts = timestampLike(payload.ts, old);
      return json(payload);
    }
  }
}

function timestampLike(original: unknown, ms: number): string | number {
  return typeof original === 'string' ? new Date(Math.round(ms)).toISOString() : Math.round(ms);
}
