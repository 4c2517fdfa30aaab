/**
 * The delivery guarantee (docs/durability.md), the API's part, with broker, ingest and API as
 * separate processes: a live client that loses the API (restart) reconnects, subscribes again
 * and back-fills from REST what it missed (the protocol in docs/durability.md), so what it
 * has at the end is every reading the broker acknowledged. Also: `/readyz` says 503 while the broker is unreachable, and
 * `/metrics` shows the socket.io clients.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io as connectSocket, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, LiveReading, ReadingsResponse, ServerToClientEvents, SubscribeAck } from '../../contracts/index.ts';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { createPipeline, readMetric, startLoad, tally, waitUntil, type Pipeline } from '../helpers/processes.ts';

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

let influxServer: InfluxServer;
let influx: InfluxClient;
let pipeline: Pipeline;
let socket: LiveSocket | undefined;

beforeAll(async () => {
  influxServer = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: influxServer.url, database: 'streetlab' });
  pipeline = await createPipeline(influxServer.url);
  await pipeline.startBroker();
  await pipeline.startIngest();
  await pipeline.startApi({ PUBLIC_READ: 'true' });
});

afterAll(async () => {
  socket?.disconnect();
  await pipeline?.close();
  await influxServer?.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const key = (r: { deviceId: string; seq?: number | undefined }) => `${r.deviceId}#${r.seq}`;

/**
 * A dashboard-like client: subscribes on every (re)connection and back-fills from REST
 * from a little before the newest reading it has, twice (the second catches readings that
 * were on their way into InfluxDB during the first).
 */
function liveClient(url: string) {
  const have = new Map<string, LiveReading>();
  let live = 0;
  let backfilled = 0;
  let connections = 0;
  let newestTs = 0;
  const s: LiveSocket = connectSocket(url, { transports: ['websocket'], reconnection: true, reconnectionDelay: 200, reconnectionDelayMax: 500 });
  const add = (reading: LiveReading, fromRest: boolean) => {
    const k = key(reading);
    if (have.has(k)) return;
    have.set(k, reading);
    if (fromRest) backfilled += 1;
    else live += 1;
    newestTs = Math.max(newestTs, Date.parse(reading.ts));
  };
  const backfill = async (fromMs: number) => {
    const params = new URLSearchParams({ kind: 'air', from: new Date(fromMs).toISOString(), limit: '10000' });
    const response = await fetch(`${url}/api/v1/readings?${params}`);
    if (!response.ok) throw new Error(`back-fill answered ${response.status}`);
    const body = (await response.json()) as ReadingsResponse;
    for (const reading of body.readings) add(reading, true);
  };
  s.on('reading', (reading) => add(reading, false));
  s.on('connect', () => {
    connections += 1;
    const reconnected = connections > 1;
    const since = newestTs - 5_000;
    s.emit('subscribe', { kind: 'air' }, (ack: SubscribeAck) => {
      if (!ack.ok || !reconnected) return;
      void backfill(since)
        .then(() => sleep(1_500))
        .then(() => backfill(since))
        .catch(() => {});
    });
  });
  return {
    socket: s,
    have,
    figures: () => ({ live, backfilled, connections }),
  };
}

describe('the API restarted during load', () => {
  it('lets a live client reconnect and catch up on everything it missed', { timeout: 120_000 }, async () => {
    const client = liveClient(`http://127.0.0.1:${pipeline.apiPort}`);
    socket = client.socket;
    await waitUntil(() => client.figures().connections === 1, 10_000, 'the socket.io connection');
    await sleep(300);
    expect(await readMetric(pipeline.api!.opsUrl!, 'streetlab_api_socketio_clients')).toBe(1);

    const load = await startLoad({ mqttUrl: pipeline.mqttUrl, prefix: 'dur-api', devices: 10, ratePerS: 200 });
    await sleep(2_000);
    const restartedAt = Date.now();
    const stopped = await pipeline.api!.stop();
    expect(stopped.code).toBe(0);
    await sleep(1_500);
    await pipeline.startApi({ PUBLIC_READ: 'true' });
    await waitUntil(() => client.figures().connections === 2, 15_000, 'the reconnection');
    const reconnectSeconds = (Date.now() - restartedAt) / 1000;
    await sleep(2_000);
    const result = await load.stop(20_000);
    await waitUntil(async () => (await tally(influx, 'dur-api', result)).lost === 0, 30_000, 'every acknowledged reading stored');

    const missingNow = () => [...result.acked].flatMap(([device, seqs]) => [...seqs].filter((seq) => !client.have.has(`${device}#${seq}`)).map((seq) => `${device}#${seq}`));
    // The last readings may still be on their way through the live path.
    await waitUntil(() => missingNow().length === 0, 10_000, 'the live client to have every reading').catch(() => {});
    const missing = missingNow();
    const figures = { sent: result.ackedCount, ...client.figures(), missing: missing.length, reconnectSeconds };
    console.log(`[durability] API restart: ${JSON.stringify(figures)}${missing.length > 0 ? ` e.g. ${missing.slice(0, 5).join(', ')}` : ''}`);
    expect(client.figures().backfilled).toBeGreaterThan(0);
    expect(missing).toEqual([]);
  });

  it('answers /readyz 503 while the broker is unreachable, and 200 once it is back', { timeout: 60_000 }, async () => {
    const api = pipeline.api!;
    expect((await fetch(`${api.opsUrl}/readyz`)).status).toBe(200);
    const stopped = await pipeline.broker!.stop();
    expect(stopped.code).toBe(0);
    await waitUntil(async () => (await fetch(`${api.opsUrl}/readyz`)).status === 503, 10_000, 'readyz 503');
    const body = (await (await fetch(`${api.opsUrl}/readyz`)).json()) as { checks: Record<string, { ok: boolean }> };
    expect(body.checks.broker?.ok).toBe(false);
    expect(body.checks.influxdb?.ok).toBe(true);
    await pipeline.startBroker();
    await waitUntil(async () => (await fetch(`${api.opsUrl}/readyz`)).status === 200, 15_000, 'readyz 200 again');
    const metrics = await (await fetch(`${api.opsUrl}/metrics`)).text();
    expect(metrics).toContain('streetlab_api_http_requests_total{');
    expect(metrics).toContain('# TYPE streetlab_api_socketio_clients gauge');
  });
});
