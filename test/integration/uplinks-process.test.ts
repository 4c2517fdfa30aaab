/**
 * HTTP ingestion as deployed: broker, ingest and API as separate processes on one DATA_DIR,
 * a real InfluxDB. The broker serves EDGE_HTTP_PORT; the API, given EDGE_HTTP_URL, passes
 * device readings and webhook uplinks on to it, so one public port works. An integration
 * created through the API process (integrations.json) opens the broker process's webhook.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort } from '../../common/net.ts';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { generateSecret, openFileRegistry, type FileRegistry } from '../../common/registry/index.ts';
import { createPipeline, type Pipeline } from '../helpers/processes.ts';
import { eventually } from '../helpers/stack.ts';

const ADMIN_TOKEN = generateSecret(32);
let influxServer: InfluxServer;
let influx: InfluxClient;
let pipeline: Pipeline;
let registry: FileRegistry;
let edgePort: number;
let apiUrl: string;

beforeAll(async () => {
  influxServer = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: influxServer.url, database: 'streetlab' });
  pipeline = await createPipeline(influxServer.url);
  edgePort = await findFreePort();
  const broker = await pipeline.startBroker({ EDGE_HTTP_PORT: String(edgePort) });
  await broker.waitForLog((record) => record.msg === 'HTTP ingestion listening (HTTP devices, TTS/ChirpStack webhooks, Sensor.Community)', 20_000, 'the HTTP ingestion listener');
  await pipeline.startIngest();
  await pipeline.startApi({ EDGE_HTTP_URL: `http://127.0.0.1:${edgePort}`, ADMIN_TOKEN, ROLLUPS_ENABLED: 'false', ALERTS_ENABLED: 'false' });
  apiUrl = `http://127.0.0.1:${pipeline.apiPort}`;
  registry = await openFileRegistry({ dataDir: pipeline.dataDir, scrypt: { N: 1024 } });
}, 120_000);

afterAll(async () => {
  await registry?.close();
  await pipeline?.close();
  await influxServer?.stop();
});

async function stored(influxql: string, device: string): Promise<Record<string, unknown>> {
  return eventually(async () => (await influx.queryRows(influxql, { d: device }))[0], 20_000, `${device} in InfluxDB`);
}

describe('HTTP ingestion across processes', () => {
  it('an HTTP device posts to the API port; the broker process stores it; ingest drains it', async () => {
    const { secret } = await registry.create({ id: 'proc-http-1', kind: 'air', owner: 'acme', lat: 55.69, lon: 12.55, intervalSeconds: 60, enabled: true, meta: {}, source: 'http' });
    const response = await fetch(`${apiUrl}/api/v1/devices/proc-http-1/readings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({ pm25: 17.5, seq: 3 }),
    });
    expect(response.status, await response.clone().text()).toBe(201);
    expect(await stored('SELECT pm25, seq FROM air WHERE device = $d', 'proc-http-1')).toMatchObject({ pm25: 17.5, seq: 3 });
  });

  it('an integration created through the API process opens the broker process\'s webhook', async () => {
    await registry.create({ id: 'proc-lora-1', kind: 'air', owner: 'acme', lat: 55.69, lon: 12.55, intervalSeconds: 60, enabled: true, meta: {}, source: 'ttn', devEui: '70B3D57ED005A1B2', fieldMap: { pm2_5: { to: 'pm25', scale: 0.1 }, pm10: { to: 'pm10', scale: 0.1 }, battery_voltage: { ignore: true } } });
    const created = await fetch(`${apiUrl}/api/v1/integrations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'proc-tts', type: 'ttn' }),
    });
    expect(created.status).toBe(201);
    const { secret } = (await created.json()) as { secret: string };
    const uplink = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/uplinks/tts-v3-uplink.json'), 'utf8'));
    uplink.received_at = new Date(Date.now() - 1_000).toISOString();
    const response = await fetch(`${apiUrl}/api/v1/uplinks/ttn/proc-tts`, { method: 'POST', headers: { 'x-streetlab-secret': secret, 'content-type': 'application/json' }, body: JSON.stringify(uplink) });
    expect(response.status, await response.clone().text()).toBe(201);
    expect(await stored('SELECT pm25, seq FROM air WHERE device = $d', 'proc-lora-1')).toMatchObject({ pm25: 8.4, seq: 1287 });
  });

  it('the API answers 503 (send again) when the broker\'s listener is gone, and nothing is stored', async () => {
    await pipeline.broker!.stop();
    const response = await fetch(`${apiUrl}/api/v1/devices/proc-http-1/readings`, { method: 'POST', headers: { authorization: 'Bearer x', 'content-type': 'application/json' }, body: '{"pm25": 1}' });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
  });
});
