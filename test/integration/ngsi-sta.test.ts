/**
 * The standard read-outs (NGSI-LD at /ngsi-ld/v1, SensorThings at /sta/v1.1) against a real
 * InfluxDB holding known readings: every answer is compared with what the REST API answers on
 * the same data (latest values, history between two times, counts), and checked against the
 * documents in contracts/ngsi-ld.ts and contracts/sensorthings.ts. Paging is followed to the
 * end, filters, the geo-query and every bad parameter are exercised, and the access rules of
 * /api/v1 hold: with public read off, no credentials → 401.
 *
 * One file for both read-outs (over 400 lines): they share one InfluxDB with its known
 * readings, and the comparisons with /api/v1 use the same helpers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LatestResponse, ReadingItem, ReadingsResponse } from '../../contracts/index.ts';
import { NGSI_LD_CONTEXT, NGSI_LD_ERRORS, NgsiLdEntitySchema, NgsiLdProblemSchema, NgsiLdTemporalEntitySchema } from '../../contracts/ngsi-ld.ts';
import { STA_ENTITY_SCHEMAS, StaCollectionSchema, StaErrorSchema, StaServiceRootSchema } from '../../contracts/sensorthings.ts';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { openFileRegistry, type FileRegistry } from '../../common/registry/index.ts';
import { buildApp } from '../../api/app.ts';
import { DEFAULT_QUERY_LIMITS } from '../../api/query/limits.ts';
import { createReadingStore } from '../../api/store.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 10, 20, 12, 0, 0);
const ADMIN = 'ngsi-sta-admin-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${ADMIN}` };
/** Small pages underneath: every scan crosses several pages of /api/v1/readings. */
const LIMITS = { ...DEFAULT_QUERY_LIMITS, jsonMaxPoints: 200, jsonDefaultPoints: 100, rollupsEnabled: false, rawRetentionMs: 0 };
const HERE = { lon: 12.5683, lat: 55.6761 };

let server: InfluxServer;
let influx: InfluxClient;
let registry: FileRegistry;
let app: FastifyInstance;
let dir: string;

const iso = (ms: number) => new Date(ms).toISOString();

function line(measurement: string, device: string, site: string, fields: Record<string, number | boolean>, t: number): string {
  const values = Object.entries(fields).map(([k, v]) => `${k}=${v}`).join(',');
  return `${measurement},device=${device},owner=acme,site=${site} ${values} ${t}000000`;
}

beforeAll(async () => {
  server = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: server.url, database: 'streetlab' });
  dir = await mkdtemp(join(tmpdir(), 'ngsi-sta-'));
  registry = await openFileRegistry({ dataDir: dir, pollIntervalMs: 0, scrypt: { N: 1024 } });
  const register = (id: string, kind: string, at: { lon: number; lat: number }, meta: Record<string, unknown> = {}) =>
    registry.create({ id, kind, owner: 'acme', lat: at.lat, lon: at.lon, site: 'north', intervalSeconds: 60, enabled: true, meta });
  await register('air-a', 'air', HERE);
  // About 5.6 km east of air-a.
  await register('air-b', 'air', { lon: 12.6583, lat: 55.6761 });
  await register('tc-1', 'traffic', { lon: 12.569, lat: 55.6765 }, { laneDirection: 'forward' });
  await register('bin-1', 'waste', { lon: 12.5679, lat: 55.6758 });

  const lines: string[] = [];
  // air-a: a reading a minute for 3 hours; every fifth lacks no2, the newest too.
  for (let i = 0; i < 180; i += 1) {
    const fields: Record<string, number> = { pm25: ((i * 7) % 45) + 0.5, humidity: 40 + (i % 20) };
    if ((i + 1) % 5 !== 0) fields.no2 = 20 + (i % 13);
    lines.push(line('air', 'air-a', 'north', fields, NOW - 3 * HOUR + i * MIN));
  }
  // air-b: every 5 minutes, cleaner air.
  for (let i = 0; i < 36; i += 1) lines.push(line('air', 'air-b', 'north', { pm25: 5 + (i % 5), temperature: 4.5 }, NOW - 3 * HOUR + i * 5 * MIN));
  // A device that is not registered: in /api/v1/readings, not in the read-outs.
  lines.push(line('air', 'ghost', 'north', { pm25: 99 }, NOW - HOUR));
  // tc-1: 5-minute counting periods.
  for (let i = 0; i < 36; i += 1) {
    lines.push(line('traffic', 'tc-1', 'north', { period: 300, cars: 10 + (i % 7), buses: i % 3, bicycles: 5, pedestrians: 9, speed: 30 + (i % 10), occupancy: 12.5 }, NOW - 3 * HOUR + (i + 1) * 5 * MIN));
  }
  // bin-1: hourly for two days, 2 points an hour from 10 %, emptied to 2 % at hour 30.
  let fill = 10;
  for (let h = 0; h < 48; h += 1) {
    if (h === 30) fill = 2;
    lines.push(line('waste', 'bin-1', 'north', { fill, temperature: 8, lidOpen: false }, NOW - 48 * HOUR + h * HOUR));
    fill += 2;
  }
  await influx.write(lines);
  app = await buildApp({
    store: createReadingStore(influx),
    registry,
    now: () => NOW,
    auth: { publicRead: false, adminToken: ADMIN },
    research: { limits: LIMITS },
  });
}, 120_000);

