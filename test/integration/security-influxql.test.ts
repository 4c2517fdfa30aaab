/**
 * InfluxQL injection, tried the way an attacker would: hostile strings — quotes, regexes,
 * `;`-chained DROP statements, newlines, NUL, unicode — in every parameter of every read
 * endpoint, against a real InfluxDB holding known data.
 *
 * The endpoints and their parameters come from the API's own OpenAPI document, so a new
 * endpoint or parameter is attacked without anyone updating this test (plus a fixed list,
 * in case the document is missing). For every request: the answer is 200, 400 or 404 —
 * never a 5xx, which would mean the text reached InfluxQL and broke the statement; an
 * answer lists only devices the filter really matches (no extra rows); and at the end the
 * database is exactly as it was (no statement smuggled through ran).
 */
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ReadingKind } from '../../contracts/index.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
let app: FastifyInstance;

interface SeedDevice {
  id: string;
  kind: ReadingKind;
  site: string;
  owner: string;
}
const DEVICES: SeedDevice[] = [
  { id: 'air-inj-1', kind: 'air', site: 'Site A', owner: 'Owner A' },
  { id: 'air-inj-2', kind: 'air', site: "O'Brien Plads", owner: 'Owner "B"' },
  { id: 'traffic-inj-1', kind: 'traffic', site: 'Site A', owner: 'Owner B' },
  { id: 'waste-inj-1', kind: 'waste', site: 'Site C', owner: 'Owner A' },
];
const PAYLOADS: Record<ReadingKind, (i: number) => object> = {
  air: (i) => ({ pm25: 10 + i, no2: 20 + i }),
  traffic: (i) => ({ period: 60, cars: 5 + i, bicycles: 7 }),
  waste: (i) => ({ fill: 40 + i, lidOpen: false }),
};

/** Strings that broke concatenated InfluxQL here (docs/measurements.md) and their relatives. */
const NASTY = [
  "'",
  '"',
  '\\',
  '\\\'',
  "x' OR device =~ /.*/",
  "air-inj-1' OR device =~ /.*/ --",
  "Site A' OR site =~ /.*/ OR site = '",
  '" OR 1=1 OR "',
  '/.*/',
  '=~ /.*/',
  '; DROP MEASUREMENT air',
  "'; DROP MEASUREMENT air; SELECT '",
  '"; DROP DATABASE streetlab; --',
  'x; DROP SERIES FROM /.*/',
  'DELETE FROM air',
  'SELECT * FROM /.*/',
  'air-inj-1\nDROP MEASUREMENT air',
  'air-inj-1\r\n',
  '\u0000',
  'air-inj-1\u0000',
  '\u202eair-inj-1',
  'Site\u00a0A',
  '😀',
  '$from',
  '$device0',
  'now()',
  'now() - 1000w',
  '-1000000000w',
  '99999999999999999999',
  '-1',
  '1e309',
  'NaN',
  '*',
  '%',
  ')',
  "') OR ('1'='1",
  '{"$ne": null}',
  'Site A',
  'Owner A',
  'air-inj-1',
  'Site A\n',
];

const hostile: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...NASTY), fc.string({ maxLength: 8 }), fc.constantFrom(...NASTY)).map((parts) => parts.join('')) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }) },
);

interface Target {
  path: string;
  location: 'query' | 'path';
  name: string;
}

/** Used when the OpenAPI document is missing: the contract's read endpoints. */
const KNOWN_TARGETS: Target[] = [
  ...['kind', 'device', 'from', 'to', 'limit'].map((name) => ({ path: '/api/v1/readings', location: 'query' as const, name })),
  { path: '/api/v1/latest', location: 'query', name: 'kind' },
  ...['device', 'kind', 'from', 'limit'].map((name) => ({ path: '/api/v1/rejections', location: 'query' as const, name })),
  { path: '/api/v1/devices/{id}', location: 'path', name: 'id' },
];

async function discoverTargets(): Promise<Target[]> {
  const targets = new Map<string, Target>();
  for (const t of KNOWN_TARGETS) targets.set(`${t.path} ${t.name}`, t);
  const response = await app.inject({ method: 'GET', url: '/openapi.json' });
  if (response.statusCode === 200) {
    const spec = response.json<{ paths: Record<string, { get?: { parameters?: { in: string; name: string }[] } }> }>();
    for (const [path, operations] of Object.entries(spec.paths)) {
      if (!path.startsWith('/api/') || path.startsWith('/api/v1/keys') || !operations.get) continue;
      for (const p of operations.get.parameters ?? []) {
        if (p.in === 'query' || p.in === 'path') targets.set(`${path} ${p.name}`, { path, location: p.in, name: p.name });
      }
    }
  }
  return [...targets.values()];
}

/** What the database holds: databases, retention policies, measurements and their point counts. */
async function snapshot(): Promise<string> {
  const state: Record<string, unknown> = {};
  state.databases = await stack.influx.queryRows('SHOW DATABASES');
  state.retention = await stack.influx.queryRows('SHOW RETENTION POLICIES');
  const measurements = (await stack.influx.queryRows('SHOW MEASUREMENTS')).map((r) => String(r.name));
  state.measurements = measurements;
  for (const m of measurements) state[`count:${m}`] = await stack.influx.queryRows(`SELECT COUNT(*) FROM "${m.replace(/"/g, '\\"')}"`);
  state.series = await stack.influx.queryRows('SHOW SERIES');
  return JSON.stringify(state);
}

