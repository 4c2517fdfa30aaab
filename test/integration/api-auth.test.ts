/**
 * The API's access control and hardening: every status code the issue lists, reader and
 * admin roles, public read on and off, the live feed's authentication, rate limit, body
 * limit, security headers and CORS — and no secret or token in any log line.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ApiKeyWithToken,
  ClientToServerEvents,
  DeviceListResponse,
  DeviceStatus,
  DeviceWithSecret,
  ErrorResponse,
  LiveReading,
  ServerToClientEvents,
  SubscribeAck,
} from '../../contracts/index.ts';
import { createLogger } from '../../common/logger.ts';
import { openFileRegistry, type FileRegistry } from '../../common/registry/index.ts';
import { buildApp, type AppOptions } from '../../api/app.ts';
import { runDevicesCli } from '../../api/cli/run.ts';
import type { ReadingStore } from '../../api/store.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const logLines: string[] = [];
let stack: Stack;
let readerToken: string;
const sockets: LiveSocket[] = [];
const apps: FastifyInstance[] = [];
const registries: FileRegistry[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(chunk.toString());
      done();
    },
  });
  stack = await startStack({ security: 'secured', publicRead: false, logger: createLogger({ level: 'trace', destination }) });
  const created = await call<ApiKeyWithToken>('POST', '/api/v1/keys', stack.adminToken, { name: 'research group' });
  expect(created.status).toBe(201);
  readerToken = created.body.token;
});

afterAll(async () => {
  sockets.forEach((s) => s.disconnect());
  await Promise.all(apps.map((a) => a.close()));
  await Promise.all(registries.map((r) => r.close()));
  await stack?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function call<T = ErrorResponse>(method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T; headers: Headers }> {
  const response = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T, headers: response.headers };
}

const newDevice = (id: string, extra: Record<string, unknown> = {}) => ({ id, kind: 'air', owner: 'acme', lat: 55.68, lon: 12.57, ...extra });

function expectError(result: { status: number; body: unknown }, status: number, code: string, mentions?: string): void {
  expect(result.status).toBe(status);
  expect(result.body).toMatchObject({ error: code, statusCode: status });
  expect(typeof (result.body as ErrorResponse).message).toBe('string');
  if (mentions) expect((result.body as ErrorResponse).message).toContain(mentions);
}

/** A bare app (no InfluxDB behind it) for the settings that need their own instance. */
async function bareApp(options: Partial<AppOptions>): Promise<{ app: FastifyInstance; registry: FileRegistry }> {
  const dir = await mkdtemp(join(tmpdir(), 'streetlab-api-auth-'));
  dirs.push(dir);
  const registry = await openFileRegistry({ dataDir: dir, pollIntervalMs: 0 });
  registries.push(registry);
  const unused = new Proxy({}, { get: () => async () => [] }) as unknown as ReadingStore;
  const app = await buildApp({ store: unused, registry, ...options });
  apps.push(app);
  return { app, registry };
}

describe('without credentials (PUBLIC_READ off)', () => {
  it('answers 401 with a Bearer challenge on every read and admin endpoint, and serves health', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/devices'],
      ['GET', '/api/v1/devices/air-1'],
      ['GET', '/api/v1/readings'],
      ['GET', '/api/v1/latest'],
      ['GET', '/api/v1/rejections'],
      ['POST', '/api/v1/devices'],
      ['GET', '/api/v1/keys'],
      ['GET', '/api/v1/no-such-route'],
    ] as const) {
      const result = await call(method, path, undefined, method === 'POST' ? newDevice('x-1') : undefined);
      expectError(result, 401, 'UNAUTHORIZED');
      expect(result.headers.get('www-authenticate'), path).toContain('Bearer');
    }
    expect((await call('GET', '/healthz')).status).toBe(200);
  });

  it('answers 401 for a token that matches nothing, and for a malformed header', async () => {
    expectError(await call('GET', '/api/v1/devices', 'slk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'), 401, 'UNAUTHORIZED', 'not valid');
    expectError(await call('GET', '/api/v1/devices', undefined, undefined, { authorization: 'Basic YWRtaW46YWRtaW4=' }), 401, 'UNAUTHORIZED');
    expectError(await call('GET', '/healthz', 'wrong-token'), 401, 'UNAUTHORIZED');
  });
});

