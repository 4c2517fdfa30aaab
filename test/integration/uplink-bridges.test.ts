/**
 * The MQTT bridges against a real MQTT server playing The Things Stack's and ChirpStack's
 * (an Aedes instance requiring the bridge's username and API key), a real edge and ingest
 * worker, and a real InfluxDB: an uplink published there is stored with its frame counter as
 * `seq`, the bridge acknowledges it only once the reading is in the edge's log, an uplink for
 * an unknown DevEUI becomes a DEVICE_UNKNOWN rejection record, and a bridge follows its
 * integration being disabled.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEdgeIngestion, type EdgeIngestion } from '../../broker/adapters/ingestion.ts';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { openFileRegistry, type FileRegistry } from '../../common/registry/index.ts';
import { openIntegrationStore, type IntegrationStore } from '../../common/registry/integrations.ts';
import { startEdgePipeline, type EdgePipeline } from '../helpers/edge.ts';
import { tempDir } from '../helpers/processes.ts';
import { eventually } from '../helpers/stack.ts';

const fixture = (name: string): Record<string, any> => JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/uplinks', name), 'utf8'));

let influxServer: InfluxServer;
let influx: InfluxClient;
let pipeline: EdgePipeline;
let registry: FileRegistry;
let integrations: IntegrationStore;
let ingestion: EdgeIngestion;
let networkServer: Aedes;
let networkListener: Server;
let networkUrl: string;
let publisher: MqttClient;
let registryDir: { path: string; remove: () => Promise<void> };
/** Per bridge PUBACK: whether the uplink's device was already in the edge's log files. */
const acknowledged: { topic: string; inLog: boolean }[] = [];

function logText(): string {
  const dir = pipeline.edge.logDir;
  return readdirSync(dir)
    .filter((name) => name.endsWith('.log') || /^\d+/.test(name))
    .map((name) => {
      try {
        return readFileSync(join(dir, name), 'latin1');
      } catch {
        return '';
      }
    })
    .join('\n');
}

beforeAll(async () => {
  influxServer = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: influxServer.url, database: 'streetlab' });
  pipeline = await startEdgePipeline(influx);
  registryDir = await tempDir('bridge-registry');
  registry = await openFileRegistry({ dataDir: registryDir.path, scrypt: { N: 1024 } });
  integrations = await openIntegrationStore({ dataDir: registryDir.path, pollIntervalMs: 50 });

  // The network server's MQTT: only the application's own credentials may connect.
  networkServer = await Aedes.createBroker({
    authenticate: (_client, username, password, done) =>
      done(null, (username === 'streetlab-air@ttn' && password?.toString() === 'NNSXS.TESTKEY') || (username === 'chirpstack' && password?.toString() === 'cs-pass') || username === 'publisher'),
  });
  networkServer.on('ack', (packet, client) => {
    if (!client?.id.startsWith('streetlab-bridge-') || !packet || !('topic' in packet)) return;
    // The registered device's uplinks must be in the log as its reading; others as a rejection.
    const known = String(packet.topic).includes('eui-70b3d57ed005a1b2');
    acknowledged.push({ topic: String(packet.topic), inLog: logText().includes(known ? 'air,device=bridge-air-1' : 'FFFFFFFFFFFF0002') });
  });
  networkListener = createServer(networkServer.handle as (socket: unknown) => void);
  await new Promise<void>((resolve) => networkListener.listen(0, '127.0.0.1', resolve));
  networkUrl = `mqtt://127.0.0.1:${(networkListener.address() as AddressInfo).port}`;
  publisher = await mqtt.connectAsync(networkUrl, { clientId: 'network-server', username: 'publisher', reconnectPeriod: 0 });

  await registry.create({
    id: 'bridge-air-1',
    kind: 'air',
    owner: 'acme',
    lat: 55.69,
    lon: 12.55,
    intervalSeconds: 60,
    enabled: true,
    meta: {},
    source: 'ttn',
    ttnDeviceId: 'eui-70b3d57ed005a1b2',
    fieldMap: { pm2_5: { to: 'pm25', scale: 0.1 }, pm10: { to: 'pm10', scale: 0.1 }, battery_voltage: { ignore: true } },
  });
  await integrations.create({
    id: 'tts-mqtt',
    type: 'ttn',
    enabled: true,
    mqtt: { url: networkUrl, username: 'streetlab-air@ttn', password: 'NNSXS.TESTKEY' },
  });
  ingestion = await startEdgeIngestion({ edge: pipeline.edge, registry, integrations, http: { port: 0 } });
}, 120_000);

afterAll(async () => {
  await ingestion?.close();
  await publisher?.endAsync(true);
  await new Promise<void>((resolve) => networkServer?.close(() => resolve()));
  networkListener?.close();
  await integrations?.close();
  await registry?.close();
  await pipeline?.close();
  await registryDir?.remove();
  await influxServer?.stop();
});