afterAll(async () => {
  await app?.close();
  await registry?.close();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function get<T = unknown>(path: string, headers: Record<string, string> = AUTH): Promise<{ status: number; body: T; headers: Record<string, unknown> }> {
  const response = await app.inject({ method: 'GET', url: path, headers });
  return { status: response.statusCode, body: (response.body ? JSON.parse(response.body) : undefined) as T, headers: response.headers };
}

/** Every raw reading /api/v1/readings answers for these parameters, oldest first, all pages. */
async function restReadings(params: Record<string, string>): Promise<ReadingItem[]> {
  const out: ReadingItem[] = [];
  let cursor: string | undefined;
  do {
    const query = new URLSearchParams({ ...params, order: 'asc', limit: '200', ...(cursor ? { cursor } : {}) });
    const page = await get<ReadingsResponse>(`/api/v1/readings?${query}`);
    expect(page.status).toBe(200);
    out.push(...page.body.readings);
    cursor = page.body.meta?.nextCursor;
  } while (cursor);
  return out;
}

type Entity = Record<string, { value?: unknown; observedAt?: string; unitCode?: string } & Record<string, unknown>> & { id: string; type: string };

describe('NGSI-LD', () => {
  it('answers the latest state as Smart Data Models entities, value for value what /api/v1/latest says', async () => {
    const { status, body, headers } = await get<Entity[]>('/ngsi-ld/v1/entities?type=AirQualityObserved');
    expect(status).toBe(200);
    expect(headers['content-type']).toMatch(/^application\/json/);
    expect(String(headers.link)).toContain('rel="http://www.w3.org/ns/json-ld#context"');
    for (const entity of body) NgsiLdEntitySchema.parse(entity);
    expect(body.map((e) => e.id)).toEqual(['urn:ngsi-ld:AirQualityObserved:air-a', 'urn:ngsi-ld:AirQualityObserved:air-b']);

    const latest = await get<LatestResponse>('/api/v1/latest?kind=air&perMetric=true');
    for (const entity of body) {
      const deviceId = entity.id.split(':').at(-1)!;
      const rest = latest.body.readings.find((r) => r.deviceId === deviceId)!;
      expect(entity.pm25).toMatchObject({ type: 'Property', value: rest.metrics!.pm25!.value, unitCode: 'GQ', observedAt: rest.metrics!.pm25!.ts });
      if (rest.metrics!.humidity) expect(entity.relativeHumidity!.value).toBeCloseTo((rest.metrics!.humidity.value as number) / 100, 10);
      if (rest.metrics!.no2) expect(entity.no2!.value).toBe(rest.metrics!.no2.value);
      expect(entity.location).toEqual({ type: 'GeoProperty', value: { type: 'Point', coordinates: [deviceId === 'air-a' ? HERE.lon : 12.6583, HERE.lat] } });
      expect(entity.refDevice).toEqual({ type: 'Relationship', object: `urn:ngsi-ld:Device:${deviceId}` });
    }
    // air-a's newest reading (i = 179) has no no2: the entity keeps the latest no2, of i = 178.
    const a = body[0]!;
    expect(a.no2!.value).toBe(20 + (178 % 13));
    expect(a.no2!.observedAt).toBe(iso(NOW - 3 * HOUR + 178 * MIN));
    expect(a.pm25!.observedAt).toBe(iso(NOW - 3 * HOUR + 179 * MIN));
  });

  it('puts @context in the body for application/ld+json, and no context Link', async () => {
    const { status, body, headers } = await get<Entity[]>('/ngsi-ld/v1/entities?type=WasteContainer', { ...AUTH, accept: 'application/ld+json' });
    expect(status).toBe(200);
    expect(headers['content-type']).toMatch(/^application\/ld\+json/);
    expect(String(headers.link ?? '')).not.toContain('json-ld#context');
    expect(body[0]!['@context']).toEqual([...NGSI_LD_CONTEXT]);
    const notAcceptable = await get<unknown>('/ngsi-ld/v1/entities?type=WasteContainer', { ...AUTH, accept: 'text/html' });
    expect(notAcceptable.status).toBe(406);
    expect(NgsiLdProblemSchema.parse(notAcceptable.body).type).toBe(NGSI_LD_ERRORS.NotAcceptable);
  });

  it('answers GeoJSON for application/geo+json: features with the location as geometry and the JSON answer as properties', async () => {
    const geoAccept = { ...AUTH, accept: 'application/geo+json' };
    const json = (await get<Entity[]>('/ngsi-ld/v1/entities?type=AirQualityObserved,WasteContainer')).body;
    const geo = await get<{ type: string; features: { id: string; type: string; geometry: unknown; properties: Record<string, unknown> }[] }>('/ngsi-ld/v1/entities?type=AirQualityObserved,WasteContainer', geoAccept);
    expect(geo.status).toBe(200);
    expect(geo.headers['content-type']).toMatch(/^application\/geo\+json/);
    expect(String(geo.headers.link)).toContain('rel="http://www.w3.org/ns/json-ld#context"');
    expect(geo.body.type).toBe('FeatureCollection');
    expect(geo.body.features).toEqual(
      json.map(({ id, type, ...properties }) => ({ id, type: 'Feature', geometry: (properties.location as { value: unknown }).value, properties: { type, ...properties } })),
    );
    // attrs narrows the properties, not the geometry; keyValues simplifies the properties.
    const narrowed = await get<{ features: { geometry: unknown; properties: Record<string, unknown> }[] }>('/ngsi-ld/v1/entities?type=AirQualityObserved&attrs=pm25&options=keyValues', geoAccept);
    expect(narrowed.body.features[0]).toEqual({
      id: 'urn:ngsi-ld:AirQualityObserved:air-a',
      type: 'Feature',
      geometry: { type: 'Point', coordinates: [HERE.lon, HERE.lat] },
      properties: { type: 'AirQualityObserved', pm25: (json[0]!.pm25 as { value: number }).value },
    });
    const one = await get<{ type: string; id: string; geometry: unknown }>('/ngsi-ld/v1/entities/urn:ngsi-ld:WasteContainer:bin-1', geoAccept);
    expect(one.body).toMatchObject({ type: 'Feature', id: 'urn:ngsi-ld:WasteContainer:bin-1', geometry: { type: 'Point', coordinates: [12.5679, 55.6758] } });
    // Equal preference: JSON-LD first; a higher q for GeoJSON wins.
    expect((await get('/ngsi-ld/v1/entities?type=WasteContainer', { ...AUTH, accept: 'application/geo+json, application/ld+json' })).headers['content-type']).toMatch(/^application\/ld\+json/);
    expect((await get('/ngsi-ld/v1/entities?type=WasteContainer', { ...AUTH, accept: 'application/json;q=0.5, application/geo+json' })).headers['content-type']).toMatch(/^application\/geo\+json/);
    const temporal = await get<unknown>('/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:AirQualityObserved:air-a?lastN=1', geoAccept);
    expect(temporal.status).toBe(406);
    expect(NgsiLdProblemSchema.parse(temporal.body).detail).toContain('temporal API');
  });

  it('maps traffic and waste to TrafficFlowObserved and WasteContainer with the models\' units and scales', async () => {
    const [traffic] = (await get<Entity[]>('/ngsi-ld/v1/entities?type=TrafficFlowObserved')).body;
    const last = 35;
    const end = NOW - 3 * HOUR + (last + 1) * 5 * MIN;
    const intensity = traffic!.intensity as unknown as { value: number; datasetId?: string; vehicleType?: { value: string } }[];
    expect(intensity.find((i) => i.datasetId === undefined)!.value).toBe(10 + (last % 7) + (last % 3) + 5);
    expect(intensity.find((i) => i.vehicleType?.value === 'bus')!.value).toBe(last % 3);
    expect(traffic!.averageVehicleSpeed).toMatchObject({ value: 30 + (last % 10), unitCode: 'KMH' });
    expect(traffic!.occupancy!.value).toBe(0.125);
    expect(traffic!.dateObserved!.value).toBe(`${iso(end - 300_000)}/${iso(end)}`);
    expect(traffic!.laneDirection!.value).toBe('forward');

    const [bin] = (await get<Entity[]>('/ngsi-ld/v1/entities?type=WasteContainer')).body;
    expect(bin!.fillingLevel).toMatchObject({ value: (2 + 17 * 2) / 100, unitCode: 'C62' });
    expect(bin!.status!.value).toBe('ok');
    const collections = await get<{ collections: { at: string }[] }>('/api/v1/waste/collections?device=bin-1&from=-30d');
    expect(collections.body.collections).toHaveLength(1);
    expect((bin!.dateLastEmptying!.value as { '@value': string })['@value']).toBe(collections.body.collections[0]!.at);
  });

  it('filters with q (; is AND, | is OR, parentheses group) and the near geo-query, and pages with limit, offset and count', async () => {
    const latest = (await get<LatestResponse>('/api/v1/latest?kind=air&perMetric=true')).body.readings;
    const pm25 = Object.fromEntries(latest.map((r) => [r.deviceId, r.metrics!.pm25!.value as number]));
    const threshold = Math.min(pm25['air-a']!, pm25['air-b']!) + 0.25;
    const expected = ['air-a', 'air-b'].filter((d) => pm25[d]! > threshold).map((d) => `urn:ngsi-ld:AirQualityObserved:${d}`);
    const q = await get<Entity[]>(`/ngsi-ld/v1/entities?type=AirQualityObserved&q=pm25>${threshold}`);
    expect(q.body.map((e) => e.id)).toEqual(expected);
    const both = await get<Entity[]>(`/ngsi-ld/v1/entities?type=AirQualityObserved&q=pm25>=0;pm25<${threshold}`);
    expect(both.body.map((e) => e.id)).toEqual(['urn:ngsi-ld:AirQualityObserved:air-a', 'urn:ngsi-ld:AirQualityObserved:air-b'].filter((id) => !expected.includes(id)));
    // OR across two types' properties: full bins, or air above the threshold.
    const either = await get<Entity[]>(`/ngsi-ld/v1/entities?type=AirQualityObserved,WasteContainer&q=${encodeURIComponent(`pm25>${threshold}|fillingLevel>=0`)}`);
    expect(either.status).toBe(200);
    expect(either.body.map((e) => e.id)).toEqual([...expected, 'urn:ngsi-ld:WasteContainer:bin-1'].sort());
    // Grouped: (pm25 above the threshold or below it) and pm25 at least 0 is every air entity.
    const grouped = await get<Entity[]>(`/ngsi-ld/v1/entities?type=AirQualityObserved&q=${encodeURIComponent(`(pm25>${threshold}|pm25<=${threshold});pm25>=0`)}`);
    expect(grouped.body.map((e) => e.id)).toEqual(['urn:ngsi-ld:AirQualityObserved:air-a', 'urn:ngsi-ld:AirQualityObserved:air-b']);
    const unclosed = await get<{ detail: string }>(`/ngsi-ld/v1/entities?type=AirQualityObserved&q=${encodeURIComponent('(pm25>1|pm25<0')}`);
    expect(unclosed.status).toBe(400);
    expect(unclosed.body.detail).toMatch(/^q: expected a closing parenthesis/);

    const near = await get<Entity[]>(`/ngsi-ld/v1/entities?type=AirQualityObserved,WasteContainer&georel=near;maxDistance==500&geometry=Point&coordinates=[${HERE.lon},${HERE.lat}]`);
    expect(near.body.map((e) => e.id)).toEqual(['urn:ngsi-ld:AirQualityObserved:air-a', 'urn:ngsi-ld:WasteContainer:bin-1']);
    const far = await get<Entity[]>(`/ngsi-ld/v1/entities?type=AirQualityObserved&georel=near;minDistance==5000&geometry=Point&coordinates=[${HERE.lon},${HERE.lat}]`);
    expect(far.body.map((e) => e.id)).toEqual(['urn:ngsi-ld:AirQualityObserved:air-b']);

    const all = await get<Entity[]>('/ngsi-ld/v1/entities?type=AirQualityObserved,TrafficFlowObserved,WasteContainer&count=true');
    expect(all.headers['ngsild-results-count']).toBe('4');
    const page = await get<Entity[]>('/ngsi-ld/v1/entities?type=AirQualityObserved,TrafficFlowObserved,WasteContainer&limit=2&offset=1&count=true&attrs=location');
    expect(page.headers['ngsild-results-count']).toBe('4');
    expect(page.body.map((e) => e.id)).toEqual(all.body.slice(1, 3).map((e) => e.id));
    expect(Object.keys(page.body[0]!).sort()).toEqual(['id', 'location', 'type']);
    const byId = await get<Entity[]>('/ngsi-ld/v1/entities?id=urn:ngsi-ld:WasteContainer:bin-1,urn:ngsi-ld:AirQualityObserved:air-b&options=keyValues');
    expect(byId.body.map((e) => e.id)).toEqual(['urn:ngsi-ld:AirQualityObserved:air-b', 'urn:ngsi-ld:WasteContainer:bin-1']);
    expect(byId.body[1]!.fillingLevel).toBe(0.36);
  });

  it('answers one entity by id, and 404 ResourceNotFound for an unknown one', async () => {
    const list = (await get<Entity[]>('/ngsi-ld/v1/entities?type=AirQualityObserved')).body;
    const one = await get<Entity>('/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:air-a');
    expect(one.status).toBe(200);
    expect(one.body).toEqual(list[0]);
    const route = await get<unknown>('/ngsi-ld/v1/subscriptions');
    expect(route.status).toBe(404);
    expect(NgsiLdProblemSchema.parse(route.body).type).toBe(NGSI_LD_ERRORS.ResourceNotFound);
    for (const id of ['urn:ngsi-ld:AirQualityObserved:nope', 'urn:ngsi-ld:WasteContainer:air-a', 'urn:ngsi-ld:AirQualityObserved:ghost']) {
      const missing = await get<unknown>(`/ngsi-ld/v1/entities/${id}`);
      expect(missing.status, id).toBe(404);
      expect(NgsiLdProblemSchema.parse(missing.body)).toMatchObject({ type: NGSI_LD_ERRORS.ResourceNotFound, status: 404 });
    }
  });

  it('answers the history between two times with every reading /api/v1/readings has, and lastN', async () => {
    const from = NOW - 2 * HOUR;
    const to = NOW - HOUR;
    const rest = await restReadings({ kind: 'air', device: 'air-a', from: iso(from), to: iso(to) });
    expect(rest.length).toBe(60);
    const { status, body } = await get<Record<string, { value: number; observedAt: string }[]> & { id: string }>(
      `/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:AirQualityObserved:air-a?timerel=between&timeAt=${iso(from)}&endTimeAt=${iso(to)}`,
    );
    expect(status).toBe(200);
    NgsiLdTemporalEntitySchema.parse(body);
    expect(body.pm25!.map((i) => [i.observedAt, i.value])).toEqual(rest.map((r) => [r.ts, r.values.pm25]));
    const withNo2 = rest.filter((r) => r.values.no2 !== undefined);
    expect(body.no2!.map((i) => [i.observedAt, i.value])).toEqual(withNo2.map((r) => [r.ts, r.values.no2]));

    const lastN = await get<Record<string, { value: number; observedAt: string }[]>>(`/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:AirQualityObserved:air-a?lastN=5&attrs=pm25`);
    const newest = (await restReadings({ kind: 'air', device: 'air-a', from: iso(NOW - 4 * HOUR), to: iso(NOW + 1) })).slice(-5);
    expect(lastN.body.pm25!.map((i) => [i.observedAt, i.value])).toEqual(newest.map((r) => [r.ts, r.values.pm25]));
    expect(lastN.body.no2).toBeUndefined();
  });

  it('answers bad parameters with 400 BadRequestData naming the parameter', async () => {
    const cases: [string, string][] = [
      ['/ngsi-ld/v1/entities', 'type'],
      ['/ngsi-ld/v1/entities?type=Parking', 'type'],
      ['/ngsi-ld/v1/entities?type=AirQualityObserved&q=pm25~3', 'q'],
      ['/ngsi-ld/v1/entities?type=AirQualityObserved&q=pm2.5>3', 'q'],
      ['/ngsi-ld/v1/entities?type=AirQualityObserved&georel=near;maxDistance==500&geometry=Point', 'coordinates'],
      ['/ngsi-ld/v1/entities?type=AirQualityObserved&georel=near;maxDistance==500&geometry=Point&coordinates=[200,55]', 'coordinates'],
      ['/ngsi-ld/v1/entities?type=AirQualityObserved&limit=5000', 'limit'],
      ['/ngsi-ld/v1/entities?type=AirQualityObserved&attrs=colour', 'attrs'],
      ['/ngsi-ld/v1/entities?type=AirQualityObserved&colour=red', 'colour'],
      ['/ngsi-ld/v1/entities?id=air-a', 'id'],
      ['/ngsi-ld/v1/entities/air-a', 'id'],
      ['/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:AirQualityObserved:air-a?timerel=between&timeAt=2026-11-20T00:00:00Z', 'endTimeAt'],
      ['/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:AirQualityObserved:air-a?timerel=during&timeAt=2026-11-20T00:00:00Z', 'timerel'],
      ['/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:AirQualityObserved:air-a?timerel=between&timeAt=2026-01-01T00:00:00Z&endTimeAt=2026-11-20T00:00:00Z', 'timeAt'],
    ];
    for (const [path, parameter] of cases) {
      const { status, body } = await get<unknown>(path);
      expect(status, path).toBe(400);
      const problem = NgsiLdProblemSchema.parse(body);
      expect(problem.type, path).toBe(NGSI_LD_ERRORS.BadRequestData);
      expect(problem.detail, path).toContain(parameter);
    }
  });
});

interface StaCollection<T = Record<string, unknown>> {
  '@iot.count'?: number;
  '@iot.nextLink'?: string;
  value: (T & { '@iot.id': string })[];
}

/** Follows @iot.nextLink to the end; every page is a valid collection of `set`. */
async function followAll(path: string, set: keyof typeof STA_ENTITY_SCHEMAS): Promise<{ values: Record<string, unknown>[]; pages: number; count?: number }> {
  const values: Record<string, unknown>[] = [];
  let next: string | undefined = path;
  let pages = 0;
  let count: number | undefined;
  while (next) {
    const page: { status: number; body: StaCollection } = await get<StaCollection>(next.replace(/^https?:\/\/[^/]+/, ''));
    expect(page.status, next).toBe(200);
    StaCollectionSchema(STA_ENTITY_SCHEMAS[set]).parse(page.body);
    if (pages === 0) count = page.body['@iot.count'];
    values.push(...page.body.value);
    next = page.body['@iot.nextLink'];
    pages += 1;
  }
  return { values, pages, ...(count === undefined ? {} : { count }) };
}

describe('SensorThings', () => {
  it('lists the entity sets and the conformance classes at the service root', async () => {
    const { status, body } = await get<unknown>('/sta/v1.1');
    expect(status).toBe(200);
    const root = StaServiceRootSchema.parse(body);
    expect(root.value.map((v) => v.name)).toEqual(['Things', 'Locations', 'Datastreams', 'Sensors', 'ObservedProperties', 'Observations']);
    expect(root.value[0]!.url).toMatch(/\/sta\/v1\.1\/Things$/);
    expect(root.serverSettings.conformance).toContain('http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel');
  });

  it('has a Thing per registered device, a Datastream per device and metric, with units and navigation links', async () => {
    const things = await followAll('/sta/v1.1/Things?$top=3&$count=true', 'Things');
    expect(things.count).toBe(4);
    expect(things.pages).toBe(2);
    expect(things.values.map((t) => t['@iot.id'])).toEqual(['air-a', 'air-b', 'bin-1', 'tc-1']);

    const { body } = await get<Record<string, unknown> & { Datastreams: Record<string, unknown>[]; Locations: Record<string, unknown>[] }>("/sta/v1.1/Things('air-a')?$expand=Datastreams,Locations");
    STA_ENTITY_SCHEMAS.Things.parse(body);
    expect(body.Datastreams.map((d) => d['@iot.id'])).toContain('air-a:pm25');
    for (const d of body.Datastreams) STA_ENTITY_SCHEMAS.Datastreams.parse(d);
    const pm25 = body.Datastreams.find((d) => d['@iot.id'] === 'air-a:pm25')!;
    expect(pm25.unitOfMeasurement).toEqual({ name: 'microgram per cubic metre', symbol: 'µg/m³', definition: 'http://qudt.org/vocab/unit/MicroGM-PER-M3' });
    expect(pm25.observationType).toBe('http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement');
    expect(body.Locations[0]).toMatchObject({ location: { type: 'Point', coordinates: [HERE.lon, HERE.lat] } });

    const thing = await get<Record<string, unknown>>("/sta/v1.1/Datastreams('air-a:pm25')/Thing");
    expect(thing.body['@iot.id']).toBe('air-a');
    const property = await get<Record<string, unknown>>("/sta/v1.1/Datastreams('air-a:pm25')/ObservedProperty");
    STA_ENTITY_SCHEMAS.ObservedProperties.parse(property.body);
    const sensor = await get<Record<string, unknown>>("/sta/v1.1/Datastreams('tc-1:cars')/Sensor");
    expect(sensor.body['@iot.id']).toBe('traffic');
    const streams = await get<StaCollection>("/sta/v1.1/ObservedProperties('temperature')/Datastreams");
    expect(streams.body.value.map((d) => d['@iot.id']).sort()).toEqual(['air-a:temperature', 'air-b:temperature', 'bin-1:temperature']);
  });

  it('pages a Datastream\'s Observations with @iot.nextLink: every reading /api/v1/readings has, once, in order', async () => {
    const rest = (await restReadings({ kind: 'air', device: 'air-a', metric: 'pm25', from: iso(NOW - 30 * 24 * HOUR), to: iso(NOW + 1) }));
    expect(rest.length).toBe(180);
    const all = await followAll("/sta/v1.1/Datastreams('air-a:pm25')/Observations?$top=40&$count=true", 'Observations');
    expect(all.count).toBe(180);
    expect(all.pages).toBe(5);
    expect(new Set(all.values.map((o) => o['@iot.id'])).size).toBe(180);
    expect(all.values.map((o) => [o.phenomenonTime, o.result])).toEqual(rest.map((r) => [r.ts, r.values.pm25]));

    const newestFirst = await followAll("/sta/v1.1/Datastreams('air-a:no2')/Observations?$orderby=phenomenonTime desc&$top=50", 'Observations');
    const no2 = rest.length && (await restReadings({ kind: 'air', device: 'air-a', metric: 'no2', from: iso(NOW - 4 * HOUR), to: iso(NOW + 1) })).filter((r) => r.values.no2 !== undefined);
    expect(newestFirst.values.map((o) => [o.phenomenonTime, o.result])).toEqual((no2 as ReadingItem[]).reverse().map((r) => [r.ts, r.values.no2]));
  });

  it('filters Observations on result and on a phenomenonTime range, and counts them', async () => {
    const from = NOW - 150 * MIN;
    const to = NOW - 30 * MIN;
    const rest = (await restReadings({ kind: 'air', device: 'air-a', metric: 'pm25', from: iso(from), to: iso(to) })).filter((r) => (r.values.pm25 as number) > 20);
    const filter = `result gt 20 and phenomenonTime ge ${iso(from)} and phenomenonTime lt ${iso(to)}`;
    const all = await followAll(`/sta/v1.1/Datastreams('air-a:pm25')/Observations?$filter=${encodeURIComponent(filter)}&$top=25&$count=true`, 'Observations');
    expect(all.count).toBe(rest.length);
    expect(all.values.map((o) => [o.phenomenonTime, o.result])).toEqual(rest.map((r) => [r.ts, r.values.pm25]));

    const either = `(result le 1 or result ge 44) and phenomenonTime ge '${iso(from)}'`;
    const some = await followAll(`/sta/v1.1/Datastreams('air-a:pm25')/Observations?$filter=${encodeURIComponent(either)}&$count=true`, 'Observations');
    const expected = (await restReadings({ kind: 'air', device: 'air-a', metric: 'pm25', from: iso(from), to: iso(NOW + 1) })).filter((r) => (r.values.pm25 as number) <= 1 || (r.values.pm25 as number) >= 44);
    expect(some.values.map((o) => o.result)).toEqual(expected.map((r) => r.values.pm25));
  });

  it('serves every registered device\'s values at /Observations, and one Observation by id with its Datastream', async () => {
    const from = NOW - 2 * HOUR;
    const to = NOW - HOUR;
    const filter = `phenomenonTime ge ${iso(from)} and phenomenonTime lt ${iso(to)}`;
    const all = await followAll(`/sta/v1.1/Observations?$filter=${encodeURIComponent(filter)}&$top=200&$count=true`, 'Observations');
    const registered = new Set(['air-a', 'air-b', 'tc-1', 'bin-1']);
    const rest = (await Promise.all(['air', 'traffic', 'waste'].map((kind) => restReadings({ kind, from: iso(from), to: iso(to) })))).flat().filter((r) => registered.has(r.deviceId));
    const expected = rest.reduce((sum, r) => sum + Object.values(r.values).filter((v) => typeof v === 'number' || typeof v === 'boolean').length, 0);
    expect(all.count).toBe(expected);
    expect(all.values).toHaveLength(expected);
    expect(new Set(all.values.map((o) => o['@iot.id'])).size).toBe(expected);
    expect(all.values.some((o) => String(o['@iot.id']).startsWith('ghost:'))).toBe(false);

    const id = `air-a:pm25:${NOW - 3 * HOUR}`;
    const one = await get<Record<string, unknown>>(`/sta/v1.1/Observations('${id}')?$expand=Datastream`);
    expect(one.status).toBe(200);
    expect(one.body).toMatchObject({ '@iot.id': id, result: 0.5, phenomenonTime: iso(NOW - 3 * HOUR) });
    expect((one.body.Datastream as Record<string, unknown>)['@iot.id']).toBe('air-a:pm25');
  });

  it('filters registry sets on nested properties and expands each entity\'s newest Observations with a link to the rest', async () => {
    const filter = encodeURIComponent("properties/deviceId eq 'air-a' and (name eq 'pm25 of air-a' or name eq 'no2 of air-a')");
    const { status, body } = await get<StaCollection<{ Observations: Record<string, unknown>[]; 'Observations@iot.nextLink'?: string }>>(
      `/sta/v1.1/Datastreams?$filter=${filter}&$orderby=id desc&$expand=${encodeURIComponent('Observations($top=3;$orderby=phenomenonTime desc)')}&$select=id,Observations`,
    );
    expect(status).toBe(200);
    expect(body.value.map((d) => d['@iot.id'])).toEqual(['air-a:pm25', 'air-a:no2']);
    const rest = await restReadings({ kind: 'air', device: 'air-a', from: iso(NOW - 4 * HOUR), to: iso(NOW + 1) });
    for (const datastream of body.value) {
      const metric = datastream['@iot.id'].split(':')[1]!;
      expect(Object.keys(datastream).sort()).toEqual(['@iot.id', 'Observations', 'Observations@iot.navigationLink', 'Observations@iot.nextLink']);
      const newest = rest.filter((r) => r.values[metric] !== undefined).slice(-3).reverse();
      expect(datastream.Observations.map((o) => [o.phenomenonTime, o.result])).toEqual(newest.map((r) => [r.ts, r.values[metric]]));
      // The link goes on where the expansion stopped.
      const next = await get<StaCollection>(datastream['Observations@iot.nextLink']!.replace(/^https?:\/\/[^/]+/, ''));
      expect(next.body.value[0]!.phenomenonTime).toBe(rest.filter((r) => r.values[metric] !== undefined).at(-4)!.ts);
    }
  });

  it('answers bad options with 400 and unknown ids with 404, as SensorThings error documents', async () => {
    const cases: [string, number, string][] = [
      ["/sta/v1.1/Datastreams('air-a:pm25')/Observations?$filter=result gtx 3", 400, '$filter'],
      ["/sta/v1.1/Datastreams('air-a:pm25')/Observations?$filter=colour eq 'red'", 400, 'colour'],
      ["/sta/v1.1/Datastreams('air-a:pm25')/Observations?$filter=(result gt 3", 400, '$filter'],
      ["/sta/v1.1/Datastreams('air-a:pm25')/Observations?$filter=phenomenonTime ge 2025-01-01T00:00:00Z", 400, 'phenomenonTime'],
      ["/sta/v1.1/Datastreams('air-a:pm25')/Observations?$orderby=result", 400, '$orderby'],
      ["/sta/v1.1/Datastreams('air-a:pm25')/Observations?$skiptoken=abc", 400, '$skiptoken'],
      ['/sta/v1.1/Things?$top=abc', 400, '$top'],
      ['/sta/v1.1/Things?$expand=Datastreams/Observations', 400, 'one level'],
      ['/sta/v1.1/Things?$expand=Sensors', 400, 'Sensors'],
      ['/sta/v1.1/Things?$resultFormat=dataArray', 400, '$resultFormat'],
      ["/sta/v1.1/Things('nope')", 404, 'nope'],
      ['/sta/v1.1/Gadgets', 404, 'Gadgets'],
      ["/sta/v1.1/Things('air-a')/Sensors", 404, 'Sensors'],
      ["/sta/v1.1/Observations('air-a:pm25:1')", 404, 'air-a:pm25:1'],
      ["/sta/v1.1/Things('ghost')", 404, 'ghost'],
    ];
    for (const [path, status, mention] of cases) {
      const response = await get<unknown>(path);
      expect(response.status, path).toBe(status);
      const error = StaErrorSchema.parse(response.body);
      expect(error.code, path).toBe(status);
      expect(error.message, path).toContain(mention);
    }
  });
});

describe('access', () => {
  it('refuses anonymous callers with 401 when public read is off, in each facade\'s error format', async () => {
    const ngsi = await get<unknown>('/ngsi-ld/v1/entities?type=AirQualityObserved', {});
    expect(ngsi.status).toBe(401);
    expect(NgsiLdProblemSchema.parse(ngsi.body).status).toBe(401);
    for (const path of ['/sta/v1.1', '/sta/v1.1/Things', "/sta/v1.1/Datastreams('air-a:pm25')/Observations"]) {
      const sta = await get<unknown>(path, {});
      expect(sta.status, path).toBe(401);
      expect(StaErrorSchema.parse(sta.body).code).toBe(401);
    }
    const wrong = await get<unknown>('/sta/v1.1/Things', { authorization: 'Bearer not-a-key' });
    expect(wrong.status).toBe(401);
  });

  it('with public read on, answers anonymous callers without device owners, the licence and the context both in Link', async () => {
    const openApp = await buildApp({ store: createReadingStore(influx), registry, now: () => NOW, auth: { publicRead: true, adminToken: ADMIN }, research: { limits: LIMITS } });
    try {
      const anonymous = await openApp.inject({ method: 'GET', url: '/ngsi-ld/v1/entities?type=AirQualityObserved' });
      expect(anonymous.statusCode).toBe(200);
      const entities = JSON.parse(anonymous.body) as Entity[];
      expect(entities).toHaveLength(2);
      expect(entities[0]!.dataProvider).toBeUndefined();
      expect(entities[0]!.licence).toBeUndefined();
      const link = String(anonymous.headers.link);
      expect(link).toContain('rel="license"');
      expect(link).toContain('rel="http://www.w3.org/ns/json-ld#context"');
      const withKey = await openApp.inject({ method: 'GET', url: '/ngsi-ld/v1/entities?type=AirQualityObserved', headers: AUTH });
      expect((JSON.parse(withKey.body) as Entity[])[0]!.dataProvider).toEqual({ type: 'Property', value: 'acme' });

      const things = JSON.parse((await openApp.inject({ method: 'GET', url: "/sta/v1.1/Things('air-a')" })).body) as { properties: Record<string, unknown> };
      expect(things.properties.owner).toBeUndefined();
      expect(things.properties.site).toBe('north');
      const thingsWithKey = JSON.parse((await openApp.inject({ method: 'GET', url: "/sta/v1.1/Things('air-a')", headers: AUTH })).body) as { properties: Record<string, unknown> };
      expect(thingsWithKey.properties.owner).toBe('acme');
    } finally {
      await openApp.close();
    }
  });

  // Last: it adds a lab and a device the tests above do not expect.
  it('shows a lab-scoped key only its lab\'s devices, and others\' as missing', async () => {
    const post = async (path: string, body: unknown) => app.inject({ method: 'POST', url: path, headers: { ...AUTH, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
    expect((await post('/api/v1/labs', { id: 'bravo', name: 'Bravo district', area: { south: 55.6, west: 12.4, north: 55.8, east: 12.7 } })).statusCode).toBe(201);
    await registry.create({ id: 'air-bravo', kind: 'air', owner: 'bravo-co', lat: 55.7, lon: 12.5, intervalSeconds: 60, enabled: true, meta: {}, lab: 'bravo' });
    const key = await post('/api/v1/keys', { name: 'bravo reader', role: 'reader', lab: 'bravo' });
    expect(key.statusCode, key.body).toBe(201);
    const bravo = { authorization: `Bearer ${(JSON.parse(key.body) as { token: string }).token}` };

    expect((await get<Entity[]>('/ngsi-ld/v1/entities?type=AirQualityObserved', bravo)).body.map((e) => e.id)).toEqual(['urn:ngsi-ld:AirQualityObserved:air-bravo']);
    expect((await get<unknown>('/ngsi-ld/v1/entities/urn:ngsi-ld:AirQualityObserved:air-a', bravo)).status).toBe(404);
    expect((await get<unknown>('/ngsi-ld/v1/temporal/entities/urn:ngsi-ld:AirQualityObserved:air-a', bravo)).status).toBe(404);
    expect((await get<StaCollection>('/sta/v1.1/Things', bravo)).body.value.map((t) => t['@iot.id'])).toEqual(['air-bravo']);
    expect((await get<unknown>("/sta/v1.1/Datastreams('air-a:pm25')/Observations", bravo)).status).toBe(404);
    const observations = await get<StaCollection>('/sta/v1.1/Observations?$count=true', bravo);
    expect(observations.body['@iot.count']).toBe(0);
    // The platform view (the admin token) sees both labs.
    expect((await get<StaCollection>('/sta/v1.1/Things')).body.value.map((t) => t['@iot.id'])).toContain('air-bravo');
  });

  it('documents both read-outs in the OpenAPI document', async () => {
    const { status, body } = await get<{ paths: Record<string, unknown> }>('/openapi.json');
    expect(status).toBe(200);
    expect(Object.keys(body.paths)).toEqual(expect.arrayContaining(['/ngsi-ld/v1/entities', '/ngsi-ld/v1/entities/{id}', '/ngsi-ld/v1/temporal/entities/{id}', '/sta/v1.1', '/sta/v1.1/{*}']));
  });
});