describe('a reader key', () => {
  it('reads devices, readings and rejections', async () => {
    expect((await call<DeviceListResponse>('GET', '/api/v1/devices', readerToken)).status).toBe(200);
    expect((await call('GET', '/api/v1/readings?from=-1h', readerToken)).status).toBe(200);
    expect((await call('GET', '/api/v1/rejections', readerToken)).status).toBe(200);
  });

  it('gets 403 on every admin endpoint', async () => {
    await stack.register('air', 'air-reader-target');
    for (const [method, path, body] of [
      ['POST', '/api/v1/devices', newDevice('air-by-reader')],
      ['PATCH', '/api/v1/devices/air-reader-target', { name: 'x' }],
      ['DELETE', '/api/v1/devices/air-reader-target', undefined],
      ['POST', '/api/v1/devices/air-reader-target/secret', undefined],
      ['GET', '/api/v1/keys', undefined],
      ['POST', '/api/v1/keys', { name: 'escalate', role: 'admin' }],
    ] as const) {
      expectError(await call(method, path, readerToken, body), 403, 'FORBIDDEN', 'admin');
    }
    expect(stack.registry.peek('air-by-reader')).toBeUndefined();
  });

  it('stops working the moment it is revoked', async () => {
    const { body } = await call<ApiKeyWithToken>('POST', '/api/v1/keys', stack.adminToken, { name: 'temporary' });
    expect((await call('GET', '/api/v1/devices', body.token)).status).toBe(200);
    expect((await call('DELETE', `/api/v1/keys/${body.key.id}`, stack.adminToken)).status).toBe(204);
    expectError(await call('GET', '/api/v1/devices', body.token), 401, 'UNAUTHORIZED');
    expectError(await call('DELETE', `/api/v1/keys/${body.key.id}`, stack.adminToken), 404, 'NOT_FOUND');
  });
});

describe('the admin', () => {
  it('registers a device (201 with its secret, no-store), and gets 409 for a duplicate id', async () => {
    const created = await call<DeviceWithSecret>('POST', '/api/v1/devices', stack.adminToken, newDevice('air-admin-1', { site: 'Vesterbro' }));
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    expect(created.body.device).toMatchObject({ id: 'air-admin-1', kind: 'air', site: 'Vesterbro', enabled: true, intervalSeconds: 60 });
    expect(created.body.secret.length).toBeGreaterThanOrEqual(22);
    expectError(await call('POST', '/api/v1/devices', stack.adminToken, newDevice('air-admin-1')), 409, 'CONFLICT', 'air-admin-1');
    // Listing never shows a secret or its hash.
    const list = await call<DeviceListResponse>('GET', '/api/v1/devices', stack.adminToken);
    expect(JSON.stringify(list.body)).not.toContain(created.body.secret);
    expect(JSON.stringify(list.body)).not.toContain('scrypt');
  });

  it('gets 400 naming the bad field for a bad body or id', async () => {
    expectError(await call('POST', '/api/v1/devices', stack.adminToken, newDevice('air-bad-1', { lat: 200 })), 400, 'BAD_REQUEST', 'lat');
    expectError(await call('POST', '/api/v1/devices', stack.adminToken, newDevice('air-bad-2', { kind: 'nuclear' })), 400, 'BAD_REQUEST', 'kind');
    expectError(await call('POST', '/api/v1/devices', stack.adminToken, newDevice('air-bad-3', { secret: 'mine' })), 400, 'BAD_REQUEST', 'secret');
    expectError(await call('POST', '/api/v1/devices', stack.adminToken, { ...newDevice('x'), id: 'has space' }), 400, 'BAD_REQUEST', 'id');
    expectError(await call('POST', '/api/v1/devices', stack.adminToken, { ...newDevice('x'), owner: undefined }), 400, 'BAD_REQUEST', 'owner');
    expectError(await call('POST', '/api/v1/devices', stack.adminToken, '{"id": '), 400, 'FST_ERR_CTP_INVALID_JSON_BODY');
    expectError(await call('PATCH', '/api/v1/devices/air-admin-1', stack.adminToken, { intervalSeconds: 0 }), 400, 'BAD_REQUEST', 'intervalSeconds');
    expectError(await call('GET', '/api/v1/devices/not%20an%20id', stack.adminToken), 400, 'BAD_REQUEST', 'id');
    expectError(await call('POST', '/api/v1/devices', stack.adminToken, newDevice('streetlab-ingest')), 400, 'BAD_REQUEST', 'reserved');
  });

  it('gets 404 for an unknown device on every device endpoint', async () => {
    for (const [method, path, body] of [
      ['GET', '/api/v1/devices/air-ghost', undefined],
      ['PATCH', '/api/v1/devices/air-ghost', { name: 'x' }],
      ['DELETE', '/api/v1/devices/air-ghost', undefined],
      ['POST', '/api/v1/devices/air-ghost/secret', undefined],
    ] as const) {
      expectError(await call(method, path, stack.adminToken, body), 404, 'NOT_FOUND', 'air-ghost');
    }
  });

  it('updates, disables, rotates and removes a device', async () => {
    await call('POST', '/api/v1/devices', stack.adminToken, newDevice('air-admin-2'));
    const patched = await call<{ name: string; enabled: boolean; site?: string }>('PATCH', '/api/v1/devices/air-admin-2', stack.adminToken, { name: 'Corner', enabled: false, site: 'Amager' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ name: 'Corner', enabled: false, site: 'Amager' });
    const rotated = await call<DeviceWithSecret>('POST', '/api/v1/devices/air-admin-2/secret', stack.adminToken);
    expect(rotated.status).toBe(200);
    expect(rotated.headers.get('cache-control')).toBe('no-store');
    expect((await call('DELETE', '/api/v1/devices/air-admin-2', stack.adminToken)).status).toBe(204);
    expect((await call('GET', '/api/v1/devices/air-admin-2', stack.adminToken)).status).toBe(404);
  });

  it('loses no device when many registrations arrive at once', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `air-burst-${i}`);
    const results = await Promise.all(ids.map((id) => call('POST', '/api/v1/devices', stack.adminToken, newDevice(id))));
    expect(results.map((r) => r.status)).toEqual(ids.map(() => 201));
    const { body } = await call<DeviceListResponse>('GET', '/api/v1/devices', readerToken);
    expect(ids.every((id) => body.devices.some((d) => d.id === id))).toBe(true);
    const reopened = await openFileRegistry({ file: stack.registry.file, pollIntervalMs: 0 });
    registries.push(reopened);
    expect(ids.every((id) => reopened.peek(id))).toBe(true);
  });

  it('may hand out admin keys, which work like the admin token', async () => {
    const { body } = await call<ApiKeyWithToken>('POST', '/api/v1/keys', stack.adminToken, { name: 'ops', role: 'admin' });
    expect(body.key.role).toBe('admin');
    expect((await call('POST', '/api/v1/devices', body.token, newDevice('air-by-ops-key'))).status).toBe(201);
  });
});