describe('MQTT bridge to The Things Stack', () => {
  it('connects with the integration\'s credentials and subscribes to v3/{app}@{tenant}/devices/+/up', async () => {
    await eventually(() => (ingestion.bridges!.connected().includes('tts-mqtt') ? true : undefined), 10_000, 'the bridge to connect');
    // The subscription is in place once Aedes delivers to it: publish until one arrives.
    const uplink = fixture('tts-v3-uplink.json');
    uplink.received_at = new Date(Date.now() - 2_000).toISOString();
    await eventually(async () => {
      await publisher.publishAsync('v3/streetlab-air@ttn/devices/eui-70b3d57ed005a1b2/up', JSON.stringify(uplink), { qos: 1 });
      return acknowledged.length > 0 ? true : undefined;
    }, 10_000, 'a bridge acknowledgement');
  });

  it('stores the uplink with f_cnt as seq, and acknowledged it only once the reading was in the log', async () => {
    await pipeline.ingest.flush();
    const rows = await eventually(async () => {
      await pipeline.ingest.flush();
      const found = await influx.queryRows('SELECT pm25, seq, rssi FROM air WHERE device = $d', { d: 'bridge-air-1' });
      return found.length > 0 ? found : undefined;
    }, 10_000, 'the reading in InfluxDB');
    expect(rows[0]).toMatchObject({ pm25: 8.4, seq: 1287, rssi: -87 });
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(acknowledged.every((ack) => ack.inLog)).toBe(true);
  });

  it('records an uplink of an unknown device as a DEVICE_UNKNOWN rejection (and acknowledges it: it is stored)', async () => {
    const uplink = fixture('tts-v3-uplink.json');
    uplink.end_device_ids.device_id = 'eui-unknown-0001';
    uplink.end_device_ids.dev_eui = 'FFFFFFFFFFFF0002';
    uplink.received_at = new Date().toISOString();
    const before = acknowledged.length;
    await publisher.publishAsync('v3/streetlab-air@ttn/devices/eui-unknown-0001/up', JSON.stringify(uplink), { qos: 1 });
    await eventually(() => (acknowledged.length > before ? true : undefined), 10_000, 'the bridge to acknowledge');
    expect(acknowledged.at(-1)).toMatchObject({ topic: 'v3/streetlab-air@ttn/devices/eui-unknown-0001/up', inLog: true });
    const rejections = await eventually(async () => {
      await pipeline.ingest.flush();
      const found = await influx.queryRows("SELECT * FROM rejected WHERE reason = 'DEVICE_UNKNOWN'", {});
      return found.length > 0 ? found : undefined;
    }, 10_000, 'the rejection in InfluxDB');
    expect(String(rejections[0]!.message)).toContain('FFFFFFFFFFFF0002');
    expect(String(rejections[0]!.topic)).toContain('v3/streetlab-air@ttn/devices/eui-unknown-0001/up');
  });

  it('stops when its integration is disabled', async () => {
    await integrations.update('tts-mqtt', { enabled: false });
    await eventually(() => (ingestion.bridges!.connected().length === 0 ? true : undefined), 10_000, 'the bridge to stop');
  });
});

describe('MQTT bridge to ChirpStack', () => {
  it('subscribes to application/+/device/+/event/up, stores up events with fCnt as seq and skips other events', async () => {
    await registry.create({
      id: 'bridge-bin-1',
      kind: 'waste',
      owner: 'acme',
      lat: 55.69,
      lon: 12.55,
      intervalSeconds: 60,
      enabled: true,
      meta: {},
      source: 'chirpstack',
      devEui: 'a84041000181c061',
      fieldMap: { fillLevel: { to: 'fill' }, lid: { to: 'lidOpen' }, temp: { to: 'temperature' } },
    });
    await integrations.create({ id: 'cs-mqtt', type: 'chirpstack', enabled: true, mqtt: { url: networkUrl, username: 'chirpstack', password: 'cs-pass' } });
    await eventually(() => (ingestion.bridges!.connected().includes('cs-mqtt') ? true : undefined), 10_000, 'the ChirpStack bridge to connect');
    const application = '17c82e96-be03-4f38-aef3-f83d48582d97';
    const event = fixture('chirpstack-v4-up.json');
    event.time = new Date(Date.now() - 1_000).toISOString();
    const rows = await eventually(async () => {
      await publisher.publishAsync(`application/${application}/device/a84041000181c061/event/join`, JSON.stringify(fixture('chirpstack-v4-join.json')), { qos: 1 });
      await publisher.publishAsync(`application/${application}/device/a84041000181c061/event/up`, JSON.stringify(event), { qos: 1 });
      await pipeline.ingest.flush();
      const found = await influx.queryRows('SELECT fill, lidOpen, seq FROM waste WHERE device = $d', { d: 'bridge-bin-1' });
      return found.length > 0 ? found : undefined;
    }, 10_000, 'the ChirpStack reading in InfluxDB');
    expect(rows[0]).toMatchObject({ fill: 62, lidOpen: false, seq: 311 });
    // The join event carries no reading: nothing was rejected for it.
    await pipeline.ingest.flush();
    const rejected = await influx.queryRows('SELECT * FROM rejected WHERE device = $d', { d: 'bridge-bin-1' });
    expect(rejected).toHaveLength(0);
  });
});
