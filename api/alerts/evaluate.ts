/**
 * Rule evaluation as pure functions: does a rule's condition hold for this device now, and
 * with what value? The engine (engine.ts) turns the answers into open / repeat / clear
 * transitions; keeping the conditions here makes each one testable with plain data.
 *
 * EAQI on the live stream: the official index needs hourly means (PM on a 24-hour running
 * mean, see contracts/aqi.ts and GET /api/v1/aqi). A live alert cannot wait a day, so an EAQI
 * rule reads the band of each pollutant in the latest air reading with the same band table
 * (`eaqiBand`) and takes the worst: an early warning on the instantaneous value, not the
 * official index. A reading without any EAQI pollutant leaves the alert as it is.
 */
import { DEFAULT_LAB_ID } from '../../contracts/labs.ts';
import {
  eaqiIndication,
  eaqiLabel,
  type AlertRule,
  type EaqiLevel,
  type EaqiPollutant,
  type LiveReading,
  type ReadingKind,
  type ThresholdOp,
} from '../../contracts/index.ts';

export type ThresholdRule = Extract<AlertRule, { type: 'threshold' }>;
export type EaqiRule = Extract<AlertRule, { type: 'eaqi' }>;
export type OfflineRule = Extract<AlertRule, { type: 'offline' }>;
export type RejectRateRule = Extract<AlertRule, { type: 'reject_rate' }>;

/** A condition's answer: whether it holds, the deciding value and a sentence for people. */
export interface Verdict {
  holds: boolean;
  value: number;
  message: string;
}

export interface DeviceFacts {
  deviceId: string;
  kind?: ReadingKind | undefined;
  site?: string | undefined;
  /** The device's lab (undefined: not registered, or registered before labs = the default lab). */
  lab?: string | undefined;
}

export function compare(value: number, op: ThresholdOp, threshold: number): boolean {
  switch (op) {
    case '>=':
      return value >= threshold;
    case '>':
      return value > threshold;
    case '<=':
      return value <= threshold;
    case '<':
      return value < threshold;
  }
}

const OP_TEXT: Record<ThresholdOp, string> = { '>=': '≥', '>': '>', '<=': '≤', '<': '<' };
const NEGATED: Record<ThresholdOp, string> = { '>=': '<', '>': '≤', '<=': '>', '<': '≥' };

function formatNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Math.round(value * 100) / 100);
}

/** The kind a rule is about, when it is about one. */
export function kindOfRule(rule: AlertRule): ReadingKind | undefined {
  if (rule.type === 'eaqi') return 'air';
  return rule.kind;
}

/** Whether a rule's filters (device, site, kind) select this device. */
export function ruleApplies(rule: AlertRule, device: DeviceFacts, defaultLab: string = DEFAULT_LAB_ID): boolean {
  if (!rule.enabled) return false;
  // A rule watches its own lab's devices only (rules and devices made before labs: the default lab).
  if ((rule.lab ?? defaultLab) !== (device.lab ?? defaultLab)) return false;
  if (rule.deviceId !== undefined && rule.deviceId !== device.deviceId) return false;
  if (rule.site !== undefined && rule.site !== device.site) return false;
  const kind = kindOfRule(rule);
  if (kind !== undefined && device.kind !== undefined && kind !== device.kind) return false;
  // A kind-bound rule needs to know the device's kind.
  if (kind !== undefined && device.kind === undefined) return false;
  return true;
}

