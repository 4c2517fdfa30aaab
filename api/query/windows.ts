/**
 * Aggregated windows, streamed per group (device, site or all) and in time order within it,
 * from raw readings or a rollup. Every window carries the number of raw readings behind each
 * aggregate.
 *
 * InfluxDB's own fill(previous|linear) would also fill the count columns (a window with no
 * readings would claim the previous window's count), so InfluxDB fills with null and the
 * previous/linear fill happens here, on the values only. Linear fill holds the windows of a
 * gap until the next value arrives (at most one group's windows, which the window budget bounds).
 *
 * Pages resume after the cursor's window in its group, then at the groups that sort after it:
 * InfluxQL cannot compare tags with `>`, so that second statement matches them with a regular
 * expression built from the cursor's group (greaterThanRegex).
 */
import type { Aggregate, Fill, ReadingKind, ReadingsSource } from '../../contracts/index.ts';
import type { InfluxClient, InfluxSeries, QueryParams } from '../../common/influx.ts';
import { quoteIdentifier } from '../../common/influx.ts';
import { COUNT_SUFFIX, durationLiteral, greaterThanRegex, groupTag, iso, tagConditions, windowFrom, windowSelectList } from './influxql.ts';
import type { GroupBy, TagFilter } from './params.ts';

export interface WindowRow {
  /** Device id, site, or '' (by=all). */
  group: string;
  /** Window start, epoch ms. */
  time: number;
  /** Aggregate per metric; null for an empty window (fill=null, or a gap fill could not bridge). */
  values: Record<string, number | boolean | null>;
  /** Raw readings behind each metric's aggregate. */
  counts: Record<string, number>;
}

export interface WindowReadOptions {
  kind: ReadingKind;
  metrics: readonly string[];
  agg: Aggregate;
  fill: Fill;
  by: GroupBy;
  source: ReadingsSource;
  everyMs: number;
  filter: TagFilter;
  /** Aligned to everyMs. */
  fromMs: number;
  toMs: number;
  after?: { g: string; t: number } | undefined;
  max: number;
  chunkSize?: number;
}

/** Applies previous/linear fill to one group's windows, in time order. */
export class WindowFiller {
  private readonly previous = new Map<string, number | boolean>();
  private readonly lastKnown = new Map<string, { time: number; value: number }>();
  /** Index in `held` of the first window waiting for a metric's next value. */
  private readonly pending = new Map<string, number>();
  private held: WindowRow[] = [];

  constructor(
    private readonly fill: Fill,
    private readonly metrics: readonly string[],
  ) {}

  /** Takes the next window; returns the windows that are final. */
  push(row: WindowRow): WindowRow[] {
    if (this.fill === 'previous') {
      for (const m of this.metrics) {
        const v = row.values[m];
        if (v === null || v === undefined) {
          if (this.previous.has(m)) row.values[m] = this.previous.get(m)!;
        } else this.previous.set(m, v);
      }
      return [row];
    }
    if (this.fill !== 'linear') return [row];
    const index = this.held.length;
    this.held.push(row);
    for (const m of this.metrics) {
      const v = row.values[m];
      if (typeof v === 'number') {
        const start = this.pending.get(m);
        const known = this.lastKnown.get(m);
        if (start !== undefined && known) {
          for (let i = start; i < index; i++) {
            const w = this.held[i]!;
            if (w.values[m] === null || w.values[m] === undefined) {
              w.values[m] = known.value + ((v - known.value) * (w.time - known.time)) / (row.time - known.time);
            }
          }
        }
        this.pending.delete(m);
        this.lastKnown.set(m, { time: row.time, value: v });
      } else if ((v === null || v === undefined) && this.lastKnown.has(m) && !this.pending.has(m)) {
        this.pending.set(m, index);
      }
    }
    let ready = this.held.length;
    for (const start of this.pending.values()) ready = Math.min(ready, start);
    if (ready === 0) return [];
    const out = this.held.slice(0, ready);
    this.held = this.held.slice(ready);
    for (const [m, start] of this.pending) this.pending.set(m, start - ready);
    return out;
  }

  /** The group ended: what is still held stays unfilled (no later value to interpolate to). */
  end(): WindowRow[] {
    const out = this.held;
    this.held = [];
    this.pending.clear();
    return out;
  }
}

