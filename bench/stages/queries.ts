/**
 * Stage 6, queries over a large store: a private InfluxDB is seeded with raw line protocol
 * (devices × days at one reading per interval, written in time order by two writer
 * processes), left to finish its compactions, and then asked, repeatedly:
 * - for one device, one day of 5-minute means (288 windows, five metrics);
 * - for a CSV export of every device over a window sized to ~`exportRows` rows;
 * - for the same export as Parquet (`format=parquet`; rows counted from the file's footer).
 *
 * Beside the rates, the CPU time the API process and InfluxDB spent per exported CSV row
 * (/proc, over the timed exports): on a shared 2-core machine the rate moves with everything
 * else running, the CPU per row much less.
 *
 * Through the research API (`GET /api/v1/readings` with `every=5m&agg=mean`, and
 * `format=csv`) when the API answers those parameters, otherwise straight to InfluxDB in
 * InfluxQL (what the API would send); the output says which. Each query runs a couple of
 * times untimed first.
 */
import { parquetMetadata } from 'hyparquet';
import { startInfluxServer } from '../../common/influx-server.ts';
import type { BenchContext } from '../context.ts';
import { percentileOf } from '../histogram.ts';
import type { InfluxWriterApi } from '../load/influx-writer.ts';
import { seedPoints } from '../profiles.ts';
import type { HostApi } from '../sut/host.ts';
import { HOST_SCRIPT, benchLogDir, influxQuery, round, safeTicks, sleep } from './shared.ts';

export type QueryPath = 'api' | 'influxql';

export interface QueriesResult {
  seededPoints: number;
  /** Points the count in InfluxDB found after seeding. */
  countedPoints: number;
  seedSeconds: number;
  seedPointsPerS: number;
  quiesceSeconds: number;
  devices: number;
  aggregate: { path: QueryPath; pathNote: string; iterations: number; p50Ms: number; p95Ms: number; maxMs: number; rows: number };
  export: {
    path: QueryPath;
    pathNote: string;
    iterations: number;
    p50Ms: number;
    p95Ms: number;
    rows: number;
    rowsPerS: number;
    bytes: number;
    /** CPU µs per exported row over the timed exports (API path only; 0 otherwise). */
    cpuUsPerRow: { api: number; influxd: number };
  };
  /** The same exports as Parquet through the API (iterations 0 when the API does not answer format=parquet). */
  parquet: { iterations: number; p50Ms: number; rows: number; rowsPerS: number; bytes: number; pathNote: string };
}

const WRITER_SCRIPT = new URL('../load/influx-writer.ts', import.meta.url);
const DATABASE = 'streetlab';
const MEASUREMENT = 'air';
const METRICS = ['pm25', 'no2', 'temperature', 'humidity', 'noise'];

interface Timed {
  ms: number;
  rows: number;
  bytes: number;
}

/** Streams a response body, counting lines; `headerPrefix` lines are not rows. */
async function countCsv(response: Response, headerPrefix: string | undefined): Promise<{ rows: number; bytes: number }> {
  if (!response.body) return { rows: 0, bytes: 0 };
  let lines = 0;
  let bytes = 0;
  let headers = 0;
  let lastByte = 10;
  const header = headerPrefix ? Buffer.from(`\n${headerPrefix}`) : undefined;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    bytes += buffer.length;
    for (let at = buffer.indexOf(10); at >= 0; at = buffer.indexOf(10, at + 1)) lines += 1;
    if (header) {
      for (let at = buffer.indexOf(header); at >= 0; at = buffer.indexOf(header, at + 1)) headers += 1;
    }
    lastByte = buffer[buffer.length - 1] ?? lastByte;
  }
  if (lastByte !== 10 && bytes > 0) lines += 1;
  // The first line of a CSV is its header (API); InfluxDB may repeat its header per series.
  const firstHeader = 1;
  return { rows: Math.max(0, lines - firstHeader - headers), bytes };
}

