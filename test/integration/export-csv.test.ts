/**
 * CSV exports write their cells without going through csvCell per cell (api/query/output.ts):
 * checked here against a real InfluxDB with the values a CSV writer could get wrong — numbers
 * at the edges of double precision, negative numbers (not formulas), tags with commas, quotes
 * and formula prefixes — and compared with the JSON answer to the same query, value by value;
 * and an aggregate that overflows a double is no value in every format.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parquetReadObjects } from 'hyparquet';
import type { FastifyInstance } from 'fastify';
import type { ReadingsResponse } from '../../contracts/index.ts';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { buildApp } from '../../api/app.ts';
import { DEFAULT_QUERY_LIMITS } from '../../api/query/limits.ts';
import { createReadingStore } from '../../api/store.ts';
import { parseCsv } from './research-fixtures.ts';

const T0 = Date.UTC(2026, 2, 10, 0, 0, 0);
const ADMIN = 'csv-export-test-admin-token-0123456789abcdef';
const NUMBERS = [1e21, 1e-7, -12.5, 0.30000000000000004, 123456789012345680000, 5e-324, 1.7976931348623157e308, -0, 42, 0.1];
const SITE = 'Nørrebro, "the lab"';
const OWNER = '=HYPERLINK("x")';

let server: InfluxServer;
let influx: InfluxClient;
let app: FastifyInstance;

/** Line-protocol tag escaping: commas, spaces and equals signs. */
const tag = (value: string) => value.replace(/[,= ]/g, (c) => `\\${c}`);

beforeAll(async () => {
  server = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: server.url, database: 'streetlab' });
  const lines = NUMBERS.map((n, i) => `air,device=dev-${i % 3},site=${tag(SITE)},owner=${tag(OWNER)} pm25=${n},no2=${-n} ${T0 + i * 1000}000000`);
  lines.push(`waste,device=bin-1 fill=50,lidOpen=true ${T0}000000`, `waste,device=bin-1 fill=-0.5,lidOpen=false ${T0 + 1000}000000`);
  await influx.write(lines);
  app = await buildApp({
    store: createReadingStore(influx),
    now: () => T0 + 86_400_000,
    auth: { publicRead: true, adminToken: ADMIN },
    research: { limits: { ...DEFAULT_QUERY_LIMITS, rollupsEnabled: false, rawRetentionMs: 0 } },
  });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await server?.stop();
});

async function get(url: string) {
  return app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${ADMIN}` } });
}

it('copies every number exactly, keeps negatives as numbers and defuses formula tags', async () => {
  const range = `from=${new Date(T0).toISOString()}&to=${new Date(T0 + 60_000).toISOString()}`;
  const csv = await get(`/api/v1/readings?kind=air&${range}&format=csv`);
  expect(csv.statusCode).toBe(200);
  const [header, ...rows] = parseCsv(csv.body);
  const json = (await get(`/api/v1/readings?kind=air&${range}&order=asc&limit=100`)).json<ReadingsResponse>();
  expect(rows.length).toBe(NUMBERS.length);
  expect(json.readings.length).toBe(NUMBERS.length);
  const at = (name: string) => header!.indexOf(name);
  rows.forEach((row, i) => {
    const item = json.readings[i]!;
    expect(row[at('time')]).toBe(item.ts);
    expect(row[at('device')]).toBe(item.deviceId);
    expect(row[at('site')]).toBe(SITE);
    expect(row[at('owner')]).toBe(`'${OWNER}`);
    for (const m of ['pm25', 'no2']) {
      const cell = row[at(m)]!;
      expect(cell, `${m} of row ${i}`).toMatch(/^-?\d/);
      expect(Object.is(Number(cell), item.values[m]) || Number(cell) === item.values[m], `${m}: ${cell} vs ${item.values[m]}`).toBe(true);
    }
    // Metrics no reading had are empty cells.
    expect(row[at('pm10')]).toBe('');
  });
  expect(rows.map((r) => Number(r[at('pm25')]))).toEqual(NUMBERS.map((n) => (Object.is(n, -0) ? 0 : n)));
});

it('writes true/false metrics and a negative fill as they are stored', async () => {
  const csv = await get(`/api/v1/readings?kind=waste&from=${new Date(T0).toISOString()}&to=${new Date(T0 + 60_000).toISOString()}&format=csv`);
  const [header, ...rows] = parseCsv(csv.body);
  expect(rows.map((r) => [r[header!.indexOf('fill')], r[header!.indexOf('lidOpen')]])).toEqual([
    ['50', 'true'],
    ['-0.5', 'false'],
  ]);
});

it('answers an aggregate that overflows a double as no value, alike in JSON, CSV, NDJSON and Parquet', async () => {
  // Two readings near the largest double: their sum is +Inf, which InfluxDB sends in MessagePack.
  const t = T0 + 3_600_000;
  await influx.write([`air,device=huge pm25=1.7e308,no2=1 ${t}000000`, `air,device=huge pm25=1.7e308,no2=2 ${t + 1000}000000`]);
  const window = `kind=air&device=huge&from=${new Date(t).toISOString()}&to=${new Date(t + 3_600_000).toISOString()}&every=1h&agg=sum`;
  const json = await get(`/api/v1/readings?${window}`);
  expect(json.statusCode).toBe(200);
  const [item] = json.json<ReadingsResponse>().readings;
  expect(item).toMatchObject({ deviceId: 'huge', values: { no2: 3 }, counts: { pm25: 2, no2: 2 } });
  expect(item!.values).not.toHaveProperty('pm25');
  const ndjson = await get(`/api/v1/readings?${window}&format=ndjson`);
  expect(JSON.parse(ndjson.body.trim()).values).toEqual({ no2: 3 });
  const [header, row] = parseCsv((await get(`/api/v1/readings?${window}&format=csv`)).body);
  expect([row![header!.indexOf('pm25')], row![header!.indexOf('no2')], row![header!.indexOf('pm25_count')]]).toEqual(['', '3', '2']);
  const parquet = await get(`/api/v1/readings?${window}&format=parquet`);
  expect(parquet.statusCode).toBe(200);
  const bytes = new Uint8Array(parquet.rawPayload);
  const rows = await parquetReadObjects({ file: bytes.buffer });
  expect(rows).toEqual([expect.objectContaining({ device: 'huge', pm25: null, no2: 3 })]);
});
