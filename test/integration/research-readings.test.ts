/**
 * The research API against a real InfluxDB, with generated data: every aggregate and fill mode
 * checked against values computed here from the generated series, paging that returns every
 * point exactly once, CSV and NDJSON that carry the same numbers, and a 400 naming the
 * parameter for every bad request.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { AGGREGATES, type Aggregate, type ReadingItem, type ReadingsResponse } from '../../contracts/index.ts';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { buildApp } from '../../api/app.ts';
import { DEFAULT_QUERY_LIMITS } from '../../api/query/limits.ts';
import { createReadingStore } from '../../api/store.ts';
import { aggregateOf, generateSeries, parseCsv, toLine, windowsOf, writeLines, type GeneratedPoint } from './research-fixtures.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 2, 12, 12, 0, 0);
const T0 = Date.UTC(2026, 2, 10, 0, 0, 0);
const AIR_DEVICES = ['air-a', 'air-b', 'air-c'];
const SITES: Record<string, string> = { 'air-a': 'north', 'air-b': 'north', 'air-c': 'south', 'tc-1': 'north', 'tc-2': 'south' };
/** air-b is silent from 05:00 to 09:00 on the first day: a gap for the fill modes. */
const GAP = { from: T0 + 5 * HOUR, to: T0 + 9 * HOUR };

let server: InfluxServer;
let influx: InfluxClient;
let app: FastifyInstance;
let air: GeneratedPoint[];
let traffic: GeneratedPoint[];

const iso = (ms: number) => new Date(ms).toISOString();

/** A researcher's credential: the whole answer, owners included (anonymous callers get the open-data view). */
const RESEARCHER_TOKEN = 'researcher-'.padEnd(40, 'r');

async function get<T = ReadingsResponse>(path: string): Promise<{ status: number; body: T; headers: Record<string, unknown>; trailers: Record<string, string>; text: string }> {
  const response = await app.inject({ url: path, headers: { authorization: `Bearer ${RESEARCHER_TOKEN}` } });
  const text = response.body;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.statusCode, body: body as T, headers: response.headers, trailers: response.trailers as Record<string, string>, text };
}

beforeAll(async () => {
  server = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: server.url, database: 'streetlab' });
  // Two days of air readings every minute, two decimals, with random gaps and readings without no2.
  air = generateSeries({
    devices: AIR_DEVICES,
    siteOf: (d) => SITES[d]!,
    fromMs: T0,
    count: 2 * 1440,
    stepMs: MIN,
    seed: 42,
    gapProbability: 0.1,
    partialProbability: 0.2,
    metrics: {
      pm25: (r) => Math.round(r() * 6000) / 100,
      no2: (r, i) => Math.round((20 + 15 * Math.sin(i / 90) + r() * 10) * 100) / 100,
    },
  }).filter((p) => !(p.device === 'air-b' && p.t >= GAP.from && p.t < GAP.to));
  traffic = generateSeries({
    devices: ['tc-1', 'tc-2'],
    siteOf: (d) => SITES[d]!,
    fromMs: T0,
    count: 2 * 288,
    stepMs: 5 * MIN,
    seed: 7,
    metrics: { period: () => 300, cars: (r) => Math.floor(r() * 80) },
  });
  await writeLines(influx, [...air.map((p) => toLine('air', p)), ...traffic.map((p) => toLine('traffic', p))]);
  app = await buildApp({
    store: createReadingStore(influx),
    now: () => NOW,
    research: { limits: { ...DEFAULT_QUERY_LIMITS, rollupsEnabled: false, rawRetentionMs: 0 }, lookupInterval: (id) => (id === 'air-c' ? 120 : undefined) },
    auth: { adminToken: RESEARCHER_TOKEN, publicRead: true },
  });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await server?.stop();
});

