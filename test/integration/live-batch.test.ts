/**
 * The live hub's opt-in batching with real parts: an Aedes broker on a free port, the hub
 * subscribed to its live feed, socket.io on a free port and socket.io-client sockets — some
 * batching (`auth: { batch: true }`), some not — on the same hub at once. The live feed is
 * published straight to the broker, as the edge does (one LiveFeedBatch per message).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { Server } from 'socket.io';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, type Broker } from '../../broker/broker.ts';
import { createLiveHub, roomsOf, type LiveHub, type LiveServer } from '../../api/live-hub.ts';
import {
  LIVE_BATCH_TOPIC,
  type LiveFeedBatch,
  type Alert,
  type ClientToServerEvents,
  type LiveReading,
  type ReadingKind,
  type Rejection,
  type ServerToClientEvents,
  type SubscribeAck,
  type SubscribeRequest,
} from '../../contracts/index.ts';
import { eventually } from '../helpers/stack.ts';

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const MAX_BATCH = 25;
let broker: Broker;
let io: LiveServer;
let hub: LiveHub;
let url: string;
let feed: MqttClient;
const sockets: LiveSocket[] = [];
let nextSeq = 1;

beforeAll(async () => {
  broker = await createBroker({ port: 0 });
  const http = createServer();
  io = new Server(http, { serveClient: false }) as LiveServer;
  hub = createLiveHub({ io, mqttUrl: broker.url, maxBatch: MAX_BATCH });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  await hub.ready;
  feed = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
});

afterAll(async () => {
  sockets.forEach((s) => s.disconnect());
  await feed?.endAsync();
  await hub?.close();
  await new Promise<void>((resolve) => (io ? io.close(() => resolve()) : resolve()));
  await broker?.close();
});

interface Client {
  socket: LiveSocket;
  /** Readings in the order received, and how many frames they came in. */
  readings: LiveReading[];
  rejections: Rejection[];
  frames: number;
  batchSizes: number[];
}

async function openClient(batch: boolean, subscriptions: SubscribeRequest[]): Promise<Client> {
  const socket: LiveSocket = connectSocket(url, { transports: ['websocket'], reconnection: false, ...(batch ? { auth: { batch: true } } : {}) });
  sockets.push(socket);
  const client: Client = { socket, readings: [], rejections: [], frames: 0, batchSizes: [] };
  socket.on('reading', (r) => {
    client.frames += 1;
    client.readings.push(r);
  });
  socket.on('readings', (rs) => {
    client.frames += 1;
    client.batchSizes.push(rs.length);
    client.readings.push(...rs);
  });
  socket.on('rejected', (r) => client.rejections.push(r));
  socket.on('rejections', (rs) => client.rejections.push(...rs));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect_error', reject);
    socket.once('connect', () => resolve());
  });
  for (const subscription of subscriptions) {
    const ack = await new Promise<SubscribeAck>((resolve) => socket.emit('subscribe', subscription, resolve));
    expect(ack.ok).toBe(true);
  }
  return client;
}

function reading(kind: ReadingKind, deviceId: string): LiveReading {
  return { kind, deviceId, ts: new Date().toISOString(), seq: nextSeq++, values: { value: 1 } };
}

/** Publishes the readings on the live feed back to back, one feed message each (the edge's busiest shape for the hub). */
async function publishBurst(readings: LiveReading[]): Promise<void> {
  await Promise.all(readings.map((r) => feed.publishAsync(LIVE_BATCH_TOPIC, JSON.stringify({ readings: [r], rejections: [] } satisfies LiveFeedBatch), { qos: 0 })));
}

const seqs = (readings: LiveReading[]) => readings.map((r) => r.seq);

