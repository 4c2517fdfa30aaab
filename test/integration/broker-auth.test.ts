/**
 * The broker's security with real clients (mqtt.js over TCP, WebSocket and TLS, and raw
 * sockets for what no well-behaved client sends): who may connect, what a device may
 * publish and subscribe to, revocation within a second, the rate limit (a throttle), and the
 * packet guard that keeps hostile or oversized packets from being buffered. Readings go
 * through a real edge, so refusals are reported the way devices see them: on their own
 * `/rejected` topic.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import mqttPacket from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIVE_BATCH_TOPIC, LiveFeedBatchSchema, RejectionSchema, type ReadingKind } from '../../contracts/index.ts';
import { openFileRegistry, serviceCredentials, type FileRegistry, type ServiceRole } from '../../common/registry/index.ts';
import { createBroker, type Broker } from '../../broker/broker.ts';
import { createBrokerPolicy, type BrokerAuth, type BrokerAuthStats } from '../../broker/auth.ts';
import { createEdge, type Edge } from '../../broker/edge.ts';
import { eventually } from '../helpers/stack.ts';
import { mqttPacket as packetByHand, mqttString } from '../helpers/mqtt-bytes.ts';

const SERVICE_TOKEN = 'test-service-token-0123456789abcdef0123456789';
let dir: string;
let registry: FileRegistry;
/** A second registry on the same file: changes made "by another process" (the API). */
let api: FileRegistry;
let policy: BrokerAuth;
let edge: Edge;
let broker: Broker;
let tls: { cert: Buffer; key: Buffer };
const clients: MqttClient[] = [];
const sockets: Socket[] = [];

function makeCertificate(target: string): { cert: Buffer; key: Buffer } {
  const keyFile = join(target, 'key.pem');
  const certFile = join(target, 'cert.pem');
  // Fails loudly when openssl is missing: TLS is part of what is under test.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  return { cert: execFileSync('cat', [certFile]), key: execFileSync('cat', [keyFile]) };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'streetlab-broker-auth-'));
  tls = makeCertificate(dir);
  registry = await openFileRegistry({ dataDir: dir });
  api = await openFileRegistry({ dataDir: dir, pollIntervalMs: 0 });
  edge = await createEdge({ logDir: join(dir, 'log'), limits: { maxPayloadBytes: 1024 } });
  policy = createBrokerPolicy({ registry, serviceToken: SERVICE_TOKEN, edge, rateLimit: { ratePerSecond: 5, burst: 5 }, reportIntervalMs: 200, maxPayloadBytes: 1024 });
  broker = await createBroker({ port: 0, wsPort: 0, tls: { port: 0, ...tls }, policy, edge, maxPayloadBytes: 1024, connectTimeoutMs: 1_000 });
});

afterAll(async () => {
  sockets.forEach((s) => s.destroy());
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
  await broker?.close();
  await registry?.close();
  await api?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type ConnectOutcome = { ok: true; client: MqttClient } | { ok: false; code: number | undefined; message: string };

async function tryConnect(options: IClientOptions, url = broker.url): Promise<ConnectOutcome> {
  try {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 0, connectTimeout: 5_000, ...options }, false);
    clients.push(client);
    return { ok: true, client };
  } catch (error) {
    const e = error as Error & { code?: number };
    return { ok: false, code: typeof e.code === 'number' ? e.code : undefined, message: e.message };
  }
}

async function connected(options: IClientOptions, url?: string): Promise<MqttClient> {
  const outcome = await tryConnect(options, url);
  if (!outcome.ok) throw new Error(`expected to connect, got ${outcome.message}`);
  return outcome.client;
}

async function registerDevice(id: string, kind: ReadingKind = 'air', on: FileRegistry = registry): Promise<string> {
  const { secret } = await on.create({ id, kind, owner: 'acme', lat: 55.68, lon: 12.57, intervalSeconds: 60, enabled: true, meta: {} });
  return secret;
}

function asDevice(id: string, secret: string, extra: IClientOptions = {}): IClientOptions {
  return { clientId: id, username: id, password: secret, ...extra };
}

function asService(role: ServiceRole, clientId = `streetlab-test-${role}-${Math.random().toString(36).slice(2, 8)}`): IClientOptions {
  return { clientId, ...serviceCredentials(SERVICE_TOKEN, role) };
}

