/**
 * Turns a validated `/readings` query string into a plan: what to read, from where, in which
 * order and shape. Everything a request can get wrong is refused here with BAD_REQUEST and a
 * message that names the parameter and says what would work. Pure (no I/O): property-tested.
 *
 * Nothing from the request reaches InfluxQL as text: kinds and metrics are allow-listed from
 * the contract, devices must match the device-id pattern, tag values and times travel as
 * bound parameters, durations become integers.
 */
import {
  DEVICE_ID_PATTERN,
  metricsOf,
  isBooleanMetricOf,
  isKnownKind,
  readingKinds,
  type Aggregate,
  type Fill,
  type ReadingKind,
  type ReadingsFormat,
  type ReadingsQuery,
  type ReadingsSource,
} from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import { parseDuration, parseTimeRange } from '../time-range.ts';
import { decodeCursor, queryFingerprint, type RawCursor, type WindowCursor } from './cursor.ts';
import { DAY_MS, HOUR_MS, type QueryLimits } from './limits.ts';

export interface TagFilter {
  devices?: string[] | undefined;
  /** Devices left out (other labs' devices, for the default lab: api/labs/scope.ts). */
  excludeDevices?: string[] | undefined;
  site?: string | undefined;
  owner?: string | undefined;
}

interface PlanBase {
  filter: TagFilter;
  fromMs: number;
  toMs: number;
  format: ReadingsFormat;
  limit: number;
  fingerprint: string;
}

export interface RawPlan extends PlanBase {
  mode: 'raw';
  kinds: ReadingKind[];
  /** Fields to read; undefined = every field (`SELECT *`). */
  metrics: string[] | undefined;
  order: 'asc' | 'desc';
  after: RawCursor | undefined;
  /** Open-data view (api/open-data.ts): no owner in items, CSV columns or NDJSON lines. */
  withholdOwner?: boolean | undefined;
}

export type GroupBy = 'device' | 'site' | 'all';

export interface WindowPlan extends PlanBase {
  mode: 'windows';
  kind: ReadingKind;
  metrics: string[];
  every: string;
  everyMs: number;
  agg: Aggregate;
  fill: Fill;
  by: GroupBy;
  source: ReadingsSource;
  /** Windows per group in [fromMs, toMs) (both aligned to everyMs). */
  windows: number;
  after: WindowCursor | undefined;
}

export type ReadingsPlan = RawPlan | WindowPlan;

/** Aggregates the rollups can answer exactly (median and p95 need every raw reading). */
export const ROLLUP_AGGREGATES: readonly Aggregate[] = ['mean', 'min', 'max', 'sum', 'count', 'first', 'last'];
/** Aggregates InfluxDB can apply to a boolean field. */
const BOOLEAN_AGGREGATES: readonly Aggregate[] = ['count', 'first', 'last'];
const MIN_EVERY_MS = 1_000;
const MAX_EVERY_MS = 366 * DAY_MS;
const MAX_DEVICES = 100;

/** Metrics stored as booleans (unit `bool` in the contract): no mean, sum or percentile. */
export function isBooleanMetric(kind: ReadingKind, metric: string): boolean {
  return isBooleanMetricOf(kind, metric);
}

export function numericMetrics(kind: ReadingKind): string[] {
  return metricsOf(kind).filter((m) => !isBooleanMetric(kind, m));
}

function bad(message: string): AppError {
  return new AppError('BAD_REQUEST', message);
}

function quoteForMessage(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}

/** `a,b` and repeated parameters into one list, trimmed, without empties or duplicates. */
export function splitList(value: string | readonly string[] | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const parts = (typeof value === 'string' ? [value] : value).flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  return [...new Set(parts)];
}

export function parseDevices(value: string | readonly string[] | undefined, param = 'device'): string[] | undefined {
  const devices = splitList(value);
  if (devices === undefined) return undefined;
  if (devices.length === 0) throw bad(`${param}: give at least one device id`);
  if (devices.length > MAX_DEVICES) throw bad(`${param}: at most ${MAX_DEVICES} devices per request (got ${devices.length}); filter by site or owner instead`);
  for (const device of devices) {
    if (!DEVICE_ID_PATTERN.test(device)) throw bad(`${param}: ${quoteForMessage(device)} is not a device id (1–64 of A–Z a–z 0–9 _ . -)`);
  }
  return devices;
}