describe('live hub batching', () => {
  it('gives a batching and a non-batching client every reading of a burst once, in order, in capped batches', async () => {
    const batching = await openClient(true, [{}]);
    const single = await openClient(false, [{}]);
    const burst = Array.from({ length: 300 }, (_, i) => reading(i % 2 ? 'air' : 'traffic', `dev-${i % 7}`));
    await publishBurst(burst);
    await eventually(() => (batching.readings.length >= burst.length && single.readings.length >= burst.length ? true : undefined), 20_000, 'the burst on both clients');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seqs(batching.readings)).toEqual(seqs(burst));
    expect(seqs(single.readings)).toEqual(seqs(burst));
    expect(single.frames).toBe(burst.length);
    // How many feed messages share an event-loop turn depends on the machine's speed, so
    // the number of batches does too; that every batch holds 1 … MAX_BATCH readings does not.
    expect(batching.frames).toBe(batching.batchSizes.length);
    expect(batching.batchSizes.every((size) => size >= 1 && size <= MAX_BATCH)).toBe(true);
    expect(batching.readings[0]).toEqual(burst[0]);
  });

  it('sends one feed message of more readings than the cap as full batches and the rest', async () => {
    const batching = await openClient(true, [{}]);
    const single = await openClient(false, [{}]);
    // One feed message is handled in one turn whatever the machine's speed: the hub queues
    // its readings, sends a batch each time MAX_BATCH are waiting and the rest at the turn's end.
    const message = Array.from({ length: 2 * MAX_BATCH + 10 }, (_, i) => reading('air', `dev-${i % 3}`));
    await feed.publishAsync(LIVE_BATCH_TOPIC, JSON.stringify({ readings: message, rejections: [] } satisfies LiveFeedBatch), { qos: 0 });
    await eventually(() => (batching.readings.length >= message.length && single.readings.length >= message.length ? true : undefined), 20_000, 'the message on both clients');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(batching.batchSizes).toEqual([MAX_BATCH, MAX_BATCH, 10]);
    expect(seqs(batching.readings)).toEqual(seqs(message));
    expect(single.frames).toBe(message.length);
    expect(seqs(single.readings)).toEqual(seqs(message));
  });

  it('sends a lone reading at once, as a batch of one', async () => {
    const batching = await openClient(true, [{}]);
    const lone = reading('waste', 'bin-1');
    await publishBurst([lone]);
    // Nothing else is published: a hub that waited for a fuller batch would never send it.
    // (That the flush is at the end of the event-loop turn, with no timer, is unit-tested in
    // test/unit/api/live-batch.test.ts.)
    await eventually(() => (batching.readings.length > 0 ? true : undefined), 20_000, 'the lone reading');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(batching.batchSizes).toEqual([1]);
    expect(batching.readings).toEqual([lone]);
  });

  it('filters by subscription and delivers a reading once when several subscriptions match it', async () => {
    const byKind = await openClient(true, [{ kind: 'air' }]);
    const byDevice = await openClient(true, [{ deviceId: 'dev-b' }]);
    const byBoth = await openClient(true, [{ kind: 'air', deviceId: 'dev-b' }]);
    const overlapping = await openClient(true, [{}, { kind: 'air' }, { deviceId: 'dev-b' }, { kind: 'air', deviceId: 'dev-b' }]);
    const twoKinds = await openClient(true, [{ kind: 'traffic' }, { kind: 'waste' }]);
    const singleByKind = await openClient(false, [{ kind: 'air' }]);
    const burst = [reading('air', 'dev-a'), reading('air', 'dev-b'), reading('traffic', 'dev-b'), reading('waste', 'dev-c'), reading('air', 'dev-b')];
    await publishBurst(burst);
    const expected: [Client, number][] = [[byKind, 3], [byDevice, 3], [byBoth, 2], [overlapping, 5], [twoKinds, 2], [singleByKind, 3]];
    await eventually(() => (expected.every(([client, n]) => client.readings.length >= n) ? true : undefined), 20_000, 'the burst on every client');
    // Time for a reading that should not come at all.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const [a, b, c, d, e] = burst.map((r) => r.seq);
    expect(seqs(byKind.readings)).toEqual([a, b, e]);
    expect(seqs(byDevice.readings)).toEqual([b, c, e]);
    expect(seqs(byBoth.readings)).toEqual([b, e]);
    expect(seqs(overlapping.readings)).toEqual([a, b, c, d, e]);
    expect(seqs(twoKinds.readings)).toEqual([c, d]);
    expect(seqs(singleByKind.readings)).toEqual([a, b, e]);
  });

  it('stops sending what a batching client unsubscribed from', async () => {
    const client = await openClient(true, [{ kind: 'air' }, { kind: 'traffic' }]);
    const ack = await new Promise<SubscribeAck>((resolve) => client.socket.emit('unsubscribe', { kind: 'air' }, resolve));
    expect(ack.ok).toBe(true);
    const burst = [reading('air', 'dev-a'), reading('traffic', 'dev-t')];
    await publishBurst(burst);
    await eventually(() => (client.readings.length > 0 ? true : undefined), 20_000, 'the traffic reading');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(seqs(client.readings)).toEqual([burst[1]!.seq]);
  });

  it('sends rejections to batching clients as `rejections` arrays', async () => {
    const batching = await openClient(true, [{ deviceId: 'bad-1' }]);
    const single = await openClient(false, [{ deviceId: 'bad-1' }]);
    const rejection: Rejection = { reason: 'PAYLOAD_NOT_JSON', message: 'the payload is not valid JSON', issues: [], kind: 'air', deviceId: 'bad-1', topic: 'lab/v1/air/bad-1', receivedAt: new Date().toISOString(), excerpt: '{', size: 1 };
    await feed.publishAsync(LIVE_BATCH_TOPIC, JSON.stringify({ readings: [], rejections: [rejection] } satisfies LiveFeedBatch), { qos: 0 });
    await eventually(() => (batching.rejections.length > 0 && single.rejections.length > 0 ? true : undefined), 20_000, 'the rejection on both');
    expect(batching.rejections).toEqual([rejection]);
    expect(single.rejections).toEqual([rejection]);
    expect(batching.frames + single.frames).toBe(0);
  });

  it('still sends room-addressed events such as alerts to batching clients, once each', async () => {
    const batching = await openClient(true, [{}, { deviceId: 'bin-9' }]);
    const alerts: Alert[] = [];
    batching.socket.on('alert', (alert) => alerts.push(alert));
    const at = new Date().toISOString();
    const alert: Alert = { id: 'a-1', rule: 'bin-full', ruleName: 'Bin full', ruleType: 'threshold', severity: 'warning', state: 'open', deviceId: 'bin-9', kind: 'waste', message: 'bin-9: fill 86 % ≥ 80 %', value: 86, at, openedAt: at, repeats: 0 };
    // As api/server.ts sends alerts.
    io.to(roomsOf('waste', 'bin-9')).emit('alert', alert);
    await eventually(() => (alerts.length > 0 ? true : undefined), 20_000, 'the alert');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(alerts).toEqual([alert]);
  });

  it('refuses a handshake whose batch option is not a boolean', async () => {
    const socket: LiveSocket = connectSocket(url, { transports: ['websocket'], reconnection: false, auth: { batch: 'yes' } });
    sockets.push(socket);
    const error = await new Promise<Error>((resolve) => socket.once('connect_error', resolve));
    expect(error.message).toMatch(/LIVE_AUTH_INVALID/);
  });
});
