/**
 * Several labs on one platform, against the real pipeline (broker, ingest, InfluxDB, API) and
 * real socket.io clients: a second lab is one API call; keys scoped to a lab see nothing of
 * another lab by any route or the live feed (404 or absent, as for a missing resource); a
 * scoped admin registers only into its lab and creates no labs; the platform admin picks a
 * lab with `?lab=`; the default lab exists from the first boot; device ids stay unique.
 */
import { io as connectSocket, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiKeyWithToken, ClientToServerEvents, DeviceWithSecret, ErrorResponse, Lab, LiveReading, ServerToClientEvents, SubscribeAck } from '../../contracts/index.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Ids that appear nowhere else, so finding one in a response is a leak and nothing else. */
const A_DEVICE = 'alpha-only-air-1';
const A_BIN = 'alpha-only-bin-1';
const B_DEVICE = 'bravo-air-1';
const B_BIN = 'bravo-bin-1';
const A_TRIAL = 'alpha-only-trial';
const A_RULE = 'alpha-only-rule';
const A_SITE = 'Alpha-only street';

let stack: Stack;
let bAdmin: string;
let bReader: string;
let aAdmin: string;
let aAdminKeyId: string;
let platformKey: string;
const sockets: LiveSocket[] = [];

async function call<T = ErrorResponse>(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: T; text: string }> {
  const response = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, body: parsed as T, text };
}

async function createKey(token: string, body: Record<string, unknown>): Promise<ApiKeyWithToken> {
  const created = await call<ApiKeyWithToken>('POST', '/api/v1/keys', token, body);
  expect(created.status, created.text).toBe(201);
  return created.body;
}

const device = (id: string, kind: string, extra: Record<string, unknown> = {}) => ({ id, kind, owner: 'acme', lat: 55.68, lon: 12.57, ...extra });

function live(auth: Record<string, unknown>): LiveSocket {
  const socket: LiveSocket = connectSocket(stack.apiUrl, { transports: ['websocket'], reconnection: false, auth });
  sockets.push(socket);
  return socket;
}

/**
 * Every GET route the app registered (fastify's route tree, `printRoutes({ commonPrefix: false })`),
 * the dashboard's static files left out: a route added later is walked without anyone listing it.
 */
function registeredGetRoutes(tree: string): string[] {
  const parents: string[] = [];
  const routes: string[] = [];
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4;
    const parent = parents[depth - 1] ?? '';
    const segment = match[2]!;
    const path = parent === '/' ? `/${segment}` : segment === '*' && !parent.endsWith('/') ? `${parent}/*` : `${parent}${segment}`;
    parents[depth] = path;
    parents.length = depth + 1;
    if (!match[3]?.split(', ').includes('GET') || /^\/(assets\/|index\.html|docs|openapi\.json|healthz|readyz|metrics)/.test(path)) continue;
    // A catch-all (SensorThings' entity sets): walk the collections a client would ask for.
    if (path.endsWith('/*')) routes.push(...['Things', 'Locations', 'Datastreams', 'Observations', 'Sensors'].map((set) => path.replace(/\*$/, set)));
    else routes.push(path);
  }
  return routes;
}

async function subscribed(socket: LiveSocket): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    socket.once('connect_error', reject);
    socket.once('connect', () => resolve());
  });
  const ack = await new Promise<SubscribeAck>((resolve) => socket.emit('subscribe', {}, resolve));
  expect(ack.ok).toBe(true);
}

