/**
 * The air-quality endpoints against a real InfluxDB with hand-made readings whose index is
 * worked out by hand in the comments: band edges, the 18-of-24 rule, the dominant pollutant,
 * pooled sites, insufficient data, and WHO 2021 exceedance days.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { AqiResponse, WhoResponse } from '../../contracts/index.ts';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { buildApp } from '../../api/app.ts';
import { DEFAULT_QUERY_LIMITS } from '../../api/query/limits.ts';
import { createReadingStore } from '../../api/store.ts';
import { writeLines } from './research-fixtures.ts';

const HOUR = 3_600_000;
const DAY = 86_400_000;
/** The index at 12:30 uses the hours 12:00 the day before … 12:00. */
const AT = Date.UTC(2026, 2, 12, 12, 30);
const END = Date.UTC(2026, 2, 12, 12, 0);
const FIRST_HOUR = END - 24 * HOUR;
const LAST_HOUR = END - HOUR;

let server: InfluxServer;
let influx: InfluxClient;
let app: FastifyInstance;
const lines: string[] = [];

/** One reading of `device` at `ms` with the given fields. */
function reading(device: string, ms: number, fields: Record<string, number>, site = 'none'): void {
  lines.push(`air,device=${device},site=${site} ${Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(',')} ${ms}000000`);
}

/** Readings in each of the last `hours` of the 24 (the hours closest to `at`). */
function everyHour(device: string, hours: number, minuteValues: Record<string, number[]>, site = 'none'): void {
  for (let h = END - hours * HOUR; h < END; h += HOUR) {
    const n = Math.max(...Object.values(minuteValues).map((v) => v.length));
    for (let i = 0; i < n; i++) {
      const fields: Record<string, number> = {};
      for (const [metric, values] of Object.entries(minuteValues)) if (values[i] !== undefined) fields[metric] = values[i]!;
      reading(device, h + i * 10 * 60_000, fields, site);
    }
  }
}

beforeAll(async () => {
  server = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: server.url, database: 'streetlab' });

  // aq-1: PM2.5 hourly means all (20+30+24+26)/4 = 25 → running mean 25, exactly the upper limit of band 3.
  // PM10 40 → band 2 (its upper limit). NO2 is 500 in every hour but the latest, where (80+100)/2 = 90 → band 2.
  // O3 latest hour (120+140)/2 = 130 → band 3 (its upper limit). SO2 100 → band 1.
  // Index: 3 (moderate); PM2.5 and O3 tie at 3, PM2.5 comes first → dominant pm25.
  everyHour('aq-1', 24, { pm25: [20, 30, 24, 26], pm10: [40] });
  for (let h = FIRST_HOUR; h < LAST_HOUR; h += HOUR) reading('aq-1', h + 5 * 60_000, { no2: 500 });
  reading('aq-1', LAST_HOUR + 60_000, { no2: 80, o3: 120, so2: 100 });
  reading('aq-1', LAST_HOUR + 120_000, { no2: 100, o3: 140 });

  // aq-17 and aq-18: PM2.5 45 (band 4) in the last 17 or 18 hours, NO2 10 now.
  everyHour('aq-17', 17, { pm25: [45] });
  everyHour('aq-18', 18, { pm25: [45] });
  for (const d of ['aq-17', 'aq-18']) reading(d, LAST_HOUR + 60_000, { no2: 10 });

  // aq-nono2: plenty of PM, no NO2 at all.
  everyHour('aq-nono2', 24, { pm25: [5], pm10: [5] });

  // PM2.5 at each band edge and just above it, NO2 1 (band 1).
  for (const value of [10, 10.01, 20, 25, 50, 75, 800, 801]) {
    const id = `edge-${String(value).replace('.', '_')}`;
    everyHour(id, 24, { pm25: [value] });
    reading(id, LAST_HOUR + 60_000, { no2: 1 });
  }

  // Site quay: q-1 PM2.5 10 and q-2 PM2.5 30 every hour → pooled hourly means 20 → band 2;
  // NO2 only from q-1 now: 95 → band 3 → index 3, dominant no2.
  everyHour('q-1', 24, { pm25: [10] }, 'quay');
  everyHour('q-2', 24, { pm25: [30] }, 'quay');
  reading('q-1', LAST_HOUR + 60_000, { no2: 95 }, 'quay');

  // WHO: three days from 2026-03-01, with the 7 hours before for O3.
  const D1 = Date.UTC(2026, 2, 1);
  for (let h = D1 - 7 * HOUR; h < D1; h += HOUR) reading('who-1', h, { o3: 20 });
  for (let i = 0; i < 24; i++) {
    // Day 1: PM2.5 16 (> 15), PM10 44 (≤ 45), NO2 26 (> 25), O3 110 in 10:00–17:00 else 90 → best 8 h = 110 (> 100).
    reading('who-1', D1 + i * HOUR, { pm25: 16, pm10: 44, no2: 26, o3: i >= 10 && i < 18 ? 110 : 90 });
    // Day 2: PM2.5 exactly 15, NO2 25, O3 100 all day: nothing exceeded.
    reading('who-1', D1 + DAY + i * HOUR, { pm25: 15, pm10: 45, no2: 25, o3: 100 });
    // Day 3: data 00:00–16:59 only: no valid 24-hour mean, but 8-hour means ending 01:00–19:00
    // still have 6 of their 8 hours (with day 2's evening): 19 valid means, O3 200 → exceeded.
    if (i < 17) reading('who-1', D1 + 2 * DAY + i * HOUR, { pm25: 100, pm10: 100, no2: 100, o3: 200 });
  }

  await writeLines(influx, lines);
  app = await buildApp({ store: createReadingStore(influx), now: () => AT, research: { limits: { ...DEFAULT_QUERY_LIMITS, rollupsEnabled: false, rawRetentionMs: 0 } } });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await server?.stop();
});