describe('the live feed (socket.io)', () => {
  function open(auth?: { token: string }): LiveSocket {
    const socket: LiveSocket = connectSocket(stack.apiUrl, { transports: ['websocket'], reconnection: false, ...(auth ? { auth } : {}) });
    sockets.push(socket);
    return socket;
  }

  it('refuses a client without a key, or with a wrong one, while public read is off', async () => {
    for (const auth of [undefined, { token: 'nope' }]) {
      const error = await new Promise<Error & { data?: { statusCode?: number } }>((resolve, reject) => {
        const socket = open(auth);
        socket.once('connect', () => reject(new Error('connected without a valid key')));
        socket.once('connect_error', resolve);
      });
      expect(error.message).toContain('UNAUTHORIZED');
      expect(error.data?.statusCode).toBe(401);
    }
  });

  it('pushes readings to a client with a reader key', async () => {
    const socket = open({ token: readerToken });
    const ack = await new Promise<SubscribeAck>((resolve, reject) => {
      socket.once('connect_error', reject);
      socket.once('connect', () => socket.emit('subscribe', { deviceId: 'air-live-key' }, resolve));
    });
    expect(ack.ok).toBe(true);
    const received: LiveReading[] = [];
    socket.on('reading', (r) => received.push(r));
    await stack.publish('air', 'air-live-key', { pm25: 4 });
    const reading = await eventually(() => received[0], 5_000, 'the live reading');
    expect(reading).toMatchObject({ deviceId: 'air-live-key', values: { pm25: 4 } });
  });

  it('tells connected clients when a device is registered, disabled or removed', async () => {
    const socket = open({ token: readerToken });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect_error', reject);
      socket.once('connect', () => resolve());
    });
    const events: DeviceStatus[] = [];
    socket.on('device', (status) => events.push(status));
    await call('POST', '/api/v1/devices', stack.adminToken, newDevice('air-status-1'));
    await call('PATCH', '/api/v1/devices/air-status-1', stack.adminToken, { enabled: false });
    await call('DELETE', '/api/v1/devices/air-status-1', stack.adminToken);
    await eventually(() => (events.length >= 3 ? true : undefined), 3_000, 'three device events');
    expect(events.map((e) => [e.deviceId, e.kind, e.status])).toEqual([
      ['air-status-1', 'air', 'created'],
      ['air-status-1', 'air', 'disabled'],
      ['air-status-1', 'air', 'removed'],
    ]);
  });
});