beforeAll(async () => {
  stack = await startStack({ security: 'secured', publicRead: false });
  const lab = await call<Lab>('POST', '/api/v1/labs', stack.adminToken, { id: 'bravo', name: 'Bravo district', area: { south: 55.68, west: 12.5, north: 55.7, east: 12.6 } });
  expect(lab.status, lab.text).toBe(201);
  bAdmin = (await createKey(stack.adminToken, { name: 'bravo admin', role: 'admin', lab: 'bravo' })).token;
  bReader = (await createKey(bAdmin, { name: 'bravo reader' })).token;
  const aKey = await createKey(stack.adminToken, { name: 'main admin', role: 'admin' });
  aAdmin = aKey.token;
  aAdminKeyId = aKey.key.id;
  platformKey = (await createKey(stack.adminToken, { name: 'platform reader', lab: '*' })).token;

  for (const [token, body] of [
    [aAdmin, device(A_DEVICE, 'air', { site: A_SITE })],
    [aAdmin, device(A_BIN, 'waste', { site: A_SITE })],
    [bAdmin, device(B_DEVICE, 'air', { site: 'Bravo street' })],
    [bAdmin, device(B_BIN, 'waste', { site: 'Bravo street' })],
  ] as const) {
    const created = await call<DeviceWithSecret>('POST', '/api/v1/devices', token, body);
    expect(created.status, created.text).toBe(201);
  }
  const base = Date.now() - 10 * 60_000;
  for (let i = 0; i < 3; i++) {
    const ts = base + i * 60_000;
    await stack.publish('air', A_DEVICE, { ts, pm25: 10 + i, no2: 20 });
    await stack.publish('air', B_DEVICE, { ts, pm25: 30 + i, no2: 40 });
    await stack.publish('waste', A_BIN, { ts, fill: 20 + i * 30 });
    await stack.publish('waste', B_BIN, { ts, fill: 10 + i * 30 });
  }
  await stack.publish('air', A_DEVICE, { pm25: 'high' });
  await stack.publish('air', B_DEVICE, { pm25: 'low' });
  await stack.flush();

  const trial = await call('POST', '/api/v1/trials', aAdmin, {
    id: A_TRIAL,
    name: 'alpha trial',
    owner: 'acme',
    deviceIds: [A_DEVICE],
    start: new Date(base - 60_000).toISOString(),
    goals: { intervalSeconds: 60 },
  });
  expect(trial.status, trial.text).toBe(201);
  const rule = await call('POST', '/api/v1/alert-rules', aAdmin, { id: A_RULE, name: 'alpha bins', type: 'threshold', kind: 'waste', metric: 'fill', op: '>=', value: 50 });
  expect(rule.status, rule.text).toBe(201);
}, 120_000);

afterAll(async () => {
  sockets.forEach((s) => s.disconnect());
  await stack?.close();
});

