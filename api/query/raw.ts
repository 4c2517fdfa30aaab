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
 */
import { READING_KINDS, type ReadingKind } from '../../contracts/index.ts';
import type { InfluxClient, InfluxSeries, QueryParams } from '../../common/influx.ts';
import { SERIES_TAGS, iso, rawFrom, rawSelectList, tagConditions, whereClause } from './influxql.ts';
import type { TagFilter } from './params.ts';

export interface RawRow {
  kind: ReadingKind;
  /** epoch ms */
  time: number;
  /** Values of SERIES_TAGS ('' when absent). */
  key: string[];
  /** Every column of the row (tags merged), `time` in epoch ms. */
  row: Record<string, unknown>;
}

export interface RawPosition {
  t: number;
  /** Kind index in READING_KINDS. */
  k: number;
  s: readonly string[];
}

export interface RawReadOptions {
  kind: ReadingKind;
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

function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
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
  return { t: row.time, k: READING_KINDS.indexOf(row.kind), s: row.key };
}

function rowsOfSeries(kind: ReadingKind, series: InfluxSeries, out: RawRow[]): void {
  const { columns } = series;
  const timeIndex = columns.indexOf('time');
  const tagIndexes = SERIES_TAGS.map((tag) => columns.indexOf(tag));
  for (const values of series.values) {
    const row: Record<string, unknown> = { ...(series.tags ?? {}) };
    for (let i = 0; i < columns.length; i++) row[columns[i]!] = values[i];
    const key = tagIndexes.map((i, n) => {
      const v = i >= 0 ? values[i] : series.tags?.[SERIES_TAGS[n]!];
      return typeof v === 'string' ? v : '';
    });
    out.push({ kind, time: Number(values[timeIndex]), key, row });
  }
}

/**
 * Yields raw rows of one kind in exact order, in batches, after `after`, at most `max` rows.
 * Breaking out of the loop early aborts the InfluxDB request.
 */
export async function* readRaw(influx: Pick<InfluxClient, 'query' | 'queryChunks'>, options: RawReadOptions): AsyncGenerator<RawRow[]> {
  const { kind, filter, order, after } = options;
  const select = rawSelectList(options.metrics);
  let emitted = 0;
  const sortGroup = (rows: RawRow[]) => rows.sort((a, b) => compareKeys(a.key, b.key));

  async function readMillisecond(t: number): Promise<RawRow[]> {
    const params: QueryParams = { t: iso(t) };
    const where = ['time = $t', ...tagConditions(filter, params)].join(' AND ');
    const [result] = await influx.query(`SELECT ${select} FROM ${rawFrom(kind)} WHERE ${where}`, params);
    const rows: RawRow[] = [];
    for (const series of result?.series ?? []) rowsOfSeries(kind, series, rows);
    return sortGroup(rows);
  }

  /** Takes what fits of a sorted group; true when `max` is reached. */
  function take(group: RawRow[], out: RawRow[], skipUpTo?: RawPosition): boolean {
    for (const row of group) {
      if (emitted >= options.max) return true;
      if (skipUpTo && comparePositions(positionOf(row), skipUpTo, order) <= 0) continue;
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
  let batch: RawRow[] = [];
  const incoming: RawRow[] = [];
  for await (const results of influx.queryChunks(statement, params, options.chunkSize ?? 10_000)) {
    for (const result of results) {
      for (const series of result.series ?? []) {
        incoming.length = 0;
        rowsOfSeries(kind, series, incoming);
        for (const row of incoming) {
          fetched += 1;
          if (group.length > 0 && row.time !== group[0]!.time) {
            if (take(sortGroup(group), batch)) {
              yield batch;
              return;
            }
            group = [];
          }
          group.push(row);
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
