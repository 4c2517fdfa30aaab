/**
 * Trials end to end with real parts: the secured lab (broker, ingest, InfluxDB, API),
 * devices publishing over MQTT a scripted hour with known faults — a dropout, a silent end,
 * a clock running ahead, a redelivery, a re-stamped duplicate, an out-of-order message and
 * bad payloads made by the simulators' own corrupter — and ingest's clock scripted too, so
 * every receipt time, and so every figure of the report, is known exactly. Then the admin
 * API's statuses, owner scoping (nothing of another owner leaks), the CLI, and the printable
 * page in headless Chromium.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium } from 'playwright-core';
import type { ApiKeyWithToken, DeviceReport, Trial, TrialListResponse, TrialReport } from '../../contracts/index.ts';
import { runDevicesCli } from '../../api/cli/run.ts';
import { corruptPayload, type PayloadFault } from '../../simulators/faults.ts';
import { createRandom } from '../../simulators/random.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

const MIN = 60_000;
let stack: Stack;
/**
 * Ingest's clock: the receipt time of each message, in publishing order. Ingest reads its
 * clock once per message, as it parses it, and messages reach it in the order the broker
 * acknowledged them (each publish is awaited), so the n-th reading of the clock is the n-th
 * message's scripted receipt time.
 */
const receipts: number[] = [];
/** The trial hour: whole minutes, three hours ago (well inside ingest's accepted age). */
const T0 = Math.floor((Date.now() - 3 * 3_600_000) / MIN) * MIN;
const slot = (k: number) => T0 + k * MIN;
const tokens: Record<'acme' | 'globex' | 'plain' | 'adminKey', string> = { acme: '', globex: '', plain: '', adminKey: '' };

const A = 'air-trial-a';
const B = 'traffic-trial-b';
const C = 'air-trial-c';
const random = createRandom('trial-test');

/** What device A sends for slot k (battery falls 0.1 %/min of its own timestamp). */
function airPayload(k: number, tsMs: number) {
  return { ts: tsMs, seq: 100 + k, pm25: 10 + (k % 7), no2: 20, battery: Math.round((90 - (0.1 * (tsMs - T0)) / MIN) * 100) / 100, rssi: -70 - (k % 5) };
}
const trafficPayload = (k: number) => ({ ts: new Date(slot(k)).toISOString(), period: 60, cars: k % 9, bicycles: 3 });

/** Publishes as the device; ingest will receive it at `receivedMs`. */
async function send(kind: 'air' | 'traffic', device: string, payload: object | Buffer, receivedMs: number): Promise<void> {
  receipts.push(receivedMs);
  await stack.publish(kind, device, payload as object);
}

async function sendBad(kind: 'air' | 'traffic', device: string, fault: PayloadFault, base: object, receivedMs: number): Promise<void> {
  const bytes = corruptPayload(fault, base as never, { kind, random, nowMs: receivedMs, maxPayloadBytes: 16 * 1024, maxFutureMs: 5 * MIN, maxAgeMs: 7 * 86_400_000 });
  await send(kind, device, bytes, receivedMs);
}