describe('labs', () => {
  it('starts with the default lab on first boot and lists labs by scope', async () => {
    const all = await call<{ labs: Lab[]; defaultLab: string }>('GET', '/api/v1/labs', stack.adminToken);
    expect(all.status).toBe(200);
    expect(all.body.defaultLab).toBe('main');
    expect(all.body.labs.map((l) => l.id)).toEqual(['bravo', 'main']);
    const own = await call<{ labs: Lab[] }>('GET', '/api/v1/labs', bReader);
    expect(own.body.labs.map((l) => l.id)).toEqual(['bravo']);
    expect((await call('GET', '/api/v1/labs/main', bReader)).status).toBe(404);
    expect((await call<Lab>('GET', '/api/v1/labs/bravo', bReader)).body.area.north).toBe(55.7);
  });

  it('lets only the platform admin create labs, with clear errors', async () => {
    const scoped = await call('POST', '/api/v1/labs', bAdmin, { id: 'charlie', name: 'C', area: { south: 1, west: 1, north: 2, east: 2 } });
    expect(scoped.status).toBe(403);
    expect(scoped.body.message).toContain('platform admin');
    expect((await call('POST', '/api/v1/labs', aAdmin, { id: 'charlie', name: 'C', area: { south: 1, west: 1, north: 2, east: 2 } })).status).toBe(403);
    const taken = await call('POST', '/api/v1/labs', stack.adminToken, { id: 'bravo', name: 'again', area: { south: 1, west: 1, north: 2, east: 2 } });
    expect(taken.status).toBe(409);
    const badArea = await call('POST', '/api/v1/labs', stack.adminToken, { id: 'delta', name: 'D', area: { south: 3, west: 1, north: 2, east: 2 } });
    expect(badArea.status).toBe(400);
    expect(badArea.body.message).toContain('north');
    const badId = await call('POST', '/api/v1/labs', stack.adminToken, { id: 'Delta Lab', name: 'D', area: { south: 1, west: 1, north: 2, east: 2 } });
    expect(badId.status).toBe(400);
    expect(badId.body.message).toContain('id');
    expect((await call<{ labs: Lab[] }>('GET', '/api/v1/labs', stack.adminToken)).body.labs.map((l) => l.id)).toEqual(['bravo', 'main']);
  });

  it('registers a scoped admin\'s devices into its own lab only; ids stay unique across labs', async () => {
    expect((await call<{ lab: string }>('GET', `/api/v1/devices/${B_DEVICE}`, stack.adminToken)).body.lab).toBe('bravo');
    expect((await call<{ lab: string }>('GET', `/api/v1/devices/${A_DEVICE}`, stack.adminToken)).body.lab).toBe('main');
    const foreign = await call('POST', '/api/v1/devices', bAdmin, device('bravo-into-main', 'air', { lab: 'main' }));
    expect(foreign.status).toBe(403);
    expect(foreign.body.message).toContain('lab');
    expect((await call('GET', '/api/v1/devices/bravo-into-main', stack.adminToken)).status).toBe(404);
    const taken = await call('POST', '/api/v1/devices', bAdmin, device(A_DEVICE, 'air'));
    expect(taken.status).toBe(409);
    const unknownLab = await call('POST', '/api/v1/devices', stack.adminToken, device('nowhere-1', 'air', { lab: 'nowhere' }));
    expect(unknownLab.status).toBe(400);
    expect(unknownLab.body.message).toContain('nowhere');
    // The platform admin may register into any lab.
    const placed = await call<DeviceWithSecret>('POST', '/api/v1/devices', stack.adminToken, device('bravo-air-2', 'air', { lab: 'bravo' }));
    expect(placed.status).toBe(201);
    expect(placed.body.device.lab).toBe('bravo');
    expect((await call('GET', '/api/v1/devices/bravo-air-2', bReader)).status).toBe(200);
  });

  it('gives a lab\'s keys only their lab\'s devices, readings, exports and analytics', async () => {
    const devices = await call<{ devices: { id: string }[] }>('GET', '/api/v1/devices', bReader);
    expect(devices.body.devices.map((d) => d.id)).toEqual(expect.arrayContaining([B_DEVICE, B_BIN]));
    expect(devices.text).not.toContain('alpha-only');
    expect((await call('GET', `/api/v1/devices/${A_DEVICE}`, bReader)).status).toBe(404);

    const readings = await call<{ readings: { deviceId: string }[] }>('GET', '/api/v1/readings?kind=air&from=-1h', bReader);
    expect(readings.status).toBe(200);
    expect(new Set(readings.body.readings.map((r) => r.deviceId))).toEqual(new Set([B_DEVICE]));
    const asked = await call<{ readings: unknown[] }>('GET', `/api/v1/readings?kind=air&device=${A_DEVICE}&from=-1h`, bReader);
    expect(asked.status).toBe(200);
    expect(asked.body.readings).toEqual([]);
    const bySite = await call<{ readings: unknown[] }>('GET', `/api/v1/readings?kind=air&site=${encodeURIComponent(A_SITE)}&from=-1h`, bReader);
    expect(bySite.body.readings).toEqual([]);
    const windows = await call('GET', '/api/v1/readings?kind=air&every=5m&from=-1h', bReader);
    expect(windows.status).toBe(200);
    expect(windows.text).toContain(B_DEVICE);
    expect(windows.text).not.toContain('alpha-only');
    for (const format of ['csv', 'ndjson']) {
      const exported = await call('GET', `/api/v1/readings?kind=air&from=-1h&format=${format}`, bReader);
      expect(exported.status).toBe(200);
      expect(exported.text).toContain(B_DEVICE);
      expect(exported.text).not.toContain('alpha-only');
    }
    const latest = await call('GET', '/api/v1/latest?perMetric=true', bReader);
    expect(latest.text).toContain(B_DEVICE);
    expect(latest.text).not.toContain('alpha-only');
    const rejections = await call<{ rejections: { deviceId?: string }[] }>('GET', '/api/v1/rejections', bReader);
    expect(rejections.body.rejections.map((r) => r.deviceId)).toContain(B_DEVICE);
    expect(rejections.text).not.toContain('alpha-only');
    const aqi = await call<{ status: string }>('GET', `/api/v1/aqi?device=${A_DEVICE}`, bReader);
    const aqiAsPlatform = await call<{ hours?: unknown }>('GET', `/api/v1/aqi?device=${A_DEVICE}`, stack.adminToken);
    expect(aqi.status).toBe(200);
    // The foreign device answers like one with no data at all.
    expect(aqi.body).toMatchObject({ status: 'insufficient_data' });
    expect(JSON.stringify(aqi.body)).not.toEqual(JSON.stringify(aqiAsPlatform.body));
    const who = await call('GET', '/api/v1/aqi/who?from=-2d', bReader);
    expect(who.text).not.toContain('alpha-only');
    const collections = await call('GET', '/api/v1/waste/forecast', bReader);
    expect(collections.status).toBe(200);
    expect(collections.text).toContain(B_BIN);
    expect(collections.text).not.toContain('alpha-only');
  });

  it('lets a lab\'s admin neither see nor change another lab\'s devices, keys, trials and rules', async () => {
    for (const [method, path, body] of [
      ['PATCH', `/api/v1/devices/${A_DEVICE}`, { name: 'taken over' }],
      ['DELETE', `/api/v1/devices/${A_DEVICE}`, undefined],
      ['POST', `/api/v1/devices/${A_DEVICE}/secret`, undefined],
      ['DELETE', `/api/v1/keys/${aAdminKeyId}`, undefined],
      ['GET', `/api/v1/trials/${A_TRIAL}`, undefined],
      ['GET', `/api/v1/trials/${A_TRIAL}/report`, undefined],
      ['PATCH', `/api/v1/trials/${A_TRIAL}`, { name: 'taken over' }],
      ['POST', `/api/v1/trials/${A_TRIAL}/close`, undefined],
      ['GET', `/api/v1/alert-rules/${A_RULE}`, undefined],
      ['PATCH', `/api/v1/alert-rules/${A_RULE}`, { name: 'taken over' }],
      ['DELETE', `/api/v1/alert-rules/${A_RULE}`, undefined],
    ] as const) {
      const answer = await call(method, path, bAdmin, body);
      expect(answer.status, `${method} ${path}: ${answer.text}`).toBe(404);
    }
    // Nothing changed.
    expect((await call<{ name: string; enabled: boolean }>('GET', `/api/v1/devices/${A_DEVICE}`, stack.adminToken)).body.name).toBe(A_DEVICE);
    expect((await call<{ status: string; name: string }>('GET', `/api/v1/trials/${A_TRIAL}`, stack.adminToken)).body).toMatchObject({ status: 'open', name: 'alpha trial' });
    expect((await call<{ name: string }>('GET', `/api/v1/alert-rules/${A_RULE}`, stack.adminToken)).body.name).toBe('alpha bins');
    expect((await call('GET', '/api/v1/devices', aAdmin)).status).toBe(200);

    const keys = await call<{ keys: { id: string; lab?: string }[] }>('GET', '/api/v1/keys', bAdmin);
    expect(keys.body.keys.length).toBeGreaterThan(0);
    expect(keys.body.keys.every((k) => k.lab === 'bravo')).toBe(true);
    const trials = await call<{ trials: unknown[] }>('GET', '/api/v1/trials', bAdmin);
    expect(trials.body.trials).toEqual([]);
    const rules = await call<{ rules: { id: string }[] }>('GET', '/api/v1/alert-rules', bAdmin);
    expect(rules.text).not.toContain(A_RULE);
    expect(rules.body.rules.every((r) => !r.id.startsWith('alpha'))).toBe(true);

    // A scoped admin's keys are its lab's; a platform key it cannot make.
    expect((await createKey(bAdmin, { name: 'another', role: 'reader' })).key.lab).toBe('bravo');
    expect((await call('POST', '/api/v1/keys', bAdmin, { name: 'escape', lab: '*' })).status).toBe(403);
    expect((await call('POST', '/api/v1/keys', bAdmin, { name: 'escape', lab: 'main' })).status).toBe(403);
    // A lab's trial tests the lab's devices.
    const foreignTrial = await call('POST', '/api/v1/trials', bAdmin, { name: 'x', owner: 'acme', deviceIds: [A_DEVICE], start: new Date().toISOString(), goals: { intervalSeconds: 60 } });
    expect(foreignTrial.status).toBe(400);
    expect(foreignTrial.body.message).toContain(A_DEVICE);
  });

  it('lets unscoped callers pick a lab with ?lab=, and refuses a scoped key picking another', async () => {
    const picked = await call<{ devices: { id: string }[] }>('GET', '/api/v1/devices?lab=bravo', stack.adminToken);
    expect(picked.body.devices.map((d) => d.id)).toContain(B_DEVICE);
    expect(picked.text).not.toContain('alpha-only');
    const everything = await call('GET', '/api/v1/devices', platformKey);
    expect(everything.text).toContain(A_DEVICE);
    expect(everything.text).toContain(B_DEVICE);
    const readings = await call('GET', '/api/v1/readings?kind=air&from=-1h&lab=main', platformKey);
    expect(readings.text).toContain(A_DEVICE);
    expect(readings.text).not.toContain(B_DEVICE);
    expect((await call('GET', '/api/v1/devices?lab=main', bReader)).status).toBe(404);
    expect((await call('GET', '/api/v1/devices?lab=bravo', bReader)).status).toBe(200);
    const missing = await call('GET', '/api/v1/devices?lab=nowhere', stack.adminToken);
    expect(missing.status).toBe(404);
    expect(missing.body.message).toContain('nowhere');
    expect((await call('GET', '/api/v1/devices?lab=a&lab=b', stack.adminToken)).status).toBe(400);
  });

  it('leaks nothing of another lab on any registered route', async () => {
    const routes = registeredGetRoutes(stack.lab.api.app.printRoutes({ commonPrefix: false }));
    const fill = (path: string) =>
      path
        .replace(':id', path.startsWith('/api/v1/trials') ? A_TRIAL : path.startsWith('/api/v1/alert-rules') ? A_RULE : path.startsWith('/api/v1/keys') ? aAdminKeyId : A_DEVICE)
        .replace(':lab', 'main')
        .replace(/:[A-Za-z]+/g, A_DEVICE);
    let walked = 0;
    for (const path of routes) {
      // Ask for everything the route can give: every kind and A's ids, sites and devices.
      for (const query of ['', `?device=${A_DEVICE}&kind=air&from=-1h`, `?site=${encodeURIComponent(A_SITE)}&kind=waste&from=-2d`]) {
        for (const token of [bReader, bAdmin]) {
          const url = `${fill(path)}${query}`;
          const answer = await call('GET', url, token);
          expect(answer.status, `GET ${url}`).toBeLessThan(500);
          // An answer may echo what was asked ("no device X"), nothing else of the other lab.
          const asked = [A_DEVICE, A_TRIAL, A_RULE, A_SITE, aAdminKeyId].filter((value) => decodeURIComponent(url).includes(value));
          const rest = asked.reduce((text, value) => text.split(value).join(''), answer.text);
          expect(rest.toLowerCase(), `GET ${url}`).not.toContain('alpha-only');
          expect(rest, `GET ${url}`).not.toContain(aAdminKeyId);
          walked += 1;
        }
      }
    }
    // The walk covered the data routes, not an empty list.
    expect(routes).toEqual(expect.arrayContaining(['/api/v1/readings', '/api/v1/devices/:id', '/api/v1/trials/:id/report', '/api/v1/alerts', '/api/v1/keys']));
    expect(walked).toBeGreaterThan(100);
    // The walk would notice a leak: the platform admin sees the same ids.
    expect((await call('GET', `/api/v1/readings?device=${A_DEVICE}&kind=air&from=-1h`, stack.adminToken)).text).toContain('alpha-only');
  }, 120_000);

  it('delivers only a lab\'s readings, rejections and device events on its live feed', async () => {
    const scoped = live({ token: bReader });
    const picked = live({ token: stack.adminToken, lab: 'bravo' });
    const platform = live({ token: stack.adminToken });
    await Promise.all([scoped, picked, platform].map(subscribed));
    const seen = new Map<LiveSocket, string[]>();
    for (const socket of [scoped, picked, platform]) {
      const ids: string[] = [];
      seen.set(socket, ids);
      socket.on('reading', (r: LiveReading) => ids.push(r.deviceId));
      socket.on('rejected', (r) => ids.push(`rejected:${r.deviceId}`));
      socket.on('device', (d) => ids.push(`device:${d.deviceId}`));
      socket.on('alert', (a) => ids.push(`alert:${a.deviceId}`));
    }
    // Another lab's traffic first, then this lab's: when this lab's arrives, the other's would have.
    await stack.publish('air', A_DEVICE, { pm25: 5 });
    await stack.publish('air', A_DEVICE, { pm25: 'broken' });
    await stack.publish('waste', A_BIN, { fill: 95 });
    expect((await call('POST', '/api/v1/devices', aAdmin, device('alpha-only-air-9', 'air'))).status).toBe(201);
    await eventually(() => (seen.get(platform)!.includes('device:alpha-only-air-9') && seen.get(platform)!.includes(A_DEVICE) ? true : undefined), 10_000, 'the platform socket sees lab main');
    await stack.publish('air', B_DEVICE, { pm25: 7 });
    await stack.publish('air', B_DEVICE, { pm25: 'broken' });
    expect((await call('POST', '/api/v1/devices', bAdmin, device('bravo-air-9', 'air'))).status).toBe(201);
    for (const socket of [scoped, picked]) {
      await eventually(() => {
        const ids = seen.get(socket)!;
        return ids.includes(B_DEVICE) && ids.includes(`rejected:${B_DEVICE}`) && ids.includes('device:bravo-air-9') ? true : undefined;
      }, 10_000, 'a bravo socket sees bravo');
      expect(seen.get(socket)!.join(' ')).not.toContain('alpha-only');
    }
    expect(seen.get(platform)!.join(' ')).toContain(`rejected:${A_DEVICE}`);
    // The bin over lab main's rule raised an alert: main's to see, not bravo's.
    await eventually(() => (seen.get(platform)!.includes(`alert:${A_BIN}`) ? true : undefined), 10_000, 'the alert of lab main');
    expect(seen.get(scoped)!.join(' ')).not.toContain('alpha-only');
    expect((await call('GET', '/api/v1/alerts', stack.adminToken)).text).toContain(A_BIN);
    const alerts = await call<{ alerts: unknown[] }>('GET', '/api/v1/alerts', bReader);
    expect(alerts.status).toBe(200);
    expect(alerts.text).not.toContain('alpha-only');
    // A scoped key cannot pick another lab for its live feed either.
    const escape = connectSocket(stack.apiUrl, { transports: ['websocket'], reconnection: false, auth: { token: bReader, lab: 'main' } });
    sockets.push(escape);
    const refused = await new Promise<Error>((resolve) => escape.once('connect_error', resolve));
    expect(refused.message).toContain('NOT_FOUND');
  }, 60_000);
});