/** A `kind` parameter: any kind the catalogue knows (kinds are data: contracts/kinds-table.ts). */
export function checkKnownKind(kind: string | undefined, param = 'kind'): void {
  if (kind !== undefined && !isKnownKind(kind)) throw bad(`${param}: unknown kind ${quoteForMessage(kind)}; one of ${readingKinds().join(', ')}`);
}

export function parseMetrics(kind: ReadingKind, value: string | readonly string[] | undefined): string[] | undefined {
  const metrics = splitList(value);
  if (metrics === undefined) return undefined;
  if (metrics.length === 0) throw bad('metric: give at least one metric');
  const allowed = metricsOf(kind);
  for (const metric of metrics) {
    if (!allowed.includes(metric)) throw bad(`metric: ${quoteForMessage(metric)} is not a metric of ${kind}; use one or several of ${allowed.join(', ')}`);
  }
  // Contract order, so columns do not depend on how the request listed them.
  return allowed.filter((m) => metrics.includes(m));
}

/** Picks where aggregated windows come from, or refuses a combination nothing can answer. */
export function chooseSource(
  input: { kind: ReadingKind; metrics: readonly string[]; everyMs: number; agg: Aggregate; fromMs: number; toMs: number; preference: 'auto' | 'raw' | 'rollup' },
  nowMs: number,
  limits: QueryLimits,
): ReadingsSource {
  const rollupable =
    input.everyMs % HOUR_MS === 0 && ROLLUP_AGGREGATES.includes(input.agg) && input.metrics.every((m) => !isBooleanMetric(input.kind, m));
  const resolution: ReadingsSource = input.everyMs % DAY_MS === 0 ? 'rollup_1d' : 'rollup_1h';
  if (input.preference === 'rollup') {
    if (!limits.rollupsEnabled) throw bad('source: rollups are not enabled on this server; use source=auto or raw');
    if (!rollupable) throw bad(`source: rollups answer every of 1h or a multiple, with agg ${ROLLUP_AGGREGATES.join(', ')} and numeric metrics`);
    return resolution;
  }
  if (input.preference === 'raw' || !rollupable || !limits.rollupsEnabled) return 'raw';
  const long = input.toMs - input.fromMs > limits.rollupMinRangeMs;
  const beyondRetention = limits.rawRetentionMs > 0 && input.fromMs < nowMs - limits.rawRetentionMs;
  return long || beyondRetention ? resolution : 'raw';
}

function days(ms: number): string {
  const d = ms / DAY_MS;
  return Number.isInteger(d) ? String(d) : d.toFixed(1);
}

function checkRawRange(fromMs: number, toMs: number, limits: QueryLimits, aggregated: boolean): void {
  if (toMs - fromMs <= limits.rawMaxRangeMs) return;
  const hint = aggregated
    ? 'or aggregate with every=1h or coarser and agg mean, min, max, sum, count, first or last, which reads the hourly rollups'
    : 'or aggregate with every=1h or coarser (served from the hourly rollups)';
  throw bad(
    `from/to: the range is ${days(toMs - fromMs)} days but raw readings are read at most ${days(limits.rawMaxRangeMs)} days at a time; narrow from and to, page through shorter ranges, ${hint}`,
  );
}

