/**
 * Answers a planned `/readings` request: a JSON page (at most `limit` points plus a cursor),
 * or a streamed CSV / NDJSON / Parquet export (api/query/export.ts) that never holds more than
 * one InfluxDB chunk (Parquet: one row group) in memory.
 */
import {
  unitsOf,
  type Licence,
  type ReadingItem,
  type ReadingKind,
  type ReadingsMeta,
  type ReadingsResponse,
} from '../../contracts/index.ts';
import type { InfluxClient, QueryParams } from '../../common/influx.ts';
import { seriesToRows } from '../../common/influx.ts';
import { completenessPercent as completenessOf, type LookupInterval } from '../../common/rollups/compute.ts';
import { encodeCursor } from './cursor.ts';
import { deviceTagValuesStatement, rawFrom, windowFrom } from './influxql.ts';
import type { QueryLimits } from './limits.ts';
import { EXPORT_CONTENT_TYPES, rawExportBody, windowExportBody, type WindowExportRow } from './export.ts';
import { rawItem, windowItem, type RowShape } from './output.ts';
import { checkWindowBudget, type RawPlan, type ReadingsPlan, type WindowPlan } from './params.ts';
import { comparePositions, positionOf, readRaw, storedFields, type RawRow } from './raw.ts';
import { readWindows, type WindowRow } from './windows.ts';

export type { LookupInterval };

export interface ReadingsDeps {
  influx: Pick<InfluxClient, 'query' | 'queryChunks'>;
  /** For streamed exports (a longer idle timeout: the client sets the pace); default `influx`. */
  exportInflux?: Pick<InfluxClient, 'query' | 'queryChunks'> | undefined;
  limits: QueryLimits;
  lookupInterval?: LookupInterval | undefined;
  /** Used when lookupInterval knows nothing of a device. */
  defaultIntervalSeconds?: number;
  /** Rows per InfluxDB chunk (default 5,000): what a streamed export holds at a time. */
  chunkSize?: number;
  /** The data's licence, written into a Parquet footer (`streetlab.licence`). */
  licence?: Licence | undefined;
}

const DEFAULT_CHUNK_ROWS = 5_000;

export type ReadingsAnswer =
  | { type: 'json'; body: ReadingsResponse }
  | {
      type: 'stream';
      contentType: string;
      filename: string;
      meta: ReadingsMeta;
      /** Text (CSV, NDJSON) or bytes (Parquet); the first arrives only after InfluxDB has answered. */
      body: AsyncIterable<string | Uint8Array>;
      /** The cursor of the next page, once the body has been consumed. */
      nextCursor(): string | undefined;
    };

function metaOf(plan: ReadingsPlan, limits: QueryLimits): ReadingsMeta {
  const base: ReadingsMeta = { source: plan.mode === 'raw' ? 'raw' : plan.source, order: plan.mode === 'raw' ? plan.order : 'asc', limit: plan.limit };
  const kind = plan.mode === 'raw' ? (plan.kinds.length === 1 ? plan.kinds[0] : undefined) : plan.kind;
  const metrics = plan.metrics;
  if (kind) base.kind = kind;
  if (kind && metrics) {
    base.metrics = [...metrics];
    base.units = Object.fromEntries(metrics.map((m) => [m, unitsOf(kind)[m] ?? '']));
  }
  if (plan.mode === 'windows') {
    Object.assign(base, { every: plan.every, everyMs: plan.everyMs, agg: plan.agg, fill: plan.fill });
    if (plan.source !== 'raw') {
      base.note = `windows computed from the ${plan.source === 'rollup_1d' ? 'daily' : 'hourly'} rollups (exact for ${plan.agg}); the newest may lag the raw readings${limits.rollupFreshnessNote ? ` by up to ${limits.rollupFreshnessNote}` : ''}`;
    }
  }
  return base;
}