/** The value of a threshold rule's metric in a reading (battery and rssi live beside `values`). */
export function metricValue(reading: LiveReading, metric: string): number | undefined {
  const value = metric === 'battery' ? reading.battery : metric === 'rssi' ? reading.rssi : reading.values[metric];
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * undefined: the reading does not carry the metric, so it says nothing about the condition.
 * While the alert is `active`, the threshold moves back by the rule's hysteresis: it clears
 * only once the value is clearly past it.
 */
export function evaluateThreshold(rule: ThresholdRule, reading: LiveReading, unit = '', active = false): Verdict | undefined {
  if (reading.kind !== rule.kind) return undefined;
  const value = metricValue(reading, rule.metric);
  if (value === undefined) return undefined;
  const margin = active ? rule.hysteresis : 0;
  const holds = compare(value, rule.op, rule.op === '>=' || rule.op === '>' ? rule.value - margin : rule.value + margin);
  const u = unit ? ` ${unit}` : '';
  const message = holds
    ? `${reading.deviceId}: ${rule.metric} ${formatNumber(value)}${u} ${OP_TEXT[rule.op]} ${formatNumber(rule.value)}${u}`
    : `${reading.deviceId}: ${rule.metric} back to ${formatNumber(value)}${u} (${NEGATED[rule.op]} ${formatNumber(rule.value)}${u})`;
  return { holds, value, message };
}

/** The worst EAQI band among the pollutants of one reading, or undefined when it has none. */
export function readingEaqi(values: LiveReading['values']): { level: EaqiLevel; pollutant: EaqiPollutant; value: number } | undefined {
  const indication = eaqiIndication(values);
  return indication && { level: indication.level, pollutant: indication.dominant, value: indication.value };
}

export function evaluateEaqi(rule: EaqiRule, reading: LiveReading): Verdict | undefined {
  if (reading.kind !== 'air') return undefined;
  const worst = readingEaqi(reading.values);
  if (!worst) return undefined;
  const holds = worst.level >= rule.level;
  const label = eaqiLabel(worst.level).toLowerCase();
  const message = holds
    ? `${reading.deviceId}: air ${label} (EAQI band ${worst.level} ≥ ${rule.level}, ${worst.pollutant} ${formatNumber(worst.value)} µg/m³, latest reading)`
    : `${reading.deviceId}: air back to ${label} (EAQI band ${worst.level} < ${rule.level})`;
  return { holds, value: worst.level, message };
}

/**
 * Offline: not heard from for `intervals` × the device's declared interval. `lastSeenMs` is
 * the last valid reading, or — never heard since the API started — when watching began.
 */
export function evaluateOffline(rule: OfflineRule, facts: { deviceId: string; lastSeenMs: number; intervalSeconds: number; nowMs: number }): Verdict {
  const silentMs = Math.max(0, facts.nowMs - facts.lastSeenMs);
  const limitMs = rule.intervals * facts.intervalSeconds * 1000;
  const silentS = Math.floor(silentMs / 1000);
  const holds = silentMs > limitMs;
  const message = holds
    ? `${facts.deviceId}: not heard from for ${silentS} s (> ${formatNumber(rule.intervals)} × its ${facts.intervalSeconds} s interval)`
    : `${facts.deviceId}: reporting again`;
  return { holds, value: silentS, message };
}

/** Counts of accepted and rejected messages in 10-second buckets, newest last. */
export const REJECT_BUCKET_MS = 10_000;
/** The longest window a reject-rate rule may use (contracts: windowMinutes ≤ 240). */
export const REJECT_MAX_WINDOW_MS = 240 * 60_000;

export class RejectWindow {
  private readonly buckets: { start: number; accepted: number; rejected: number }[] = [];

  record(nowMs: number, accepted: boolean): void {
    const start = Math.floor(nowMs / REJECT_BUCKET_MS) * REJECT_BUCKET_MS;
    let last = this.buckets[this.buckets.length - 1];
    if (!last || last.start !== start) {
      last = { start, accepted: 0, rejected: 0 };
      this.buckets.push(last);
    }
    if (accepted) last.accepted += 1;
    else last.rejected += 1;
    this.prune(nowMs);
  }

  /** Drops buckets older than the longest window; true when nothing is left. */
  prune(nowMs: number): boolean {
    const oldest = nowMs - REJECT_MAX_WINDOW_MS;
    let drop = 0;
    while (drop < this.buckets.length && this.buckets[drop]!.start + REJECT_BUCKET_MS <= oldest) drop += 1;
    if (drop > 0) this.buckets.splice(0, drop);
    return this.buckets.length === 0;
  }

  /** Messages in the last `windowMs` (to bucket precision: a bucket counts while any of it is inside). */
  counts(nowMs: number, windowMs: number): { accepted: number; rejected: number } {
    const from = nowMs - windowMs;
    let accepted = 0;
    let rejected = 0;
    for (let i = this.buckets.length - 1; i >= 0; i--) {
      const bucket = this.buckets[i]!;
      if (bucket.start + REJECT_BUCKET_MS <= from) break;
      accepted += bucket.accepted;
      rejected += bucket.rejected;
    }
    return { accepted, rejected };
  }
}

export function evaluateRejectRate(rule: RejectRateRule, deviceId: string, window: RejectWindow | undefined, nowMs: number): Verdict {
  const { accepted, rejected } = window?.counts(nowMs, rule.windowMinutes * 60_000) ?? { accepted: 0, rejected: 0 };
  const total = accepted + rejected;
  const percent = total === 0 ? 0 : (rejected / total) * 100;
  const holds = total >= rule.minMessages && percent > rule.percent;
  const message = holds
    ? `${deviceId}: ${formatNumber(percent)} % of messages rejected in the last ${rule.windowMinutes} min (${rejected} of ${total}; limit ${formatNumber(rule.percent)} %)`
    : `${deviceId}: reject rate back to ${formatNumber(percent)} % over ${rule.windowMinutes} min (${rejected} of ${total})`;
  return { holds, value: Math.round(percent * 100) / 100, message };
}