function windowsOfSeries(series: InfluxSeries, tag: string | undefined, metrics: readonly string[], agg: Aggregate, fill: Fill): WindowRow[] {
  const { columns } = series;
  const timeIndex = columns.indexOf('time');
  const valueIndex = metrics.map((m) => columns.indexOf(m));
  const countIndex = metrics.map((m) => columns.indexOf(m + COUNT_SUFFIX));
  const group = tag ? (series.tags?.[tag] ?? '') : '';
  const rows: WindowRow[] = [];
  for (const values of series.values) {
    const row: WindowRow = { group, time: Number(values[timeIndex]), values: {}, counts: {} };
    metrics.forEach((m, i) => {
      const count = values[countIndex[i]!];
      const n = typeof count === 'number' ? count : 0;
      const v = values[valueIndex[i]!];
      row.counts[m] = n;
      // A count of nothing is 0, whatever the fill. An aggregate that overflowed a double (a sum
      // near 1.8e308: InfluxDB answers ±Inf in MessagePack) has no value, in every format alike.
      row.values[m] = agg === 'count' && fill !== 'none' ? n : (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean' ? v : null;
    });
    rows.push(row);
  }
  return rows;
}

/** Yields windows in batches: by group, then time; at most `max`. Breaking out aborts the query. */
export async function* readWindows(influx: Pick<InfluxClient, 'queryChunks'>, options: WindowReadOptions): AsyncGenerator<WindowRow[]> {
  const { kind, metrics, agg, fill, by, source, everyMs, filter, after } = options;
  const tag = groupTag(by);
  const select = windowSelectList(metrics, agg, source);
  const from = windowFrom(kind, source);
  const groupBy = `GROUP BY time(${durationLiteral(everyMs)})${tag ? `, ${quoteIdentifier(tag)}` : ''} fill(${fill === 'none' ? 'none' : 'null'})`;
  const params: QueryParams = { to: iso(options.toMs) };
  const tags = tagConditions(filter, params);
  const statement = (fromParam: string, extra: string[]) =>
    `SELECT ${select} FROM ${from} WHERE ${[`time >= $${fromParam}`, 'time < $to', ...tags, ...extra].join(' AND ')} ${groupBy}`;

  const statements: string[] = [];
  // previous/linear need the windows before the cursor as context.
  const needsContext = fill === 'previous' || fill === 'linear';
  if (!after) {
    params.from = iso(options.fromMs);
    statements.push(statement('from', []));
  } else {
    params.from = iso(options.fromMs);
    params.resume = iso(needsContext ? options.fromMs : Math.max(options.fromMs, after.t + everyMs));
    if (tag) {
      params.group = after.g;
      statements.push(statement('resume', [`${quoteIdentifier(tag)} = $group`]));
      statements.push(statement('from', [`${quoteIdentifier(tag)} =~ ${greaterThanRegex(after.g)}`]));
    } else {
      statements.push(statement('resume', []));
    }
  }

  let emitted = 0;
  let filler: WindowFiller | undefined;
  let currentGroup: string | undefined;
  let batch: WindowRow[] = [];
  /** Adds final windows to the batch; true once `max` is reached. */
  const emit = (rows: WindowRow[]): boolean => {
    for (const row of rows) {
      if (after && row.group === after.g && row.time <= after.t) continue;
      batch.push(row);
      emitted += 1;
      if (emitted >= options.max) return true;
    }
    return false;
  };

  for await (const results of influx.queryChunks(statements.join('; '), params, options.chunkSize ?? 10_000)) {
    for (const result of results) {
      for (const series of result.series ?? []) {
        const rows = windowsOfSeries(series, tag, metrics, agg, fill);
        const group = rows[0]?.group ?? (tag ? (series.tags?.[tag] ?? '') : '');
        if (group !== currentGroup) {
          if (filler && emit(filler.end())) {
            yield batch;
            return;
          }
          filler = new WindowFiller(fill, metrics);
          currentGroup = group;
        }
        for (const row of rows) {
          if (emit(filler!.push(row))) {
            yield batch;
            return;
          }
        }
      }
    }
    if (batch.length > 0) {
      yield batch;
      batch = [];
    }
  }
  if (filler) emit(filler.end());
  if (batch.length > 0) yield batch;
}
