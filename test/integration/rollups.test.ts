/**
 * Rollups against a real InfluxDB: hourly and daily rollups equal the aggregates of the raw
 * readings, the API reads them for long ranges and says so, late readings re-trigger the
 * windows they fall in (also after a restart), and retention goes through InfluxDB's own
 * retention policies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { ReadingsResponse } from '../../contracts/index.ts';
import { createInfluxClient, seriesToRows, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { createRollupJob, type RollupJob } from '../../common/rollups/index.ts';
import { buildApp } from '../../api/app.ts';
import { DEFAULT_QUERY_LIMITS } from '../../api/query/limits.ts';
import { createReadingStore } from '../../api/store.ts';
import { aggregateOf, generateSeries, toLine, writeLines, type GeneratedPoint } from './research-fixtures.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
const NOW = Date.now();
const CURRENT_HOUR = Math.floor(NOW / HOUR) * HOUR;
const START = Math.floor(NOW / DAY) * DAY - 3 * DAY;
const DEVICES = ['r-a', 'r-b'];
/** Never fires during the test: runs are triggered by hand. */
const NEVER = '0 0 1 1 *';

let server: InfluxServer;
let influx: InfluxClient;
let app: FastifyInstance;
let points: GeneratedPoint[];
const jobs: RollupJob[] = [];

function job(): RollupJob {
  const created = createRollupJob({
    influx,
    schedule: NEVER,
    runOnStart: false,
    retention: { rawDays: 30, rollupDays: 1825 },
    lookupInterval: (id) => (id === 'r-b' ? 600 : undefined),
    now: () => NOW,
  });
  jobs.push(created);
  return created;
}

const iso = (ms: number) => new Date(ms).toISOString();

async function rollupRows(resolution: '1h' | '1d', device: string): Promise<Map<number, Record<string, unknown>>> {
  const rows = await influx.queryRows(`SELECT * FROM "rollups"."air_${resolution}" WHERE device = $d`, { d: device });
  return new Map(rows.map((r) => [Number(r.time), r]));
}

function expectRollupOf(row: Record<string, unknown> | undefined, pts: { t: number; v: number }[], metric: string): void {
  expect(row, `rollup of ${pts.length} readings`).toBeDefined();
  expect(row![`${metric}_count`]).toBe(pts.length);
  expect(row![`${metric}_mean`] as number).toBeCloseTo(aggregateOf('mean', pts)!, 9);
  expect(row![`${metric}_sum`] as number).toBeCloseTo(aggregateOf('sum', pts)!, 9);
  for (const stat of ['min', 'max', 'first', 'last'] as const) expect(row![`${metric}_${stat}`]).toBe(aggregateOf(stat, pts));
}

function pointsIn(device: string, metric: string, from: number, to: number): { t: number; v: number }[] {
  return points.filter((p) => p.device === device && p.t >= from && p.t < to && p.values[metric] !== undefined).map((p) => ({ t: p.t, v: p.values[metric]! }));
}

beforeAll(async () => {
  server = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: server.url, database: 'streetlab' });
  const count = Math.floor((CURRENT_HOUR - START) / (5 * MIN));
  points = generateSeries({
    devices: DEVICES,
    siteOf: () => 'lab',
    fromMs: START,
    count,
    stepMs: 5 * MIN,
    seed: 99,
    gapProbability: 0.05,
    partialProbability: 0.3,
    metrics: { pm25: (r) => Math.round(r() * 4000) / 100, no2: (r) => Math.round(r() * 9000) / 100 },
  });
  await writeLines(influx, points.map((p) => toLine('air', p)));
  app = await buildApp({
    store: createReadingStore(influx),
    research: { limits: { ...DEFAULT_QUERY_LIMITS, rollupsEnabled: true, rawRetentionMs: 30 * DAY, rollupFreshnessNote: '5 minutes' } },
  });
}, 120_000);

afterAll(async () => {
  for (const j of jobs) await j.close();
  await app?.close();
  await server?.stop();
});

describe('retention', () => {
  it("applies raw and rollup retention through InfluxDB's retention policies", async () => {
    const report = await job().start();
    expect(report?.applied).toBe(true);
    const rows = seriesToRows((await influx.query('SHOW RETENTION POLICIES ON "streetlab"'))[0]?.series ?? []);
    expect(rows.find((r) => r.name === 'autogen')).toMatchObject({ duration: '720h0m0s', shardGroupDuration: '24h0m0s', default: true });
    expect(rows.find((r) => r.name === 'rollups')).toMatchObject({ duration: '43800h0m0s', default: false });
    // Idempotent: a second start alters instead of failing to create.
    expect((await job().start())?.statements.some((s) => s.startsWith('ALTER RETENTION POLICY "rollups"'))).toBe(true);
  });
});

