/**
 * InfluxQL text for the research API. Identifiers come only from allow-lists (contract kinds
 * and metrics, the names in common/influx-schema.ts); every value from a request is a bound
 * parameter (`$name`), except the one place InfluxQL cannot bind — a regular expression —
 * where the expression is built from hex escapes of a validated value (see greaterThanRegex).
 */
import { metricsOf, type Aggregate, type ReadingKind, type ReadingsSource } from '../../contracts/index.ts';
import type { QueryParams } from '../../common/influx.ts';
import { quoteIdentifier } from '../../common/influx.ts';
import {
  FIELD_RECEIVED,
  measurementOf,
  REGISTRY_TAGS,
  REJECTED_MEASUREMENT,
  rollupMeasurementOf,
  ROLLUP_RETENTION_POLICY,
  TAG_DEVICE,
  TAG_KIND,
  TAG_OWNER,
  TAG_REASON,
  TAG_SITE,
  rollupField,
} from '../../common/influx-schema.ts';
import type { GroupBy, TagFilter } from './params.ts';

/** The suffix of the per-window count column that travels beside each aggregate. */
export const COUNT_SUFFIX = '__n';

/** Tags that identify a raw series, in the order of a raw cursor's series key. */
export const SERIES_TAGS = [TAG_DEVICE, ...REGISTRY_TAGS] as const;

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** `(device = $device0 OR …) AND site = $site AND owner = $owner`, filling `params`. */
export function tagConditions(filter: TagFilter, params: QueryParams): string[] {
  const conditions: string[] = [];
  if (filter.devices && filter.devices.length > 0) {
    const terms = filter.devices.map((device, i) => {
      params[`device${i}`] = device;
      return `${quoteIdentifier(TAG_DEVICE)} = $device${i}`;
    });
    conditions.push(terms.length === 1 ? terms[0]! : `(${terms.join(' OR ')})`);
  }
  for (const [i, device] of (filter.excludeDevices ?? []).entries()) {
    params[`notDevice${i}`] = device;
    conditions.push(`${quoteIdentifier(TAG_DEVICE)} != $notDevice${i}`);
  }
  if (filter.site !== undefined) {
    params.site = filter.site;
    conditions.push(`${quoteIdentifier(TAG_SITE)} = $site`);
  }
  if (filter.owner !== undefined) {
    params.owner = filter.owner;
    conditions.push(`${quoteIdentifier(TAG_OWNER)} = $owner`);
  }
  return conditions;
}

/** `WHERE` text for a time range (ms, `from` inclusive, `to` exclusive) plus tag filters. */
export function whereClause(filter: TagFilter, fromMs: number, toMs: number, params: QueryParams, extra: string[] = []): string {
  params.from = iso(fromMs);
  params.to = iso(toMs);
  return ['time >= $from', 'time < $to', ...tagConditions(filter, params), ...extra].join(' AND ');
}

