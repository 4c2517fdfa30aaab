/**
 * Cluster mode as an operator runs it — two nodes, each a broker, an ingest worker and an API
 * as separate processes, sharing a real Redis; one real InfluxDB — under a steady QoS 1 load
 * from devices that fail over to the other broker when theirs goes away. One after the
 * other: SIGKILL of a broker node, of an ingest worker, of the API node holding the jobs'
 * lease (the other takes it over and evaluates the alert rules), and of Redis itself (restarted on its data: the nodes ride
 * it out). Afterwards every acknowledged reading is stored, none twice.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { startRedisServer, type RedisServer } from '../../common/redis-server.ts';
import { createPipeline, readMetric, startLoad, tally, tempDir, waitUntil, type Pipeline } from '../helpers/processes.ts';

let redis: RedisServer;
let redisDir: { path: string; remove: () => Promise<void> };
let influxServer: InfluxServer;
let influx: InfluxClient;
let nodes: Pipeline[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ADMIN_TOKEN = 'cluster-faults-admin-token-0123456789abcdef0123';
const API_ENV = { PUBLIC_READ: 'true', ADMIN_TOKEN };

beforeAll(async () => {
  redisDir = await tempDir('redis');
  [redis, influxServer] = await Promise.all([startRedisServer({ dir: redisDir.path }), startInfluxServer({ database: 'streetlab' })]);
  influx = createInfluxClient({ url: influxServer.url, database: 'streetlab' });
  nodes = await Promise.all([0, 1].map(() => createPipeline(influxServer.url, { env: { REDIS_URL: redis.url } })));
  for (const node of nodes) {
    await node.startBroker();
    await node.startIngest();
    await node.startApi(API_ENV);
  }
  // The same alert rule on both API nodes (rules are per node; evaluation follows the lease).
  for (const node of nodes) {
    const response = await fetch(`http://127.0.0.1:${node.apiPort}/api/v1/alert-rules`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'pm25-extreme', type: 'threshold', name: 'Extreme PM2.5', kind: 'air', metric: 'pm25', op: '>=', value: 400, deviceId: 'cf-alert-1' }),
    });
    expect(response.status).toBe(201);
  }
});

afterAll(async () => {
  for (const node of nodes) await node.close();
  await redis?.stop();
  await redisDir?.remove();
  await influxServer?.stop();
});

async function leaseHolders(): Promise<number[]> {
  const held = await Promise.all(nodes.map((n) => readMetric(`http://127.0.0.1:${n.apiPort}`, 'streetlab_api_jobs_lease_held').catch(() => undefined)));
  return held.map((h, i) => (h === 1 ? i : -1)).filter((i) => i >= 0);
}

describe('two nodes sharing Redis, under load', () => {
  it('store every acknowledged reading once through a broker node, an ingest worker, the lease-holding API node and Redis killed in turn', { timeout: 240_000 }, async () => {
    const [a, b] = nodes as [Pipeline, Pipeline];
    const loads = await Promise.all([
      startLoad({ mqttUrl: a.mqttUrl, failoverUrls: [b.mqttUrl], prefix: 'cf-a', devices: 5, ratePerS: 150 }),
      startLoad({ mqttUrl: b.mqttUrl, failoverUrls: [a.mqttUrl], prefix: 'cf-b', devices: 5, ratePerS: 150 }),
    ]);
    const acked = () => loads.reduce((sum, l) => sum + l.acked(), 0);
    const progressed = async (what: string) => {
      const before = acked();
      await waitUntil(() => acked() > before + 100, 30_000, `acknowledgements after ${what}`);
    };
    await sleep(2_000);

    // 1. A broker node dies: its devices fail over to the other; its ingest worker drains what it logged.
    await a.broker!.kill();
    await progressed('broker A died');
    await a.startBroker();

    // 2. An ingest worker dies: its node's log waits for it.
    await b.ingest!.kill();
    await progressed('ingest B died');
    await b.startIngest();

    // 3. The API node holding the jobs' lease dies: the other takes the lease over.
    await waitUntil(async () => (await leaseHolders()).length === 1, 30_000, 'one lease holder');
    const [holder] = await leaseHolders();
    const survivor = holder === 0 ? 1 : 0;
    await nodes[holder!]!.api!.kill();
    const takeover = await waitUntil(async () => (await leaseHolders()).includes(survivor), 40_000, 'the lease taken over by the other API node');
    await nodes[holder!]!.startApi(API_ENV);
    // Alerts are still evaluated, now by the survivor.
    const { default: mqtt } = await import('mqtt');
    const alarming = await mqtt.connectAsync(nodes[survivor]!.mqttUrl, { clientId: 'cf-alert-1', reconnectPeriod: 0 });
    await alarming.publishAsync('lab/v1/air/cf-alert-1', JSON.stringify({ pm25: 450 }), { qos: 1 });
    await alarming.endAsync();
    await waitUntil(async () => {
      // Alerts are not open data: asked with the admin token.
      const response = await fetch(`http://127.0.0.1:${nodes[survivor]!.apiPort}/api/v1/alerts?device=cf-alert-1`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      const body = (await response.json()) as { alerts: { rule: string }[] };
      return body.alerts.some((alert) => alert.rule === 'pm25-extreme');
    }, 20_000, 'the alert raised by the new lease holder');

    // 4. Redis dies and comes back on its data. Meanwhile the brokers cannot hand messages to
    // the other node (Aedes waits for its Redis emitter before it reads a device's next
    // packets), so devices are slowed down; what was acknowledged is on the nodes' disks.
    await redis.kill();
    await sleep(2_000);
    redis = await startRedisServer({ dir: redisDir.path, port: redis.port });
    await progressed('Redis came back').catch((error: unknown) => {
      const recent = (n: Pipeline) => [n.broker, n.ingest, n.api].flatMap((svc) => (svc?.logs ?? []).slice(-6).map((r) => `${svc!.name}: ${r.msg} ${JSON.stringify(r.err ?? '')}`)).join('\n');
      throw new Error(`${String(error)}\nnode A:\n${recent(a)}\nnode B:\n${recent(b)}`);
    });

    await sleep(1_500);
    const results = await Promise.all(loads.map((l) => l.stop(30_000)));
    const counted = [];
    for (const [i, prefix] of ['cf-a', 'cf-b'].entries()) {
      await waitUntil(async () => (await tally(influx, prefix, results[i]!)).lost === 0, 60_000, `${prefix}: every acknowledged reading stored`).catch(() => {});
      counted.push(await tally(influx, prefix, results[i]!));
    }
    console.log(`[cluster faults] acknowledged ${results.map((r) => r.ackedCount).join(' + ')}, stored ${counted.map((c) => c.stored).join(' + ')}, lost ${counted.map((c) => c.lost).join(' + ')}, duplicated ${counted.map((c) => c.duplicated).join(' + ')}; lease taken over in ${takeover.toFixed(1)} s`);
    for (const c of counted) {
      expect(c.lost, `missing e.g. ${c.missing.join(', ')}`).toBe(0);
      expect(c.duplicated).toBe(0);
    }
    expect(results.every((r) => r.ackedCount > 500)).toBe(true);
  });
});