describe('rollups', () => {
  it('equal the aggregates of the raw readings, hourly and daily, with completeness against the declared interval', async () => {
    const written = await job().recompute(START, CURRENT_HOUR);
    expect(written).toBeGreaterThan(0);
    for (const device of DEVICES) {
      const hourly = await rollupRows('1h', device);
      for (let h = START; h < CURRENT_HOUR; h += HOUR) {
        for (const metric of ['pm25', 'no2']) {
          const pts = pointsIn(device, metric, h, h + HOUR);
          if (pts.length > 0) expectRollupOf(hourly.get(h), pts, metric);
        }
        const row = hourly.get(h)!;
        const readings = Math.max(pointsIn(device, 'pm25', h, h + HOUR).length, pointsIn(device, 'no2', h, h + HOUR).length);
        expect(row.readings).toBe(readings);
        // r-a: default 60 s → 60 promised per hour; r-b: 600 s → 6 promised (capped at 100 %).
        expect(row.completeness).toBeCloseTo(Math.min(100, (100 * readings) / (device === 'r-b' ? 6 : 60)), 2);
      }
      const daily = await rollupRows('1d', device);
      for (let d = START; d < CURRENT_HOUR - DAY; d += DAY) {
        for (const metric of ['pm25', 'no2']) expectRollupOf(daily.get(d), pointsIn(device, metric, d, d + DAY), metric);
      }
    }
  });

  it.each([
    ['1h', 'mean'],
    ['1h', 'max'],
    ['3h', 'sum'],
    ['1d', 'mean'],
    ['1d', 'count'],
    ['1d', 'first'],
    ['1d', 'last'],
    ['1d', 'min'],
  ])('answer every=%s agg=%s exactly as the raw readings do', async (every, agg) => {
    const query = `/api/v1/readings?kind=air&metric=pm25,no2&every=${every}&agg=${agg}&from=${iso(START)}&to=${iso(CURRENT_HOUR)}&limit=10000`;
    const fromRollups = (await app.inject(`${query}&source=rollup`)).json() as ReadingsResponse;
    const fromRaw = (await app.inject(`${query}&source=raw`)).json() as ReadingsResponse;
    expect(fromRollups.meta?.source).toBe(every === '1d' ? 'rollup_1d' : 'rollup_1h');
    expect(fromRaw.meta?.source).toBe('raw');
    expect(fromRollups.readings.length).toBe(fromRaw.readings.length);
    fromRollups.readings.forEach((item, i) => {
      const raw = fromRaw.readings[i]!;
      expect([item.deviceId, item.ts]).toEqual([raw.deviceId, raw.ts]);
      expect(item.counts).toEqual(raw.counts);
      for (const metric of ['pm25', 'no2']) expect(item.values[metric] as number).toBeCloseTo(raw.values[metric] as number, 9);
    });
  });

  it('are chosen automatically for every ≥ 1h over long ranges, and the response says so', async () => {
    const long = (await app.inject(`/api/v1/readings?kind=air&metric=pm25&every=1h&from=${iso(START)}&to=${iso(CURRENT_HOUR)}&limit=10`)).json() as ReadingsResponse;
    expect(long.meta).toMatchObject({ source: 'rollup_1h', every: '1h', agg: 'mean' });
    expect(long.meta?.note).toContain('hourly rollups');
    const daily = (await app.inject(`/api/v1/readings?kind=air&metric=pm25&every=1d&from=${iso(START)}&to=${iso(CURRENT_HOUR)}`)).json() as ReadingsResponse;
    expect(daily.meta?.source).toBe('rollup_1d');
    const short = (await app.inject(`/api/v1/readings?kind=air&metric=pm25&every=1h&from=-6h`)).json() as ReadingsResponse;
    expect(short.meta?.source).toBe('raw');
    const median = (await app.inject(`/api/v1/readings?kind=air&metric=pm25&every=1h&agg=median&from=${iso(START)}&to=${iso(CURRENT_HOUR)}&limit=10`)).json() as ReadingsResponse;
    expect(median.meta?.source).toBe('raw');
  });

  it('take late readings into the windows they belong to, also after a restart', async () => {
    const first = job();
    await first.runOnce(NOW);
    const lateHour = CURRENT_HOUR - 30 * HOUR;
    const late: GeneratedPoint[] = [
      { device: 'r-a', site: 'lab', t: lateHour + 61_000, values: { pm25: 999.5 }, receivedMs: NOW + 1_000 },
      { device: 'r-a', site: 'lab', t: lateHour + 62_000, values: { pm25: 0.5 }, receivedMs: NOW + 1_000 },
    ];
    await writeLines(influx, late.map((p) => toLine('air', p)));
    points.push(...late);
    const before = (await rollupRows('1h', 'r-a')).get(lateHour)!;
    expect(before.pm25_max).not.toBe(999.5);

    const report = await first.runOnce(NOW + MIN);
    expect(report.lateHours).toBe(1);
    expectRollupOf((await rollupRows('1h', 'r-a')).get(lateHour), pointsIn('r-a', 'pm25', lateHour, lateHour + HOUR), 'pm25');
    const day = Math.floor(lateHour / DAY) * DAY;
    expectRollupOf((await rollupRows('1d', 'r-a')).get(day), pointsIn('r-a', 'pm25', day, day + DAY), 'pm25');

    // A new process finds where the last run started in InfluxDB and picks up later arrivals.
    const restarted = job();
    const lateAgain: GeneratedPoint = { device: 'r-b', site: 'lab', t: lateHour - 5 * HOUR + 7_000, values: { no2: 1234.5 }, receivedMs: NOW + 2 * MIN };
    await writeLines(influx, [toLine('air', lateAgain)]);
    points.push(lateAgain);
    const again = await restarted.runOnce(NOW + 3 * MIN);
    expect(again.sinceMs).toBe(NOW + MIN - 10 * MIN);
    // The new late hour, and the previous one again: it arrived within the 10-minute margin.
    expect(again.lateHours).toBe(2);
    expect((await rollupRows('1h', 'r-b')).get(lateHour - 5 * HOUR)!.no2_max).toBe(1234.5);
  });

  it('keep the current hour fresh on every run', async () => {
    const fresh: GeneratedPoint = { device: 'r-a', site: 'lab', t: CURRENT_HOUR + 1_000, values: { pm25: 42.25 } };
    await writeLines(influx, [toLine('air', fresh)]);
    await job().runOnce(NOW);
    const row = (await rollupRows('1h', 'r-a')).get(CURRENT_HOUR);
    expect(row).toMatchObject({ pm25_first: 42.25, pm25_count: 1 });
  });
});