/** An InfluxQL duration literal for a whole number of milliseconds. */
export function durationLiteral(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new Error(`not a duration: ${ms}`);
  for (const [unit, size] of [['w', 604_800_000], ['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1_000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

function hexChar(codePoint: number): string {
  return `\\x{${codePoint.toString(16)}}`;
}

const ANY_CHAR = '[\\x{0}-\\x{10ffff}]';

/**
 * A regular expression (InfluxQL `/…/`, RE2 syntax) matching exactly the strings that sort
 * after `value` in code-point order — InfluxDB's own series order, since UTF-8 byte order is
 * code-point order. InfluxQL has no `>` for tags; this is how a page resumes at "devices
 * after the cursor's" without listing them. Every character of `value` becomes a `\x{…}`
 * escape, so nothing in it can change the expression.
 */
export function greaterThanRegex(value: string): string {
  const points = [...value].map((c) => c.codePointAt(0)!);
  // g(i): strings that equal value[0..i) and then are greater; built from the end.
  let tail = ANY_CHAR; // value itself followed by anything: a longer string is greater
  for (let i = points.length - 1; i >= 0; i--) {
    const c = points[i]!;
    const bigger = c < 0x10ffff ? `[${hexChar(c + 1)}-\\x{10ffff}]` : undefined;
    const same = `${hexChar(c)}(?:${tail})`;
    tail = bigger ? `${bigger}|${same}` : same;
  }
  return `/^(?:${tail})/`;
}

/** The column list of a raw read: every field (`*`), or the metrics plus the series tags. */
export function rawSelectList(metrics: readonly string[] | undefined): string {
  if (!metrics) return '*';
  return [...metrics, ...SERIES_TAGS].map(quoteIdentifier).join(', ');
}

export function rawFrom(kind: ReadingKind): string {
  return quoteIdentifier(measurementOf(kind));
}

/** One stored raw reading of a kind, if there is any. */
export function anyReadingStatement(kind: ReadingKind): string {
  return `SELECT * FROM ${rawFrom(kind)} LIMIT 1`;
}

export function rollupFrom(kind: ReadingKind, resolution: '1h' | '1d'): string {
  return `${quoteIdentifier(ROLLUP_RETENTION_POLICY)}.${quoteIdentifier(rollupMeasurementOf(kind, resolution))}`;
}

const RAW_AGGREGATE: Record<Aggregate, (field: string) => string> = {
  mean: (f) => `MEAN(${f})`,
  min: (f) => `MIN(${f})`,
  max: (f) => `MAX(${f})`,
  median: (f) => `MEDIAN(${f})`,
  p95: (f) => `PERCENTILE(${f}, 95)`,
  count: (f) => `COUNT(${f})`,
  sum: (f) => `SUM(${f})`,
  first: (f) => `FIRST(${f})`,
  last: (f) => `LAST(${f})`,
};

/** Aggregates over rollup points: exact, because each rollup keeps sum and count. */
const ROLLUP_AGGREGATE: Partial<Record<Aggregate, (metric: string) => string>> = {
  mean: (m) => `SUM(${quoteIdentifier(rollupField(m, 'sum'))}) / SUM(${quoteIdentifier(rollupField(m, 'count'))})`,
  min: (m) => `MIN(${quoteIdentifier(rollupField(m, 'min'))})`,
  max: (m) => `MAX(${quoteIdentifier(rollupField(m, 'max'))})`,
  sum: (m) => `SUM(${quoteIdentifier(rollupField(m, 'sum'))})`,
  count: (m) => `SUM(${quoteIdentifier(rollupField(m, 'count'))})`,
  first: (m) => `FIRST(${quoteIdentifier(rollupField(m, 'first'))})`,
  last: (m) => `LAST(${quoteIdentifier(rollupField(m, 'last'))})`,
};

/** `agg(m) AS "m", count(m) AS "m__n"` for every metric, from raw readings or a rollup. */
export function windowSelectList(metrics: readonly string[], agg: Aggregate, source: ReadingsSource): string {
  const parts: string[] = [];
  for (const metric of metrics) {
    if (source === 'raw') {
      const field = quoteIdentifier(metric);
      parts.push(`${RAW_AGGREGATE[agg](field)} AS ${quoteIdentifier(metric)}`);
      parts.push(`COUNT(${field}) AS ${quoteIdentifier(metric + COUNT_SUFFIX)}`);
    } else {
      const expression = ROLLUP_AGGREGATE[agg];
      if (!expression) throw new Error(`rollups cannot answer ${agg}`);
      parts.push(`${expression(metric)} AS ${quoteIdentifier(metric)}`);
      parts.push(`SUM(${quoteIdentifier(rollupField(metric, 'count'))}) AS ${quoteIdentifier(metric + COUNT_SUFFIX)}`);
    }
  }
  return parts.join(', ');
}

export function windowFrom(kind: ReadingKind, source: ReadingsSource): string {
  return source === 'raw' ? rawFrom(kind) : rollupFrom(kind, source === 'rollup_1d' ? '1d' : '1h');
}

/** The tag a window query groups by (undefined: all matching devices together). */
export function groupTag(by: GroupBy): string | undefined {
  return by === 'device' ? TAG_DEVICE : by === 'site' ? TAG_SITE : undefined;
}

/** A `LIMIT` count: a whole, positive, safe number (never text from a request). */
export function limitLiteral(limit: number): string {
  if (!Number.isSafeInteger(limit) || limit <= 0) throw new Error(`not a limit: ${limit}`);
  return String(limit);
}

/** A metric of `kind` from the contract (or one of the fields every reading carries), quoted. */
function metricIdentifier(kind: ReadingKind, metric: string): string {
  if (!(metricsOf(kind) as readonly string[]).includes(metric) && !READING_FIELDS.includes(metric)) {
    throw new Error(`not a field of ${kind} readings: ${metric}`);
  }
  return quoteIdentifier(metric);
}

/** Fields beside the metrics that every stored reading may carry. */
const READING_FIELDS: readonly string[] = [FIELD_RECEIVED, 'seq', 'battery', 'rssi'];

/** The latest reading of every device of `kind` since `$from`. */
export function latestStatement(kind: ReadingKind, fromMs: number, params: QueryParams): string {
  params.from = iso(fromMs);
  return `SELECT * FROM ${rawFrom(kind)} WHERE time >= $from GROUP BY ${quoteIdentifier(TAG_DEVICE)} ORDER BY time DESC LIMIT 1`;
}

/** The last value of one metric of every device of `kind` since `$from`, as column "value". */
export function lastValueStatement(kind: ReadingKind, metric: string, fromMs: number, params: QueryParams): string {
  params.from = iso(fromMs);
  return `SELECT LAST(${metricIdentifier(kind, metric)}) AS "value" FROM ${rawFrom(kind)} WHERE time >= $from GROUP BY ${quoteIdentifier(TAG_DEVICE)}`;
}

/** Rejected messages since `fromMs`, newest first, optionally of one device and/or kind. */
export function rejectionsStatement(
  filter: { device?: string | undefined; kind?: ReadingKind | undefined; within?: Pick<TagFilter, 'devices' | 'excludeDevices'> | undefined },
  fromMs: number,
  limit: number,
  params: QueryParams,
): string {
  params.from = iso(fromMs);
  // `within`: a lab's devices (api/labs/scope.ts).
  const conditions = ['time >= $from', ...tagConditions({ devices: filter.within?.devices, excludeDevices: filter.within?.excludeDevices }, params)];
  if (filter.device) {
    params.device = filter.device;
    conditions.push(`${quoteIdentifier(TAG_DEVICE)} = $device`);
  }
  if (filter.kind) {
    params.kind = filter.kind;
    conditions.push(`${quoteIdentifier(TAG_KIND)} = $kind`);
  }
  return `SELECT * FROM ${quoteIdentifier(REJECTED_MEASUREMENT)} WHERE ${conditions.join(' AND ')} ORDER BY time DESC LIMIT ${limitLiteral(limit)}`;
}

/** The device tag values of a measurement (`from`: rawFrom / windowFrom) under site/owner filters. */
export function deviceTagValuesStatement(from: string, filter: Pick<TagFilter, 'site' | 'owner'>, params: QueryParams): string {
  const conditions = tagConditions({ site: filter.site, owner: filter.owner }, params);
  const where = conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : '';
  return `SHOW TAG VALUES FROM ${from} WITH KEY = ${quoteIdentifier(TAG_DEVICE)}${where}`;
}

/** Hourly means of air pollutants, from raw readings or (exactly, sum ÷ count) from the hourly rollups. */
export function hourlyMeansSelect(pollutants: readonly string[], source: 'raw' | 'rollup_1h'): string {
  return pollutants
    .map((p) => {
      const metric = metricIdentifier('air', p);
      return source === 'raw'
        ? `MEAN(${metric}) AS ${metric}`
        : `SUM(${quoteIdentifier(rollupField(p, 'sum'))}) / SUM(${quoteIdentifier(rollupField(p, 'count'))}) AS ${metric}`;
    })
    .join(', ');
}

/** Hourly means of `pollutants` per device of `filter` in [from, to) (UTC hours, empty hours left out). */
export function hourlyMeansStatement(
  pollutants: readonly string[],
  source: 'raw' | 'rollup_1h',
  filter: TagFilter,
  range: { fromMs: number; toMs: number },
  params: QueryParams,
  byDevice: boolean,
): string {
  const from = source === 'raw' ? rawFrom('air') : rollupFrom('air', '1h');
  const group = byDevice ? `time(1h), ${quoteIdentifier(TAG_DEVICE)}` : 'time(1h)';
  return `SELECT ${hourlyMeansSelect(pollutants, source)} FROM ${from} WHERE ${whereClause(filter, range.fromMs, range.toMs, params)} GROUP BY ${group} fill(none)`;
}

/** Every stored reading of one device in [from, to): `fields` (allow-listed) and time. */
export function deviceReadingsStatement(kind: ReadingKind, fields: readonly string[], deviceId: string, range: { fromMs: number; toMs: number }, params: QueryParams): string {
  const select = fields.map((f) => metricIdentifier(kind, f)).join(', ');
  return `SELECT ${select} FROM ${rawFrom(kind)} WHERE ${whereClause({ devices: [deviceId] }, range.fromMs, range.toMs, params)}`;
}

/** One statement per kind counting a device's readings in [from, to) (column "n"): where its readings are. */
export function deviceCountStatements(kinds: readonly ReadingKind[], deviceId: string, range: { fromMs: number; toMs: number }, params: QueryParams): string {
  const where = whereClause({ devices: [deviceId] }, range.fromMs, range.toMs, params);
  return kinds.map((kind) => `SELECT COUNT(${quoteIdentifier(FIELD_RECEIVED)}) AS "n" FROM ${rawFrom(kind)} WHERE ${where}`).join('; ');
}

/**
 * Two statements on a device's rejections in [from, to), both grouped by reason: the count
 * per reason (column "n"), and the newest `examples` of each (message, excerpt).
 */
export function rejectionsByReasonStatements(deviceId: string, range: { fromMs: number; toMs: number }, examples: number, params: QueryParams): string {
  const from = `FROM ${quoteIdentifier(REJECTED_MEASUREMENT)} WHERE ${whereClause({ devices: [deviceId] }, range.fromMs, range.toMs, params)} GROUP BY ${quoteIdentifier(TAG_REASON)}`;
  return `SELECT COUNT("size") AS "n" ${from}; SELECT "message", "excerpt" ${from} ORDER BY time DESC LIMIT ${limitLiteral(examples)}`;
}

/** Fill level and lid state of the waste devices the filter picks, in [from, to), one series per device (with its site and owner tags). */
export function wasteFillStatement(filter: TagFilter, range: { fromMs: number; toMs: number }, params: QueryParams): string {
  const select = ['fill', 'lidOpen'].map((f) => metricIdentifier('waste', f)).join(', ');
  const group = SERIES_TAGS.map((tag) => quoteIdentifier(tag)).join(', ');
  return `SELECT ${select} FROM ${rawFrom('waste')} WHERE ${whereClause(filter, range.fromMs, range.toMs, params)} GROUP BY ${group}`;
}