async function timed(fn: () => Promise<{ rows: number; bytes: number }>): Promise<Timed> {
  const started = performance.now();
  const { rows, bytes } = await fn();
  return { ms: performance.now() - started, rows, bytes };
}

export async function runQueries(ctx: BenchContext): Promise<QueriesResult> {
  const q = ctx.profile.queries;
  const server = await startInfluxServer({ database: DATABASE });
  if (server.pid !== undefined) ctx.track(server.pid, true);
  ctx.trackDir(server.dataDir, true);
  ctx.scope.defer(async () => {
    await server.stop();
    if (server.pid !== undefined) ctx.track(server.pid, false);
    ctx.trackDir(server.dataDir, false);
  });

  // ---- seed
  const intervalMs = q.intervalSeconds * 1000;
  const endMs = Math.floor(Date.now() / intervalMs) * intervalMs - intervalMs;
  const steps = Math.floor((q.days * 86_400_000) / intervalMs);
  const startMs = endMs - (steps - 1) * intervalMs;
  const devices = Array.from({ length: q.devices }, (_, i) => `air-${String(i).padStart(4, '0')}`);
  const writers = await Promise.all([0, 1].map((i) => ctx.fork<InfluxWriterApi>(WRITER_SCRIPT, { name: `seed-writer-${i}` })));
  ctx.log(`queries: seeding ${seedPoints(ctx.profile).toLocaleString('en')} points (${q.devices} devices × ${q.days} days every ${q.intervalSeconds} s)`);
  const seedStarted = performance.now();
  const seeded = await Promise.all(
    writers.map((w, i) =>
      w.call('seed', {
        url: server.url,
        database: DATABASE,
        measurement: MEASUREMENT,
        devices: devices.filter((_, d) => d % writers.length === i),
        startMs,
        intervalMs,
        steps,
        batchLines: 5_000,
      }),
    ),
  );
  const seedSeconds = (performance.now() - seedStarted) / 1000;
  const seededPoints = seeded.reduce((sum, s) => sum + s.lines, 0);
  await Promise.all(writers.map((w) => w.stop()));

  // ---- let compactions finish: queries should not be measured against a store still digesting its load
  const quiesceStarted = performance.now();
  let quietSeconds = 0;
  let ticks = safeTicks(server.pid ?? -1);
  while (quietSeconds < 3 && performance.now() - quiesceStarted < q.quiesceTimeoutSeconds * 1000) {
    await sleep(1_000);
    const now = safeTicks(server.pid ?? -1);
    quietSeconds = now - ticks < 15 ? quietSeconds + 1 : 0;
    ticks = now;
  }
  const quiesceSeconds = (performance.now() - quiesceStarted) / 1000;
  const counted = (await influxQuery(server.url, DATABASE, `SELECT count("pm25") FROM "${MEASUREMENT}"`)) as {
    results: { series?: { values: [number, number][] }[] }[];
  };
  const countedPoints = counted.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;

  // ---- the API, if it can answer these queries
  const api = await ctx.fork<HostApi>(HOST_SCRIPT, { name: 'api-queries' });
  // An open broker beside it for the live hub (no reading flows; the queries go to InfluxDB).
  const started = await api.call('start', { broker: { security: { mode: 'open' }, logDir: await benchLogDir(ctx) }, api: { influx: { url: server.url, database: DATABASE } } });
  const apiUrl = started.apiUrl!;

  const dayFrom = new Date(endMs + intervalMs - 86_400_000).toISOString();
  const dayTo = new Date(endMs + intervalMs).toISOString();
  const exportSpanMs = Math.max(1, Math.ceil(q.exportRows / q.devices)) * intervalMs;
  const exportWindow = (k: number) => {
    const to = endMs + intervalMs - (k % 5) * exportSpanMs;
    return { from: new Date(to - exportSpanMs).toISOString(), to: new Date(to).toISOString() };
  };

  const aggregateViaApi = async (device: string) => {
    const search = new URLSearchParams({ kind: MEASUREMENT, device, from: dayFrom, to: dayTo, every: '5m', agg: 'mean' });
    const response = await fetch(`${apiUrl}/api/v1/readings?${search}`);
    const body = await response.text();
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${body.slice(0, 200)}`);
    return { rows: countJsonRows(body), bytes: body.length };
  };
  const aggregateViaInfluxql = async (device: string) => {
    const select = METRICS.map((m) => `mean("${m}") AS "${m}"`).join(', ');
    const body = (await influxQuery(
      server.url,
      DATABASE,
      `SELECT ${select} FROM "${MEASUREMENT}" WHERE "device" = $device AND time >= $from AND time < $to GROUP BY time(5m) fill(none)`,
      { device, from: dayFrom, to: dayTo },
    )) as { results: { series?: { values: unknown[][] }[] }[] };
    return { rows: body.results[0]?.series?.[0]?.values.length ?? 0, bytes: 0 };
  };
  const exportViaApi = async (k: number) => {
    const search = new URLSearchParams({ kind: MEASUREMENT, ...exportWindow(k), format: 'csv' });
    const response = await fetch(`${apiUrl}/api/v1/readings?${search}`);
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
    if (!(response.headers.get('content-type') ?? '').includes('csv')) throw new Error(`not CSV: ${response.headers.get('content-type')}`);
    return countCsv(response, undefined);
  };
  const exportParquetViaApi = async (k: number) => {
    const search = new URLSearchParams({ kind: MEASUREMENT, ...exportWindow(k), format: 'parquet' });
    const response = await fetch(`${apiUrl}/api/v1/readings?${search}`);
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
    const file = await response.arrayBuffer();
    return { rows: Number(parquetMetadata(file).num_rows), bytes: file.byteLength };
  };
  const exportViaInfluxql = async (k: number) => {
    const { from, to } = exportWindow(k);
    const form = new URLSearchParams({
      db: DATABASE,
      q: `SELECT * FROM "${MEASUREMENT}" WHERE time >= $from AND time < $to`,
      params: JSON.stringify({ from, to }),
      epoch: 'ms',
      chunked: 'true',
      chunk_size: '10000',
    });
    const response = await fetch(`${server.url}/query`, { method: 'POST', body: form, headers: { accept: 'application/csv' } });
    if (!response.ok) throw new Error(`HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`);
    return countCsv(response, 'name,tags,time');
  };

  const probe = async <T>(fn: () => Promise<T>): Promise<string | undefined> => {
    try {
      await fn();
      return undefined;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    }
  };
  const aggregateRefusal = await probe(() => aggregateViaApi(devices[0]!));
  const exportRefusal = await probe(() => exportViaApi(0));
  const parquetRefusal = await probe(() => exportParquetViaApi(0));
  const aggregatePath: QueryPath = aggregateRefusal ? 'influxql' : 'api';
  const exportPath: QueryPath = exportRefusal ? 'influxql' : 'api';
  const note = (path: QueryPath, refusal: string | undefined, what: string) =>
    path === 'api' ? `through the research API (${what})` : `InfluxQL straight to InfluxDB: the API does not answer ${what} yet (${refusal?.split('\n')[0]?.slice(0, 160)})`;

  const aggregate = aggregatePath === 'api' ? aggregateViaApi : aggregateViaInfluxql;
  const exporter = exportPath === 'api' ? exportViaApi : exportViaInfluxql;

  ctx.log(`queries: ${q.aggregateIterations} × 1-day 5-min means (${aggregatePath}), ${q.exportIterations} × CSV exports (${exportPath})`);
  for (let i = 0; i < 2; i += 1) {
    await aggregate(devices[(i * 31) % devices.length]!);
    await exporter(i);
    if (!parquetRefusal) await exportParquetViaApi(i);
  }
  const aggregateTimes: Timed[] = [];
  for (let i = 0; i < q.aggregateIterations; i += 1) aggregateTimes.push(await timed(() => aggregate(devices[(i * 37 + 11) % devices.length]!)));
  const exportTimes: Timed[] = [];
  const ticksBefore = { api: safeTicks(started.pid), influxd: safeTicks(server.pid ?? -1) };
  for (let i = 0; i < q.exportIterations; i += 1) exportTimes.push(await timed(() => exporter(i)));
  const ticksAfter = { api: safeTicks(started.pid), influxd: safeTicks(server.pid ?? -1) };
  const parquetTimes: Timed[] = [];
  if (!parquetRefusal) for (let i = 0; i < q.exportIterations; i += 1) parquetTimes.push(await timed(() => exportParquetViaApi(i)));

  const aggregateMs = aggregateTimes.map((t) => t.ms);
  const exportMs = exportTimes.map((t) => t.ms);
  const exportRows = exportTimes.map((t) => t.rows);
  const rowsPerS = exportTimes.map((t) => (t.rows / t.ms) * 1000);
  const exportedRows = exportRows.reduce((sum, n) => sum + n, 0);
  // /proc ticks are 10 ms of CPU each.
  const cpuUsPerRow = (role: 'api' | 'influxd') =>
    exportPath === 'api' && exportedRows > 0 ? round(((ticksAfter[role] - ticksBefore[role]) * 10_000) / exportedRows, 2) : 0;
  return {
    seededPoints,
    countedPoints,
    seedSeconds: round(seedSeconds, 1),
    seedPointsPerS: Math.round(seededPoints / seedSeconds),
    quiesceSeconds: round(quiesceSeconds, 1),
    devices: q.devices,
    aggregate: {
      path: aggregatePath,
      pathNote: note(aggregatePath, aggregateRefusal, 'every=5m&agg=mean'),
      iterations: aggregateTimes.length,
      p50Ms: round(percentileOf(aggregateMs, 50), 1),
      p95Ms: round(percentileOf(aggregateMs, 95), 1),
      maxMs: round(Math.max(...aggregateMs), 1),
      rows: Math.round(percentileOf(aggregateTimes.map((t) => t.rows), 50)),
    },
    export: {
      path: exportPath,
      pathNote: note(exportPath, exportRefusal, 'format=csv'),
      iterations: exportTimes.length,
      p50Ms: round(percentileOf(exportMs, 50), 1),
      p95Ms: round(percentileOf(exportMs, 95), 1),
      rows: Math.round(percentileOf(exportRows, 50)),
      rowsPerS: Math.round(percentileOf(rowsPerS, 50)),
      bytes: Math.round(percentileOf(exportTimes.map((t) => t.bytes), 50)),
      cpuUsPerRow: { api: cpuUsPerRow('api'), influxd: cpuUsPerRow('influxd') },
    },
    parquet: {
      iterations: parquetTimes.length,
      p50Ms: parquetTimes.length ? round(percentileOf(parquetTimes.map((t) => t.ms), 50), 1) : 0,
      rows: parquetTimes.length ? Math.round(percentileOf(parquetTimes.map((t) => t.rows), 50)) : 0,
      rowsPerS: parquetTimes.length ? Math.round(percentileOf(parquetTimes.map((t) => (t.rows / t.ms) * 1000), 50)) : 0,
      bytes: parquetTimes.length ? Math.round(percentileOf(parquetTimes.map((t) => t.bytes), 50)) : 0,
      pathNote: parquetRefusal ? `the API does not answer format=parquet (${parquetRefusal.split('\n')[0]?.slice(0, 160)})` : 'through the research API (format=parquet)',
    },
  };
}

/** Rows in an API JSON answer: the length of its first array member (readings, windows, rows…). */
function countJsonRows(body: string): number {
  try {
    const parsed = JSON.parse(body) as Record<string, unknown>;
    for (const value of Object.values(parsed)) if (Array.isArray(value)) return value.length;
  } catch {
    // not JSON
  }
  return 0;
}
