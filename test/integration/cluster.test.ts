/**
 * Cluster mode with a real Redis (Debian's redis-server on a free port) and a real InfluxDB:
 * two broker nodes, each with its own edge log and ingest worker, and two API nodes.
 * - a subscriber on node B gets what devices publish on node A (readings and the live feed);
 * - a device's persistent session follows it to the other node, with the notices queued meanwhile;
 * - every reading acknowledged on either node is stored once;
 * - a dashboard on each API node gets every reading exactly once (no echo through Redis), and
 *   an alert raised on one API node reaches the dashboards of both;
 * - exactly one API node holds the jobs' lease; when its holder dies another takes it over
 *   after the lease runs out, not before;
 * - the device registry in Redis: a device registered through one node connects to another at
 *   once, a disabled one is closed on every node, concurrent changes from nodes are all kept.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';
import { io as connectSocket, type Socket } from 'socket.io-client';
import { createApiServer, type ApiServer } from '../../api/server.ts';
import { OPEN_DATA_ROOM } from '../../api/live-hub.ts';
import { createLease } from '../../common/lease.ts';
import type { Alert, ClientToServerEvents, ServerToClientEvents } from '../../contracts/index.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIVE_BATCH_TOPIC, LiveFeedBatchSchema } from '../../contracts/index.ts';
import { createBroker, type Broker } from '../../broker/broker.ts';
import { createClusterEngines } from '../../broker/cluster.ts';
import { createBrokerPolicy } from '../../broker/auth.ts';
import { createEdge } from '../../broker/edge.ts';
import { openFileRegistry, type FileRegistry } from '../../common/registry/index.ts';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { startRedisServer, type RedisServer } from '../../common/redis-server.ts';
import { createIngest, type Ingest } from '../../ingest/ingest.ts';
import { tempDir } from '../helpers/processes.ts';
import { eventually } from '../helpers/stack.ts';

let redis: RedisServer;
let influxServer: InfluxServer;
let influx: InfluxClient;
const nodes: { broker: Broker; ingest: Ingest }[] = [];
const clients: MqttClient[] = [];
const cleanups: (() => Promise<void>)[] = [];
const apis: ApiServer[] = [];
const sockets: Socket<ServerToClientEvents, ClientToServerEvents>[] = [];

async function startNode(): Promise<{ broker: Broker; ingest: Ingest }> {
  const dir = await tempDir('cluster-node');
  cleanups.push(dir.remove);
  const ingest = createIngest({ logDir: dir.path, influx, flushIntervalMs: 20 });
  await ingest.ready;
  const { mq, persistence } = createClusterEngines(redis.url);
  const broker = await createBroker({ port: 0, mq, persistence, edge: { logDir: dir.path, onCommit: () => ingest.wake() } });
  const node = { broker, ingest };
  nodes.push(node);
  return node;
}

async function client(broker: Broker, clientId: string, clean = true): Promise<MqttClient> {
  const c = await mqtt.connectAsync(broker.url, { clientId, clean, reconnectPeriod: 0 });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  [redis, influxServer] = await Promise.all([startRedisServer(), startInfluxServer({ database: 'streetlab' })]);
  influx = createInfluxClient({ url: influxServer.url, database: 'streetlab' });
  await startNode();
  await startNode();
});

afterAll(async () => {
  sockets.forEach((s) => s.disconnect());
  for (const api of apis) await api.close();
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
  for (const node of nodes) {
    await node.broker.close();
    await node.ingest.close();
  }
  for (const cleanup of cleanups) await cleanup();
  await Promise.all([redis?.stop(), influxServer?.stop()]);
});

describe('broker nodes sharing Redis', () => {
  it('deliver what a device publishes on node A to subscribers of readings and of the live feed on node B', async () => {
    const [a, b] = nodes;
    const watcher = await client(b!.broker, 'watcher-b');
    const topics: string[] = [];
    const liveSeqs: number[] = [];
    watcher.on('message', (topic, payload) => {
      if (topic !== LIVE_BATCH_TOPIC) {
        topics.push(topic);
        return;
      }
      for (const r of LiveFeedBatchSchema.parse(JSON.parse(payload.toString())).readings) {
        if (r.deviceId === 'cluster-a-1') liveSeqs.push(r.seq ?? -1);
      }
    });
    await watcher.subscribeAsync(['lab/v1/air/#', LIVE_BATCH_TOPIC], { qos: 1 });
    const device = await client(a!.broker, 'cluster-a-1');
    for (let seq = 0; seq < 5; seq += 1) await device.publishAsync('lab/v1/air/cluster-a-1', JSON.stringify({ seq, pm25: 3 }), { qos: 1 });
    await eventually(() => (topics.length >= 5 && liveSeqs.length >= 5 ? true : undefined), 5_000, 'node B to see node A’s readings').catch((error: unknown) => {
      throw new Error(`${String(error)}; topics ${JSON.stringify(topics)}, live ${JSON.stringify(liveSeqs)}`);
    });
    expect(topics).toEqual(Array(5).fill('lab/v1/air/cluster-a-1'));
    expect(liveSeqs).toEqual([0, 1, 2, 3, 4]);
  });

  it('moves a persistent session to the other node, with the rejection notices queued while it was away', async () => {
    const [a, b] = nodes;
    const first = await client(a!.broker, 'cluster-mover', false);
    await first.subscribeAsync('lab/v1/traffic/cluster-mover/rejected', { qos: 1 });
    await first.endAsync();
    // While it is away, an invalid reading on its topic arrives through the other node (the
    // broker is open here, so another client can publish it) and is rejected there.
    const uploader = await client(b!.broker, 'cluster-mover-upload');
    await uploader.publishAsync('lab/v1/traffic/cluster-mover', JSON.stringify({ period: 60, cars: -4 }), { qos: 1 });
    const back = await mqtt.connectAsync(b!.broker.url, { clientId: 'cluster-mover', clean: false, reconnectPeriod: 0 });
    clients.push(back);
    const notices: string[] = [];
    back.on('message', (_topic, payload) => notices.push(payload.toString()));
    const notice = await eventually(() => notices[0], 5_000, 'the queued notice on the other node');
    expect(JSON.parse(notice)).toMatchObject({ reason: 'FIELD_RANGE', deviceId: 'cluster-mover' });
  });

  it('stores every reading acknowledged on either node once, each node’s log drained by its own ingest worker', async () => {
    const [a, b] = nodes;
    const base = Date.now() - 60_000;
    const onA = await client(a!.broker, 'cluster-store-a');
    const onB = await client(b!.broker, 'cluster-store-b');
    await Promise.all([
      ...Array.from({ length: 200 }, (_, i) => onA.publishAsync('lab/v1/air/cluster-store-a', JSON.stringify({ ts: base + i, seq: i, pm25: 1 }), { qos: 1 })),
      ...Array.from({ length: 200 }, (_, i) => onB.publishAsync('lab/v1/air/cluster-store-b', JSON.stringify({ ts: base + i, seq: i, pm25: 2 }), { qos: 1 })),
    ]);
    await Promise.all(nodes.map((n) => n.ingest.flush()));
    const rows = await influx.queryRows(`SELECT COUNT(seq) AS n FROM air WHERE device =~ /^cluster-store-/ GROUP BY device`);
    expect(rows.map((r) => [r.device, r.n])).toEqual([
      ['cluster-store-a', 200],
      ['cluster-store-b', 200],
    ]);
    expect(a!.broker.edge!.counters().accepted).toBeGreaterThanOrEqual(200);
    expect(b!.broker.edge!.counters().accepted).toBeGreaterThanOrEqual(200);
  });
});

describe('API nodes sharing Redis', () => {
  /** The control room's dashboards sign in: alerts are not open data. */
  const DASHBOARD_TOKEN = 'cluster-dashboard-token-0123456789abcdef';

  async function startApi(brokerUrl: string): Promise<ApiServer> {
    const api = await createApiServer({ port: 0, influx, mqttUrl: brokerUrl, publicRead: true, adminToken: DASHBOARD_TOKEN, rateLimit: false, cluster: { redisUrl: redis.url, leaseTtlMs: 1_000 } });
    apis.push(api);
    return api;
  }

  async function dashboard(api: ApiServer) {
    const socket: Socket<ServerToClientEvents, ClientToServerEvents> = connectSocket(api.url, { transports: ['websocket'], reconnectionDelay: 100, auth: { token: DASHBOARD_TOKEN } });
    sockets.push(socket);
    const seen = { readings: [] as number[], alerts: [] as Alert[] };
    socket.on('reading', (r) => {
      if (r.deviceId === 'cluster-dash-1') seen.readings.push(r.seq ?? -1);
    });
    socket.on('alert', (a) => seen.alerts.push(a));
    socket.on('connect_error', () => {
      if (!socket.active) setTimeout(() => socket.connect(), 100);
    });
    await eventually(() => (socket.connected ? true : undefined), 10_000, 'the dashboard connected');
    await new Promise<void>((resolve) => socket.emit('subscribe', {}, () => resolve()));
    return seen;
  }

  it('give a dashboard on each node every reading exactly once, and one lease holder for the jobs', async () => {
    const [a, b] = nodes;
    const apiA = await startApi(a!.broker.url);
    const apiB = await startApi(b!.broker.url);
    const [onA, onB] = await Promise.all([dashboard(apiA), dashboard(apiB)]);
    const device = await client(a!.broker, 'cluster-dash-1');
    for (let seq = 0; seq < 20; seq += 1) await device.publishAsync('lab/v1/air/cluster-dash-1', JSON.stringify({ seq, pm25: 5 }), { qos: 1 });
    await eventually(() => (onA.readings.length >= 20 && onB.readings.length >= 20 ? true : undefined), 10_000, 'both dashboards');
    await new Promise((resolve) => setTimeout(resolve, 300));
    const all = Array.from({ length: 20 }, (_, i) => i);
    expect(onA.readings).toEqual(all);
    expect(onB.readings).toEqual(all);
    await eventually(() => (apiA.leader() !== apiB.leader() ? true : undefined), 5_000, 'exactly one lease holder');
  });

  it('send an alert raised on one API node to the dashboards of both', async () => {
    const [apiA, apiB] = apis;
    const [onA, onB] = await Promise.all([dashboard(apiA!), dashboard(apiB!)]);
    const raising = apiA!.leader() ? apiA! : apiB!;
    // As the alerting plugin emits a raised alert (io.to(rooms), never to open-data sockets): through the Redis adapter to every node.
    const alert = { id: 'cluster-alert-1', ruleId: 'r1', ruleName: 'test', severity: 'warning', state: 'open', deviceId: 'cluster-dash-1', kind: 'air', message: 'a test alert', openedAt: new Date().toISOString(), at: new Date().toISOString() } as unknown as Alert;
    raising.io.to('all').except(OPEN_DATA_ROOM).emit('alert', alert);
    await eventually(() => (onA.alerts.length > 0 && onB.alerts.length > 0 ? true : undefined), 5_000, 'the alert on both nodes’ dashboards');
  });

  it('hand the lease over when its holder dies: only after the lease has run out', async () => {
    const key = 'streetlab:test:lease-takeover';
    const holder = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/scripts/hold-lease.ts', redis.url, key, '1500'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await once(holder.stdout!, 'data');
    const waiting = createLease({ redisUrl: redis.url, key, ttlMs: 1_500 });
    cleanups.push(() => waiting.close());
    await new Promise((resolve) => setTimeout(resolve, 800));
    expect(waiting.held()).toBe(false);
    holder.kill('SIGKILL');
    await once(holder, 'exit');
    const killedAt = Date.now();
    await eventually(() => (waiting.held() ? true : undefined), 10_000, 'the takeover');
    // Not before the dead holder's last extension ran out (it extended at most a third of a TTL ago).
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(1_500 * (2 / 3) - 100);
  });
});