describe('aggregated windows', () => {
  const range = { from: T0 + 3 * HOUR, to: T0 + 12 * HOUR };

  it.each(AGGREGATES.map((agg) => [agg]))('computes %s per window and device as the generated data says, with the readings behind it', async (agg: Aggregate) => {
    const every = 30 * MIN;
    const { status, body } = await get(`/api/v1/readings?kind=air&metric=no2,pm25&every=30m&agg=${agg}&from=${iso(range.from)}&to=${iso(range.to)}&limit=10000`);
    expect(status).toBe(200);
    expect(body.meta).toMatchObject({ source: 'raw', kind: 'air', metrics: ['pm25', 'no2'], units: { pm25: 'µg/m³', no2: 'µg/m³' }, every: '30m', agg, fill: 'none', order: 'asc' });
    const seen = new Set<string>();
    for (const device of AIR_DEVICES) {
      const pm25 = windowsOf(air, device, 'pm25', range.from, range.to, every);
      const no2 = windowsOf(air, device, 'no2', range.from, range.to, every);
      for (const [start, points] of pm25) {
        const item = body.readings.find((r) => r.deviceId === device && Date.parse(r.ts) === start);
        const no2Points = no2.get(start)!;
        if (points.length === 0 && no2Points.length === 0) {
          expect(item, `${device} ${iso(start)} is empty and left out`).toBeUndefined();
          continue;
        }
        seen.add(`${device}/${start}`);
        expect(item, `${device} ${iso(start)}`).toBeDefined();
        expect(item!.counts).toEqual({ pm25: points.length, no2: no2Points.length });
        expect(item!.count).toBe(Math.max(points.length, no2Points.length));
        for (const [metric, pts] of [['pm25', points], ['no2', no2Points]] as const) {
          const expected = aggregateOf(agg, pts);
          if (pts.length === 0 && agg !== 'count') expect(item!.values[metric]).toBeUndefined();
          else expect(item!.values[metric] as number).toBeCloseTo(expected!, 9);
        }
        // air-c promises a reading every 120 s: 15 per window.
        const promised = device === 'air-c' ? 15 : 30;
        expect(item!.completeness).toBeCloseTo(Math.min(100, (100 * item!.count!) / promised), 2);
      }
    }
    expect(body.readings).toHaveLength(seen.size);
    // By device, then time.
    const keys = body.readings.map((r) => `${r.deviceId}/${r.ts}`);
    expect(keys).toEqual([...keys].sort());
  });

  it.each([['null'], ['previous'], ['linear']])('fills the empty windows of a gap with %s, and counts them as empty', async (fill) => {
    const every = HOUR;
    const from = T0 + 2 * HOUR;
    const to = T0 + 12 * HOUR;
    const { status, body } = await get(`/api/v1/readings?kind=air&device=air-b&metric=pm25&every=1h&fill=${fill}&from=${iso(from)}&to=${iso(to)}`);
    expect(status).toBe(200);
    const windows = [...windowsOf(air, 'air-b', 'pm25', from, to, every)];
    const means = windows.map(([, pts]) => aggregateOf('mean', pts));
    expect(body.readings.map((r) => Date.parse(r.ts))).toEqual(windows.map(([start]) => start));
    body.readings.forEach((item, i) => {
      expect(item.counts!.pm25).toBe(windows[i]![1].length);
      let expected = means[i];
      if (expected === undefined && fill !== 'null') {
        let before = i - 1;
        while (means[before] === undefined) before--;
        let after = i + 1;
        while (means[after] === undefined) after++;
        expected = fill === 'previous' ? means[before] : means[before]! + ((means[after]! - means[before]!) * (i - before)) / (after - before);
      }
      if (expected === undefined) expect(item.values.pm25).toBeUndefined();
      else expect(item.values.pm25 as number).toBeCloseTo(expected, 9);
    });
    // The gap really is there: four empty hours.
    expect(body.readings.filter((r) => r.counts!.pm25 === 0)).toHaveLength(4);
  });

  it.each([['none'], ['previous'], ['linear']])('pages windows exactly once with fill=%s: the pages equal the unpaged answer', async (fill) => {
    const query = `/api/v1/readings?kind=air&metric=pm25&every=1h&fill=${fill}&from=${iso(T0)}&to=${iso(T0 + 12 * HOUR)}`;
    const whole = (await get(`${query}&limit=10000`)).body;
    expect(whole.readings).toHaveLength(fill === 'none' ? 32 : 36);
    const pages: ReadingItem[] = [];
    let cursor: string | undefined;
    let requests = 0;
    do {
      const { status, body } = await get(`${query}&limit=5${cursor ? `&cursor=${cursor}` : ''}`);
      expect(status).toBe(200);
      expect(body.readings.length).toBeLessThanOrEqual(5);
      pages.push(...body.readings);
      cursor = body.meta?.nextCursor;
      requests += 1;
    } while (cursor && requests < 50);
    expect(requests).toBe(Math.ceil(whole.readings.length / 5));
    expect(pages).toEqual(whole.readings);
  });

  it('serves windows of traffic counts with sum', async () => {
    const { body } = await get(`/api/v1/readings?kind=traffic&device=tc-1&metric=cars&every=1d&agg=sum&from=${iso(T0)}&to=${iso(T0 + 2 * 86_400_000)}`);
    const expected = [0, 1].map((d) => traffic.filter((p) => p.device === 'tc-1' && p.t >= T0 + d * 86_400_000 && p.t < T0 + (d + 1) * 86_400_000).reduce((s, p) => s + p.values.cars!, 0));
    expect(body.readings.map((r) => r.values.cars)).toEqual(expected);
    expect(body.readings.map((r) => r.counts!.cars)).toEqual([288, 288]);
  });
});