async function api(path: string, token: string | undefined, init: { method?: string; body?: unknown } = {}) {
  const response = await fetch(`${stack.apiUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, text, json: json as Record<string, unknown>, type: response.headers.get('content-type') ?? '' };
}

const trialBody = {
  id: 'acme-hour',
  name: 'Acme sensors, pilot hour',
  owner: 'acme',
  deviceIds: [A, B],
  start: new Date(T0).toISOString(),
  end: new Date(slot(60)).toISOString(),
  goals: { intervalSeconds: 60, completenessPct: 95, maxRejectRatePct: 5, maxLatencyP95Ms: 3_000 },
};

beforeAll(async () => {
  stack = await startStack({ security: 'secured', deviceRateLimit: false, ingestNow: () => receipts.shift() ?? Date.now() });
  await stack.register('air', A, { owner: 'acme' });
  await stack.register('traffic', B, { owner: 'acme' });
  await stack.register('air', C, { owner: 'globex' });
  tokens.acme = (await stack.registry.createApiKey({ name: 'acme portal', role: 'reader', owner: 'acme' })).token;
  tokens.globex = (await stack.registry.createApiKey({ name: 'globex portal', role: 'reader', owner: 'globex' })).token;
  tokens.plain = (await stack.registry.createApiKey({ name: 'researcher', role: 'reader' })).token;
  tokens.adminKey = (await stack.registry.createApiKey({ name: 'ops', role: 'admin' })).token;

  // Device A (seq, battery, rssi): slots 0–56 except a dropout 10–19; slots 30–34 stamped 90 s
  // ahead; slot 5 delivered twice; slot 40 re-sent with a new timestamp; 45 held back behind 46.
  for (let k = 0; k <= 56; k++) {
    if (k >= 10 && k <= 19) continue;
    if (k === 45) continue;
    const ts = k >= 30 && k <= 34 ? slot(k) + 90_000 : slot(k);
    await send('air', A, airPayload(k, ts), slot(k) + 2_000);
    if (k === 5) await send('air', A, airPayload(5, slot(5)), slot(5) + 5_000);
    if (k === 40) await send('air', A, airPayload(40, slot(40) + 30_000), slot(40) + 40_000);
    if (k === 46) await send('air', A, airPayload(45, slot(45)), slot(46) + 3_000);
    if (k === 25) {
      await sendBad('air', A, 'PAYLOAD_NOT_JSON', airPayload(25, slot(25)), slot(25) + 10_000);
      await sendBad('air', A, 'PAYLOAD_NOT_JSON', airPayload(25, slot(25)), slot(25) + 11_000);
      await sendBad('air', A, 'FIELD_RANGE', airPayload(25, slot(25)), slot(25) + 12_000);
      await sendBad('air', A, 'TS_IN_FUTURE', airPayload(25, slot(25)), slot(25) + 13_000);
    }
  }
  // Device B (no seq, no battery): starts two minutes late, silent 30–39, 50 arrives after 51.
  for (let k = 2; k <= 59; k++) {
    if (k >= 30 && k <= 39) continue;
    if (k === 50) continue;
    await send('traffic', B, trafficPayload(k), slot(k) + 1_500);
    if (k === 51) await send('traffic', B, trafficPayload(50), slot(51) + 1_600);
    if (k === 20) await sendBad('traffic', B, 'FIELD_MISSING', trafficPayload(20), slot(20) + 20_000);
  }
  // Device C, of another owner.
  await send('air', C, { ts: slot(3), pm25: 5 }, slot(3) + 1_000);
  await eventually(() => (receipts.length === 0 ? true : undefined), 20_000, 'ingest to take every message');
  await stack.flush();

  const created = await api('/api/v1/trials', stack.adminToken, { method: 'POST', body: trialBody });
  expect(created.status, created.text).toBe(201);
  const other = await api('/api/v1/trials', stack.adminToken, {
    method: 'POST',
    body: { id: 'globex-secret', name: 'Globex stealth test', owner: 'globex', deviceIds: [C], start: new Date(T0).toISOString(), goals: { intervalSeconds: 300 } },
  });
  expect(other.status, other.text).toBe(201);
}, 180_000);

afterAll(async () => {
  await stack?.close();
});

function device(report: TrialReport, id: string): DeviceReport {
  const found = report.devices.find((d) => d.deviceId === id);
  if (!found) throw new Error(`no ${id} in the report`);
  return found;
}

describe('the device report equals what the devices did', () => {
  let report: TrialReport;
  beforeAll(async () => {
    const response = await api('/api/v1/trials/acme-hour/report', tokens.acme);
    expect(response.status, response.text).toBe(200);
    report = response.json as unknown as TrialReport;
  });

  it('covers the trial period', () => {
    expect(report.period).toEqual({ from: new Date(T0).toISOString(), to: new Date(slot(60)).toISOString(), days: Math.round((1 / 24) * 1000) / 1000 });
    expect(report.devices.map((d) => d.deviceId)).toEqual([A, B]);
  });

  it('device with seq: completeness, uptime, gaps, duplicates and out-of-order readings', () => {
    const a = device(report, A);
    // 47 slots sent (0–9, 20–56) + the re-stamped copy of 40; the redelivery of 5 is stored once.
    expect(a.readings).toEqual({ stored: 48, unique: 47, expected: 60 });
    expect(a.completenessPct).toBe(Math.round((47 / 60) * 100_000) / 1000);
    // Covered minutes: [0,10) [20,30) and [31.5,57) (slots 30–34 shifted by 1.5 min).
    expect(a.uptimePct).toBe(Math.round((45.5 / 60) * 100_000) / 1000);
    expect(a.gaps.method).toBe('seq');
    expect(a.gaps.count).toBe(2);
    expect(a.gaps.missing).toBe(13);
    expect(a.gaps.list).toEqual([
      { from: new Date(slot(9)).toISOString(), to: new Date(slot(20)).toISOString(), durationMs: 11 * MIN, missing: 10, afterSeq: 109, beforeSeq: 120 },
      { from: new Date(slot(56)).toISOString(), to: new Date(slot(60)).toISOString(), durationMs: 4 * MIN, missing: 3, edge: 'end' },
    ]);
    expect(a.gaps.longest).toEqual(a.gaps.list[0]);
    expect(a.duplicates).toEqual({ count: 1, seqs: [140] });
    expect(a.outOfOrder).toEqual({ count: 1, method: 'seq' });
    expect(a.medianIntervalSeconds).toBe(60);
  });

  it('device with seq: rejections by reason with examples, latency, clock, battery and signal', () => {
    const a = device(report, A);
    expect(a.rejections.total).toBe(4);
    expect(a.rejections.byReason.map((r) => [r.reason, r.count])).toEqual([
      ['PAYLOAD_NOT_JSON', 2],
      ['FIELD_RANGE', 1],
      ['TS_IN_FUTURE', 1],
    ]);
    expect(a.rejections.byReason[0]!.examples).toHaveLength(2);
    expect(a.rejections.byReason[0]!.examples[0]!.receivedAt).toBe(new Date(slot(25) + 11_000).toISOString());
    expect(a.rejections.ratePct).toBe(Math.round((4 / 52) * 100_000) / 1000);
    // Latencies: 40 × 2 s, the redelivery 5 s, the re-stamp 10 s, the held-back one 63 s, 5 × −88 s.
    expect(a.latency).toEqual({ samples: 48, p50Ms: 2_000, p95Ms: 5_000, maxMs: 63_000 });
    expect(a.clockSkew).toEqual({ aheadReadings: 5, maxAheadMs: 88_000, medianOffsetMs: -2_000 });
    expect(a.battery).toMatchObject({ samples: 48, first: 90, last: 84.4 });
    expect(a.battery!.drainPerDay).toBeCloseTo(144, 3);
    expect(a.battery!.projectedDaysLeft).toBe(0.6);
    const rssi = [...Array.from({ length: 10 }, (_, k) => k), ...Array.from({ length: 37 }, (_, i) => 20 + i), 40].map((k) => -70 - (k % 5)).sort((x, y) => x - y);
    expect(a.signal).toEqual({ samples: 48, medianDbm: (rssi[23]! + rssi[24]!) / 2, minDbm: -74, maxDbm: -70 });
  });

  it('device without seq: gaps from time, including a late start', () => {
    const b = device(report, B);
    expect(b.readings).toEqual({ stored: 48, unique: 48, expected: 60 });
    expect(b.completenessPct).toBe(80);
    expect(b.uptimePct).toBe(80);
    expect(b.gaps).toMatchObject({ method: 'time', count: 2, missing: 12 });
    expect(b.gaps.list).toEqual([
      { from: new Date(T0).toISOString(), to: new Date(slot(2)).toISOString(), durationMs: 2 * MIN, missing: 2, edge: 'start' },
      { from: new Date(slot(29)).toISOString(), to: new Date(slot(40)).toISOString(), durationMs: 11 * MIN, missing: 10 },
    ]);
    expect(b.duplicates.count).toBe(0);
    expect(b.outOfOrder).toEqual({ count: 1, method: 'time' });
    expect(b.rejections).toMatchObject({ total: 1, byReason: [{ reason: 'FIELD_MISSING', count: 1 }] });
    expect(b.rejections.ratePct).toBe(Math.round((1 / 49) * 100_000) / 1000);
    // 47 × 1.5 s, and the held-back reading: a minute late plus 1.6 s.
    expect(b.latency).toEqual({ samples: 48, p50Ms: 1_500, p95Ms: 1_500, maxMs: 61_600 });
    expect(b.battery).toBeNull();
    expect(b.signal).toBeNull();
  });

  it('a verdict per goal, met or not and by how much', () => {
    const a = device(report, A);
    const verdict = (d: DeviceReport, goal: string) => d.verdicts.find((v) => v.goal === goal)!;
    expect(verdict(a, 'completenessPct')).toMatchObject({ met: false, target: 95 });
    expect(verdict(a, 'completenessPct').margin).toBeCloseTo(4700 / 60 - 95, 2);
    expect(verdict(a, 'maxRejectRatePct')).toMatchObject({ met: false });
    expect(verdict(a, 'maxLatencyP95Ms')).toMatchObject({ met: false, actual: 5_000, margin: -2_000 });
    expect(verdict(a, 'intervalSeconds')).toMatchObject({ met: true, actual: 60 });
    const b = device(report, B);
    expect(verdict(b, 'maxRejectRatePct').met).toBe(true);
    expect(verdict(b, 'maxLatencyP95Ms')).toMatchObject({ met: true, margin: 1_500 });
    expect(verdict(b, 'completenessPct').text).toMatch(/^Completeness 80 % .*NOT MET, by 15 points$/);
    expect(report.allGoalsMet).toBe(false);
  });

  it('a sub-range: only the readings inside it', async () => {
    const response = await api(`/api/v1/trials/acme-hour/report?from=${new Date(slot(20)).toISOString()}&to=${new Date(slot(30)).toISOString()}`, stack.adminToken);
    expect(response.status, response.text).toBe(200);
    const sub = response.json as unknown as TrialReport;
    const a = device(sub, A);
    expect(a.readings).toEqual({ stored: 10, unique: 10, expected: 10 });
    expect(a.completenessPct).toBe(100);
    expect(a.gaps.count).toBe(0);
    expect(a.rejections.total).toBe(4);
  });

  it('a range outside the trial is a 400 naming from/to', async () => {
    const response = await api(`/api/v1/trials/acme-hour/report?from=${new Date(slot(120)).toISOString()}&to=${new Date(slot(130)).toISOString()}`, stack.adminToken);
    expect(response.status).toBe(400);
    expect(response.json.message).toMatch(/^from\/to:/);
    const bad = await api('/api/v1/trials/acme-hour/report?format=pdf', stack.adminToken);
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/format/);
  });
});

describe('the admin API', () => {
  it('validates bodies: 400 names the field', async () => {
    const missing = await api('/api/v1/trials', stack.adminToken, { method: 'POST', body: { ...trialBody, id: 'x1', name: undefined } });
    expect(missing.status).toBe(400);
    expect(missing.json.message).toMatch(/name/);
    const range = await api('/api/v1/trials', stack.adminToken, { method: 'POST', body: { ...trialBody, id: 'x2', goals: { intervalSeconds: 60, completenessPct: 150 } } });
    expect(range.status).toBe(400);
    expect(range.json.message).toMatch(/goals\.completenessPct/);
    const unknown = await api('/api/v1/trials', stack.adminToken, { method: 'POST', body: { ...trialBody, id: 'x3', deviceIds: [A, 'ghost-device'] } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.message).toMatch(/^deviceIds\.1: no device "ghost-device"/);
    const reversed = await api('/api/v1/trials', stack.adminToken, { method: 'POST', body: { ...trialBody, id: 'x4', end: new Date(T0 - MIN).toISOString() } });
    expect(reversed.status).toBe(400);
    expect(reversed.json.message).toMatch(/^end:/);
    const reference = await api('/api/v1/trials', stack.adminToken, { method: 'POST', body: { ...trialBody, id: 'x5', referenceDeviceId: B } });
    expect(reference.status).toBe(400);
    expect(reference.json.message).toMatch(/^referenceDeviceId:/);
  });

  it('401 without a token, 403 for a reader, 409 for a taken id, 404 for an unknown trial', async () => {
    expect((await api('/api/v1/trials', undefined, { method: 'POST', body: trialBody })).status).toBe(401);
    expect((await api('/api/v1/trials', tokens.acme, { method: 'POST', body: trialBody })).status).toBe(403);
    const taken = await api('/api/v1/trials', tokens.adminKey, { method: 'POST', body: trialBody });
    expect(taken.status).toBe(409);
    expect(taken.json.error).toBe('CONFLICT');
    expect((await api('/api/v1/trials/nope', stack.adminToken, { method: 'PATCH', body: { name: 'x' } })).status).toBe(404);
    expect((await api('/api/v1/trials/nope/close', stack.adminToken, { method: 'POST' })).status).toBe(404);
    expect((await api('/api/v1/trials/nope', tokens.acme)).status).toBe(404);
  });

  it('updates (goals merge) and closes once', async () => {
    const created = await api('/api/v1/trials', stack.adminToken, { method: 'POST', body: { ...trialBody, id: 'acme-second', end: undefined } });
    expect(created.status, created.text).toBe(201);
    expect((created.json as unknown as Trial).status).toBe('open');
    const patched = await api('/api/v1/trials/acme-second', stack.adminToken, { method: 'PATCH', body: { name: 'Renamed', goals: { completenessPct: 90 } } });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.json).toMatchObject({ name: 'Renamed', goals: { intervalSeconds: 60, completenessPct: 90, maxRejectRatePct: 5, maxLatencyP95Ms: 3_000 } });
    const closed = await api('/api/v1/trials/acme-second/close', stack.adminToken, { method: 'POST' });
    expect(closed.status, closed.text).toBe(200);
    expect(closed.json).toMatchObject({ status: 'closed' });
    expect(typeof closed.json.end).toBe('string');
    const again = await api('/api/v1/trials/acme-second/close', stack.adminToken, { method: 'POST' });
    expect(again.status).toBe(409);
  });
});

describe('owner scoping', () => {
  it('an owner key lists only its own trials; admin sees all', async () => {
    const mine = await api('/api/v1/trials', tokens.acme);
    expect(mine.status).toBe(200);
    const ids = (mine.json as unknown as TrialListResponse).trials.map((t) => t.id);
    expect(ids).toContain('acme-hour');
    expect(ids).not.toContain('globex-secret');
    expect(mine.text).not.toMatch(/globex|stealth/i);
    const all = (await api('/api/v1/trials', stack.adminToken)).json as unknown as TrialListResponse;
    expect(all.trials.map((t) => t.id)).toEqual(expect.arrayContaining(['acme-hour', 'globex-secret']));
    const theirs = (await api('/api/v1/trials', tokens.globex)).json as unknown as TrialListResponse;
    expect(theirs.trials.map((t) => t.id)).toEqual(['globex-secret']);
  });

  it("another owner's trial and report answer exactly like a missing one: 404, nothing leaked", async () => {
    for (const path of ['/api/v1/trials/globex-secret', '/api/v1/trials/globex-secret/report', '/api/v1/trials/globex-secret/report?format=html']) {
      const hidden = await api(path, tokens.acme);
      const missing = await api(path.replace('globex-secret', 'globex-secreT'), tokens.acme);
      expect(hidden.status, path).toBe(404);
      expect(hidden.json.error).toBe('NOT_FOUND');
      expect(hidden.text.replace('globex-secret', 'ID')).toBe(missing.text.replace('globex-secreT', 'ID'));
      expect(hidden.text).not.toMatch(/stealth|air-trial-c/i);
    }
    expect((await api('/api/v1/trials/globex-secret/report', tokens.globex)).status).toBe(200);
    expect((await api('/api/v1/trials/globex-secret/report', stack.adminToken)).status).toBe(200);
  });

  it('a reader key without an owner gets 403, no token 401; its readings still work', async () => {
    const plain = await api('/api/v1/trials', tokens.plain);
    expect(plain.status).toBe(403);
    expect((await api('/api/v1/trials/acme-hour/report', tokens.plain)).status).toBe(403);
    expect((await api('/api/v1/trials', undefined)).status).toBe(401);
    expect((await api(`/api/v1/readings?kind=air&device=${A}&from=${new Date(T0).toISOString()}&to=${new Date(slot(60)).toISOString()}&limit=5`, tokens.plain)).status).toBe(200);
    expect((await api(`/api/v1/readings?kind=air&device=${A}&from=${new Date(T0).toISOString()}&to=${new Date(slot(60)).toISOString()}&limit=5`, tokens.acme)).status).toBe(200);
  });

  it('only reader keys may have an owner', async () => {
    const response = await api('/api/v1/keys', stack.adminToken, { method: 'POST', body: { name: 'bad', role: 'admin', owner: 'acme' } });
    expect(response.status).toBe(400);
    expect(response.json.message).toMatch(/owner/);
    const ok = await api('/api/v1/keys', stack.adminToken, { method: 'POST', body: { name: 'acme 2', owner: 'acme' } });
    expect(ok.status).toBe(201);
    expect((ok.json as unknown as ApiKeyWithToken).key).toMatchObject({ role: 'reader', owner: 'acme' });
  });
});

describe('the CLI', () => {
  it('trial list / show / report over HTTP, add / update / close', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { env: { ADMIN_TOKEN: stack.adminToken, API_URL: stack.apiUrl }, out: (t: string) => out.push(t), err: (t: string) => err.push(t) };
    expect(await runDevicesCli(['trial', 'list'], io), err.join('')).toBe(0);
    expect(out.join('')).toMatch(/acme-hour/);
    out.length = 0;
    expect(await runDevicesCli(['trial', 'report', 'acme-hour'], io), err.join('')).toBe(0);
    expect(out.join('')).toMatch(/air-trial-a[\s\S]*NOT MET/);
    out.length = 0;
    const add = ['trial', 'add', 'cli-trial', '--name', 'From the CLI', '--owner', 'acme', '--devices', `${A},${B}`, '--start', new Date(T0).toISOString(), '--interval', '60', '--completeness', '90'];
    expect(await runDevicesCli([...add, '--json'], io), err.join('')).toBe(0);
    expect(JSON.parse(out.join(''))).toMatchObject({ id: 'cli-trial', goals: { completenessPct: 90, intervalSeconds: 60 } });
    expect(await runDevicesCli(add, io)).toBe(1);
    expect(err.join('')).toMatch(/409/);
    expect(await runDevicesCli(['trial', 'update', 'cli-trial', '--max-reject-rate', '2'], io), err.join('')).toBe(0);
    expect(await runDevicesCli(['trial', 'close', 'cli-trial'], io), err.join('')).toBe(0);
    expect((await stack.lab.trials.get('cli-trial'))).toMatchObject({ status: 'closed', goals: { maxRejectRatePct: 2 } });
  });
});

describe('the printable report', () => {
  it('renders as HTML with every device, the verdicts and charts, and loads in Chromium without errors', async () => {
    const response = await api('/api/v1/trials/acme-hour/report?format=html', tokens.acme);
    expect(response.status).toBe(200);
    expect(response.type).toMatch(/^text\/html/);
    expect(response.text).toMatch(/^<!doctype html>/);
    for (const id of [A, B]) expect(response.text).toContain(id);
    expect(response.text).toMatch(/NOT MET/);
    expect(response.text).toMatch(/<svg /);
    expect(response.text).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org)/);

    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(error.message));
      const requests: string[] = [];
      page.on('request', (request) => requests.push(request.url()));
      await page.route('**/*', (route) => (route.request().url().startsWith(stack.apiUrl) ? route.continue({ headers: { ...route.request().headers(), authorization: `Bearer ${tokens.acme}` } }) : route.abort()));
      await page.goto(`${stack.apiUrl}/api/v1/trials/acme-hour/report?format=html`);
      expect(await page.locator('section.device').count()).toBe(2);
      expect(await page.locator('svg').count()).toBeGreaterThanOrEqual(3);
      expect(await page.locator('.verdicts li.not-met').count()).toBeGreaterThan(0);
      const pdf = await page.pdf({ format: 'A4' });
      expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
      expect(problems).toEqual([]);
      expect(requests).toHaveLength(1);
    } finally {
      await browser.close();
    }
  });
});
