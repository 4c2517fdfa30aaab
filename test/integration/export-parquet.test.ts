/**
 * Parquet exports against a real InfluxDB: every file is read back with hyparquet (an
 * independent reader) and compared row by row with the JSON answer to the same query — times,
 * types, nulls where a reading lacks a metric, true/false metrics as BOOLEAN — for raw
 * readings and aggregated windows, with and without the owner column, across a `limit` cut
 * (HTTP trailer and footer carry the same cursor), and a 400 naming the problem for what
 * Parquet cannot serve.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { parquetMetadata, parquetReadObjects, parquetSchema } from 'hyparquet';
import type { Licence, ReadingItem, ReadingsResponse } from '../../contracts/index.ts';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { buildApp } from '../../api/app.ts';
import { DEFAULT_QUERY_LIMITS } from '../../api/query/limits.ts';
import { createReadingStore } from '../../api/store.ts';
import { seededRandom, writeLines } from './research-fixtures.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 2, 10, 0, 0, 0);
const NOW = T0 + 3 * 86_400_000;
const ADMIN = 'parquet-test-admin-token-0123456789abcdef';
const LICENCE: Licence = { id: 'ODbL-1.0', url: 'https://opendatacommons.org/licenses/odbl/1-0/', attribution: 'Københavns Kommune, Street Lab' };
const AIR = [
  { id: 'air-a', site: 'north', owner: 'acme' },
  { id: 'air-b', site: 'north', owner: 'acme' },
  // No registry tags at all: site and owner are null in the file, not ''.
  { id: 'air-c', site: undefined, owner: undefined },
];
const BINS = [
  { id: 'bin-1', site: 'south', owner: 'binco' },
  { id: 'bin-2', site: 'south', owner: 'binco' },
];

let server: InfluxServer;
let influx: InfluxClient;
let app: FastifyInstance;

const iso = (ms: number) => new Date(ms).toISOString();
const admin = { authorization: `Bearer ${ADMIN}` };

function tags(d: { id: string; site: string | undefined; owner: string | undefined }): string {
  return `device=${d.id}${d.owner ? `,owner=${d.owner}` : ''}${d.site ? `,site=${d.site}` : ''}`;
}

beforeAll(async () => {
  server = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: server.url, database: 'streetlab' });
  const random = seededRandom(11);
  const lines: string[] = [];
  // Six hours of air readings every minute: random gaps, pm25 always, no2 only sometimes,
  // values with many decimals (round trip through DOUBLE), all devices at the same milliseconds.
  for (let i = 0; i < 6 * 60; i++) {
    for (const d of AIR) {
      if (random() < 0.1) continue;
      const fields = [`pm25=${(random() * 80).toFixed(6)}`];
      if (random() < 0.6) fields.push(`no2=${Math.round(random() * 1e6) / 1e3}`);
      lines.push(`air,${tags(d)} ${fields.join(',')} ${T0 + i * MIN}000000`);
    }
  }
  // Bins every 10 minutes, lidOpen (a true/false metric) only on some readings.
  for (let i = 0; i < 6 * 6; i++) {
    for (const d of BINS) {
      const fields = [`fill=${Math.round(random() * 1000) / 10}`];
      if (random() < 0.5) fields.push(`lidOpen=${random() < 0.5}`);
      lines.push(`waste,${tags(d)} ${fields.join(',')} ${T0 + i * 10 * MIN}000000`);
    }
  }
  await writeLines(influx, lines);
  app = await buildApp({
    store: createReadingStore(influx),
    now: () => NOW,
    auth: { publicRead: true, adminToken: ADMIN },
    licence: LICENCE,
    research: { limits: { ...DEFAULT_QUERY_LIMITS, rollupsEnabled: false, rawRetentionMs: 0 }, lookupInterval: (id) => (id === 'air-c' ? 120 : undefined) },
  });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await server?.stop();
});

interface Download {
  status: number;
  headers: Record<string, unknown>;
  trailers: Record<string, string>;
  bytes: ArrayBuffer;
  text: string;
}

async function download(url: string, headers: Record<string, string> = admin): Promise<Download> {
  const response = await app.inject({ method: 'GET', url, headers });
  const raw = response.rawPayload;
  const bytes = raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength) as ArrayBuffer;
  return { status: response.statusCode, headers: response.headers, trailers: response.trailers as Record<string, string>, bytes, text: response.body };
}

async function readJson(url: string, headers: Record<string, string> = admin): Promise<ReadingsResponse> {
  const response = await app.inject({ method: 'GET', url, headers });
  expect(response.statusCode, response.body).toBe(200);
  return response.json<ReadingsResponse>();
}

async function readParquet(bytes: ArrayBuffer): Promise<Record<string, unknown>[]> {
  return (await parquetReadObjects({ file: bytes })) as Record<string, unknown>[];
}

/** Column name → its schema element, from the file's own footer. */
function columnsOf(bytes: ArrayBuffer) {
  const metadata = parquetMetadata(bytes);
  return { metadata, columns: new Map(parquetSchema(metadata).children.map((c) => [c.element.name, c.element])) };
}

