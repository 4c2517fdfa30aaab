/**
 * Alerts (README, "Alerts and scheduled jobs") end to end with real parts: the secured lab
 * (InfluxDB, broker, ingest, API), devices publishing over MQTT, a socket.io client, and a
 * local HTTP server as the webhook.
 * Time is the engine's injected clock (moved by hand) and the time-triggered jobs run through
 * the scheduler's trigger, exactly as their cron tick runs them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  Alert,
  AlertListResponse,
  AlertRule,
  AlertRuleListResponse,
  ApiKeyWithToken,
  ClientToServerEvents,
  ErrorResponse,
  LiveReading,
  ServerToClientEvents,
  SubscribeAck,
} from '../../contracts/index.ts';
import { OFFLINE_JOB, REPEAT_JOB } from '../../api/alerts/index.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;
const MIN = 60_000;
/** A schedule that never fires during a test: the jobs run only when a test triggers them. */
const NEVER = '0 0 1 1 *';

let stack: Stack;
let readerToken: string;
let offsetMs = 0;
let socket: LiveSocket;
const liveAlerts: Alert[] = [];
const liveReadings: LiveReading[] = [];

// The webhook: fails the first attempt of every event (503), accepts the retry; or hangs.
let hookServer: Server;
let hookMode: 'fail-first' | 'hang' = 'fail-first';
const hookReceived: { alert: Alert; key: string; status: number | 'hung' }[] = [];
const hung: ServerResponse[] = [];

function handleHook(request: IncomingMessage, response: ServerResponse): void {
  let text = '';
  request.on('data', (chunk: Buffer) => (text += chunk.toString()));
  request.on('end', () => {
    const alert = JSON.parse(text) as Alert;
    const key = String(request.headers['idempotency-key']);
    if (hookMode === 'hang') {
      hookReceived.push({ alert, key, status: 'hung' });
      hung.push(response);
      return;
    }
    const status = hookReceived.some((r) => r.key === key) ? 200 : 503;
    hookReceived.push({ alert, key, status });
    response.statusCode = status;
    response.end();
  });
}

beforeAll(async () => {
  hookServer = createServer(handleHook);
  await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
  stack = await startStack({
    security: 'secured',
    publicRead: false,
    research: { rollups: false },
    alerts: {
      seedRules: [],
      now: () => Date.now() + offsetMs,
      offlineSchedule: NEVER,
      repeatSchedule: NEVER,
      webhook: { url: `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/hook`, backoffMs: 20, maxBackoffMs: 100, timeoutMs: 30_000 },
    },
  });
  const key = await call<ApiKeyWithToken>('POST', '/api/v1/keys', stack.adminToken, { name: 'city dashboard', role: 'reader' });
  expect(key.status).toBe(201);
  readerToken = key.body.token;
  socket = connectSocket(stack.apiUrl, { transports: ['websocket'], reconnection: false, auth: { token: readerToken } });
  socket.on('alert', (alert) => liveAlerts.push(alert));
  socket.on('reading', (reading) => liveReadings.push(reading));
  const ack = await new Promise<SubscribeAck>((resolve) => socket.emit('subscribe', {}, resolve));
  expect(ack.ok).toBe(true);
});

afterAll(async () => {
  socket?.disconnect();
  for (const response of hung) response.end();
  await stack?.close();
  hookServer?.closeAllConnections();
  await new Promise((resolve) => hookServer?.close(resolve));
});

