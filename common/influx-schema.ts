/**
 * Every InfluxDB name StreetLab uses, and the conversions between contract objects and
 * line protocol / query rows. Nobody else spells a measurement, tag or field name.
 *
 * Layout: one measurement per kind, named as the kind (`air`, `traffic`, `waste`, and any kind
 * added at run time: contracts/kinds.ts), tag `device` plus registry
 * tags (`site`, `owner`), one field per contract metric (numbers as floats so a device
 * sending `3` then `3.5` never causes a field-type conflict; `lidOpen` as a boolean), the
 * health fields `seq`, `battery`, `rssi`, and `received_ms` (receive time, for latency
 * and clock-skew reports). Rejections go to `rejected`, tagged by device, kind and reason.
 *
 * Points are written with nanosecond precision: readings at their millisecond timestamp
 * (so a redelivered reading overwrites itself: idempotent), rejections at their receive
 * millisecond plus a per-process counter in the sub-millisecond digits, so a burst of
 * rejections within one millisecond keeps every one.
 */
import type { LiveReading, ReadingKind, Rejection } from '../contracts/index.ts';
import { KIND_ID_PATTERN, isKnownKind } from '../contracts/index.ts';

/** The measurement of a kind's readings: the kind id itself (its pattern is a safe identifier). */
export function measurementOf(kind: ReadingKind): string {
  return kind;
}
export const REJECTED_MEASUREMENT = 'rejected';
export const TAG_DEVICE = 'device';
export const TAG_SITE = 'site';
export const TAG_OWNER = 'owner';
export const TAG_KIND = 'kind';
export const TAG_REASON = 'reason';
export const FIELD_RECEIVED = 'received_ms';
export const REGISTRY_TAGS = [TAG_SITE, TAG_OWNER] as const;
export type RegistryTags = Partial<Record<(typeof REGISTRY_TAGS)[number], string>>;
export const UNKNOWN_TAG_VALUE = 'unknown';

/**
 * Rollups (common/rollups/): hourly and daily aggregates in their own retention policy, one
 * measurement per kind and resolution (`air_1h`, `air_1d`, …), the same tags as the raw
 * readings, and per metric the fields `{metric}_{stat}`, plus `readings` (raw readings in the
 * window), `completeness` (% of the device's declared interval) and `interval_s`.
 */
export const ROLLUP_RETENTION_POLICY = 'rollups';
export const ROLLUP_RESOLUTIONS = ['1h', '1d'] as const;
export type RollupResolution = (typeof ROLLUP_RESOLUTIONS)[number];
/** `{kind}_1h`, `{kind}_1d`. */
export function rollupMeasurementOf(kind: ReadingKind, resolution: RollupResolution): string {
  return `${kind}_${resolution}`;
}
export const ROLLUP_STATS = ['mean', 'min', 'max', 'sum', 'count', 'first', 'last'] as const;
export type RollupStat = (typeof ROLLUP_STATS)[number];
export function rollupField(metric: string, stat: RollupStat): string {
  return `${metric}_${stat}`;
}
export const ROLLUP_FIELD_READINGS = 'readings';
export const ROLLUP_FIELD_COMPLETENESS = 'completeness';
export const ROLLUP_FIELD_INTERVAL = 'interval_s';
/** One point per rollup run (field `started_ms`): where the next run looks for late readings. */
export const ROLLUP_STATE_MEASUREMENT = 'rollup_state';

/** Whether a measurement holds the readings of a kind this process knows. */
export function isReadingMeasurement(name: string): name is ReadingKind {
  return isKnownKind(name);
}

function escapeTag(value: string): string {
  return value.replace(/[,= \\]/g, (c) => `\\${c}`).replace(/\n/g, '\\n');
}

function escapeFieldString(value: string): string {
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;
}

function fieldValue(value: number | boolean): string {
  return typeof value === 'boolean' ? (value ? 'true' : 'false') : String(value);
}

/** `,key=value…` of line protocol, keys sorted, empty values left out (exported for common/rollups). */
export function tagString(tags: Record<string, string | undefined>): string {
  let out = '';
  // Line protocol wants tags sorted by key for best write performance.
  for (const key of Object.keys(tags).sort()) {
    const value = tags[key];
    if (value !== undefined && value !== '') out += `,${key}=${escapeTag(value)}`;
  }
  return out;
}

/** One validated reading as a line-protocol line (ns precision). */
export function readingToLine(reading: LiveReading, registryTags: RegistryTags = {}): string {
  const received = reading.receivedAt === undefined ? undefined : Date.parse(reading.receivedAt);
  return readingLineFrom(readingLinePrefix(reading.kind, reading.deviceId, registryTags), reading, Date.parse(reading.ts), received);
}

/** Measurement and tags of a device's reading lines: the same for all of them until its registry tags change. */
export function readingLinePrefix(kind: ReadingKind, deviceId: string, registryTags: RegistryTags = {}): string {
  return `${measurementOf(kind)}${tagString({ [TAG_DEVICE]: deviceId, ...registryTags })}`;
}