describe('raw readings as Parquet', () => {
  const range = `from=${iso(T0)}&to=${iso(T0 + 6 * HOUR)}`;

  it('holds exactly the JSON answer: times, devices, registry tags, numbers and nulls', async () => {
    const file = await download(`/api/v1/readings?kind=air&${range}&format=parquet`);
    expect(file.status, file.text.slice(0, 300)).toBe(200);
    expect(file.headers['content-type']).toBe('application/vnd.apache.parquet');
    expect(String(file.headers['content-disposition'])).toMatch(/^attachment; filename="streetlab-air-\d{8}T\d{6}Z-\d{8}T\d{6}Z\.parquet"$/);
    expect(new Uint8Array(file.bytes.slice(0, 4))).toEqual(new Uint8Array([0x50, 0x41, 0x52, 0x31])); // PAR1

    const { columns } = columnsOf(file.bytes);
    expect(columns.get('time')).toMatchObject({ type: 'INT64', repetition_type: 'REQUIRED', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' } });
    for (const name of ['device', 'site', 'owner']) expect(columns.get(name)).toMatchObject({ type: 'BYTE_ARRAY', converted_type: 'UTF8' });
    expect(columns.get('device')?.repetition_type).toBe('REQUIRED');
    // Every metric of the kind is a column, as in CSV, even one no device sent.
    for (const m of ['pm1', 'pm25', 'pm10', 'no2', 'o3', 'so2', 'co', 'temperature', 'humidity', 'pressure', 'noise']) {
      expect(columns.get(m), m).toMatchObject({ type: 'DOUBLE', repetition_type: 'OPTIONAL' });
    }

    const rows = await readParquet(file.bytes);
    const items: ReadingItem[] = [];
    let cursor: string | undefined;
    do {
      const page = await readJson(`/api/v1/readings?kind=air&${range}&order=asc&limit=500${cursor ? `&cursor=${cursor}` : ''}`);
      items.push(...page.readings);
      cursor = page.meta?.nextCursor;
    } while (cursor);
    expect(items.length).toBeGreaterThan(800);
    expect(rows.length).toBe(items.length);
    let nulls = 0;
    items.forEach((item, i) => {
      const row = rows[i]!;
      expect(row.time).toBeInstanceOf(Date);
      expect((row.time as Date).toISOString()).toBe(item.ts);
      expect(row.device).toBe(item.deviceId);
      expect(row.site).toBe(item.site ?? null);
      expect(row.owner).toBe(item.owner ?? null);
      for (const m of ['pm25', 'no2', 'pm10']) {
        expect(row[m], `${item.deviceId} ${item.ts} ${m}`).toBe(item.values[m] ?? null);
        if (row[m] === null) nulls += 1;
      }
    });
    // The comparison covered absent values (pm10 never sent, no2 sometimes) and the untagged device.
    expect(nulls).toBeGreaterThan(items.length);
    expect(rows.some((r) => r.device === 'air-c' && r.site === null && r.owner === null)).toBe(true);
  });

  it('writes true/false metrics as BOOLEAN, null where a reading lacks them', async () => {
    const file = await download(`/api/v1/readings?kind=waste&${range}&format=parquet`);
    expect(file.status).toBe(200);
    const { columns } = columnsOf(file.bytes);
    expect(columns.get('lidOpen')).toMatchObject({ type: 'BOOLEAN', repetition_type: 'OPTIONAL' });
    expect(columns.get('fill')).toMatchObject({ type: 'DOUBLE' });
    const rows = await readParquet(file.bytes);
    const json = await readJson(`/api/v1/readings?kind=waste&${range}&order=asc&limit=10000`);
    expect(rows.length).toBe(json.readings.length);
    json.readings.forEach((item, i) => {
      expect((rows[i]!.time as Date).toISOString()).toBe(item.ts);
      expect(rows[i]!.fill).toBe(item.values.fill);
      expect(rows[i]!.lidOpen).toBe(item.values.lidOpen ?? null);
    });
    const lids = new Set(rows.map((r) => r.lidOpen));
    expect(lids).toEqual(new Set([true, false, null]));
  });

  it('carries the licence and attribution in the footer, which a saved file keeps where HTTP headers are lost', async () => {
    for (const [path, headers] of [
      [`/api/v1/readings?kind=air&${range}&metric=pm25&format=parquet`, {}],
      [`/api/v1/readings?kind=waste&${range}&every=1h&agg=max&format=parquet`, undefined],
    ] as const) {
      const file = await download(path, headers);
      expect(file.status).toBe(200);
      const footer = columnsOf(file.bytes).metadata.key_value_metadata?.find((kv) => kv.key === 'streetlab.licence');
      expect(JSON.parse(footer?.value ?? 'null')).toEqual(LICENCE);
    }
  });

  it('leaves the owner column out for anonymous callers, like CSV', async () => {
    const file = await download(`/api/v1/readings?kind=air&${range}&metric=pm25&format=parquet`, {});
    expect(file.status).toBe(200);
    const { columns } = columnsOf(file.bytes);
    expect([...columns.keys()]).toEqual(['time', 'device', 'site', 'pm25']);
    const rows = await readParquet(file.bytes);
    expect(rows.length).toBeGreaterThan(800);
    expect(rows.every((r) => !('owner' in r))).toBe(true);
  });

  it('pages with limit: the trailer and the footer carry the same cursor, and the pages add up to the whole', async () => {
    const base = `/api/v1/readings?kind=air&${range}&metric=pm25&format=parquet`;
    const whole = await readParquet((await download(base)).bytes);
    const first = await download(`${base}&limit=300`);
    expect(first.status).toBe(200);
    const cursor = first.trailers['x-next-cursor'];
    expect(cursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const footer = columnsOf(first.bytes).metadata.key_value_metadata?.find((kv) => kv.key === 'streetlab.meta');
    const meta = JSON.parse(footer?.value ?? '{}') as { nextCursor?: string; kind?: string; units?: Record<string, string>; source?: string };
    expect(meta).toMatchObject({ nextCursor: cursor, kind: 'air', source: 'raw', units: { pm25: 'µg/m³' } });

    const pages = [await readParquet(first.bytes)];
    let next: string | undefined = cursor;
    while (next) {
      const page = await download(`${base}&limit=300&cursor=${next}`);
      expect(page.status).toBe(200);
      pages.push(await readParquet(page.bytes));
      next = page.trailers['x-next-cursor'] || undefined;
    }
    expect(pages[0]!.length).toBe(300);
    const joined = pages.flat();
    expect(joined.length).toBe(whole.length);
    joined.forEach((row, i) => {
      expect((row.time as Date).getTime()).toBe((whole[i]!.time as Date).getTime());
      expect(row.device).toBe(whole[i]!.device);
      expect(row.pm25).toBe(whole[i]!.pm25);
    });
  });

  it('answers an empty range with a valid file of no rows', async () => {
    const file = await download(`/api/v1/readings?kind=air&from=${iso(T0 - 2 * HOUR)}&to=${iso(T0 - HOUR)}&format=parquet`);
    expect(file.status).toBe(200);
    expect(columnsOf(file.bytes).metadata.num_rows).toBe(0n);
    expect(await readParquet(file.bytes)).toEqual([]);
  });
});

describe('aggregated windows as Parquet', () => {
  const range = `from=${iso(T0)}&to=${iso(T0 + 6 * HOUR)}`;

  it('holds the JSON windows: aggregates, counts per metric and completeness', async () => {
    const query = `kind=air&${range}&every=30m&agg=mean&fill=null&metric=pm25,no2`;
    const file = await download(`/api/v1/readings?${query}&format=parquet`);
    expect(file.status, file.text.slice(0, 300)).toBe(200);
    expect(String(file.headers['content-disposition'])).toContain('streetlab-air-mean-30m-');
    const { columns } = columnsOf(file.bytes);
    expect([...columns.keys()]).toEqual(['time', 'device', 'pm25', 'no2', 'pm25_count', 'no2_count', 'completeness']);
    expect(columns.get('pm25_count')).toMatchObject({ type: 'INT32', repetition_type: 'REQUIRED' });
    expect(columns.get('completeness')).toMatchObject({ type: 'DOUBLE' });
    const rows = await readParquet(file.bytes);
    const json = await readJson(`/api/v1/readings?${query}&limit=10000`);
    expect(rows.length).toBe(json.readings.length);
    expect(rows.length).toBe(3 * 12);
    json.readings.forEach((item, i) => {
      const row = rows[i]!;
      expect((row.time as Date).toISOString()).toBe(item.ts);
      expect(row.device).toBe(item.deviceId);
      expect(row.pm25).toBe(item.values.pm25 ?? null);
      expect(row.no2).toBe(item.values.no2 ?? null);
      expect(row.pm25_count).toBe(item.counts?.pm25);
      expect(row.no2_count).toBe(item.counts?.no2);
      expect(row.completeness).toBe(item.completeness ?? null);
    });
    // air-c declares 120 s: its completeness differs from the 60 s default of the others.
    expect(new Set(rows.map((r) => r.completeness)).size).toBeGreaterThan(2);
  });

  it('counts a true/false metric as numbers and keeps first/last of it BOOLEAN', async () => {
    const counted = await download(`/api/v1/readings?kind=waste&${range}&every=1h&agg=count&metric=lidOpen&format=parquet`);
    expect(counted.status).toBe(200);
    expect(columnsOf(counted.bytes).columns.get('lidOpen')).toMatchObject({ type: 'DOUBLE' });
    const last = await download(`/api/v1/readings?kind=waste&${range}&every=1h&agg=last&metric=lidOpen&format=parquet`);
    expect(columnsOf(last.bytes).columns.get('lidOpen')).toMatchObject({ type: 'BOOLEAN' });
    const rows = await readParquet(last.bytes);
    const json = await readJson(`/api/v1/readings?kind=waste&${range}&every=1h&agg=last&metric=lidOpen&limit=10000`);
    expect(rows.map((r) => r.lidOpen)).toEqual(json.readings.map((item) => item.values.lidOpen ?? null));
  });
});

describe('what Parquet cannot serve', () => {
  it.each([
    ['format=parquet&from=-1h', /^kind: required with format=parquet/],
    [`kind=air&format=parquet&limit=${DEFAULT_QUERY_LIMITS.exportMaxPoints + 1}`, /^limit: at most 5000000 points per parquet response/],
    ['kind=air&format=parquet&agg=mean', /^agg: only applies to aggregated windows/],
    ['kind=air&format=parquet&every=1h&order=desc', /^order: aggregated windows come oldest first/],
    ['kind=air&format=parquet&metric=lidOpen', /^metric: "lidOpen" is not a metric of air/],
    ['kind=air&format=parquet&cursor=bm90LWEtY3Vyc29y', /^cursor: /],
  ])('%s → 400 naming the parameter', async (query, message) => {
    const response = await app.inject({ method: 'GET', url: `/api/v1/readings?${query}`, headers: admin });
    expect(response.statusCode).toBe(400);
    expect(response.headers['content-type']).toContain('application/json');
    expect(response.json<{ message: string }>().message).toMatch(message);
  });

  it('answers an unknown format with 400 listing parquet, and serves the next request as usual', async () => {
    const bad = await app.inject({ method: 'GET', url: '/api/v1/readings?kind=air&format=xlsx', headers: admin });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain('parquet');
    const good = await download(`/api/v1/readings?kind=air&from=${iso(T0)}&to=${iso(T0 + HOUR)}&format=parquet`);
    expect(good.status).toBe(200);
    expect((await readParquet(good.bytes)).length).toBeGreaterThan(100);
  });
});