describe('the device registry in Redis', () => {
  it('lets a device registered through one node connect to another at once, and closes it on every node when disabled', async () => {
    const api = await openFileRegistry({ redisUrl: redis.url, scrypt: { N: 1024 } });
    const regA = await openFileRegistry({ redisUrl: redis.url });
    const regB = await openFileRegistry({ redisUrl: redis.url });
    cleanups.push(() => api.close(), () => regA.close(), () => regB.close());
    const secured = async (registry: FileRegistry) => {
      const dir = await tempDir('cluster-secured');
      cleanups.push(dir.remove);
      const { mq, persistence } = createClusterEngines(redis.url);
      const edge = await createEdge({ logDir: dir.path });
      const policy = createBrokerPolicy({ registry, edge, rateLimit: false });
      const broker = await createBroker({ port: 0, mq, persistence, edge, policy });
      nodes.push({ broker, ingest: createIngest({ logDir: dir.path, influx }) });
      return broker;
    };
    const [nodeA, nodeB] = [await secured(regA), await secured(regB)];
    // Registered on "the API node", used on broker node B the same moment.
    const { secret } = await api.create({ id: 'cluster-reg-1', kind: 'air', owner: 'acme', lat: 55.68, lon: 12.57, intervalSeconds: 60, enabled: true, meta: {} });
    const device = await mqtt.connectAsync(nodeB.url, { clientId: 'cluster-reg-1', username: 'cluster-reg-1', password: secret, reconnectPeriod: 0 });
    clients.push(device);
    await device.publishAsync('lab/v1/air/cluster-reg-1', '{"pm25":4}', { qos: 1 });
    // Connected on node A, disabled through the API node: A closes it.
    const onA = await mqtt.connectAsync(nodeA.url, { clientId: 'cluster-reg-1', username: 'cluster-reg-1', password: secret, reconnectPeriod: 0 });
    clients.push(onA);
    const closed = new Promise<void>((resolve) => onA.once('close', () => resolve()));
    await api.update('cluster-reg-1', { enabled: false });
    await Promise.race([closed, new Promise((_, reject) => setTimeout(() => reject(new Error('node A kept the disabled device connected')), 3_000))]);
    expect(regA.peek('cluster-reg-1')?.enabled).toBe(false);
    expect(regB.peek('cluster-reg-1')?.enabled).toBe(false);
    await expect(mqtt.connectAsync(nodeB.url, { clientId: 'cluster-reg-1', username: 'cluster-reg-1', password: secret, reconnectPeriod: 0 })).rejects.toThrow(/not authori[sz]ed/i);
  });

  it('keeps concurrent changes from several nodes: none is lost', async () => {
    const nodesRegs = await Promise.all([0, 1, 2].map(() => openFileRegistry({ redisUrl: redis.url, scrypt: { N: 1024 } })));
    cleanups.push(...nodesRegs.map((r) => () => r.close()));
    await Promise.all(
      nodesRegs.flatMap((r, n) =>
        Array.from({ length: 10 }, (_, i) => r.create({ id: `cluster-many-${n}-${i}`, kind: 'waste', owner: 'bins', lat: 55.6, lon: 12.5, intervalSeconds: 600, enabled: true, meta: {} })),
      ),
    );
    for (const r of nodesRegs) await r.refresh();
    const ids = (await nodesRegs[0]!.list()).map((d) => d.id).filter((id) => id.startsWith('cluster-many-'));
    expect(ids).toHaveLength(30);
  });
});