async function aqi(query: string): Promise<AqiResponse> {
  const response = await app.inject(`/api/v1/aqi?${query}`);
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as AqiResponse;
}

describe('European Air Quality Index', () => {
  it('matches the hand-computed index: worst band, dominant pollutant, averages and coverage', async () => {
    const result = await aqi('device=aq-1');
    expect(result).toMatchObject({ device: 'aq-1', status: 'ok', level: 3, label: 'Moderate', dominant: 'pm25', station: 'traffic', source: 'raw', tableVersion: 'eea-eaqi-6band-v1' });
    const by = Object.fromEntries(result.pollutants.map((p) => [p.pollutant, p]));
    expect(by.pm25).toMatchObject({ status: 'ok', value: 25, level: 3, averaging: '24h-running-mean', hoursWithData: 24, coverage: 1, from: new Date(FIRST_HOUR).toISOString(), to: new Date(END).toISOString() });
    expect(by.pm10).toMatchObject({ value: 40, level: 2 });
    expect(by.no2).toMatchObject({ status: 'ok', value: 90, level: 2, averaging: '1h-mean', from: new Date(LAST_HOUR).toISOString() });
    expect(by.o3).toMatchObject({ value: 130, level: 3 });
    expect(by.so2).toMatchObject({ value: 100, level: 1, label: 'Good' });
  });

  it('needs 18 of the 24 hours for PM', async () => {
    expect(await aqi('device=aq-17')).toMatchObject({ status: 'insufficient_data', missing: ['pm25|pm10'] });
    const pm = (await aqi('device=aq-17')).pollutants.find((p) => p.pollutant === 'pm25');
    expect(pm).toMatchObject({ status: 'insufficient_data', hoursWithData: 17, hoursRequired: 18 });
    expect(await aqi('device=aq-18')).toMatchObject({ status: 'ok', level: 4, label: 'Poor', dominant: 'pm25' });
  });

  it('says insufficient data, not a guess, when a required pollutant is missing', async () => {
    const result = await aqi('device=aq-nono2');
    expect(result).toMatchObject({ status: 'insufficient_data', missing: ['no2'] });
    expect(result.level).toBeUndefined();
    expect(result.message).toContain('no2');
    expect(await aqi('device=nobody')).toMatchObject({ status: 'insufficient_data', missing: ['no2', 'pm25|pm10'] });
    // Before any data existed.
    expect(await aqi(`device=aq-1&at=${new Date(AT - 3 * DAY).toISOString()}`)).toMatchObject({ status: 'insufficient_data' });
  });

  it.each([
    [10, 1],
    [10.01, 2],
    [20, 2],
    [25, 3],
    [50, 4],
    [75, 5],
    [800, 6],
    [801, 6],
  ])('puts a PM2.5 mean of %d µg/m³ in band %d', async (value, level) => {
    const result = await aqi(`device=edge-${String(value).replace('.', '_')}`);
    expect(result).toMatchObject({ status: 'ok', level, dominant: 'pm25' });
  });

  it('pools the devices of a site per hour', async () => {
    const result = await aqi('site=quay');
    expect(result).toMatchObject({ site: 'quay', status: 'ok', level: 3, dominant: 'no2' });
    expect(result.pollutants.find((p) => p.pollutant === 'pm25')).toMatchObject({ value: 20, level: 2 });
  });
});

describe('WHO 2021 guideline exceedances', () => {
  it('counts the days above each guideline, per device', async () => {
    const D1 = Date.UTC(2026, 2, 1);
    const response = await app.inject(`/api/v1/aqi/who?device=who-1&from=${new Date(D1).toISOString()}&to=${new Date(D1 + 3 * DAY).toISOString()}`);
    expect(response.statusCode).toBe(200);
    const body = response.json() as WhoResponse;
    expect(body).toMatchObject({ guidelineVersion: 'who-aqg-2021', source: 'raw', from: new Date(D1).toISOString(), to: new Date(D1 + 3 * DAY).toISOString() });
    expect(body.devices).toHaveLength(1);
    const by = Object.fromEntries(body.devices[0]!.pollutants.map((p) => [p.pollutant, p]));
    expect(by.pm25).toMatchObject({ limit: 15, validDays: 2, exceedanceDays: 1, exceededDates: ['2026-03-01'] });
    expect(by.pm10).toMatchObject({ limit: 45, validDays: 2, exceedanceDays: 0, exceededDates: [] });
    expect(by.no2).toMatchObject({ limit: 25, validDays: 2, exceedanceDays: 1, exceededDates: ['2026-03-01'] });
    expect(by.o3).toMatchObject({ limit: 100, averaging: 'max-daily-8h-mean', validDays: 3, exceedanceDays: 2, exceededDates: ['2026-03-01', '2026-03-03'] });
  });

  it('lists every air device of a site', async () => {
    const response = await app.inject(`/api/v1/aqi/who?site=quay&from=${new Date(FIRST_HOUR).toISOString()}&to=${new Date(END).toISOString()}`);
    const body = response.json() as WhoResponse;
    expect(body.devices.map((d) => d.deviceId)).toEqual(['q-1', 'q-2']);
  });
});
