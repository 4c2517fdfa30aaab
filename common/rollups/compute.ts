/**
 * Hourly and daily rollups: per device series and window, each numeric metric's mean, min,
 * max, sum, count, first and last, plus the readings behind the window and its completeness
 * against the device's declared interval.
 *
 * Both are computed in InfluxQL and written back as line protocol into the `rollups`
 * retention policy — not with `SELECT … INTO`, which InfluxDB 2.x's v1 API and 3.x do not
 * offer, and which could not look up each device's interval. Hourly rollups come from the raw
 * readings; daily ones from the hourly rollups (sums and counts add up exactly, min/max/first/
 * last compose), so a day costs 24 points to read instead of every raw reading. Recomputing a
 * window writes the same series and timestamp again, which InfluxDB treats as an overwrite:
 * every computation here is idempotent.
 */
import { numericMetricsOf, type ReadingKind } from '../../contracts/index.ts';
import type { InfluxClient, InfluxSeries, QueryParams } from '../influx.ts';
import { quoteIdentifier } from '../influx.ts';
import {
  measurementOf,
  ROLLUP_FIELD_COMPLETENESS,
  ROLLUP_FIELD_INTERVAL,
  ROLLUP_FIELD_READINGS,
  rollupMeasurementOf,
  ROLLUP_RETENTION_POLICY,
  TAG_DEVICE,
  rollupField,
  tagString,
  type RollupResolution,
} from '../influx-schema.ts';

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
const WRITE_BATCH_LINES = 5_000;

/** A device's declared reporting interval in seconds (the registry's `intervalSeconds`). */
export type LookupInterval = (deviceId: string) => number | undefined | Promise<number | undefined>;

/** Metrics that get rollups: every numeric metric of the kind (booleans have no mean or sum). */
export function rollupMetrics(kind: ReadingKind): string[] {
  return [...numericMetricsOf(kind)];
}

/** % of the readings a device promises (one per interval) that a window holds, at most 100. */
export function completenessPercent(readings: number, windowMs: number, intervalSeconds: number): number {
  const expected = windowMs / (intervalSeconds * 1000);
  if (!(expected > 0)) return 0;
  return Math.min(100, Math.round((10_000 * readings) / expected) / 100);
}

export interface ComputeContext {
  influx: Pick<InfluxClient, 'query' | 'write'>;
  /** Seconds; cached by the caller for a run. */
  intervalOf: (deviceId: string) => Promise<number>;
}

function from(kind: ReadingKind, resolution?: RollupResolution): string {
  return resolution
    ? `${quoteIdentifier(ROLLUP_RETENTION_POLICY)}.${quoteIdentifier(rollupMeasurementOf(kind, resolution))}`
    : quoteIdentifier(measurementOf(kind));
}

function hourlySelect(metrics: readonly string[]): string {
  return metrics
    .flatMap((m) => {
      const f = quoteIdentifier(m);
      const as = (stat: Parameters<typeof rollupField>[1]) => quoteIdentifier(rollupField(m, stat));
      return [
        `MEAN(${f}) AS ${as('mean')}`,
        `MIN(${f}) AS ${as('min')}`,
        `MAX(${f}) AS ${as('max')}`,
        `SUM(${f}) AS ${as('sum')}`,
        `COUNT(${f}) AS ${as('count')}`,
        `FIRST(${f}) AS ${as('first')}`,
        `LAST(${f}) AS ${as('last')}`,
      ];
    })
    .join(', ');
}

