/**
 * Every InfluxDB name StreetLab uses, and the conversions between contract objects and
 * line protocol / query rows. Nobody else spells a measurement, tag or field name.
 *
 * Layout: one measurement per kind (`air`, `traffic`, `waste`), tag `device` plus registry
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
import { READING_KINDS } from '../contracts/index.ts';

export const MEASUREMENTS: Record<ReadingKind, string> = { air: 'air', traffic: 'traffic', waste: 'waste' };
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

export function isReadingMeasurement(name: string): name is ReadingKind {
  return (READING_KINDS as readonly string[]).includes(name);
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

function tagString(tags: Record<string, string | undefined>): string {
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
  const fields: string[] = [];
  for (const [name, value] of Object.entries(reading.values)) fields.push(`${name}=${fieldValue(value)}`);
  if (reading.seq !== undefined) fields.push(`seq=${reading.seq}`);
  if (reading.battery !== undefined) fields.push(`battery=${reading.battery}`);
  if (reading.rssi !== undefined) fields.push(`rssi=${reading.rssi}`);
  if (reading.receivedAt !== undefined) fields.push(`${FIELD_RECEIVED}=${Date.parse(reading.receivedAt)}`);
  const tags = tagString({ [TAG_DEVICE]: reading.deviceId, ...registryTags });
  return `${MEASUREMENTS[reading.kind]}${tags} ${fields.join(',')} ${Date.parse(reading.ts)}000000`;
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
    ...(typeof kind === 'string' && isReadingMeasurement(kind) ? { kind } : {}),
    ...(typeof device === 'string' && device !== UNKNOWN_TAG_VALUE ? { deviceId: device } : {}),
    topic: String(row.topic ?? ''),
    receivedAt: new Date(Number(row.time)).toISOString(),
    excerpt: String(row.excerpt ?? ''),
    size: Number(row.size ?? 0),
  };
}
