/**
 * Raw readings in an exact, total order — time, then kind, then series (device, site, owner) —
 * streamed from InfluxDB with `chunked=true`, so an export of millions of rows holds one chunk
 * and one millisecond's rows in memory at a time.
 *
 * InfluxDB orders by time only; rows sharing a millisecond come in no promised order, and a
 * LIMIT may cut through them. So rows are buffered per millisecond and sorted by series; when
 * the LIMIT was reached, the last millisecond is read again whole before it is sorted. Paging
 * resumes after the last row returned: the rest of its millisecond, then strictly later (or
 * earlier) times. Together this returns every row exactly once across pages.
 *
 * A row is InfluxDB's own value array plus the layout of its series (where each column is),
 * not an object per row: an export of a million rows would otherwise build a million objects
 * only to read them once (the export figures are in README "Latest figures").
 */
import type { ReadingKind } from '../../contracts/index.ts';
import type { InfluxClient, InfluxSeries, QueryParams } from '../../common/influx.ts';
import { SERIES_TAGS, iso, rawFrom, rawSelectList, tagConditions, whereClause } from './influxql.ts';
import type { TagFilter } from './params.ts';

/** Where each column of a series' rows is: built once per series, shared by its rows. */
export interface RawLayout {
  columns: readonly string[];
  /** Column name → index in a row's values. */
  index: ReadonlyMap<string, number>;
  /** Per SERIES_TAGS: the index in a row's values, or -1 when it is a tag of the series. */
  tagIndexes: readonly number[];
  /** The series' tags (GROUP BY); undefined without. */
  tags: Readonly<Record<string, string>> | undefined;
}

export interface RawRow {
  kind: ReadingKind;
  /** The kind's place in the request's order of kinds (the `k` of a position). */
  k: number;
  /** epoch ms */
  time: number;
  /** The row as InfluxDB returned it, `time` in epoch ms; read with `layout`. */
  values: readonly unknown[];
  layout: RawLayout;
}

export interface RawPosition {
  t: number;
  /** Kind index in the request's kinds. */
  k: number;
  s: readonly string[];
}

export interface RawReadOptions {
  kind: ReadingKind;
  /** The kind's place in the request's order of kinds (default 0). */
  kindIndex?: number;
  filter: TagFilter;
  fromMs: number;
  toMs: number;
  metrics: readonly string[] | undefined;
  order: 'asc' | 'desc';
  after?: RawPosition | undefined;
  /** Most rows to yield. */
  max: number;
  chunkSize?: number;
}

export function layoutOf(series: Pick<InfluxSeries, 'columns' | 'tags'>): RawLayout {
  const index = new Map<string, number>();
  series.columns.forEach((column, i) => index.set(column, i));
  return { columns: series.columns, index, tagIndexes: SERIES_TAGS.map((tag) => index.get(tag) ?? -1), tags: series.tags };
}

/** A column of a row (a tag of its series when the row has no such column); undefined when absent. */
export function rawCell(row: RawRow, column: string): unknown {
  const i = row.layout.index.get(column);
  return i === undefined ? row.layout.tags?.[column] : row.values[i];
}

/** The value of SERIES_TAGS[n] ('' when absent). */
export function seriesTagOf(row: RawRow, n: number): string {
  const i = row.layout.tagIndexes[n]!;
  const v = i >= 0 ? row.values[i] : row.layout.tags?.[SERIES_TAGS[n]!];
  return typeof v === 'string' ? v : '';
}

/** The series key (values of SERIES_TAGS, '' when absent). */
export function keyOf(row: RawRow): string[] {
  return SERIES_TAGS.map((_, n) => seriesTagOf(row, n));
}

/** Every column of the row as an object (tags merged), `time` in epoch ms: for JSON items. */
export function rowRecord(row: RawRow): Record<string, unknown> {
  const record: Record<string, unknown> = { ...(row.layout.tags ?? {}) };
  const { columns } = row.layout;
  for (let i = 0; i < columns.length; i++) record[columns[i]!] = row.values[i];
  return record;
}

/** The fields InfluxDB holds for a kind (any shard, any time): `SHOW FIELD KEYS`, metadata only. */
export async function storedFields(influx: Pick<InfluxClient, 'query'>, kind: ReadingKind): Promise<Set<string>> {
  const [result] = await influx.query(`SHOW FIELD KEYS FROM ${rawFrom(kind)}`);
  const fields = new Set<string>();
  for (const series of result?.series ?? []) {
    const at = series.columns.indexOf('fieldKey');
    for (const values of series.values) if (typeof values[at] === 'string') fields.add(values[at]);
  }
  return fields;
}

