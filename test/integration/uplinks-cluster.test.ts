/**
 * Device sources in cluster mode, with a real Redis (redis-server on a free port) and a real
 * InfluxDB: two broker nodes — each its own edge, log, ingest worker and HTTP ingestion
 * listener — and an API node share the device registry and the integrations in Redis.
 * - an integration created through the API opens the webhook of both nodes at once, a device
 *   registered through the API is found by its DevEUI on both, and a rotated secret stops
 *   working on both;
 * - an integration's MQTT bridge runs on exactly one node (the holder of the bridges' lease), so
 *   the network server sees one subscriber and an uplink is stored once; when that node stops,
 *   the other takes the lease over and its bridge stores the next uplinks.
 */
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiServer, type ApiServer } from '../../api/server.ts';
import { startEdgeIngestion, type EdgeIngestion } from '../../broker/adapters/ingestion.ts';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { startRedisServer, type RedisServer } from '../../common/redis-server.ts';
import { generateSecret, openFileRegistry, type FileRegistry } from '../../common/registry/index.ts';
import { openIntegrationStore, type IntegrationStore } from '../../common/registry/integrations.ts';
import { startEdgePipeline, type EdgePipeline } from '../helpers/edge.ts';
import { eventually } from '../helpers/stack.ts';

const ADMIN_TOKEN = generateSecret(32);
const fixture = (name: string): Record<string, any> => JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/uplinks', name), 'utf8'));

interface Node {
  pipeline: EdgePipeline;
  registry: FileRegistry;
  ingestion: EdgeIngestion;
  closed: boolean;
}

let redis: RedisServer;
let influxServer: InfluxServer;
let influx: InfluxClient;
const nodes: Node[] = [];
let apiRegistry: FileRegistry;
let apiIntegrations: IntegrationStore;
let api: ApiServer;
let networkServer: Aedes;
let networkListener: Server;
let networkUrl: string;
let publisher: MqttClient;
/** Bridge client ids the network server saw subscribe, and its acknowledgements of uplinks from bridges. */
const bridgeAcks: string[] = [];

async function startNode(): Promise<Node> {
  const pipeline = await startEdgePipeline(influx);
  const registry = await openFileRegistry({ redisUrl: redis.url, scrypt: { N: 1024 } });
  const ingestion = await startEdgeIngestion({ edge: pipeline.edge, registry, redisUrl: redis.url, bridgeLeaseTtlMs: 1_000, http: { port: 0 } });
  const node = { pipeline, registry, ingestion, closed: false };
  nodes.push(node);
  return node;
}

async function stopNode(node: Node): Promise<void> {
  if (node.closed) return;
  node.closed = true;
  await node.ingestion.close();
  await node.registry.close();
  await node.pipeline.close();
}

