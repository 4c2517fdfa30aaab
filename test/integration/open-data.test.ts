/**
 * Open data end to end: the lab's stack with PUBLIC_READ on (real broker, real InfluxDB,
 * real socket.io clients). For every route, what an anonymous caller gets (the open-data
 * view: readings, indices, exports and devices without owners, with the licence) against
 * what a reader key gets (everything, as before), and what stays closed (401).
 */
import { io as connectSocket, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../api/app.ts';
import { ApiConfigSchema } from '../../api/config.ts';
import { licenceFromConfig } from '../../api/open-data.ts';
import { createReadingStore } from '../../api/store.ts';
import { parseConfig } from '../../common/config.ts';
import type { Alert, ClientToServerEvents, LiveReading, Rejection, ServerToClientEvents, SubscribeAck } from '../../contracts/index.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const OWNER = 'Acme Secret Sensors';
const BIN_OWNER = 'Bins Hidden ApS';
const META_VALUE = 'fw-secret-1.2';
const EXCERPT = '{"pm25":"high-secret"}';
const CC_BY = { id: 'CC-BY-4.0', url: 'https://creativecommons.org/licenses/by/4.0/', attribution: 'StreetLab test bed' };
const HOUR = 3_600_000;

let stack: Stack;
let readerToken: string;
const sockets: LiveSocket[] = [];
const apps: FastifyInstance[] = [];

beforeAll(async () => {
  stack = await startStack({ deviceRateLimit: false });
  expect(stack.lab.publicRead).toBe(true);
  await stack.lab.registry.create({ id: 'air-open-1', kind: 'air', owner: OWNER, lat: 55.69, lon: 12.55, site: 'Nørrebrogade', intervalSeconds: 60, enabled: true, meta: { firmware: META_VALUE } });
  await stack.lab.registry.create({ id: 'bin-open-1', kind: 'waste', owner: BIN_OWNER, lat: 55.68, lon: 12.56, site: 'Nørrebrogade', intervalSeconds: 600, enabled: true, meta: { vendor: META_VALUE } });
  readerToken = (await stack.registry.createApiKey({ name: 'open data test reader', role: 'reader' })).token;
  const now = Date.now();
  for (let i = 0; i < 5; i += 1) await stack.publish('air', 'air-open-1', { ts: now - (5 - i) * 60_000, pm25: 10 + i, no2: 30 });
  // Filling, emptied at hour 4, confirmed by the hours after: one collection.
  const fills = [50, 60, 70, 80, 5, 8, 11, 14];
  for (const [h, fill] of fills.entries()) await stack.publish('waste', 'bin-open-1', { ts: now - (fills.length - h) * HOUR, fill });
  await stack.flush();
});

afterAll(async () => {
  sockets.forEach((s) => s.disconnect());
  await Promise.all(apps.map((a) => a.close()));
  await stack?.close();
});

interface Answer {
  status: number;
  text: string;
  headers: Headers;
  json<T = Record<string, unknown>>(): T;
}

async function get(path: string, token?: string): Promise<Answer> {
  const response = await fetch(`${stack.apiUrl}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const text = await response.text();
  return { status: response.status, text, headers: response.headers, json: <T>() => JSON.parse(text) as T };
}

function expectLicenceHeaders(answer: Answer, path: string): void {
  expect(answer.headers.get('link'), path).toBe(`<${CC_BY.url}>; rel="license"`);
  expect(answer.headers.get('x-data-attribution'), path).toBe(CC_BY.attribution);
}

const OPEN_JSON_ROUTES = [
  '/api/v1/readings?from=-2h',
  '/api/v1/readings?kind=air&every=5m&from=-2h',
  '/api/v1/latest?perMetric=true',
  '/api/v1/aqi?device=air-open-1',
  '/api/v1/aqi/who?device=air-open-1',
  '/api/v1/waste/collections?from=-1d',
  '/api/v1/waste/forecast',
  '/api/v1/waste/kpi?from=-1d',
  '/api/v1/devices',
  '/api/v1/devices/bin-open-1',
];

describe('open-data routes, anonymous and with a reader key', () => {
  it.each(OPEN_JSON_ROUTES.map((path) => [path]))('%s: anonymous gets it without owners or metadata and with the licence; a reader gets everything', async (path: string) => {
    const anonymous = await get(path);
    expect(anonymous.status, anonymous.text).toBe(200);
    expectLicenceHeaders(anonymous, path);
    expect(anonymous.json().licence).toEqual(CC_BY);
    for (const withheld of [OWNER, BIN_OWNER, META_VALUE, '"owner"', '"createdAt"']) expect(anonymous.text, `${path}: ${withheld}`).not.toContain(withheld);

    const reader = await get(path, readerToken);
    expect(reader.status, reader.text).toBe(200);
    expectLicenceHeaders(reader, path);
    expect(reader.json().licence).toBeUndefined();
    // Nothing in the open-data view that the reader's answer lacks, apart from the licence.
    expect(Object.keys(reader.json())).toEqual(expect.arrayContaining(Object.keys(anonymous.json()).filter((k) => k !== 'licence')));
  });

  it('a reader sees the owners the open-data view withholds (so the checks above can fail)', async () => {
    expect((await get('/api/v1/readings?kind=air&from=-2h', readerToken)).text).toContain(OWNER);
    expect((await get('/api/v1/waste/collections?from=-1d', readerToken)).text).toContain(BIN_OWNER);
    const device = (await get('/api/v1/devices/air-open-1', readerToken)).json();
    expect(device).toMatchObject({ owner: OWNER, meta: { firmware: META_VALUE } });
    expect(device.createdAt).toEqual(expect.any(String));
  });

  it('devices: anonymous callers get id, kind, name, location, site, interval and status only', async () => {
    const { devices } = (await get('/api/v1/devices')).json<{ devices: Record<string, unknown>[] }>();
    const air = devices.find((d) => d.id === 'air-open-1');
    expect(air).toEqual({ id: 'air-open-1', kind: 'air', name: 'air-open-1', lat: 55.69, lon: 12.55, site: 'Nørrebrogade', intervalSeconds: 60, enabled: true, ...(air?.lab ? { lab: air.lab } : {}) });
    const one = (await get('/api/v1/devices/bin-open-1')).json();
    expect(Object.keys(one).sort()).toEqual(expect.arrayContaining(['enabled', 'id', 'intervalSeconds', 'kind', 'lat', 'licence', 'lon', 'name', 'site']));
    expect(one).not.toHaveProperty('owner');
    expect(one).not.toHaveProperty('createdAt');
  });

  it('raw readings in JSON carry the site but not the owner; the readings themselves are all there', async () => {
    const anonymous = (await get('/api/v1/readings?kind=air&device=air-open-1&from=-2h')).json<{ readings: Record<string, unknown>[] }>();
    const reader = (await get('/api/v1/readings?kind=air&device=air-open-1&from=-2h', readerToken)).json<{ readings: (LiveReading & { owner?: string })[] }>();
    expect(anonymous.readings).toHaveLength(5);
    expect(reader.readings.map((r) => r.owner)).toEqual(Array(5).fill(OWNER));
    expect(anonymous.readings).toEqual(reader.readings.map(({ owner: _owner, ...rest }) => rest));
  });

  it('CSV and NDJSON exports: no owner column or key anonymously, the licence in the headers', async () => {
    const csv = await get('/api/v1/readings?kind=air&device=air-open-1&from=-2h&format=csv');
    expect(csv.status).toBe(200);
    expectLicenceHeaders(csv, 'csv');
    const [header, ...rows] = csv.text.trim().split('\r\n');
    expect(header!.split(',').slice(0, 3)).toEqual(['time', 'device', 'site']);
    expect(header).not.toContain('owner');
    expect(rows).toHaveLength(5);
    expect(rows.every((row) => row.split(',').length === header!.split(',').length)).toBe(true);
    expect(csv.text).not.toContain(OWNER);
    const readerCsv = await get('/api/v1/readings?kind=air&device=air-open-1&from=-2h&format=csv', readerToken);
    expect(readerCsv.text.split('\r\n')[0]!.split(',').slice(0, 4)).toEqual(['time', 'device', 'site', 'owner']);
    expect(readerCsv.text).toContain(OWNER);

    const ndjson = await get('/api/v1/readings?kind=air&device=air-open-1&from=-2h&format=ndjson');
    expectLicenceHeaders(ndjson, 'ndjson');
    const lines = ndjson.text.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toHaveLength(5);
    expect(lines.every((line) => line.site === 'Nørrebrogade' && !('owner' in line))).toBe(true);

    for (const path of ['/api/v1/waste/collections?from=-1d&format=csv', '/api/v1/waste/forecast?format=csv']) {
      const anonymous = await get(path);
      expect(anonymous.status).toBe(200);
      expectLicenceHeaders(anonymous, path);
      expect(anonymous.text.split('\r\n')[0], path).not.toContain('owner');
      expect(anonymous.text, path).not.toContain(BIN_OWNER);
      expect(anonymous.text, path).toContain('bin-open-1');
      const reader = await get(path, readerToken);
      expect(reader.text.split('\r\n')[0], path).toContain('owner');
      expect(reader.text, path).toContain(BIN_OWNER);
    }
  });

  it('refuses filtering or grouping by owner anonymously with 400 naming the parameter, and allows it with a key', async () => {
    for (const path of [
      `/api/v1/readings?owner=${encodeURIComponent(OWNER)}`,
      `/api/v1/readings?kind=air&owner=${encodeURIComponent(OWNER)}&format=csv`,
      `/api/v1/waste/collections?owner=${encodeURIComponent(BIN_OWNER)}`,
      `/api/v1/waste/forecast?owner=${encodeURIComponent(BIN_OWNER)}`,
      `/api/v1/waste/kpi?owner=${encodeURIComponent(BIN_OWNER)}`,
      '/api/v1/waste/kpi?by=owner',
    ]) {
      const anonymous = await get(path);
      expect(anonymous.status, path).toBe(400);
      expect(anonymous.json(), path).toMatchObject({ error: 'BAD_REQUEST', statusCode: 400 });
      expect(anonymous.json<{ message: string }>().message, path).toMatch(/^(owner|by=owner): device owners are not open data/);
      expect(anonymous.headers.get('link'), path).toBeNull();
      expect((await get(path, readerToken)).status, path).toBe(200);
    }
    const byOwner = (await get('/api/v1/waste/kpi?by=owner&from=-1d', readerToken)).json<{ groups: { group: string }[] }>();
    expect(byOwner.groups.map((g) => g.group)).toContain(BIN_OWNER);
  });
});

describe('what is not open data', () => {
  it('answers 401 anonymously on rejections, alerts, alert rules, jobs, trials and keys; a reader reads what its role allows', async () => {
    for (const [path, readerStatus] of [
      ['/api/v1/rejections', 200],
      ['/api/v1/alerts', 200],
      ['/api/v1/jobs', 200],
      ['/api/v1/alert-rules', 403],
      ['/api/v1/keys', 403],
      ['/api/v1/trials', 403],
      ['/api/v1/trials/some-trial', 403],
      ['/api/v1/trials/some-trial/report', 403],
    ] as const) {
      const anonymous = await get(path);
      expect(anonymous.status, path).toBe(401);
      expect(anonymous.json(), path).toMatchObject({ error: 'UNAUTHORIZED', statusCode: 401 });
      expect(anonymous.headers.get('www-authenticate'), path).toContain('Bearer');
      expect(anonymous.headers.get('link'), path).toBeNull();
      expect((await get(path, readerToken)).status, path).toBe(readerStatus);
    }
    expect((await get('/api/v1/rejections')).json<{ message: string }>().message).toContain('not open data');
  });

  it('rejections with their excerpts reach a reader only', async () => {
    await stack.publish('air', 'air-open-1', EXCERPT);
    await stack.flush();
    const rejections = await eventually(async () => {
      const { rejections: list } = (await get('/api/v1/rejections?device=air-open-1', readerToken)).json<{ rejections: Rejection[] }>();
      return list.length > 0 ? list : undefined;
    }, 10_000, 'the stored rejection');
    expect(rejections[0]!.excerpt).toBe(EXCERPT);
    expect((await get('/api/v1/rejections?device=air-open-1')).status).toBe(401);
  });
});

describe('the licence', () => {
  it('is described at GET /api/v1/licence, public', async () => {
    const answer = await get('/api/v1/licence');
    expect(answer.status).toBe(200);
    expectLicenceHeaders(answer, '/api/v1/licence');
    const body = answer.json<{ licence: unknown; published: string[]; withheld: string[]; publicRead: boolean }>();
    expect(body.licence).toEqual(CC_BY);
    expect(body.publicRead).toBe(true);
    expect(body.withheld.join(' ')).toContain('owners');
    expect(body.published.join(' ')).toContain('readings');
  });

  it('follows DATA_LICENCE and DATA_ATTRIBUTION, non-ASCII attribution percent-encoded in the header', async () => {
    const config = parseConfig(ApiConfigSchema, { DATA_LICENCE: 'ODbL-1.0', DATA_ATTRIBUTION: 'Københavns Kommune – StreetLab' });
    const licence = licenceFromConfig(config);
    expect(licence).toEqual({ id: 'ODbL-1.0', url: 'https://opendatacommons.org/licenses/odbl/1-0/', attribution: 'Københavns Kommune – StreetLab' });
    const app = await buildApp({ store: createReadingStore(stack.influx), registry: stack.registry, auth: { publicRead: true }, licence });
    apps.push(app);
    const latest = await app.inject({ method: 'GET', url: '/api/v1/latest' });
    expect(latest.statusCode).toBe(200);
    expect(latest.json().licence).toEqual(licence);
    expect(latest.headers.link).toBe('<https://opendatacommons.org/licenses/odbl/1-0/>; rel="license"');
    expect(decodeURIComponent(String(latest.headers['x-data-attribution']))).toBe(licence.attribution);
    const described = await app.inject({ method: 'GET', url: '/api/v1/licence' });
    expect(described.json().licence).toEqual(licence);
  });

  it('takes another licence as "<id> <URL>", and refuses a bad one naming the variable', () => {
    const custom = parseConfig(ApiConfigSchema, { DATA_LICENCE: 'NLOD-2.0 https://data.norge.no/nlod/en/2.0' });
    expect(licenceFromConfig(custom)).toEqual({ id: 'NLOD-2.0', url: 'https://data.norge.no/nlod/en/2.0', attribution: 'StreetLab test bed' });
    expect(() => parseConfig(ApiConfigSchema, { DATA_LICENCE: 'all rights reserved' })).toThrow(/DATA_LICENCE: one of CC-BY-4.0/);
    expect(() => parseConfig(ApiConfigSchema, { DATA_ATTRIBUTION: 'two\nlines' })).toThrow(/DATA_ATTRIBUTION/);
  });
});

describe('the live feed', () => {
  async function open(auth: { token?: string; batch?: boolean }): Promise<{ readings: LiveReading[]; rejections: Rejection[]; alerts: Alert[]; raw: unknown[] }> {
    const socket: LiveSocket = connectSocket(stack.apiUrl, { transports: ['websocket'], reconnection: false, auth });
    sockets.push(socket);
    const seen = { readings: [] as LiveReading[], rejections: [] as Rejection[], alerts: [] as Alert[], raw: [] as unknown[] };
    socket.onAny((_event, ...args: unknown[]) => seen.raw.push(...args));
    socket.on('reading', (r) => seen.readings.push(r));
    socket.on('readings', (rs) => seen.readings.push(...rs));
    socket.on('rejected', (r) => seen.rejections.push(r));
    socket.on('rejections', (rs) => seen.rejections.push(...rs));
    socket.on('alert', (a) => seen.alerts.push(a));
    const ack = await new Promise<SubscribeAck>((resolve, reject) => {
      socket.once('connect_error', reject);
      socket.once('connect', () => socket.emit('subscribe', {}, resolve));
    });
    expect(ack.ok).toBe(true);
    return seen;
  }

  it('gives anonymous clients readings only: no rejections, no excerpts, no alerts; a reader gets all of it', async () => {
    const reader = await open({ token: readerToken });
    const readerBatching = await open({ token: readerToken, batch: true });
    const anonymous = await open({});
    const anonymousBatching = await open({ batch: true });

    await stack.publish('air', 'air-open-1', EXCERPT);
    await eventually(() => (reader.rejections.some((r) => r.excerpt === EXCERPT) && readerBatching.rejections.length > 0 ? true : undefined), 10_000, 'the rejection at the reader');
    // The lab's bin-full rule (fill ≥ 80 %) opens an alert.
    await stack.publish('waste', 'bin-open-1', { fill: 96 });
    await eventually(() => (reader.alerts.some((a) => a.deviceId === 'bin-open-1') && readerBatching.alerts.length > 0 ? true : undefined), 10_000, 'the alert at the reader');
    // Published after both reached the reader: once it reaches the anonymous clients, whatever was
    // emitted to them before it has arrived too (one connection, in order).
    await stack.publish('air', 'air-open-1', { seq: 424242, pm25: 3 });
    for (const client of [anonymous, anonymousBatching, reader]) {
      await eventually(() => (client.readings.some((r) => r.seq === 424242) ? true : undefined), 10_000, 'the marker reading');
    }
    for (const client of [anonymous, anonymousBatching]) {
      expect(client.readings.some((r) => r.deviceId === 'bin-open-1' && r.values.fill === 96)).toBe(true);
      expect(client.rejections).toEqual([]);
      expect(client.alerts).toEqual([]);
      const everything = JSON.stringify(client.raw);
      for (const withheld of [EXCERPT, 'high-secret', OWNER, BIN_OWNER, META_VALUE]) expect(everything).not.toContain(withheld);
    }
  });
});