describe('raw readings', () => {
  const from = T0 + 10 * HOUR;
  const to = T0 + 11 * HOUR;
  const expectedRaw = (kinds: string[]) =>
    [
      ...(kinds.includes('air') ? air.map((p) => ({ ...p, kind: 'air' })) : []),
      ...(kinds.includes('traffic') ? traffic.map((p) => ({ ...p, kind: 'traffic' })) : []),
    ].filter((p) => p.t >= from && p.t < to);

  async function allPages(query: string, limit: number): Promise<{ items: ReadingItem[]; pages: number }> {
    const items: ReadingItem[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const { status, body } = await get(`${query}&limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
      expect(status).toBe(200);
      items.push(...body.readings);
      cursor = body.meta?.nextCursor;
      pages += 1;
    } while (cursor && pages < 500);
    return { items, pages };
  }

  it.each([['desc'], ['asc']])('pages %s through readings that share timestamps, every reading exactly once', async (order) => {
    const { items, pages } = await allPages(`/api/v1/readings?kind=air&from=${iso(from)}&to=${iso(to)}&order=${order}`, 7);
    const expected = expectedRaw(['air']);
    expect(items).toHaveLength(expected.length);
    expect(pages).toBe(Math.ceil(expected.length / 7));
    const keys = items.map((r) => `${r.ts}/${r.deviceId}`);
    expect(new Set(keys).size).toBe(keys.length);
    const sorted = [...items].sort((a, b) => (a.ts === b.ts ? (a.deviceId < b.deviceId ? -1 : 1) : order === 'asc' ? (a.ts < b.ts ? -1 : 1) : a.ts < b.ts ? 1 : -1));
    expect(items).toEqual(sorted);
    for (const item of items) {
      const p = expected.find((e) => e.device === item.deviceId && e.t === Date.parse(item.ts))!;
      expect(item.values).toEqual(p.values);
      expect(item.site).toBe(SITES[item.deviceId]);
    }
  });

  it('pages across kinds in one order (the dashboard call without kind)', async () => {
    const { items } = await allPages(`/api/v1/readings?from=${iso(from)}&to=${iso(to)}`, 13);
    const expected = expectedRaw(['air', 'traffic']);
    expect(items).toHaveLength(expected.length);
    expect(new Set(items.map((r) => `${r.kind}/${r.deviceId}/${r.ts}`)).size).toBe(expected.length);
    expect(items.map((r) => r.ts)).toEqual([...items.map((r) => r.ts)].sort().reverse());
  });

  it('filters by several devices, by site and by metric', async () => {
    const both = await get(`/api/v1/readings?kind=air&device=air-a&device=air-c&from=${iso(from)}&to=${iso(to)}&limit=10000`);
    expect(new Set(both.body.readings.map((r) => r.deviceId))).toEqual(new Set(['air-a', 'air-c']));
    const comma = await get(`/api/v1/readings?kind=air&device=air-a,air-c&from=${iso(from)}&to=${iso(to)}&limit=10000`);
    expect(comma.body.readings).toEqual(both.body.readings);
    const north = await get(`/api/v1/readings?kind=air&site=north&from=${iso(from)}&to=${iso(to)}&limit=10000`);
    expect(new Set(north.body.readings.map((r) => r.deviceId))).toEqual(new Set(['air-a', 'air-b']));
    const onlyNo2 = await get(`/api/v1/readings?kind=air&metric=no2&device=air-a&from=${iso(from)}&to=${iso(to)}&limit=10000`);
    const withNo2 = air.filter((p) => p.device === 'air-a' && p.t >= from && p.t < to && p.values.no2 !== undefined);
    expect(onlyNo2.body.readings).toHaveLength(withNo2.length);
    expect(onlyNo2.body.readings.every((r) => Object.keys(r.values).join() === 'no2')).toBe(true);
  });

  it('exports CSV that parses back to the same numbers, with a download name', async () => {
    const response = await get(`/api/v1/readings?kind=air&from=${iso(from)}&to=${iso(to)}&format=csv&metric=pm25,no2`);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(response.headers['content-disposition']).toMatch(/^attachment; filename="streetlab-air-20260310T100000Z-20260310T110000Z\.csv"$/);
    const [header, ...rows] = parseCsv(response.text);
    expect(header).toEqual(['time', 'device', 'site', 'owner', 'pm25', 'no2']);
    const expected = expectedRaw(['air']).sort((a, b) => a.t - b.t || (a.device < b.device ? -1 : 1));
    expect(rows).toHaveLength(expected.length);
    rows.forEach((row, i) => {
      const p = expected[i]!;
      expect(row[0]).toBe(iso(p.t));
      expect(row[1]).toBe(p.device);
      expect(row[2]).toBe(p.site);
      expect(row[4] === '' ? undefined : Number(row[4])).toBe(p.values.pm25);
      expect(row[5] === '' ? undefined : Number(row[5])).toBe(p.values.no2);
    });
    expect(response.trailers['x-next-cursor']).toBe('');
  });

  it('cuts an export at limit and hands the rest over in the X-Next-Cursor trailer', async () => {
    const query = `/api/v1/readings?kind=air&from=${iso(from)}&to=${iso(to)}&format=ndjson&metric=pm25`;
    const expected = expectedRaw(['air']).filter((p) => p.values.pm25 !== undefined);
    const lines: ReadingItem[] = [];
    let cursor = '';
    let exports = 0;
    do {
      const response = await get(`${query}&limit=40${cursor ? `&cursor=${cursor}` : ''}`);
      expect(response.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
      lines.push(...response.text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as ReadingItem));
      cursor = response.trailers['x-next-cursor'] ?? '';
      exports += 1;
    } while (cursor && exports < 50);
    expect(lines).toHaveLength(expected.length);
    expect(new Set(lines.map((l) => `${l.deviceId}/${l.ts}`)).size).toBe(expected.length);
    expect(exports).toBe(Math.ceil(expected.length / 40));
  });

  it('exports windows as CSV with counts and completeness, equal to the JSON windows', async () => {
    const query = `/api/v1/readings?kind=air&metric=pm25,no2&every=1h&agg=max&from=${iso(T0)}&to=${iso(T0 + 6 * HOUR)}`;
    const json = (await get(`${query}&limit=10000`)).body;
    const csv = await get(`${query}&format=csv`);
    expect(csv.headers['content-disposition']).toContain('streetlab-air-max-1h-');
    const [header, ...rows] = parseCsv(csv.text);
    expect(header).toEqual(['time', 'device', 'pm25', 'no2', 'pm25_count', 'no2_count', 'completeness']);
    expect(rows).toHaveLength(json.readings.length);
    rows.forEach((row, i) => {
      const item = json.readings[i]!;
      expect([row[0], row[1]]).toEqual([item.ts, item.deviceId]);
      expect(Number(row[2])).toBe(item.values.pm25);
      expect(Number(row[3])).toBe(item.values.no2);
      expect([Number(row[4]), Number(row[5])]).toEqual([item.counts!.pm25, item.counts!.no2]);
      expect(Number(row[6])).toBe(item.completeness);
    });
  });
});

describe('bad requests', () => {
  it.each([
    ['/api/v1/readings?kind=air&metric=pm2.5', 'metric', 'pm2.5'],
    ['/api/v1/readings?kind=air&metric=pm25,radiation', 'metric', 'radiation'],
    ['/api/v1/readings?kind=air&every=fortnight', 'every', 'fortnight'],
    ['/api/v1/readings?kind=air&every=1h&agg=avg', 'agg', ''],
    ['/api/v1/readings?kind=air&every=1h&fill=zero', 'fill', ''],
    ['/api/v1/readings?from=2026-03-11T00:00:00Z&to=2026-03-10T00:00:00Z', 'from', 'before'],
    ['/api/v1/readings?from=-60d', 'from/to', 'narrow'],
    ['/api/v1/readings?kind=air&every=1m&from=-60d', 'from/to', 'every=1h'],
    ['/api/v1/readings?kind=air&every=1s&from=-30d', 'every', 'windows'],
    ['/api/v1/readings?kind=air&device=air-a%22%20OR%201=1', 'device', 'not a device id'],
    ['/api/v1/readings?kind=air&metric=pm25%3B%20DROP%20MEASUREMENT%20air', 'metric', 'DROP'],
    ['/api/v1/readings?kind=air%27%20OR%201=1', 'kind', ''],
    ['/api/v1/readings?site=%00', 'site', ''],
    ['/api/v1/readings?format=xml', 'format', ''],
    ['/api/v1/readings?format=csv', 'kind', 'format=csv'],
    ['/api/v1/readings?limit=100000', 'limit', ''],
    ['/api/v1/readings?cursor=eyJtIjoiciJ9', 'cursor', ''],
    ['/api/v1/readings?kind=air&every=1h&source=rollup', 'source', 'not enabled'],
    ['/api/v1/aqi?device=air-a&site=north', 'device, site', 'exactly one'],
    ['/api/v1/aqi?at=tomorrow&device=air-a', 'at', 'tomorrow'],
    ['/api/v1/aqi/who?from=-400d', 'from/to', '366'],
  ])('%s → 400 naming %s', async (path, name, detail) => {
    const { status, body } = await get<{ error: string; message: string }>(path);
    expect(status, path).toBe(400);
    expect(body.error).toBe('BAD_REQUEST');
    expect(body.message).toContain(name);
    expect(body.message).toContain(detail);
  });

  it('treats hostile tag values as plain values: no injection, no error, no data', async () => {
    for (const site of ["north' OR site =~ /.*/", 'north" OR 1=1', 'x\\" ; DROP MEASUREMENT air']) {
      const { status, body } = await get(`/api/v1/readings?kind=air&site=${encodeURIComponent(site)}&from=${iso(T0)}&to=${iso(T0 + HOUR)}`);
      expect(status).toBe(200);
      expect(body.readings).toEqual([]);
    }
    const rows = await influx.queryRows('SELECT COUNT(pm25) FROM air');
    expect(rows[0]?.count).toBe(air.filter((p) => p.values.pm25 !== undefined).length);
  });
});

describe('latest', () => {
  it('gives every metric its own age on request', async () => {
    const { body } = await get<{ readings: (ReadingItem & { ageSeconds: number; metrics?: Record<string, { value: number; ts: string; ageSeconds: number }> })[] }>(
      '/api/v1/latest?kind=air&perMetric=true',
    );
    const a = body.readings.find((r) => r.deviceId === 'air-a')!;
    const last = (metric: string) => air.filter((p) => p.device === 'air-a' && p.values[metric] !== undefined).sort((x, y) => y.t - x.t)[0]!;
    for (const metric of ['pm25', 'no2']) {
      expect(a.metrics![metric]).toEqual({ value: last(metric).values[metric], ts: iso(last(metric).t), ageSeconds: (NOW - last(metric).t) / 1000 });
    }
    const plain = await get<{ readings: { metrics?: unknown }[] }>('/api/v1/latest?kind=air');
    expect(plain.body.readings.every((r) => r.metrics === undefined)).toBe(true);
  });
});

describe('OpenAPI', () => {
  interface Schema {
    type?: string;
    description?: string;
    example?: unknown;
    properties?: Record<string, Schema>;
    items?: Schema;
    anyOf?: Schema[];
  }

  it('documents every parameter of the research endpoints with a description and an example', async () => {
    const { status, body } = await get<{ openapi: string; paths: Record<string, { get: { parameters: { name: string; description?: string; schema: Schema }[]; responses: Record<string, unknown> } }> }>(
      '/openapi.json',
    );
    expect(status).toBe(200);
    expect(body.openapi).toMatch(/^3\./);
    for (const path of ['/api/v1/readings', '/api/v1/aqi', '/api/v1/aqi/who', '/api/v1/latest']) {
      const parameters = body.paths[path]!.get.parameters;
      expect(parameters.length).toBeGreaterThan(0);
      for (const p of parameters) {
        expect(p.description ?? p.schema.description, `${path} ${p.name} description`).toBeTruthy();
        if (p.name !== 'cursor') expect(p.schema.example, `${path} ${p.name} example`).toBeDefined();
      }
    }
    const names = body.paths['/api/v1/readings']!.get.parameters.map((p) => p.name).sort();
    expect(names).toEqual(['agg', 'cursor', 'device', 'every', 'fill', 'format', 'from', 'kind', 'lab', 'limit', 'metric', 'order', 'owner', 'site', 'source', 'to'].sort());
  });

  it('gives every field of the readings and AQI responses an example', async () => {
    const { body } = await get<{ paths: Record<string, { get: { responses: Record<string, { content: Record<string, { schema: Schema }> }> } }> }>('/openapi.json');
    const missing: string[] = [];
    const walk = (schema: Schema | undefined, path: string) => {
      if (!schema) return;
      if (schema.properties) {
        for (const [name, child] of Object.entries(schema.properties)) walk(child, `${path}.${name}`);
        return;
      }
      if (schema.type === 'array' && schema.items?.properties) return walk(schema.items, `${path}[]`);
      if (schema.example === undefined && !path.endsWith('.unit') && !path.endsWith('.station')) missing.push(path);
    };
    for (const path of ['/api/v1/readings', '/api/v1/aqi', '/api/v1/aqi/who']) {
      walk(body.paths[path]!.get.responses['200']!.content['application/json']!.schema, path);
    }
    expect(missing).toEqual([]);
  });

  it('renders the docs page from the same document', async () => {
    const response = await app.inject('/docs');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/html');
    for (const text of ['/api/v1/readings', '/api/v1/aqi/who', 'every', 'agg', 'µg/m³', 'nextCursor', 'X-Next-Cursor']) expect(response.body).toContain(text);
    expect(response.body).not.toContain('<script');
  });
});
