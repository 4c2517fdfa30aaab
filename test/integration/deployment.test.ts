/**
 * The services as an operator runs them — separate processes (`npm run broker|ingest|api`)
 * sharing DATA_DIR, and the one-process lab (`npm run lab`) — against a real InfluxDB:
 * - readings acknowledged while no ingest worker has ever run are stored once it runs;
 * - broker, ingest and API started in every order, with devices publishing from the first
 *   moment over MQTT and over HTTP: stored = acknowledged, no duplicates, and the live feed
 *   reaches a dashboard;
 * - each service restarted alone (SIGKILL) under load: stored = acknowledged, no duplicates;
 * - a 10,000-reading backlog from one device at its rate limit, from a device registered a
 *   moment before by another process: all stored, in order, none refused;
 * - the lab killed with SIGKILL under load and started again: stored = acknowledged.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io as connectSocket, type Socket } from 'socket.io-client';
import mqtt from 'mqtt';
import type { ClientToServerEvents, DeviceWithSecret, ServerToClientEvents } from '../../contracts/index.ts';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { findFreePort } from '../../common/net.ts';
import { openFileRegistry } from '../../common/registry/index.ts';
import { createPipeline, startLoad, tally, tempDir, waitUntil, type Pipeline, type ServiceName } from '../helpers/processes.ts';

let influxServer: InfluxServer;
let influx: InfluxClient;
const pipelines: Pipeline[] = [];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const SERVICE_TOKEN = 'deployment-test-service-token-0123456789abcdef';

beforeAll(async () => {
  influxServer = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: influxServer.url, database: 'streetlab' });
});

afterAll(async () => {
  for (const pipeline of pipelines) await pipeline.close();
  await influxServer?.stop();
});

async function newPipeline(): Promise<Pipeline> {
  const pipeline = await createPipeline(influxServer.url);
  pipelines.push(pipeline);
  return pipeline;
}

function start(pipeline: Pipeline, service: ServiceName, env: Record<string, string> = {}) {
  if (service === 'broker') return pipeline.startBroker(env);
  if (service === 'ingest') return pipeline.startIngest(env);
  return pipeline.startApi({ PUBLIC_READ: 'true', ...env });
}

/** Waits until every acknowledged reading is stored, then counts. */
async function settle(prefix: string, result: Awaited<ReturnType<Awaited<ReturnType<typeof startLoad>>['stop']>>, what: string) {
  await waitUntil(async () => (await tally(influx, prefix, result)).lost === 0, 60_000, `${what}: every acknowledged reading stored`).catch(() => {});
  return tally(influx, prefix, result);
}

function run(binary: string, args: string[], input: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(binary, args, { timeout: 20_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(input);
  });
}

describe('a fresh deployment', () => {
  it('stores readings acknowledged before any ingest worker ever ran, once one runs', async () => {
    const pipeline = await newPipeline();
    await pipeline.startBroker();
    const base = Date.now() - 60_000;
    const lines = Array.from({ length: 50 }, (_, i) => JSON.stringify({ ts: base + i, seq: i + 1, pm25: 3 })).join('\n');
    // As a new user would: mosquitto_pub, one QoS 1 reading per line, each acknowledged.
    const published = await run('/usr/bin/mosquitto_pub', ['-h', '127.0.0.1', '-p', String(pipeline.mqttPort), '-V', 'mqttv311', '-i', 'first-boot-0', '-q', '1', '-t', 'lab/v1/air/first-boot-0', '-l'], `${lines}\n`);
    expect(published.code, published.output).toBe(0);
    await sleep(1_500);
    await pipeline.startIngest();
    const acked = new Map([['first-boot-0', new Set(Array.from({ length: 50 }, (_, i) => i + 1))]]);
    const counted = await settle('first-boot', { acked, ackedCount: 50, attempted: 50, unacked: 0 }, 'first boot');
    expect(counted).toMatchObject({ stored: 50, lost: 0, duplicated: 0 });
  });
});