function dailySelect(metrics: readonly string[]): string {
  return metrics
    .flatMap((m) => {
      const q = (stat: Parameters<typeof rollupField>[1]) => quoteIdentifier(rollupField(m, stat));
      return [
        `SUM(${q('sum')}) AS ${q('sum')}`,
        `SUM(${q('count')}) AS ${q('count')}`,
        `MIN(${q('min')}) AS ${q('min')}`,
        `MAX(${q('max')}) AS ${q('max')}`,
        `FIRST(${q('first')}) AS ${q('first')}`,
        `LAST(${q('last')}) AS ${q('last')}`,
      ];
    })
    .concat(`SUM(${quoteIdentifier(ROLLUP_FIELD_READINGS)}) AS ${quoteIdentifier(ROLLUP_FIELD_READINGS)}`)
    .join(', ');
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/** Rollup lines of one query result (one series per device tag set, one row per window). */
async function linesOf(
  series: readonly InfluxSeries[],
  kind: ReadingKind,
  resolution: RollupResolution,
  metrics: readonly string[],
  context: ComputeContext,
): Promise<string[]> {
  const windowMs = resolution === '1h' ? HOUR_MS : DAY_MS;
  const measurement = rollupMeasurementOf(kind, resolution);
  const lines: string[] = [];
  for (const s of series) {
    const tags = s.tags ?? {};
    const device = tags[TAG_DEVICE] ?? '';
    const tagText = tagString(tags);
    const interval = await context.intervalOf(device);
    for (const values of s.values) {
      const row: Record<string, unknown> = {};
      s.columns.forEach((c, i) => (row[c] = values[i]));
      const fields: string[] = [];
      let readings = 0;
      for (const m of metrics) {
        const count = num(row[rollupField(m, 'count')]);
        if (!count) continue;
        readings = Math.max(readings, count);
        const sum = num(row[rollupField(m, 'sum')]);
        const stats: [string, number | undefined][] = [
          [rollupField(m, 'mean'), resolution === '1h' ? num(row[rollupField(m, 'mean')]) : sum === undefined ? undefined : sum / count],
          [rollupField(m, 'min'), num(row[rollupField(m, 'min')])],
          [rollupField(m, 'max'), num(row[rollupField(m, 'max')])],
          [rollupField(m, 'sum'), sum],
          [rollupField(m, 'count'), count],
          [rollupField(m, 'first'), num(row[rollupField(m, 'first')])],
          [rollupField(m, 'last'), num(row[rollupField(m, 'last')])],
        ];
        // Line protocol reads a number without `i` as a float: every field stays one type.
        for (const [name, v] of stats) if (v !== undefined) fields.push(`${name}=${String(v)}`);
      }
      if (fields.length === 0) continue;
      if (resolution === '1d') readings = num(row[ROLLUP_FIELD_READINGS]) ?? readings;
      fields.push(`${ROLLUP_FIELD_READINGS}=${readings}`);
      fields.push(`${ROLLUP_FIELD_COMPLETENESS}=${completenessPercent(readings, windowMs, interval)}`);
      fields.push(`${ROLLUP_FIELD_INTERVAL}=${interval}`);
      lines.push(`${measurement}${tagText} ${fields.join(',')} ${Number(row.time)}000000`);
    }
  }
  return lines;
}

async function writeLines(context: ComputeContext, lines: readonly string[]): Promise<void> {
  for (let i = 0; i < lines.length; i += WRITE_BATCH_LINES) {
    await context.influx.write(lines.slice(i, i + WRITE_BATCH_LINES), { retentionPolicy: ROLLUP_RETENTION_POLICY });
  }
}

/**
 * Recomputes the hourly rollups of `kind` for the hours in [fromMs, toMs) (aligned to hours by
 * the caller) from the raw readings. Returns the number of rollup points written.
 */
export async function computeHourly(context: ComputeContext, kind: ReadingKind, fromMs: number, toMs: number): Promise<number> {
  const metrics = rollupMetrics(kind);
  const params: QueryParams = { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
  const [result] = await context.influx.query(
    `SELECT ${hourlySelect(metrics)} FROM ${from(kind)} WHERE time >= $from AND time < $to GROUP BY time(1h), * fill(none)`,
    params,
  );
  const lines = await linesOf(result?.series ?? [], kind, '1h', metrics, context);
  await writeLines(context, lines);
  return lines.length;
}

/** Recomputes the daily rollups of `kind` for the days in [fromMs, toMs) from the hourly rollups. */
export async function computeDaily(context: ComputeContext, kind: ReadingKind, fromMs: number, toMs: number): Promise<number> {
  const metrics = rollupMetrics(kind);
  const params: QueryParams = { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
  const [result] = await context.influx.query(
    `SELECT ${dailySelect(metrics)} FROM ${from(kind, '1h')} WHERE time >= $from AND time < $to GROUP BY time(1d), * fill(none)`,
    params,
  );
  const lines = await linesOf(result?.series ?? [], kind, '1d', metrics, context);
  await writeLines(context, lines);
  return lines.length;
}

/**
 * Hours in [fromMs, toMs) that received raw readings of `kind` at or after `sinceMs` (by their
 * `received_ms` field): the windows late readings have made stale.
 */
export async function findLateHours(
  influx: Pick<InfluxClient, 'query'>,
  kind: ReadingKind,
  fromMs: number,
  toMs: number,
  sinceMs: number,
  receivedField: string,
): Promise<number[]> {
  if (fromMs >= toMs) return [];
  const params: QueryParams = { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), since: sinceMs };
  const [result] = await influx.query(
    `SELECT COUNT(${quoteIdentifier(receivedField)}) AS "n" FROM ${from(kind)} WHERE time >= $from AND time < $to AND ${quoteIdentifier(receivedField)} >= $since GROUP BY time(1h) fill(none)`,
    params,
  );
  const hours: number[] = [];
  for (const s of result?.series ?? []) for (const values of s.values) hours.push(Number(values[0]));
  return hours;
}

/** Sorted window starts → contiguous [from, to) ranges of at most `maxWindows` windows each. */
export function toRanges(starts: Iterable<number>, windowMs: number, maxWindows: number): [number, number][] {
  const sorted = [...new Set(starts)].sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  for (const start of sorted) {
    const last = ranges[ranges.length - 1];
    if (last && last[1] === start && (last[1] - last[0]) / windowMs < maxWindows) last[1] = start + windowMs;
    else ranges.push([start, start + windowMs]);
  }
  return ranges;
}