describe('with PUBLIC_READ on', () => {
  it('opens reads to everyone and keeps changes admin-only', async () => {
    const { app, registry } = await bareApp({ auth: { adminToken: 'a'.repeat(40), publicRead: true } });
    await registry.create({ id: 'air-public', kind: 'air', owner: 'acme', lat: 1, lon: 2, intervalSeconds: 60, enabled: true, meta: {} });
    const list = await app.inject({ method: 'GET', url: '/api/v1/devices' });
    expect(list.statusCode).toBe(200);
    expect(list.json<DeviceListResponse>().devices.map((d) => d.id)).toEqual(['air-public']);
    expect((await app.inject({ method: 'GET', url: '/api/v1/devices/air-public' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/api/v1/devices', payload: newDevice('air-anon') })).statusCode).toBe(401);
    const { token } = await registry.createApiKey({ name: 'reader', role: 'reader' });
    expect((await app.inject({ method: 'DELETE', url: '/api/v1/devices/air-public', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(403);
    expect((await app.inject({ method: 'DELETE', url: '/api/v1/devices/air-public', headers: { authorization: `Bearer ${'a'.repeat(40)}` } })).statusCode).toBe(204);
  });
});

describe('hardening', () => {
  it('answers 429 with Retry-After past the rate limit, per client, and never limits health checks', async () => {
    const { app, registry } = await bareApp({ security: { rateLimit: { max: 3, timeWindowMs: 60_000 } } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await app.inject({ method: 'GET', url: '/api/v1/devices' })).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await app.inject({ method: 'GET', url: '/api/v1/devices' });
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.json()).toMatchObject({ error: 'RATE_LIMITED', statusCode: 429 });
    expect(limited.json<ErrorResponse>().message).toContain('rate limit');
    for (let i = 0; i < 5; i += 1) expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    // A key holder has its own budget, not the address's.
    const { token } = await registry.createApiKey({ name: 'r', role: 'reader' });
    expect((await app.inject({ method: 'GET', url: '/api/v1/devices', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
  });

  it('answers 413 for a body over the limit', async () => {
    const { app } = await bareApp({ bodyLimitBytes: 1024, auth: { adminToken: 'b'.repeat(40), publicRead: false } });
    const response = await app.inject({
      method: 'POST',
      url: '/api/v1/devices',
      headers: { authorization: `Bearer ${'b'.repeat(40)}`, 'content-type': 'application/json' },
      payload: JSON.stringify(newDevice('air-huge', { meta: { blob: 'x'.repeat(4096) } })),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ statusCode: 413 });
  });

  it('sends security headers, and CORS headers only to allowed origins', async () => {
    const { app } = await bareApp({ security: { corsOrigins: ['https://dashboard.example'] } });
    const response = await app.inject({ method: 'GET', url: '/api/v1/devices', headers: { origin: 'https://dashboard.example' } });
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['content-security-policy']).toContain("default-src 'self'");
    expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(response.headers['access-control-allow-origin']).toBe('https://dashboard.example');
    const foreign = await app.inject({ method: 'GET', url: '/api/v1/devices', headers: { origin: 'https://evil.example' } });
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
    const preflight = await app.inject({
      method: 'OPTIONS',
      url: '/api/v1/devices',
      headers: { origin: 'https://dashboard.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-headers']).toContain('authorization');
  });
});

describe('the logs', () => {
  it('contain no secret, token or password, though the stack logged at trace level throughout', async () => {
    const issued = await call<DeviceWithSecret>('POST', '/api/v1/devices', stack.adminToken, newDevice('air-log-1'));
    await stack.publish('air', 'air-log-1', { pm25: 1 });
    await call('GET', '/api/v1/devices', 'slk_aaaaaaaaaaaa_this-is-a-guessed-token-that-should-not-be-logged');
    await stack.flush();
    const log = logLines.join('');
    expect(log.length).toBeGreaterThan(1_000);
    const secrets = {
      adminToken: stack.adminToken,
      readerToken,
      deviceSecret: issued.body.secret,
      stackDeviceSecret: stack.credentials('air-log-1')!.password,
      ingestPassword: stack.serviceCredentials('ingest').password,
      apiPassword: stack.serviceCredentials('api').password,
      serviceToken: stack.serviceToken,
      guessed: 'this-is-a-guessed-token',
    };
    for (const [name, secret] of Object.entries(secrets)) expect(log.includes(secret), name).toBe(false);
    expect(log).not.toMatch(/scrypt\$\d+/);
  });
});

describe('npm run devices (over HTTP with ADMIN_TOKEN)', () => {
  async function cli(args: string[], env: Record<string, string | undefined> = { ADMIN_TOKEN: stack.adminToken, API_URL: stack.apiUrl }) {
    let out = '';
    let err = '';
    const code = await runDevicesCli(args, { env, out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  }

  it('adds, shows, lists, rotates, disables and removes a device, and manages keys', async () => {
    const added = await cli(['add', 'air-cli-1', '--kind', 'air', '--owner', 'Acme', '--lat', '55.7', '--lon', '12.6', '--site', 'Dronning Louises Bro', '--json']);
    expect(added.code, added.err).toBe(0);
    const issued = JSON.parse(added.out) as DeviceWithSecret;
    expect(issued.device).toMatchObject({ id: 'air-cli-1', site: 'Dronning Louises Bro' });
    expect((await stack.registry.verifySecret('air-cli-1', issued.secret)).ok).toBe(true);

    const shown = await cli(['show', 'air-cli-1']);
    expect(shown.out).toContain('Dronning Louises Bro');
    expect(shown.out).not.toContain(issued.secret);
    expect((await cli(['list'])).out).toMatch(/air-cli-1\s+air\s+enabled\s+Acme/);

    const rotated = await cli(['rotate', 'air-cli-1']);
    expect(rotated.code).toBe(0);
    const fresh = /MQTT secret[^\n]*\n\s+(\S+)/.exec(rotated.out)?.[1];
    expect(fresh).toBeDefined();
    expect((await stack.registry.verifySecret('air-cli-1', issued.secret)).ok).toBe(false);
    expect((await stack.registry.verifySecret('air-cli-1', fresh!)).ok).toBe(true);

    expect((await cli(['disable', 'air-cli-1'])).out).toContain('DISABLED');
    expect(stack.registry.peek('air-cli-1')?.enabled).toBe(false);
    expect((await cli(['enable', 'air-cli-1'])).code).toBe(0);
    expect((await cli(['update', 'air-cli-1', '--no-site', '--name', 'Bridge sensor'])).out).toContain('Bridge sensor');
    expect((await cli(['remove', 'air-cli-1'])).out).toContain('removed air-cli-1');
    const gone = await cli(['show', 'air-cli-1']);
    expect(gone.code).toBe(1);
    expect(gone.err).toContain('404');

    const key = await cli(['keys', 'add', 'dashboard', '--json']);
    const { token } = JSON.parse(key.out) as ApiKeyWithToken;
    expect((await call('GET', '/api/v1/devices', token)).status).toBe(200);
  });

  it('says what is wrong: a duplicate, a bad token, no token, a bad argument', async () => {
    await cli(['add', 'air-cli-2', '--kind', 'air', '--owner', 'Acme', '--lat', '1', '--lon', '2']);
    const duplicate = await cli(['add', 'air-cli-2', '--kind', 'air', '--owner', 'Acme', '--lat', '1', '--lon', '2']);
    expect(duplicate.code).toBe(1);
    expect(duplicate.err).toContain('409 CONFLICT');
    const badToken = await cli(['list'], { ADMIN_TOKEN: 'x'.repeat(40), API_URL: stack.apiUrl });
    expect(badToken.code).toBe(1);
    expect(badToken.err).toContain('401');
    const reader = await cli(['add', 'air-cli-3', '--kind', 'air', '--owner', 'A', '--lat', '1', '--lon', '2'], { ADMIN_TOKEN: readerToken, API_URL: stack.apiUrl });
    expect(reader.err).toContain('403');
    const noToken = await cli(['list'], { API_URL: stack.apiUrl });
    expect(noToken.code).toBe(2);
    expect(noToken.err).toContain('--data-dir');
    const badArg = await cli(['add', 'air-cli-4', '--kind', 'air', '--owner', 'A', '--lat', 'north', '--lon', '2']);
    expect(badArg.code).toBe(2);
    expect(badArg.err).toContain('--lat');
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('--data-dir');
    expect(help.out).toContain('ADMIN_TOKEN');
  });
});