async function call<T = ErrorResponse>(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

async function createRule(body: Record<string, unknown>): Promise<AlertRule> {
  const created = await call<AlertRule>('POST', '/api/v1/alert-rules', stack.adminToken, body);
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

function nextAlert(predicate: (alert: Alert) => boolean, what: string): Promise<Alert> {
  return eventually(() => liveAlerts.find(predicate), 15_000, what);
}

const job = (name: string) => stack.lab.api.scheduler.trigger(name);

describe('the alert rules API', () => {
  it('creates, lists, shows, changes and removes a rule (admin)', async () => {
    const rule = await createRule({ id: 'api-bin-full', name: 'Bin full', type: 'threshold', kind: 'waste', metric: 'fill', op: '>=', value: 80 });
    expect(rule).toMatchObject({ id: 'api-bin-full', severity: 'warning', enabled: true, repeatEveryMinutes: 60 });
    expect((await call<AlertRuleListResponse>('GET', '/api/v1/alert-rules', stack.adminToken)).body.rules.map((r) => r.id)).toContain('api-bin-full');
    expect((await call<AlertRule>('GET', '/api/v1/alert-rules/api-bin-full', stack.adminToken)).body).toEqual(rule);
    const changed = await call<AlertRule>('PATCH', '/api/v1/alert-rules/api-bin-full', stack.adminToken, { value: 90, severity: 'critical' });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ value: 90, severity: 'critical', createdAt: rule.createdAt });
    expect((await call('DELETE', '/api/v1/alert-rules/api-bin-full', stack.adminToken)).status).toBe(204);
    expect((await call('GET', '/api/v1/alert-rules/api-bin-full', stack.adminToken)).status).toBe(404);
    const generated = await createRule({ name: 'Silent', type: 'offline' });
    expect(generated.id).toMatch(/^rule-/);
    await call('DELETE', `/api/v1/alert-rules/${generated.id}`, stack.adminToken);
  });

  it.each([
    ['metric', { type: 'threshold', name: 'x', kind: 'waste', metric: 'pm25', op: '>=', value: 1 }],
    ['op', { type: 'threshold', name: 'x', kind: 'waste', metric: 'fill', op: '=>', value: 1 }],
    ['value', { type: 'threshold', name: 'x', kind: 'waste', metric: 'fill', op: '>=' }],
    ['level', { type: 'eaqi', name: 'x', level: 7 }],
    ['percent', { type: 'reject_rate', name: 'x', percent: 150, windowMinutes: 5 }],
    ['windowMinutes', { type: 'reject_rate', name: 'x', percent: 10 }],
    ['severity', { type: 'offline', name: 'x', severity: 'urgent' }],
    ['color', { type: 'offline', name: 'x', color: 'red' }],
    ['type', { type: 'sometimes', name: 'x' }],
    ['id', { id: 'Not An Id', type: 'offline', name: 'x' }],
  ])('POST answers 400 naming the bad field %s', async (field, body) => {
    const response = await call('POST', '/api/v1/alert-rules', stack.adminToken, body);
    expect(response.status).toBe(400);
    expect(response.body.error).toBe('BAD_REQUEST');
    expect(response.body.message).toContain(field);
  });

  it('PATCH answers 400 naming a field that does not fit the rule, 404 for an unknown rule; POST 409 for a taken id', async () => {
    await createRule({ id: 'api-patch', name: 'x', type: 'threshold', kind: 'waste', metric: 'fill', op: '>=', value: 80 });
    const wrong = await call('PATCH', '/api/v1/alert-rules/api-patch', stack.adminToken, { level: 4 });
    expect(wrong.status).toBe(400);
    expect(wrong.body.message).toContain('level');
    const badMetric = await call('PATCH', '/api/v1/alert-rules/api-patch', stack.adminToken, { metric: 'no2' });
    expect(badMetric.status).toBe(400);
    expect(badMetric.body.message).toContain('metric');
    expect((await call('PATCH', '/api/v1/alert-rules/nope', stack.adminToken, { name: 'y' })).status).toBe(404);
    expect((await call('DELETE', '/api/v1/alert-rules/nope', stack.adminToken)).status).toBe(404);
    expect((await call('POST', '/api/v1/alert-rules', stack.adminToken, { id: 'api-patch', name: 'x', type: 'offline' })).status).toBe(409);
    await call('DELETE', '/api/v1/alert-rules/api-patch', stack.adminToken);
  });

  it('rules are admin-only (401 without credentials, 403 for a reader); alerts need read access', async () => {
    for (const [method, path] of [['GET', '/api/v1/alert-rules'], ['POST', '/api/v1/alert-rules'], ['GET', '/api/v1/alert-rules/x'], ['PATCH', '/api/v1/alert-rules/x'], ['DELETE', '/api/v1/alert-rules/x']] as const) {
      const body = method === 'POST' || method === 'PATCH' ? { name: 'x', type: 'offline' } : undefined;
      expect((await call(method, path, undefined, body)).status, `${method} ${path}`).toBe(401);
      expect((await call(method, path, readerToken, body)).status, `${method} ${path}`).toBe(403);
      expect((await call(method, path, 'slk_000000000000_wrongwrongwrongwrongwrongwrongwrongwrongwro', body)).status).toBe(401);
    }
    expect((await call('GET', '/api/v1/alerts')).status).toBe(401);
    expect((await call('GET', '/api/v1/alerts', readerToken)).status).toBe(200);
    const bad = await call('GET', '/api/v1/alerts?state=gone', readerToken);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('state');
    const badSince = await call('GET', '/api/v1/alerts?since=yesterday', readerToken);
    expect(badSince.status).toBe(400);
    expect(badSince.body.message).toContain('since');
  });
});