/** The plan for a `/readings` request, or BAD_REQUEST naming what is wrong. */
export function planReadings(query: ReadingsQuery, nowMs: number, limits: QueryLimits): ReadingsPlan {
  const format: ReadingsFormat = query.format ?? 'json';
  checkKnownKind(query.kind);
  const devices = parseDevices(query.device);
  const filter: TagFilter = { devices, site: query.site, owner: query.owner };
  const aggregated = query.every !== undefined;
  if (!aggregated) {
    for (const param of ['agg', 'fill'] as const) {
      if (query[param] !== undefined) throw bad(`${param}: only applies to aggregated windows; add every (e.g. every=1h)`);
    }
    if (query.source === 'rollup') throw bad('source: rollups hold aggregated windows; add every (e.g. every=1h)');
  }
  const needsKind = aggregated ? 'every' : query.metric !== undefined ? 'metric' : format !== 'json' ? `format=${format}` : undefined;
  if (needsKind && query.kind === undefined) {
    throw bad(`kind: required with ${needsKind} (one of ${readingKinds().join(', ')})`);
  }

  const maxLimit = format === 'json' ? limits.jsonMaxPoints : limits.exportMaxPoints;
  if (query.limit !== undefined && query.limit > maxLimit) {
    throw bad(`limit: at most ${maxLimit} points per ${format} response (got ${query.limit}); follow meta.nextCursor for more`);
  }
  const limit = query.limit ?? (format === 'json' ? limits.jsonDefaultPoints : limits.exportMaxPoints);

  if (!aggregated) {
    const kinds = query.kind ? [query.kind] : readingKinds();
    const explicit = query.kind ? parseMetrics(query.kind, query.metric) : undefined;
    // A CSV or Parquet export lists every metric of the kind as a column, even one no device sent.
    const metrics = explicit ?? ((format === 'csv' || format === 'parquet') && query.kind ? [...metricsOf(query.kind)] : undefined);
    const order = query.order ?? (format === 'json' ? 'desc' : 'asc');
    const { fromMs, toMs } = parseTimeRange(query, nowMs, HOUR_MS);
    checkRawRange(fromMs, toMs, limits, false);
    const fingerprint = queryFingerprint(['r', kinds, explicit ?? null, order, devices ?? null, query.site ?? null, query.owner ?? null]);
    let after: RawCursor | undefined;
    if (query.cursor !== undefined) {
      const cursor = decodeCursor(query.cursor, fingerprint);
      if (cursor.m !== 'r') throw bad('cursor: not a cursor of raw readings');
      after = cursor;
    }
    return { mode: 'raw', kinds, metrics, order, filter, fromMs, toMs, format, limit, fingerprint, after };
  }

  const kind = query.kind!;
  const everyMs = parseDuration(query.every!, 'every');
  if (everyMs < MIN_EVERY_MS || everyMs > MAX_EVERY_MS || everyMs % MIN_EVERY_MS !== 0) {
    throw bad(`every: ${quoteForMessage(query.every!)} must be whole seconds between 1s and 366d, e.g. 5m, 1h, 1d`);
  }
  if (query.order === 'desc') throw bad('order: aggregated windows come oldest first (asc) per device; leave order out');
  const agg: Aggregate = query.agg ?? 'mean';
  const fill: Fill = query.fill ?? 'none';
  // Windows are per device; the engine can also group by site or not at all (not exposed yet).
  const by: GroupBy = 'device';
  const explicit = parseMetrics(kind, query.metric);
  if (explicit && !BOOLEAN_AGGREGATES.includes(agg)) {
    const boolean = explicit.find((m) => isBooleanMetric(kind, m));
    if (boolean) throw bad(`metric: ${boolean} is true/false; aggregate it with agg=${BOOLEAN_AGGREGATES.join('|')}`);
  }
  const metrics = explicit ?? numericMetrics(kind);

  const { fromMs: rawFrom, toMs: rawTo } = parseTimeRange(
    { from: query.from, to: query.to },
    nowMs,
    // Without from: the 24 windows before to.
    Math.min(24 * everyMs, 400 * DAY_MS),
  );
  const fromMs = Math.floor(rawFrom / everyMs) * everyMs;
  const toMs = Math.ceil(rawTo / everyMs) * everyMs;
  const windows = Math.round((toMs - fromMs) / everyMs);
  if (windows > limits.maxWindows) {
    throw bad(`every: ${windows} windows of ${query.every} between from and to is more than the ${limits.maxWindows} allowed; use a larger every or narrow from and to`);
  }
  const source = chooseSource({ kind, metrics, everyMs, agg, fromMs, toMs, preference: query.source ?? 'auto' }, nowMs, limits);
  if (source === 'raw') checkRawRange(fromMs, toMs, limits, true);

  const fingerprint = queryFingerprint(['w', kind, metrics, everyMs, agg, fill, by, source, devices ?? null, query.site ?? null, query.owner ?? null]);
  let after: WindowCursor | undefined;
  if (query.cursor !== undefined) {
    const cursor = decodeCursor(query.cursor, fingerprint);
    if (cursor.m !== 'w') throw bad('cursor: not a cursor of aggregated windows');
    after = cursor;
  }
  return { mode: 'windows', kind, metrics, every: query.every!.trim(), everyMs, agg, fill, by, source, windows, filter, fromMs, toMs, format, limit, fingerprint, after };
}

/** Refuses an aggregated request whose windows × groups exceed the budget (groups counted by the caller). */
export function checkWindowBudget(plan: WindowPlan, groups: number, limits: QueryLimits): void {
  const estimate = plan.windows * Math.max(1, groups);
  if (estimate > limits.maxWindows) {
    throw bad(
      `every: ${plan.windows} windows × ${groups} ${plan.by === 'site' ? 'sites' : 'devices'} = ${estimate} windows is more than the ${limits.maxWindows} allowed; use a larger every, narrow from and to, or filter by device, site or owner`,
    );
  }
}