const admin = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
async function apiPost(path: string, body: unknown): Promise<Response> {
  return fetch(`${api.url}${path}`, { method: 'POST', headers: admin, body: JSON.stringify(body) });
}
function webhook(node: Node, integration: string, secret: string, body: unknown): Promise<Response> {
  return fetch(`${node.ingestion.http!.url}/api/v1/uplinks/ttn/${integration}`, {
    method: 'POST',
    headers: { 'x-streetlab-secret': secret, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}
function uplink(devEui: string, deviceId: string, fCnt: number): Record<string, any> {
  const message = fixture('tts-v3-uplink.json');
  message.end_device_ids.dev_eui = devEui;
  message.end_device_ids.device_id = deviceId;
  message.uplink_message.f_cnt = fCnt;
  message.received_at = new Date(Date.now() - 1_000 + fCnt).toISOString();
  return message;
}
async function flushAll(): Promise<void> {
  for (const node of nodes) if (!node.closed) await node.pipeline.ingest.flush();
}

beforeAll(async () => {
  redis = await startRedisServer();
  influxServer = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: influxServer.url, database: 'streetlab' });
  await startNode();
  await startNode();
  apiRegistry = await openFileRegistry({ redisUrl: redis.url, scrypt: { N: 1024 } });
  apiIntegrations = await openIntegrationStore({ redisUrl: redis.url });
  api = await createApiServer({
    port: 0,
    influx,
    mqttUrl: nodes[0]!.pipeline.broker.url,
    registry: apiRegistry,
    integrations: apiIntegrations,
    edgeHttpUrl: nodes[0]!.ingestion.http!.url,
    adminToken: ADMIN_TOKEN,
    rateLimit: false,
    alerts: false,
    research: { rollups: false },
    cluster: { redisUrl: redis.url, leaseTtlMs: 1_000 },
  });

  // The network server's MQTT, counting which bridges subscribe and what they acknowledge.
  networkServer = await Aedes.createBroker({
    authenticate: (_client, username, password, done) => done(null, (username === 'cluster-app@ttn' && password?.toString() === 'NNSXS.CLUSTER') || username === 'publisher'),
  });
  networkServer.on('ack', (packet, client) => {
    if (client?.id.startsWith('streetlab-bridge-') && packet && 'topic' in packet) bridgeAcks.push(String(packet.topic));
  });
  networkListener = createServer(networkServer.handle as (socket: unknown) => void);
  await new Promise<void>((resolve) => networkListener.listen(0, '127.0.0.1', resolve));
  networkUrl = `mqtt://127.0.0.1:${(networkListener.address() as AddressInfo).port}`;
  publisher = await mqtt.connectAsync(networkUrl, { clientId: 'network-server', username: 'publisher', reconnectPeriod: 0 });
}, 120_000);

afterAll(async () => {
  await publisher?.endAsync(true);
  await api?.close();
  for (const node of nodes) await stopNode(node).catch(() => {});
  await apiIntegrations?.close();
  await apiRegistry?.close();
  await new Promise<void>((resolve) => (networkServer ? networkServer.close(() => resolve()) : resolve()));
  networkListener?.close();
  await influxServer?.stop();
  await redis?.stop();
});

describe('integrations in Redis: every broker node serves every webhook', () => {
  let secret: string;

  it('an integration created through the API is accepted by the webhook of either node, for a device registered through the API', async () => {
    const device = await apiPost('/api/v1/devices', {
      id: 'cl-lora-1',
      kind: 'air',
      owner: 'acme',
      lat: 55.69,
      lon: 12.55,
      source: 'ttn',
      devEui: '70B3D57ED0CC0001',
      fieldMap: { pm2_5: { to: 'pm25', scale: 0.1 }, pm10: { to: 'pm10', scale: 0.1 }, battery_voltage: { ignore: true } },
    });
    expect(device.status, await device.clone().text()).toBe(201);
    const created = await apiPost('/api/v1/integrations', { id: 'cl-tts', type: 'ttn', owner: 'acme' });
    expect(created.status, await created.clone().text()).toBe(201);
    secret = ((await created.json()) as { secret: string }).secret;

    // No waiting for a poll: the nodes adopt the change the moment Redis publishes it (or on their first miss).
    const [a, b] = nodes as [Node, Node];
    const first = await webhook(a, 'cl-tts', secret, uplink('70B3D57ED0CC0001', 'cl-lora-1', 1));
    expect(first.status, await first.clone().text()).toBe(201);
    const second = await webhook(b, 'cl-tts', secret, uplink('70b3d57ed0cc0001', 'cl-lora-1', 2));
    expect(second.status, await second.clone().text()).toBe(201);
    // And through the API port, as a network server sends it.
    const viaApi = await fetch(`${api.url}/api/v1/uplinks/ttn/cl-tts`, {
      method: 'POST',
      headers: { 'x-streetlab-secret': secret, 'content-type': 'application/json' },
      body: JSON.stringify(uplink('70B3D57ED0CC0001', 'cl-lora-1', 3)),
    });
    expect(viaApi.status, await viaApi.clone().text()).toBe(201);

    const rows = await eventually(async () => {
      await flushAll();
      const found = await influx.queryRows('SELECT pm25, seq FROM air WHERE device = $d ORDER BY time', { d: 'cl-lora-1' });
      return found.length === 3 ? found : undefined;
    }, 15_000, 'the three uplinks in InfluxDB');
    expect(rows.map((r) => r.seq)).toEqual([1, 2, 3]);
  });

  it('the integration is in Redis, not in a file: the nodes hold it without a data directory', async () => {
    for (const node of nodes) expect(node.ingestion.integrations.stored().map((i) => i.id)).toContain('cl-tts');
  });

  it('a wrong secret is refused by both nodes, and a rotated secret stops working on both', async () => {
    for (const node of nodes) expect((await webhook(node, 'cl-tts', 'sli_wrong', uplink('70B3D57ED0CC0001', 'cl-lora-1', 9))).status).toBe(401);
    const rotated = await apiPost('/api/v1/integrations/cl-tts/secret', {});
    expect(rotated.status).toBe(200);
    const fresh = ((await rotated.json()) as { secret: string }).secret;
    for (const node of nodes) {
      await eventually(async () => ((await webhook(node, 'cl-tts', secret, uplink('70B3D57ED0CC0001', 'cl-lora-1', 10))).status === 401 ? true : undefined), 5_000, 'the old secret refused');
      expect((await webhook(node, 'cl-tts', fresh, uplink('70B3D57ED0CC0001', 'cl-lora-1', 11 + nodes.indexOf(node)))).status).toBe(201);
    }
    secret = fresh;
  });
});

describe('MQTT bridges in cluster mode: one node holds them', () => {
  const holders = () => nodes.filter((node) => !node.closed && node.ingestion.bridges!.connected().includes('cl-bridge'));

  it('runs the bridge of an integration created through the API on exactly one node', async () => {
    const device = await apiPost('/api/v1/devices', {
      id: 'cl-bridge-air',
      kind: 'air',
      owner: 'acme',
      lat: 55.69,
      lon: 12.55,
      source: 'ttn',
      devEui: '70B3D57ED0CC0002',
      fieldMap: { pm2_5: { to: 'pm25', scale: 0.1 }, pm10: { to: 'pm10', scale: 0.1 }, battery_voltage: { ignore: true } },
    });
    expect(device.status).toBe(201);
    const created = await apiPost('/api/v1/integrations', { id: 'cl-bridge', type: 'ttn', mqtt: { url: networkUrl, username: 'cluster-app@ttn', password: 'NNSXS.CLUSTER' } });
    expect(created.status, await created.clone().text()).toBe(201);
    await eventually(() => (holders().length === 1 ? true : undefined), 15_000, 'one node to connect the bridge');
    expect(nodes.filter((node) => node.ingestion.bridges!.active())).toHaveLength(1);

    // Published until the subscription is in place; every uplink stored exactly once.
    let fCnt = 100;
    await eventually(async () => {
      fCnt += 1;
      await publisher.publishAsync('v3/cluster-app@ttn/devices/cl-bridge-air/up', JSON.stringify(uplink('70B3D57ED0CC0002', 'cl-bridge-air', fCnt)), { qos: 1 });
      return bridgeAcks.length > 0 ? true : undefined;
    }, 10_000, 'a bridge acknowledgement');
    // The unknown DevEUI: one rejection record, not one per node.
    await publisher.publishAsync('v3/cluster-app@ttn/devices/cl-unknown/up', JSON.stringify(uplink('FFFFFFFFFFCC0003', 'cl-unknown', 1)), { qos: 1 });
    await eventually(() => (bridgeAcks.some((topic) => topic.endsWith('/cl-unknown/up')) ? true : undefined), 10_000, 'the unknown uplink acknowledged');
    const rejections = await eventually(async () => {
      await flushAll();
      const found = await influx.queryRows("SELECT * FROM rejected WHERE reason = 'DEVICE_UNKNOWN'", {});
      const mine = found.filter((r) => String(r.message).includes('FFFFFFFFFFCC0003'));
      return mine.length > 0 ? mine : undefined;
    }, 10_000, 'the DEVICE_UNKNOWN record');
    // A second node's bridge would have stored its own copy by now.
    await flushAll();
    expect(rejections).toHaveLength(1);
    expect(bridgeAcks.filter((topic) => topic.endsWith('/cl-unknown/up'))).toHaveLength(1);
  });

  it('moves to the other node when the holder stops, and the next uplinks are stored through it', async () => {
    const [holder] = holders();
    expect(holder).toBeDefined();
    const other = nodes.find((node) => node !== holder && !node.closed)!;
    await stopNode(holder!);
    await eventually(() => (other.ingestion.bridges!.connected().includes('cl-bridge') ? true : undefined), 15_000, 'the other node to take the bridge over');
    const before = bridgeAcks.length;
    let fCnt = 500;
    await eventually(async () => {
      fCnt += 1;
      await publisher.publishAsync('v3/cluster-app@ttn/devices/cl-bridge-air/up', JSON.stringify(uplink('70B3D57ED0CC0002', 'cl-bridge-air', fCnt)), { qos: 1 });
      return bridgeAcks.length > before ? true : undefined;
    }, 10_000, 'an acknowledgement from the new holder');
    const rows = await eventually(async () => {
      await other.pipeline.ingest.flush();
      const found = await influx.queryRows('SELECT seq FROM air WHERE device = $d AND seq > 500', { d: 'cl-bridge-air' });
      return found.length > 0 ? found : undefined;
    }, 10_000, 'an uplink stored by the new holder');
    expect(Number(rows[0]!.seq)).toBeGreaterThan(500);
  });
});