/** Every device id an answer mentions, wherever in the JSON it appears. */
function devicesIn(body: unknown, found = new Set<string>()): Set<string> {
  if (Array.isArray(body)) body.forEach((item) => devicesIn(item, found));
  else if (body && typeof body === 'object') {
    for (const [key, value] of Object.entries(body)) {
      // The open-data licence has an `id` of its own (CC-BY-4.0), not a device's.
      if (key === 'licence') continue;
      if ((key === 'deviceId' || key === 'device' || key === 'id') && typeof value === 'string') found.add(value);
      else devicesIn(value, found);
    }
  }
  return found;
}

/** The devices a filter parameter with this value may legitimately return. */
function allowedFor(name: string, value: string): Set<string> {
  const all = new Set(DEVICES.map((d) => d.id));
  const match = (pick: (d: SeedDevice) => string) => new Set(DEVICES.filter((d) => pick(d) === value).map((d) => d.id));
  // An answer may echo the device it was asked about (`{ device: "x", status: "insufficient_data" }`).
  if (name === 'device' || name === 'id') return new Set([...match((d) => d.id), value]);
  if (name === 'site') return match((d) => d.site);
  if (name === 'owner') return match((d) => d.owner);
  return all;
}

function urlFor(target: Target, value: string): string {
  if (target.location === 'path') return target.path.replace(`{${target.name}}`, encodeURIComponent(value));
  const query = new URLSearchParams({ [target.name]: value });
  // A wide window, so a filter that stopped filtering would show the seeded rows.
  if (target.name !== 'from' && /readings|rejections|aqi\/who/.test(target.path)) query.set('from', '-2h');
  return `${target.path}?${query}`;
}

beforeAll(async () => {
  stack = await startStack();
  app = stack.lab.api.app;
  const now = Date.now();
  for (const device of DEVICES) {
    await stack.register(device.kind, device.id, { site: device.site, owner: device.owner });
    for (let i = 0; i < 3; i += 1) await stack.publish(device.kind, device.id, { ts: now - 30 * 60_000 + i * 60_000, ...PAYLOADS[device.kind]!(i) });
  }
  await stack.publish('air', 'air-inj-1', { pm25: -5 }); // a stored rejection too
  await stack.flush();
});

afterAll(async () => {
  await stack?.close();
});

describe('hostile strings in every parameter of every read endpoint', () => {
  it('are refused (400) or match nothing extra, never reach InfluxQL, and change nothing in the database', async () => {
    const before = await snapshot();
    expect(before).toContain('"air"');
    const targets = await discoverTargets();
    expect(targets.length).toBeGreaterThanOrEqual(KNOWN_TARGETS.length);
    const statuses = new Map<string, Set<number>>();

    for (const target of targets) {
      await fc.assert(
        // An empty path segment is another URL (`/devices/` is the list), not a parameter value.
        fc.asyncProperty(target.location === 'path' ? hostile.filter((v) => v !== '') : hostile, async (value) => {
          const url = urlFor(target, value);
          // As admin, so that admin-only reads (trials, alert rules) are probed too.
          const response = await app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${stack.adminToken}` } });
          const where = `${target.path} ${target.name}=${JSON.stringify(value)} → ${response.statusCode} ${response.body.slice(0, 300)}`;
          expect([200, 400, 404], where).toContain(response.statusCode);
          const key = `${target.path} ${target.name}`;
          if (!statuses.has(key)) statuses.set(key, new Set());
          statuses.get(key)!.add(response.statusCode);
          if (response.statusCode !== 200 || !String(response.headers['content-type']).includes('json')) return;
          const allowed = allowedFor(target.name, value);
          for (const device of devicesIn(response.json())) expect(allowed.has(device), `${where}: ${device} must not be returned`).toBe(true);
        }),
        { seed: 20260503, numRuns: 40, endOnFailure: true },
      );
    }
    // Some hostile values must have got through validation into a real query (as bound
    // parameters), or this test would only be testing the validators.
    const reachedInflux = targets.filter((t) => statuses.get(`${t.path} ${t.name}`)?.has(200));
    expect(reachedInflux.length).toBeGreaterThanOrEqual(2);
    expect(await snapshot()).toBe(before);
  });

  it('the measured exploits: a regex in a device filter returns nothing, a chained DROP runs nothing', async () => {
    const before = await snapshot();
    const regex = await app.inject({ method: 'GET', url: `/api/v1/readings?${new URLSearchParams({ device: "x' OR device =~ /.*/", from: '-2h' })}` });
    expect(regex.statusCode).toBe(400);
    expect(regex.json().message).toContain('device');
    const bySite = await app.inject({ method: 'GET', url: `/api/v1/readings?${new URLSearchParams({ site: "x' OR site =~ /.*/ OR site = '", from: '-2h' })}` });
    expect([200, 400]).toContain(bySite.statusCode);
    if (bySite.statusCode === 200) expect(devicesIn(bySite.json()).size).toBe(0);
    // Rejections are not open data: asked with a key.
    const drop = await app.inject({ method: 'GET', url: `/api/v1/rejections?${new URLSearchParams({ device: 'air-inj-1; DROP MEASUREMENT air' })}`, headers: { authorization: `Bearer ${stack.adminToken}` } });
    expect(drop.statusCode).toBe(400);
    expect(await snapshot()).toBe(before);
    // And the honest query still answers, so the checks above were not vacuous.
    const honest = await app.inject({ method: 'GET', url: '/api/v1/readings?device=air-inj-1&from=-2h' });
    expect(honest.statusCode).toBe(200);
    expect([...devicesIn(honest.json())]).toEqual(['air-inj-1']);
  });
});