describe('alerts on the live stream', () => {
  it('threshold: opens on a real reading, reaches socket.io and the webhook (after a retry), repeats on schedule, clears', async () => {
    await createRule({ id: 'bin-full', name: 'Bin full', type: 'threshold', kind: 'waste', metric: 'fill', op: '>=', value: 80, repeatEveryMinutes: 60, deviceId: 'bin-live-1' });
    await stack.publish('waste', 'bin-live-1', { fill: 42 });
    await eventually(() => liveReadings.find((r) => r.deviceId === 'bin-live-1'), 10_000, 'the first reading');
    await stack.publish('waste', 'bin-live-1', { fill: 91 });
    const opened = await nextAlert((a) => a.rule === 'bin-full' && a.state === 'open', 'the open alert');
    expect(opened).toMatchObject({ deviceId: 'bin-live-1', kind: 'waste', severity: 'warning', ruleName: 'Bin full', value: 91, repeats: 0 });
    expect(opened.message).toBe('bin-live-1: fill 91 % ≥ 80 %');

    const active = await call<AlertListResponse>('GET', '/api/v1/alerts?state=active&device=bin-live-1', readerToken);
    expect(active.body.alerts).toEqual([opened]);

    // Still full: no second open.
    await stack.publish('waste', 'bin-live-1', { fill: 95 });
    await eventually(() => liveReadings.find((r) => r.deviceId === 'bin-live-1' && r.values.fill === 95), 10_000, 'the next reading');
    expect(await job(REPEAT_JOB)).toBe('ok');
    expect(liveAlerts.filter((a) => a.rule === 'bin-full')).toHaveLength(1);

    offsetMs += 60 * MIN;
    expect(await job(REPEAT_JOB)).toBe('ok');
    const repeated = await nextAlert((a) => a.rule === 'bin-full' && a.state === 'repeat', 'the repeat');
    expect(repeated).toMatchObject({ id: opened.id, repeats: 1, value: 95, openedAt: opened.openedAt });

    await stack.publish('waste', 'bin-live-1', { fill: 3 });
    const cleared = await nextAlert((a) => a.rule === 'bin-full' && a.state === 'cleared', 'the clear');
    expect(cleared).toMatchObject({ id: opened.id, value: 3 });
    expect(cleared.clearedAt).toBe(cleared.at);
    const history = await call<AlertListResponse>('GET', '/api/v1/alerts?state=cleared&device=bin-live-1&since=-1h', readerToken);
    expect(history.body.alerts.map((a) => [a.id, a.state])).toEqual([[opened.id, 'cleared']]);
    expect((await call<AlertListResponse>('GET', '/api/v1/alerts?state=active&device=bin-live-1', readerToken)).body.alerts).toEqual([]);

    // The webhook got every transition, each after one failed attempt, in order.
    await eventually(() => (hookReceived.filter((r) => r.alert.id === opened.id && r.status === 200).length === 3 ? true : undefined), 10_000, 'webhook deliveries');
    const attempts = hookReceived.filter((r) => r.alert.id === opened.id);
    expect(attempts.map((r) => `${r.alert.state}:${r.status}`)).toEqual(['open:503', 'open:200', 'repeat:503', 'repeat:200', 'cleared:503', 'cleared:200']);
    expect(attempts[1]!.alert).toEqual(opened);
  });

  it('fire risk (critical) and EAQI ≥ poor open and clear from real readings', async () => {
    await createRule({ id: 'fire', name: 'Fire risk', type: 'threshold', kind: 'waste', metric: 'temperature', op: '>=', value: 60, severity: 'critical', deviceId: 'bin-fire-1' });
    await createRule({ id: 'air-poor', name: 'Poor air', type: 'eaqi', level: 4, deviceId: 'air-live-1' });
    await stack.publish('waste', 'bin-fire-1', { fill: 20, temperature: 71.5 });
    await stack.publish('air', 'air-live-1', { pm25: 8, no2: 250 });
    expect(await nextAlert((a) => a.rule === 'fire' && a.state === 'open', 'fire risk')).toMatchObject({ severity: 'critical', value: 71.5 });
    const air = await nextAlert((a) => a.rule === 'air-poor' && a.state === 'open', 'poor air');
    expect(air).toMatchObject({ value: 5, kind: 'air' });
    expect(air.message).toContain('no2 250');
    await stack.publish('waste', 'bin-fire-1', { fill: 20, temperature: 25 });
    await stack.publish('air', 'air-live-1', { pm25: 8, no2: 30 });
    await nextAlert((a) => a.rule === 'fire' && a.state === 'cleared', 'fire risk cleared');
    await nextAlert((a) => a.rule === 'air-poor' && a.state === 'cleared', 'poor air cleared');
  });

  it('reject rate: real bad MQTT payloads open it, good readings and time clear it', async () => {
    await createRule({ id: 'bad-payloads', name: 'Bad payloads', type: 'reject_rate', percent: 50, windowMinutes: 5, minMessages: 4, deviceId: 'air-bad-1', repeatEveryMinutes: 5 });
    await stack.publish('air', 'air-bad-1', { pm25: 5 });
    await stack.publish('air', 'air-bad-1', 'not json');
    await stack.publish('air', 'air-bad-1', { pm25: -3 });
    await stack.publish('air', 'air-bad-1', { pm25: 5, colour: 'red' });
    const opened = await nextAlert((a) => a.rule === 'bad-payloads' && a.state === 'open', 'reject-rate alert');
    expect(opened).toMatchObject({ deviceId: 'air-bad-1', value: 75, ruleType: 'reject_rate' });
    expect(opened.message).toContain('3 of 4');

    offsetMs += 5 * MIN;
    await job(REPEAT_JOB);
    await nextAlert((a) => a.rule === 'bad-payloads' && a.state === 'repeat', 'reject-rate repeat');
    // The window ages out; the offline-detection tick re-evaluates it.
    offsetMs += 1 * MIN;
    expect(await job(OFFLINE_JOB)).toBe('ok');
    const cleared = await nextAlert((a) => a.rule === 'bad-payloads' && a.state === 'cleared', 'reject-rate clear');
    expect(cleared.id).toBe(opened.id);
  });

  it('offline: a registered device silent for 3 × its interval opens on the job tick, repeats, clears on its next reading', async () => {
    await stack.register('traffic', 'car-quiet-1');
    await createRule({ id: 'offline', name: 'Device offline', type: 'offline', intervals: 3, deviceId: 'car-quiet-1', repeatEveryMinutes: 10 });
    await job(OFFLINE_JOB);
    expect(liveAlerts.filter((a) => a.rule === 'offline')).toEqual([]);
    offsetMs += 3 * MIN + 5_000;
    await job(OFFLINE_JOB);
    const opened = await nextAlert((a) => a.rule === 'offline' && a.state === 'open', 'offline alert');
    expect(opened).toMatchObject({ deviceId: 'car-quiet-1', kind: 'traffic', ruleType: 'offline' });
    expect(opened.value).toBeGreaterThan(180);
    offsetMs += 10 * MIN;
    await job(OFFLINE_JOB);
    await job(REPEAT_JOB);
    expect((await nextAlert((a) => a.rule === 'offline' && a.state === 'repeat', 'offline repeat')).value).toBeGreaterThan(780);
    await stack.publish('traffic', 'car-quiet-1', { period: 60, cars: 3 });
    const cleared = await nextAlert((a) => a.rule === 'offline' && a.state === 'cleared', 'offline clear');
    expect(cleared).toMatchObject({ id: opened.id, message: 'car-quiet-1: reporting again' });
  });

  it('a hanging webhook delays neither the live stream nor the alert events', async () => {
    await stack.lab.api.alerts!.webhook!.idle();
    hookMode = 'hang';
    const sentBefore = stack.lab.api.alerts!.webhook!.stats().sent;
    await createRule({ id: 'hang-test', name: 'Bin full', type: 'threshold', kind: 'waste', metric: 'fill', op: '>=', value: 80, deviceId: 'bin-hang-1' });
    await stack.publish('waste', 'bin-hang-1', { fill: 99 });
    const opened = await nextAlert((a) => a.rule === 'hang-test' && a.state === 'open', 'open with a hanging webhook');
    await eventually(() => (hung.length > 0 ? true : undefined), 10_000, 'the webhook request');
    // The webhook holds the open event; live events keep flowing.
    await stack.publish('waste', 'bin-hang-1', { fill: 10 });
    await stack.publish('waste', 'bin-hang-1', { fill: 11 });
    await eventually(() => liveReadings.find((r) => r.deviceId === 'bin-hang-1' && r.values.fill === 11), 10_000, 'readings while the webhook hangs');
    const cleared = await nextAlert((a) => a.rule === 'hang-test' && a.state === 'cleared', 'clear with a hanging webhook');
    expect(cleared.id).toBe(opened.id);
    const stats = stack.lab.api.alerts!.webhook!.stats();
    expect(stats.sent).toBe(sentBefore);
    expect(stats.queued).toBeGreaterThanOrEqual(2);
    expect(hookReceived.filter((r) => r.status === 'hung')).toHaveLength(1);
  });
});
