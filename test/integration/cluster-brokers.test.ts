/**
 * Two broker nodes sharing state through a real Redis (Debian's redis-server on a free port),
 * each with its own edge log and its own ingest worker, one real InfluxDB: a subscriber on
 * node B gets what devices publish on node A (readings and the live feed), a device's
 * persistent session follows it to the other node with the notices queued meanwhile, and
 * every reading acknowledged on either node is stored once.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LIVE_BATCH_TOPIC, LiveFeedBatchSchema } from '../../contracts/index.ts';
import { createBroker, type Broker } from '../../broker/broker.ts';
import { createClusterEngines } from '../../broker/cluster.ts';
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