/** The line for a reading whose prefix (readingLinePrefix) and times (epoch ms) the caller has already. */
export function readingLineFrom(prefix: string, reading: LiveReading, tsMs: number, receivedAtMs: number | undefined): string {
  let fields = '';
  for (const name in reading.values) fields += `${fields === '' ? '' : ','}${name}=${fieldValue(reading.values[name]!)}`;
  if (reading.seq !== undefined) fields += `,seq=${reading.seq}`;
  if (reading.battery !== undefined) fields += `,battery=${reading.battery}`;
  if (reading.rssi !== undefined) fields += `,rssi=${reading.rssi}`;
  if (receivedAtMs !== undefined) fields += `,${FIELD_RECEIVED}=${receivedAtMs}`;
  return `${prefix} ${fields} ${tsMs}000000`;
}

let rejectionCounter = 0;

/** One rejection as a line-protocol line (ns precision, unique within the millisecond). */
export function rejectionToLine(rejection: Rejection): string {
  rejectionCounter = (rejectionCounter + 1) % 1_000_000;
  const tags = tagString({
    [TAG_DEVICE]: rejection.deviceId ?? UNKNOWN_TAG_VALUE,
    [TAG_KIND]: rejection.kind ?? UNKNOWN_TAG_VALUE,
    [TAG_REASON]: rejection.reason,
  });
  const fields = [
    `message=${escapeFieldString(rejection.message)}`,
    `issues=${escapeFieldString(JSON.stringify(rejection.issues))}`,
    `topic=${escapeFieldString(rejection.topic)}`,
    `excerpt=${escapeFieldString(rejection.excerpt)}`,
    `size=${rejection.size}i`,
  ];
  const ms = Date.parse(rejection.receivedAt);
  return `${REJECTED_MEASUREMENT}${tags} ${fields.join(',')} ${ms}${String(rejectionCounter).padStart(6, '0')}`;
}

const NON_VALUE_COLUMNS = new Set(['time', TAG_DEVICE, TAG_SITE, TAG_OWNER, 'seq', 'battery', 'rssi', FIELD_RECEIVED]);

/** A query row (epoch-ms `time`, tags merged) of a reading measurement back into a LiveReading. */
export function rowToReading(kind: ReadingKind, row: Record<string, unknown>): LiveReading {
  const values: Record<string, number | boolean> = {};
  for (const [column, value] of Object.entries(row)) {
    if (NON_VALUE_COLUMNS.has(column) || value === null || value === undefined) continue;
    if (typeof value === 'number' || typeof value === 'boolean') values[column] = value;
  }
  const reading: LiveReading = {
    kind,
    deviceId: String(row[TAG_DEVICE]),
    ts: new Date(Number(row.time)).toISOString(),
    values,
  };
  if (typeof row[FIELD_RECEIVED] === 'number') reading.receivedAt = new Date(row[FIELD_RECEIVED]).toISOString();
  if (typeof row.seq === 'number') reading.seq = row.seq;
  if (typeof row.battery === 'number') reading.battery = row.battery;
  if (typeof row.rssi === 'number') reading.rssi = row.rssi;
  return reading;
}

/** A query row of `rejected` back into a Rejection. */
export function rowToRejection(row: Record<string, unknown>): Rejection {
  const kind = row[TAG_KIND];
  const device = row[TAG_DEVICE];
  let issues: Rejection['issues'] = [];
  try {
    issues = JSON.parse(String(row.issues ?? '[]')) as Rejection['issues'];
  } catch {
    issues = [];
  }
  return {
    reason: String(row[TAG_REASON]) as Rejection['reason'],
    message: String(row.message ?? ''),
    issues,
    ...(typeof kind === 'string' && KIND_ID_PATTERN.test(kind) ? { kind } : {}),
    ...(typeof device === 'string' && device !== UNKNOWN_TAG_VALUE ? { deviceId: device } : {}),
    topic: String(row.topic ?? ''),
    receivedAt: new Date(Number(row.time)).toISOString(),
    excerpt: String(row.excerpt ?? ''),
    size: Number(row.size ?? 0),
  };
}

/**
 * Lines InfluxDB itself refused (a field-type conflict, an unparseable or oversized line)
 * are kept in `dead_letter`, tagged by the refusal reason and `target`, the measurement the line was
 * meant for, with the line and InfluxDB's answer as fields: nothing accepted is lost silently.
 */
export const DEAD_LETTER_MEASUREMENT = 'dead_letter';
export const TAG_TARGET = 'target';

let deadLetterCounter = 0;

/** The measurement a line-protocol line writes to (up to the first unescaped `,` or space). */
export function measurementOfLine(line: string): string {
  const match = /^((?:[^\\, ]|\\.)*)/.exec(line);
  return (match?.[1] ?? '').replace(/\\(.)/g, '$1') || UNKNOWN_TAG_VALUE;
}

/** One dead letter as a line (ns precision, unique within the millisecond). */
export function deadLetterToLine(letter: { line: string; reason: string; status: number; error: string }, atMs: number): string {
  deadLetterCounter = (deadLetterCounter + 1) % 1_000_000;
  const tags = tagString({ [TAG_REASON]: letter.reason, [TAG_TARGET]: measurementOfLine(letter.line) });
  const fields = [
    `line=${escapeFieldString(letter.line.slice(0, 8_192))}`,
    `error=${escapeFieldString(letter.error.slice(0, 1_024))}`,
    `status=${letter.status}i`,
  ];
  return `${DEAD_LETTER_MEASUREMENT}${tags} ${fields.join(',')} ${Math.floor(atMs)}${String(deadLetterCounter).padStart(6, '0')}`;
}