function stamp(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function filenameOf(plan: ReadingsPlan): string {
  const kind = plan.mode === 'raw' ? plan.kinds.join('-') : plan.kind;
  const every = plan.mode === 'windows' ? `-${plan.agg}-${plan.every}` : '';
  return `streetlab-${kind}${every}-${stamp(plan.fromMs)}-${stamp(plan.toMs)}.${plan.format}`;
}

/** Caches a request's interval lookups (the registry may be asked once per device). */
function intervalResolver(deps: ReadingsDeps): (deviceId: string) => Promise<number> {
  const cache = new Map<string, number>();
  const fallback = deps.defaultIntervalSeconds ?? 60;
  return async (deviceId) => {
    let seconds = cache.get(deviceId);
    if (seconds === undefined) {
      const found = await deps.lookupInterval?.(deviceId);
      seconds = typeof found === 'number' && found > 0 ? found : fallback;
      cache.set(deviceId, seconds);
    }
    return seconds;
  };
}

/** How many devices an aggregated request covers (for the window budget). */
async function countGroups(influx: Pick<InfluxClient, 'query'>, plan: WindowPlan): Promise<number> {
  if (plan.filter.devices) return plan.filter.devices.length;
  const params: QueryParams = {};
  const from = plan.source === 'raw' ? rawFrom(plan.kind) : windowFrom(plan.kind, plan.source);
  const [result] = await influx.query(deviceTagValuesStatement(from, plan.filter, params), params);
  return seriesToRows(result?.series ?? []).length;
}

export async function answerReadings(plan: ReadingsPlan, deps: ReadingsDeps): Promise<ReadingsAnswer> {
  if (plan.mode === 'windows') checkWindowBudget(plan, await countGroups(deps.influx, plan), deps.limits);
  const meta = metaOf(plan, deps.limits);
  if (plan.format === 'json') {
    const readings = plan.mode === 'raw' ? await rawPage(plan, deps, meta) : await windowPage(plan, deps, meta);
    return { type: 'json', body: { readings, count: readings.length, from: new Date(plan.fromMs).toISOString(), to: new Date(plan.toMs).toISOString(), meta } };
  }
  let nextCursor: string | undefined;
  const setCursor = (cursor: string | undefined) => {
    nextCursor = cursor;
  };
  const format = plan.format;
  // A Parquet footer keeps what HTTP headers and trailers lose once saved to a file: the meta,
  // the cursor, and the licence with its attribution.
  const metadata = () => ({
    'streetlab.meta': JSON.stringify({ ...meta, ...(nextCursor ? { nextCursor } : {}) }),
    ...(deps.licence ? { 'streetlab.licence': JSON.stringify(deps.licence) } : {}),
  });
  const body =
    plan.mode === 'raw'
      ? rawExportBody({ format, kind: plan.kinds[0]!, metrics: plan.metrics ?? [], shape: rowShapeOf(plan), rows: rawExportRows(plan, deps, setCursor), metadata })
      : windowExportBody({ format, kind: plan.kind, metrics: plan.metrics, counted: plan.agg === 'count', rows: windowExportRows(plan, deps, setCursor), metadata });
  return {
    type: 'stream',
    contentType: EXPORT_CONTENT_TYPES[format],
    filename: filenameOf(plan),
    meta,
    body,
    nextCursor: () => nextCursor,
  };
}

function rawCursor(plan: RawPlan, row: RawRow): string {
  const p = positionOf(row);
  return encodeCursor({ m: 'r', q: plan.fingerprint, t: p.t, k: p.k, s: [...p.s] });
}

function windowCursor(plan: WindowPlan, row: WindowRow): string {
  return encodeCursor({ m: 'w', q: plan.fingerprint, g: row.group, t: row.time });
}

function rawOptions(plan: RawPlan, kind: ReadingKind, deps: ReadingsDeps, max: number) {
  // One kind: the cursor's row was of this kind whatever index an earlier server gave it.
  const after = plan.after ? { t: plan.after.t, k: plan.kinds.length === 1 ? 0 : plan.after.k, s: plan.after.s } : undefined;
  const kindIndex = plan.kinds.indexOf(kind);
  return { kind, kindIndex, filter: plan.filter, fromMs: plan.fromMs, toMs: plan.toMs, metrics: plan.metrics, order: plan.order, after, max, chunkSize: deps.chunkSize ?? DEFAULT_CHUNK_ROWS };
}

/** The columns of a raw answer: the open-data view withholds the owner (api/open-data.ts). */
function rowShapeOf(plan: RawPlan): RowShape {
  return { owner: !plan.withholdOwner };
}

/** One JSON page of raw readings, possibly over several kinds merged into one order. */
async function rawPage(plan: RawPlan, deps: ReadingsDeps, meta: ReadingsMeta): Promise<ReadingItem[]> {
  // Each kind yields its first limit+1 rows in order; the first limit of the merge are the page.
  const perKind = await Promise.all(
    plan.kinds.map(async (kind) => {
      const rows: RawRow[] = [];
      for await (const batch of readRaw(deps.influx, rawOptions(plan, kind, deps, plan.limit + 1))) rows.push(...batch);
      return rows;
    }),
  );
  const merged = perKind.flat().sort((a, b) => comparePositions(positionOf(a), positionOf(b), plan.order));
  const page = merged.slice(0, plan.limit);
  if (merged.length > plan.limit) meta.nextCursor = rawCursor(plan, page[page.length - 1]!);
  const shape = rowShapeOf(plan);
  return page.map((row) => rawItem(row, shape));
}

function windowOptions(plan: WindowPlan, deps: ReadingsDeps, max: number) {
  return {
    kind: plan.kind,
    metrics: plan.metrics,
    agg: plan.agg,
    fill: plan.fill,
    by: 'device' as const,
    source: plan.source,
    everyMs: plan.everyMs,
    filter: plan.filter,
    fromMs: plan.fromMs,
    toMs: plan.toMs,
    after: plan.after ? { g: plan.after.g, t: plan.after.t } : undefined,
    max,
    chunkSize: deps.chunkSize ?? DEFAULT_CHUNK_ROWS,
  };
}

async function windowPage(plan: WindowPlan, deps: ReadingsDeps, meta: ReadingsMeta): Promise<ReadingItem[]> {
  const interval = intervalResolver(deps);
  const rows: WindowRow[] = [];
  for await (const batch of readWindows(deps.influx, windowOptions(plan, deps, plan.limit + 1))) rows.push(...batch);
  const page = rows.slice(0, plan.limit);
  if (rows.length > plan.limit) meta.nextCursor = windowCursor(plan, page[page.length - 1]!);
  const items: ReadingItem[] = [];
  for (const row of page) {
    const count = Math.max(0, ...Object.values(row.counts));
    items.push(windowItem(plan.kind, row, completenessOf(count, plan.everyMs, await interval(row.group))));
  }
  return items;
}

/** An export's raw rows, at most `limit`; the cursor of the rest is set before the last batch is done. */
async function* rawExportRows(plan: RawPlan, deps: ReadingsDeps, setCursor: (cursor: string | undefined) => void): AsyncGenerator<RawRow[]> {
  let n = 0;
  let last: RawRow | undefined;
  const kind = plan.kinds[0]!;
  const influx = deps.exportInflux ?? deps.influx;
  const options = rawOptions(plan, kind, deps, plan.limit + 1);
  // CSV and Parquet have a column per metric whatever is read; asking InfluxDB only for the
  // metrics it has ever stored returns the same rows without a null per row for each of the
  // others: on air with 5 of its 11 metrics sent, 40 % fewer bytes and 25 % less of InfluxDB's CPU.
  if (plan.format !== 'ndjson' && plan.metrics) {
    const stored = await storedFields(influx, kind);
    const read = plan.metrics.filter((m) => stored.has(m));
    if (read.length > 0) options.metrics = read;
  }
  for await (const batch of readRaw(influx, options)) {
    const fits = n + batch.length <= plan.limit ? batch : batch.slice(0, plan.limit - n);
    n += fits.length;
    if (fits.length > 0) last = fits[fits.length - 1];
    if (fits.length < batch.length) {
      setCursor(last ? rawCursor(plan, last) : undefined);
      if (fits.length > 0) yield fits;
      return;
    }
    yield fits;
  }
  setCursor(undefined);
}

/** An export's windows with their completeness, at most `limit`; the cursor as for raw rows. */
async function* windowExportRows(plan: WindowPlan, deps: ReadingsDeps, setCursor: (cursor: string | undefined) => void): AsyncGenerator<WindowExportRow[]> {
  const interval = intervalResolver(deps);
  let n = 0;
  let last: WindowRow | undefined;
  for await (const batch of readWindows(deps.exportInflux ?? deps.influx, windowOptions(plan, deps, plan.limit + 1))) {
    const out: WindowExportRow[] = [];
    for (const row of batch) {
      if (n === plan.limit) {
        setCursor(last ? windowCursor(plan, last) : undefined);
        if (out.length > 0) yield out;
        return;
      }
      const count = Math.max(0, ...Object.values(row.counts));
      out.push({ row, completeness: completenessOf(count, plan.everyMs, await interval(row.group)) });
      n += 1;
      last = row;
    }
    yield out;
  }
  setCursor(undefined);
}