/** A monitor (service) that records every message on the filters it subscribes to. */
async function monitor(filters: string[]): Promise<{ messages: { topic: string; payload: Buffer; retain: boolean }[]; client: MqttClient }> {
  const client = await connected(asService('monitor'));
  const messages: { topic: string; payload: Buffer; retain: boolean }[] = [];
  client.on('message', (topic, payload, packet) => messages.push({ topic, payload, retain: packet.retain }));
  const granted = await client.subscribeAsync(filters, { qos: 1 });
  expect(granted.map((g) => g.qos)).not.toContain(128);
  return { messages, client };
}

function closedWithin(client: MqttClient, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (!client.connected) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    client.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Sends one CONNECT over a raw socket (what mqtt.js will not send) and returns the CONNACK's return code. */
async function rawConnect(fields: Partial<Parameters<typeof encodeConnect>[0]>, port = broker.port): Promise<number | 'closed'> {
  const socket = connectTcp(port, broker.host);
  sockets.push(socket);
  socket.on('error', () => {});
  const parser = mqttPacket.parser();
  const answer = new Promise<number | 'closed'>((resolve) => {
    parser.on('packet', (packet) => resolve(packet.cmd === 'connack' ? (packet.returnCode ?? -1) : -1));
    socket.on('data', (data) => parser.parse(data));
    socket.once('close', () => resolve('closed'));
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(encodeConnect({ clientId: '', clean: true, ...fields }));
  const result = await answer;
  socket.destroy();
  return result;
}

/** A CONNECT encoded by hand: mqtt-packet refuses to build the invalid ones under test. */
function encodeConnect(fields: { clientId: string; clean?: boolean | undefined; username?: string | undefined; password?: Buffer | string | undefined }): Buffer {
  let flags = fields.clean === false ? 0 : 0x02;
  const payload = [mqttString(fields.clientId)];
  if (fields.username !== undefined) {
    flags |= 0x80;
    payload.push(mqttString(fields.username));
  }
  if (fields.password !== undefined) {
    flags |= 0x40;
    payload.push(mqttString(Buffer.from(fields.password)));
  }
  return packetByHand(0x10, Buffer.concat([mqttString('MQTT'), Buffer.from([4, flags, 0, 30]), ...payload]));
}

/** The granted QoS of each filter, subscribed one at a time (mqtt.js rejects a whole SUBACK with a 0x80 in it). */
async function grantsOf(client: MqttClient, filters: string[]): Promise<number[]> {
  const grants: number[] = [];
  for (const filter of filters) {
    try {
      const [granted] = await client.subscribeAsync(filter, { qos: 1 });
      grants.push(granted!.qos);
    } catch (error) {
      const e = error as { code?: number; packet?: { granted?: number[] } };
      grants.push(e.code ?? e.packet?.granted?.[0] ?? -1);
    }
  }
  return grants;
}

function stats(): BrokerAuthStats {
  return policy.stats();
}

describe('connecting', () => {
  it('accepts a device with its secret and refuses a wrong secret, an unknown device, a disabled device and anonymous clients', async () => {
    const secret = await registerDevice('air-conn-1');
    await connected(asDevice('air-conn-1', secret));
    expect(await tryConnect(asDevice('air-conn-1', `${secret}x`))).toMatchObject({ ok: false, code: 4 });
    expect(await tryConnect(asDevice('air-nobody', secret))).toMatchObject({ ok: false, code: 4 });
    expect(await tryConnect({ clientId: 'anonymous-1' })).toMatchObject({ ok: false, code: 5 });
    expect(await tryConnect({ clientId: 'air-conn-1', username: 'air-conn-1' })).toMatchObject({ ok: false, code: 4 });
    const disabled = await registerDevice('air-conn-2');
    await registry.update('air-conn-2', { enabled: false });
    expect(await tryConnect(asDevice('air-conn-2', disabled))).toMatchObject({ ok: false, code: 5 });
  });

  it('accepts a device the moment another process registered it, and its new secret the moment it is rotated', async () => {
    // `api` is another registry on the same file (the API process); the broker's copy polls,
    // but a refusal is checked against the file first, so provisioning can connect at once.
    const secret = await registerDevice('air-fresh-1', 'air', api);
    expect(registry.peek('air-fresh-1')).toBeUndefined();
    const device = await connected(asDevice('air-fresh-1', secret));
    await device.publishAsync('lab/v1/air/air-fresh-1', '{"pm25":2}', { qos: 1 });
    await device.endAsync();
    const { secret: fresh } = await api.rotateSecret('air-fresh-1');
    await connected(asDevice('air-fresh-1', fresh));
  });

  it('requires the client id to be the device id', async () => {
    const secret = await registerDevice('air-conn-3');
    expect(await tryConnect(asDevice('air-conn-3', secret, { clientId: 'something-else' }))).toMatchObject({ ok: false, code: 2 });
  });

  it('accepts services with their derived credentials only', async () => {
    await connected(asService('ingest'));
    expect(await tryConnect({ ...asService('ingest'), password: 'guess' })).toMatchObject({ ok: false, code: 4 });
    expect(await tryConnect({ clientId: 'x', username: 'svc:root', password: SERVICE_TOKEN })).toMatchObject({ ok: false, code: 4 });
    // A service may not take a device's client id (it would take over the device's session).
    await registerDevice('air-conn-4');
    expect(await tryConnect(asService('monitor', 'air-conn-4'))).toMatchObject({ ok: false, code: 2 });
  });

  it('refuses to let one identity take over another’s connection', async () => {
    const ingest = await connected(asService('ingest', 'streetlab-takeover-target'));
    expect(await tryConnect(asService('api', 'streetlab-takeover-target'))).toMatchObject({ ok: false, code: 2 });
    expect(ingest.connected).toBe(true);
  });

  it('refuses an empty client id with a persistent session [MQTT-3.1.3-8], control characters and prototype names', async () => {
    expect(await rawConnect({ clientId: '', clean: false, ...serviceCredentials(SERVICE_TOKEN, 'monitor') })).toBe(2);
    expect(await rawConnect({ clientId: '', clean: true, ...serviceCredentials(SERVICE_TOKEN, 'monitor') })).toBe(2);
    // U+0000 breaks MQTT itself: closed without a CONNACK [MQTT-1.5.3-2]; a control character gets 2.
    expect(await tryConnect(asService('monitor', 'bad\u0000id'))).toMatchObject({ ok: false });
    expect(await tryConnect(asService('monitor', 'bad\u0007id'))).toMatchObject({ ok: false, code: 2 });
    expect(await tryConnect(asService('monitor', '__proto__'))).toMatchObject({ ok: false, code: 2 });
    expect(await tryConnect({ clientId: 'constructor', username: 'constructor', password: 'x' })).toMatchObject({ ok: false, code: 2 });
    expect(await tryConnect({ clientId: 'dev\u0000', username: 'svc:mon\u0000itor', password: 'x' })).toMatchObject({ ok: false });
    expect(stats().refusedConnects.EMPTY_ID_PERSISTENT).toBeGreaterThanOrEqual(1);
  });

  it('authenticates the same way over WebSocket and TLS', async () => {
    const secret = await registerDevice('air-conn-ws');
    await connected(asDevice('air-conn-ws', secret), broker.wsUrl);
    expect(await tryConnect(asDevice('air-conn-ws', 'wrong'), broker.wsUrl)).toMatchObject({ ok: false, code: 4 });
    const tlsClient = await connected(asDevice('air-conn-ws', secret, { ca: tls.cert, clientId: 'air-conn-ws' }), broker.tlsUrl);
    expect(tlsClient.connected).toBe(true);
    expect(await tryConnect(asDevice('air-conn-ws', 'wrong', { ca: tls.cert }), broker.tlsUrl)).toMatchObject({ ok: false, code: 4 });
  });
});

describe('what a device may publish', () => {
  it('delivers its own readings (never retained) and rejects a foreign topic on its own /rejected instead of delivering it', async () => {
    const secretA = await registerDevice('air-pub-a');
    await registerDevice('air-pub-b');
    const watcher = await monitor(['lab/v1/#']);
    const a = await connected(asDevice('air-pub-a', secretA));
    const notices: string[] = [];
    a.on('message', (_topic, payload) => notices.push(payload.toString()));
    await a.subscribeAsync('lab/v1/air/air-pub-a/rejected', { qos: 1 });
    const before = edge.counters().rejectedByReason.TOPIC_INVALID ?? 0;
    await a.publishAsync('lab/v1/air/air-pub-a', '{"pm25":1}', { qos: 1, retain: true });
    await a.publishAsync('lab/v1/air/air-pub-b', '{"pm25":666}', { qos: 1 });
    await a.publishAsync('lab/v1/traffic/air-pub-a', '{"period":60}', { qos: 1 });
    await a.publishAsync(LIVE_BATCH_TOPIC, '{"readings":[],"rejections":[]}', { qos: 1 });
    await a.publishAsync('lab/v1/air/air-pub-a/rejected', '{}', { qos: 1 });

    await eventually(() => (notices.length >= 4 ? true : undefined), 3_000, 'four TOPIC_INVALID notices on the device’s own topic');
    const rejections = notices.map((n) => RejectionSchema.parse(JSON.parse(n)));
    expect(rejections.map((r) => r.topic)).toEqual(['lab/v1/air/air-pub-b', 'lab/v1/traffic/air-pub-a', LIVE_BATCH_TOPIC, 'lab/v1/air/air-pub-a/rejected']);
    expect(rejections.every((r) => r.reason === 'TOPIC_INVALID' && r.deviceId === 'air-pub-a' && r.kind === 'air')).toBe(true);
    expect(rejections[0]!.message).toContain('may publish only to lab/v1/air/air-pub-a');
    // The connection stays up: the refusal is reported, not punished.
    expect(a.connected).toBe(true);
    expect((edge.counters().rejectedByReason.TOPIC_INVALID ?? 0) - before).toBe(4);

    const delivered = watcher.messages.filter((m) => m.topic.startsWith('lab/v1/') && !m.topic.endsWith('/rejected'));
    expect(delivered.map((m) => m.topic)).toEqual(['lab/v1/air/air-pub-a']);
    expect(delivered[0]!.retain).toBe(false);
  });

  it('cannot write the internal live feed; only the edge does', async () => {
    const live = await connected(asService('api'));
    const seen: { topic: string; payload: string }[] = [];
    live.on('message', (topic, payload) => seen.push({ topic, payload: payload.toString() }));
    await live.subscribeAsync('$lab/live/v1/#', { qos: 1 });
    const secret = await registerDevice('air-live-1');
    const device = await connected(asDevice('air-live-1', secret));
    const forged = { readings: [{ kind: 'air', deviceId: 'air-live-1', ts: new Date().toISOString(), values: { pm25: 999 } }], rejections: [] };
    await device.publishAsync(LIVE_BATCH_TOPIC, JSON.stringify(forged), { qos: 1 });
    // A real reading reaches the feed, so the forged batch would have too.
    await device.publishAsync('lab/v1/air/air-live-1', '{"pm25":3}', { qos: 1 });
    await eventually(() => (seen.some((m) => m.payload.includes('"pm25":3')) ? true : undefined), 2_000, 'the real reading on the live feed');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const batches = seen.map((m) => LiveFeedBatchSchema.parse(JSON.parse(m.payload)));
    expect(seen.every((m) => m.topic === LIVE_BATCH_TOPIC)).toBe(true);
    expect(batches.flatMap((b) => b.readings).filter((r) => r.deviceId === 'air-live-1').map((r) => r.values.pm25)).toEqual([3]);
    // The forged batch came back as the device's own TOPIC_INVALID rejection.
    expect(batches.flatMap((b) => b.rejections).some((r) => r.deviceId === 'air-live-1' && r.reason === 'TOPIC_INVALID')).toBe(true);
    // And a service may not publish at all: ingest reads the log, the API only reads.
    const ingest = await connected(asService('ingest'));
    ingest.publish(LIVE_BATCH_TOPIC, JSON.stringify(forged), { qos: 0 });
    expect(await closedWithin(ingest, 2_000)).toBe(true);
  });

  it('closes the connection on a topic with U+0000 [MQTT-1.5.3-2], and a service writing where it may not', async () => {
    const secret = await registerDevice('air-nul-1');
    const device = await connected(asDevice('air-nul-1', secret));
    device.publish('lab/v1/air/air-nul-1\u0000x', '{}', { qos: 0 });
    expect(await closedWithin(device, 2_000)).toBe(true);
    const api1 = await connected(asService('api'));
    api1.publish(LIVE_BATCH_TOPIC, '{}', { qos: 0 });
    expect(await closedWithin(api1, 2_000)).toBe(true);
  });
});

describe('what a device may subscribe to', () => {
  it('grants only its own rejected topic', async () => {
    const secret = await registerDevice('air-sub-1');
    await registerDevice('air-sub-2');
    const device = await connected(asDevice('air-sub-1', secret));
    const granted = await grantsOf(device, ['lab/v1/air/air-sub-1/rejected', 'lab/v1/#', '#', 'lab/v1/air/air-sub-2/rejected', '$lab/live/v1/#', 'lab/v1/air/+/rejected', '$SYS/#', '$lab/broker/v1/rejected/#']);
    expect(granted).toEqual([1, 128, 128, 128, 128, 128, 128, 128]);
    expect(device.connected).toBe(true);
  });
});

describe('revocation', () => {
  // Closed by the broker on the registry's change, with nothing more from the device; the
  // wait is a bound for "never", not a speed target.
  it('disconnects a device whose secret is rotated elsewhere, and refuses the old secret', async () => {
    const secret = await registerDevice('air-rot-1', 'air', api);
    await eventually(() => registry.peek('air-rot-1'), 10_000, 'the broker to see the new device');
    const device = await connected(asDevice('air-rot-1', secret));
    const { secret: fresh } = await api.rotateSecret('air-rot-1');
    expect(await closedWithin(device, 10_000)).toBe(true);
    expect(await tryConnect(asDevice('air-rot-1', secret))).toMatchObject({ ok: false, code: 4 });
    await connected(asDevice('air-rot-1', fresh));
  });

  it('disconnects a disabled or removed device and refuses it from then on', async () => {
    const s1 = await registerDevice('air-rev-1', 'air', api);
    const s2 = await registerDevice('air-rev-2', 'air', api);
    await eventually(() => registry.peek('air-rev-2'), 10_000, 'the broker to see the new devices');
    const d1 = await connected(asDevice('air-rev-1', s1));
    const d2 = await connected(asDevice('air-rev-2', s2));
    await api.update('air-rev-1', { enabled: false });
    await api.remove('air-rev-2');
    expect(await closedWithin(d1, 10_000)).toBe(true);
    expect(await closedWithin(d2, 10_000)).toBe(true);
    expect(await tryConnect(asDevice('air-rev-1', s1))).toMatchObject({ ok: false, code: 5 });
    expect(await tryConnect(asDevice('air-rev-2', s2))).toMatchObject({ ok: false, code: 4 });
  });
});

describe('the rate limit', () => {
  it('slows a device down instead of dropping: every message acknowledged and delivered, in order, at the rate', async () => {
    const secret = await registerDevice('air-rate-1');
    const watcher = await monitor(['lab/v1/air/air-rate-1']);
    const before = stats().throttled.total;
    const device = await connected(asDevice('air-rate-1', secret));
    const started = Date.now();
    await Promise.all(Array.from({ length: 20 }, (_, i) => device.publishAsync('lab/v1/air/air-rate-1', `{"pm25":${i}}`, { qos: 1 })));
    const seconds = (Date.now() - started) / 1000;
    await eventually(() => (watcher.messages.length >= 20 ? true : undefined), 3_000, 'all 20 delivered');
    expect(watcher.messages.map((m) => JSON.parse(m.payload.toString()).pm25)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // A burst of 5, then 5/s: the last 15 cannot all have been taken in under 3 s.
    expect(seconds).toBeGreaterThanOrEqual(2.8);
    expect(stats().throttled.total - before).toBeGreaterThanOrEqual(15);
    expect(stats().refusedMessages.RATE_LIMITED ?? 0).toBe(0);
    expect(device.connected).toBe(true);
  });
});

describe('the packet guard', () => {
  it('closes a connection whose payload is over the limit, reports it, and keeps serving everyone else', async () => {
    const secret = await registerDevice('air-big-1');
    const watcher = await monitor(['lab/v1/air/air-big-1', 'lab/v1/air/air-big-1/rejected']);
    const device = await connected(asDevice('air-big-1', secret));
    device.publish('lab/v1/air/air-big-1', Buffer.alloc(1025, 0x7b), { qos: 1 });
    expect(await closedWithin(device, 2_000)).toBe(true);
    const report = await eventually(() => watcher.messages.find((m) => m.topic === 'lab/v1/air/air-big-1/rejected'), 2_000, 'the PAYLOAD_TOO_LARGE report');
    expect(JSON.parse(report.payload.toString())).toMatchObject({ reason: 'PAYLOAD_TOO_LARGE', deviceId: 'air-big-1', size: 1025 });
    expect(broker.securityStats().guard.PAYLOAD_TOO_LARGE).toBeGreaterThanOrEqual(1);

    // Exactly at the limit is fine, and the broker still serves.
    const again = await connected(asDevice('air-big-1', secret));
    await again.publishAsync('lab/v1/air/air-big-1', Buffer.alloc(1024, 0x7b), { qos: 1 });
    await eventually(() => watcher.messages.find((m) => m.topic === 'lab/v1/air/air-big-1'), 2_000, 'the 1024-byte message');
  });

  it('guards WebSocket connections the same way', async () => {
    const secret = await registerDevice('air-big-ws');
    const device = await connected(asDevice('air-big-ws', secret), broker.wsUrl);
    device.publish('lab/v1/air/air-big-ws', Buffer.alloc(4096, 0x7b), { qos: 0 });
    expect(await closedWithin(device, 2_000)).toBe(true);
    await connected(asDevice('air-big-ws', secret), broker.wsUrl);
  });

  it('closes an unauthenticated client announcing a huge CONNECT on its first bytes, without buffering what it streams', async () => {
    const socket = connectTcp(broker.port, broker.host);
    sockets.push(socket);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let written = 0;
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    // A CONNECT that says 100 MB follow, then as much as the socket will take.
    socket.write(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x30]));
    const heapBefore = process.memoryUsage().heapUsed;
    const pump = async () => {
      while (!socket.destroyed && written < 100 * 1024 * 1024) {
        written += chunk.length;
        if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve).once('close', resolve));
      }
    };
    await Promise.race([pump(), closed]);
    await closed;
    // The kernel's socket buffers absorb a few MB at most before the broker's reset arrives.
    expect(written).toBeLessThan(16 * 1024 * 1024);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 * 1024 * 1024);
    expect(broker.securityStats().guard.CONNECT_TOO_LARGE).toBeGreaterThanOrEqual(1);
  });

  it('closes a client that never finishes its CONNECT once the connect timeout passes', async () => {
    const socket = connectTcp(broker.port, broker.host);
    sockets.push(socket);
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const started = Date.now();
    // A CONNECT announcing 200 bytes, of which only 10 ever come.
    socket.write(Buffer.concat([Buffer.from([0x10, 200]), Buffer.alloc(10, 0)]));
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(Date.now() - started).toBeGreaterThanOrEqual(800);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('refuses a first packet that is not CONNECT', async () => {
    const socket = connectTcp(broker.port, broker.host);
    sockets.push(socket);
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(mqttPacket.generate({ cmd: 'publish', topic: 'lab/v1/air/x', payload: Buffer.from('{}'), qos: 0, retain: false, dup: false } as mqttPacket.IPublishPacket));
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(broker.securityStats().guard.CONNECT_NOT_FIRST).toBeGreaterThanOrEqual(1);
  });
});

describe('open mode (MQTT_ALLOW_ANONYMOUS=true)', () => {
  it('is a plain MQTT 3.1.1 broker that still refuses protocol violations and oversized packets', async () => {
    const open = await createBroker({ port: 0, policy: createBrokerPolicy({ allowAnonymous: true }), maxPayloadBytes: 1024 });
    try {
      const sub = await connected({ clientId: 'open-sub' }, open.url);
      const seen: string[] = [];
      sub.on('message', (topic) => seen.push(topic));
      const granted = await sub.subscribeAsync('#', { qos: 1 });
      expect(granted[0]!.qos).toBe(1);
      const pub = await connected({ clientId: 'open-pub' }, open.url);
      await pub.publishAsync('any/topic/at/all', 'hello', { qos: 1 });
      await eventually(() => (seen.includes('any/topic/at/all') ? true : undefined), 2_000, 'delivery in open mode');
      expect(await rawConnect({ clientId: '', clean: false }, open.port)).toBe(2);
      expect(await rawConnect({ clientId: '', clean: true }, open.port)).toBe(0);
      expect(await tryConnect({ clientId: 'ctl\u0001' }, open.url)).toMatchObject({ ok: false, code: 2 });
      pub.publish('x', Buffer.alloc(2048), { qos: 0 });
      expect(await closedWithin(pub, 2_000)).toBe(true);
      const sys = await connected({ clientId: 'open-sys' }, open.url);
      sys.publish('$SYS/fake', 'x', { qos: 0 });
      expect(await closedWithin(sys, 2_000)).toBe(true);
    } finally {
      await open.close();
    }
  });
});

it('never writes a device secret into the registry file', async () => {
  const secret = await registerDevice('air-file-1');
  expect(await readFile(join(dir, 'registry.json'), 'utf8')).not.toContain(secret);
});