function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Series order of two rows of one millisecond, without building their keys. */
function compareSeries(a: RawRow, b: RawRow): number {
  for (let n = 0; n < SERIES_TAGS.length; n++) {
    const x = seriesTagOf(a, n);
    const y = seriesTagOf(b, n);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Order of two positions: time (asc or desc), then kind, then series key. */
export function comparePositions(a: RawPosition, b: RawPosition, order: 'asc' | 'desc'): number {
  if (a.t !== b.t) return order === 'asc' ? a.t - b.t : b.t - a.t;
  if (a.k !== b.k) return a.k - b.k;
  return compareKeys(a.s, b.s);
}

export function positionOf(row: RawRow): RawPosition {
  return { t: row.time, k: row.k, s: keyOf(row) };
}

/** Whether `row` comes after `position` (same order as comparePositions), building no key. */
function isAfter(row: RawRow, position: RawPosition, order: 'asc' | 'desc'): boolean {
  if (row.time !== position.t) return order === 'asc' ? row.time > position.t : row.time < position.t;
  if (row.k !== position.k) return row.k > position.k;
  for (let n = 0; n < SERIES_TAGS.length; n++) {
    const x = seriesTagOf(row, n);
    const y = position.s[n] ?? '';
    if (x !== y) return x > y;
  }
  return false;
}

function rowsOfSeries(kind: ReadingKind, k: number, series: InfluxSeries, out: RawRow[]): void {
  const layout = layoutOf(series);
  const timeIndex = layout.index.get('time') ?? 0;
  for (const values of series.values) out.push({ kind, k, time: Number(values[timeIndex]), values, layout });
}

/** Sorts one millisecond's rows by series; InfluxDB mostly returns them sorted already. */
function sortGroup(rows: RawRow[]): RawRow[] {
  for (let i = 1; i < rows.length; i++) {
    if (compareSeries(rows[i - 1]!, rows[i]!) > 0) return rows.sort(compareSeries);
  }
  return rows;
}

/**
 * Yields raw rows of one kind in exact order, in batches, after `after`, at most `max` rows.
 * Breaking out of the loop early aborts the InfluxDB request.
 */
export async function* readRaw(influx: Pick<InfluxClient, 'query' | 'queryChunks'>, options: RawReadOptions): AsyncGenerator<RawRow[]> {
  const { kind, filter, order, after } = options;
  const k = options.kindIndex ?? 0;
  const select = rawSelectList(options.metrics);
  let emitted = 0;

  async function readMillisecond(t: number): Promise<RawRow[]> {
    const params: QueryParams = { t: iso(t) };
    const where = ['time = $t', ...tagConditions(filter, params)].join(' AND ');
    const [result] = await influx.query(`SELECT ${select} FROM ${rawFrom(kind)} WHERE ${where}`, params);
    const rows: RawRow[] = [];
    for (const series of result?.series ?? []) rowsOfSeries(kind, k, series, rows);
    return sortGroup(rows);
  }

  /** Takes what fits of a sorted group; true when `max` is reached. */
  function take(group: RawRow[], out: RawRow[], skipUpTo?: RawPosition): boolean {
    for (const row of group) {
      if (emitted >= options.max) return true;
      if (skipUpTo && !isAfter(row, skipUpTo, order)) continue;
      out.push(row);
      emitted += 1;
    }
    return emitted >= options.max;
  }

  let fromMs = options.fromMs;
  let toMs = options.toMs;
  if (after) {
    if (after.t >= fromMs && after.t < toMs) {
      const rest: RawRow[] = [];
      const full = take(await readMillisecond(after.t), rest, after);
      if (rest.length > 0) yield rest;
      if (full) return;
    }
    if (order === 'asc') fromMs = Math.max(fromMs, after.t + 1);
    else toMs = Math.min(toMs, after.t);
  }
  if (fromMs >= toMs || emitted >= options.max) return;

  const limit = options.max - emitted;
  const params: QueryParams = {};
  const where = whereClause(filter, fromMs, toMs, params);
  const statement = `SELECT ${select} FROM ${rawFrom(kind)} WHERE ${where} ORDER BY time ${order === 'asc' ? 'ASC' : 'DESC'} LIMIT ${limit}`;
  let fetched = 0;
  let group: RawRow[] = [];
  let groupTime = NaN;
  let batch: RawRow[] = [];
  for await (const results of influx.queryChunks(statement, params, options.chunkSize ?? 10_000)) {
    for (const result of results) {
      for (const series of result.series ?? []) {
        const layout = layoutOf(series);
        const timeIndex = layout.index.get('time') ?? 0;
        for (const values of series.values) {
          fetched += 1;
          const time = Number(values[timeIndex]);
          if (time !== groupTime && group.length > 0) {
            if (take(sortGroup(group), batch)) {
              yield batch;
              return;
            }
            group = [];
          }
          groupTime = time;
          group.push({ kind, k, time, values, layout });
        }
      }
    }
    if (batch.length > 0) {
      yield batch;
      batch = [];
    }
  }
  if (group.length > 0) {
    // The LIMIT may have cut through the last millisecond: read it whole.
    const last = fetched >= limit ? await readMillisecond(group[0]!.time) : sortGroup(group);
    take(last, batch);
  }
  if (batch.length > 0) yield batch;
}