const ORDERS: ServiceName[][] = [
  ['broker', 'ingest', 'api'],
  ['broker', 'api', 'ingest'],
  ['ingest', 'broker', 'api'],
  ['ingest', 'api', 'broker'],
  ['api', 'broker', 'ingest'],
  ['api', 'ingest', 'broker'],
];

/**
 * An HTTP device (registered beforehand, as a provisioning step would) posting one reading
 * at a time to the broker's HTTP listener from the first moment: a refused connection or a
 * 5xx is sent again, as a device would; a 2xx is an acknowledgement.
 */
function startHttpDevice(url: string, deviceId: string, secret: string) {
  const acked = new Set<number>();
  let stopped = false;
  let seq = 0;
  const running = (async () => {
    while (!stopped) {
      const reading = { ts: Date.now(), seq: seq + 1, pm25: 5 };
      try {
        const response = await fetch(`${url}/api/v1/devices/${deviceId}/readings`, {
          method: 'POST',
          headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
          body: JSON.stringify(reading),
        });
        await response.arrayBuffer();
        if (response.ok) {
          acked.add(reading.seq);
          seq += 1;
        } else if (response.status < 500) {
          throw new Error(`${deviceId}: HTTP ${response.status} for a valid reading`);
        }
      } catch (error) {
        if (error instanceof Error && error.message.includes('for a valid reading')) throw error;
        // Nobody listening yet: try again shortly.
      }
      await sleep(20);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await running;
      return acked;
    },
  };
}

describe('services started in any order', () => {
  it.each(ORDERS.map((order) => [order.join(' → '), order] as const))('%s, devices publishing from the first moment: stored = acknowledged, and the live feed reaches a dashboard', { timeout: 120_000 }, async (name, order) => {
    const pipeline = await newPipeline();
    const prefix = `order-${order.map((s) => s[0]).join('')}`;
    // Devices come first and retry until the broker answers, as real ones do.
    const load = await startLoad({ mqttUrl: pipeline.mqttUrl, prefix, devices: 5, ratePerS: 200, waitForConnect: false });
    const registry = await openFileRegistry({ dataDir: pipeline.dataDir, pollIntervalMs: 0 });
    const httpId = `${prefix}-http`;
    const { secret } = await registry.create({ id: httpId, kind: 'air', owner: 'http-co', lat: 55.68, lon: 12.57, intervalSeconds: 60, enabled: true, meta: {} });
    await registry.close();
    const edgeHttpPort = await findFreePort();
    const httpDevice = startHttpDevice(`http://127.0.0.1:${edgeHttpPort}`, httpId, secret);
    for (const service of order) {
      await start(pipeline, service, service === 'broker' ? { EDGE_HTTP_PORT: String(edgeHttpPort) } : {});
      await sleep(500);
    }
    // A dashboard: the live feed works whichever service came up last.
    const live: Socket<ServerToClientEvents, ClientToServerEvents> = connectSocket(`http://127.0.0.1:${pipeline.apiPort}`, { transports: ['websocket'], reconnectionDelay: 200 });
    let liveReadings = 0;
    live.on('reading', (reading) => {
      if (reading.deviceId.startsWith(prefix)) liveReadings += 1;
    });
    live.on('connect', () => live.emit('subscribe', { kind: 'air' }));
    // While the API waits for the broker it refuses live clients with UNAVAILABLE; retry, as the dashboard does.
    live.on('connect_error', () => {
      if (!live.active) setTimeout(() => live.connect(), 200);
    });
    await waitUntil(() => liveReadings > 0, 20_000, `${name}: live readings on the dashboard`);
    await sleep(1_500);
    const mqttResult = await load.stop(20_000);
    const httpAcked = await httpDevice.stop();
    live.disconnect();
    const result = { ...mqttResult, acked: new Map([...mqttResult.acked, [httpId, httpAcked]]), ackedCount: mqttResult.ackedCount + httpAcked.size };
    const counted = await settle(prefix, result, name);
    console.log(`[order] ${name}: acknowledged ${result.ackedCount} (HTTP ${httpAcked.size}), stored ${counted.stored}, lost ${counted.lost}, duplicated ${counted.duplicated}, live ${liveReadings}`);
    expect(mqttResult.ackedCount).toBeGreaterThan(200);
    expect(httpAcked.size).toBeGreaterThan(10);
    expect(counted.lost).toBe(0);
    expect(counted.duplicated).toBe(0);
  });
});

describe('each service restarted alone under load', () => {
  it('SIGKILL of the broker, then of ingest, then of the API: stored = acknowledged, no duplicates', { timeout: 180_000 }, async () => {
    const pipeline = await newPipeline();
    await pipeline.startBroker();
    await pipeline.startIngest();
    await pipeline.startApi({ PUBLIC_READ: 'true' });
    const load = await startLoad({ mqttUrl: pipeline.mqttUrl, prefix: 'restart-alone', devices: 10, ratePerS: 400 });
    for (const service of ['broker', 'ingest', 'api'] as const) {
      await sleep(1_500);
      await pipeline[service]!.kill();
      await sleep(500);
      await start(pipeline, service);
    }
    await sleep(1_500);
    const result = await load.stop(20_000);
    const counted = await settle('restart-alone', result, 'restart alone');
    console.log(`[restart alone] acknowledged ${result.ackedCount}, stored ${counted.stored}, lost ${counted.lost}, duplicated ${counted.duplicated}, missing e.g. ${counted.missing.join(', ')}`);
    expect(result.ackedCount).toBeGreaterThan(1_500);
    expect(counted.lost).toBe(0);
    expect(counted.duplicated).toBe(0);
  });
});

describe('a store-and-forward backlog', () => {
  it('10,000 readings from one device at its rate limit, right after another process registered it: all stored, in order, none refused', { timeout: 120_000 }, async () => {
    const pipeline = await newPipeline();
    await pipeline.startBroker({ MQTT_ALLOW_ANONYMOUS: 'false', SERVICE_TOKEN, MQTT_DEVICE_RATE_PER_S: '2000', MQTT_DEVICE_BURST: '50' });
    await pipeline.startIngest();
    // Provisioning: registered through the registry file as the API would, used at once.
    const registry = await openFileRegistry({ dataDir: pipeline.dataDir, pollIntervalMs: 0 });
    const { secret } = await registry.create({ id: 'backlog-1', kind: 'air', owner: 'logger-co', lat: 55.68, lon: 12.57, intervalSeconds: 60, enabled: true, meta: {} });
    await registry.close();
    const device = await mqtt.connectAsync(pipeline.mqttUrl, { clientId: 'backlog-1', username: 'backlog-1', password: secret, reconnectPeriod: 0 });
    const base = Date.now() - 3_600_000;
    const started = Date.now();
    const results = await Promise.allSettled(
      Array.from({ length: 10_000 }, (_, i) => device.publishAsync('lab/v1/air/backlog-1', JSON.stringify({ ts: base + i * 100, seq: i, pm25: i % 50 }), { qos: 1 })),
    );
    const seconds = (Date.now() - started) / 1000;
    await device.endAsync();
    expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
    // 50 at once, then 2,000/s: the device was slowed down, not refused.
    expect(seconds).toBeGreaterThanOrEqual((10_000 - 50) / 2_000);
    await waitUntil(async () => (await influx.queryRows(`SELECT COUNT(seq) AS n FROM air WHERE device = 'backlog-1'`))[0]?.n === 10_000, 60_000, 'all 10,000 stored');
    const rows = await influx.queryRows(`SELECT seq, received_ms FROM air WHERE device = 'backlog-1'`);
    const received = rows.map((r) => Number(r.received_ms));
    expect(rows.map((r) => Number(r.seq))).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
    // Arrival order is publish order: time received never goes back along the sequence.
    expect(received.every((t, i) => i === 0 || t >= received[i - 1]!)).toBe(true);
    const refused = await influx.queryRows(`SELECT COUNT(size) AS n FROM rejected WHERE device = 'backlog-1'`);
    expect(refused).toEqual([]);
    console.log(`[backlog] 10,000 readings at 2,000/s: acknowledged in ${seconds.toFixed(1)} s, all stored in order, none refused`);
  });
});

describe('the one-process lab', () => {
  it('killed with SIGKILL under load and started again: stored = acknowledged (and PUBLIC_READ=false honoured)', { timeout: 180_000 }, async () => {
    const dataDir = await tempDir('lab-kill');
    const ports = { HTTP_PORT: await findFreePort(), MQTT_PORT: await findFreePort(), MQTT_WS_PORT: await findFreePort(), LAB_INFLUX_PORT: await findFreePort() };
    const adminToken = 'lab-kill-admin-token-0123456789abcdef0123456789';
    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/tmp',
      DATA_DIR: dataDir.path,
      ADMIN_TOKEN: adminToken,
      SIM_AIR: '0',
      SIM_TRAFFIC: '0',
      SIM_WASTE: '0',
      // Closed data: the lab must honour it (reads need a key), as the services do.
      PUBLIC_READ: 'false',
      ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
    };
    const apiUrl = `http://127.0.0.1:${ports.HTTP_PORT}`;
    const startLab = async (): Promise<ChildProcess> => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'lab/main.ts'], { cwd: process.cwd(), env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4_000)));
      await waitUntil(async () => {
        if (child.exitCode !== null) throw new Error(`the lab exited: ${stderr}`);
        return (await fetch(`${apiUrl}/readyz`)).status === 200;
      }, 60_000, `the lab ready; stderr: ${stderr}`);
      return child;
    };
    let lab = await startLab();
    try {
      expect((await fetch(`${apiUrl}/api/v1/readings`)).status).toBe(401);
      expect((await fetch(`${apiUrl}/api/v1/readings`, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(200);
      const secrets = new Map<string, string>();
      for (let i = 0; i < 5; i += 1) {
        const id = `lab-kill-${i}`;
        const response = await fetch(`${apiUrl}/api/v1/devices`, {
          method: 'POST',
          headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
          body: JSON.stringify({ id, kind: 'air', owner: 'test', lat: 55.68, lon: 12.57 }),
        });
        expect(response.status).toBe(201);
        secrets.set(id, ((await response.json()) as DeviceWithSecret).secret);
      }
      // The lab's default rate limit is 10/s per device: 5 devices × 8/s stays under it.
      const load = await startLoad({ mqttUrl: `mqtt://127.0.0.1:${ports.MQTT_PORT}`, prefix: 'lab-kill', devices: 5, ratePerS: 40, secrets });
      await sleep(3_000);
      lab.kill('SIGKILL');
      await once(lab, 'exit');
      await sleep(300);
      lab = await startLab();
      await sleep(3_000);
      const result = await load.stop(20_000);
      const labInflux = createInfluxClient({ url: `http://127.0.0.1:${ports.LAB_INFLUX_PORT}`, database: 'streetlab' });
      await waitUntil(async () => (await tally(labInflux, 'lab-kill', result)).lost === 0, 30_000, 'every acknowledged reading stored').catch(() => {});
      const counted = await tally(labInflux, 'lab-kill', result);
      console.log(`[lab SIGKILL] acknowledged ${result.ackedCount}, stored ${counted.stored}, lost ${counted.lost}, duplicated ${counted.duplicated}`);
      expect(result.ackedCount).toBeGreaterThan(150);
      expect(counted.lost).toBe(0);
      expect(counted.duplicated).toBe(0);
    } finally {
      lab.kill('SIGTERM');
      await Promise.race([once(lab, 'exit'), sleep(20_000)]);
      if (lab.exitCode === null) lab.kill('SIGKILL');
      await dataDir.remove();
    }
  });
});
