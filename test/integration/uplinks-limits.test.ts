/**
 * The edge's HTTP listener under abuse, with real parts: a real edge and log, an ingest worker
 * draining into a real InfluxDB, a real device registry on disk, real HTTP clients (fetch), and
 * for the last case the API passing requests on (EDGE_HTTP_URL).
 * - a source address whose requests keep failing is answered 429 with Retry-After before any
 *   work (no rejection record), while devices at other addresses go on;
 * - a device over its rate is slowed down, and refused (429, Retry-After) only past its queue;
 * - repeated DEVICE_UNKNOWN messages for one identifier are recorded once per window and then
 *   once more as a count, for HTTP device ids and network-server DevEUIs alike;
 * - a caller cannot escape the limit through the API by sending its own X-Forwarded-For.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.ts';
import { createReadingStore } from '../../api/store.ts';
import { buildIngestHttpApp, type IngestHttpApp, type IngestHttpOptions } from '../../broker/ingest-http.ts';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { openFileRegistry, type FileRegistry } from '../../common/registry/index.ts';
import { openIntegrationStore, type IntegrationStore } from '../../common/registry/integrations.ts';
import { openLogReader } from '../../common/spool/log-reader.ts';
import { startEdgePipeline, type EdgePipeline } from '../helpers/edge.ts';
import { tempDir } from '../helpers/processes.ts';
import { eventually } from '../helpers/stack.ts';

let influxServer: InfluxServer;
let influx: InfluxClient;
let pipeline: EdgePipeline;
let registry: FileRegistry;
let integrations: IntegrationStore;
let registryDir: { path: string; remove: () => Promise<void> };
const listeners: IngestHttpApp[] = [];
let deviceSecret: string;
let integrationSecret: string;

/** A listener of its own on a free port, with these limits. */
async function listen(limits: Pick<IngestHttpOptions, 'failureLimit' | 'deviceRate' | 'unknownWindowMs' | 'bodyLimitBytes'>): Promise<IngestHttpApp & { url: string }> {
  const built = buildIngestHttpApp({ edge: pipeline.edge, registry, integrations, ...limits });
  listeners.push(built);
  await built.app.listen({ host: '127.0.0.1', port: 0 });
  return { ...built, url: `http://127.0.0.1:${(built.app.server.address() as AddressInfo).port}` };
}

function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

/** DEVICE_UNKNOWN lines in the edge's log right now whose text contains `needle`. */
async function unknownLines(needle: string): Promise<string[]> {
  const reader = await openLogReader({ dir: pipeline.edge.logDir, consumer: `probe-${Date.now()}-${Math.random()}` });
  const out: string[] = [];
  for (;;) {
    const batch = await reader.nextBatch(10_000, 16 * 1024 * 1024, 0);
    if (!batch) break;
    out.push(...batch.records.filter((line) => line.startsWith('rejected') && line.includes('DEVICE_UNKNOWN') && line.includes(needle)));
  }
  await reader.close();
  return out;
}

function ttsUplink(devEui: string, deviceId: string): Record<string, any> {
  const message = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/uplinks/tts-v3-uplink.json'), 'utf8'));
  message.end_device_ids.dev_eui = devEui;
  message.end_device_ids.device_id = deviceId;
  message.received_at = new Date(Date.now() - 1_000).toISOString();
  return message;
}

beforeAll(async () => {
  influxServer = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: influxServer.url, database: 'streetlab' });
  pipeline = await startEdgePipeline(influx);
  registryDir = await tempDir('limits-registry');
  registry = await openFileRegistry({ dataDir: registryDir.path, scrypt: { N: 1024 } });
  integrations = await openIntegrationStore();
  deviceSecret = (await registry.create({ id: 'lim-http-1', kind: 'air', owner: 'acme', lat: 55.69, lon: 12.55, intervalSeconds: 60, enabled: true, meta: {}, source: 'http' })).secret;
  integrationSecret = (await integrations.create({ id: 'lim-tts', type: 'ttn', enabled: true })).secret;
}, 120_000);

afterAll(async () => {
  for (const listener of listeners) await listener.app.close();
  await integrations?.close();
  await registry?.close();
  await pipeline?.close();
  await registryDir?.remove();
  await influxServer?.stop();
});

describe('failed requests per source address', () => {
  it('answers 429 with Retry-After once an address spent its budget, before any work, and serves other addresses', async () => {
    const edge = await listen({ failureLimit: { burst: 3, perMinute: 1 }, deviceRate: false });
    const attacker = { 'x-forwarded-for': '203.0.113.7' }; // the API's header, believed from loopback
    const device = { 'x-forwarded-for': '198.51.100.20', authorization: `Bearer ${deviceSecret}` };
    const statuses = [];
    statuses.push((await post(`${edge.url}/api/v1/devices/lim-http-1/readings`, { pm25: 1 }, { ...attacker, authorization: 'Bearer wrong' })).status);
    statuses.push((await post(`${edge.url}/api/v1/devices/lim-ghost-1/readings`, { pm25: 1 }, { ...attacker, authorization: 'Bearer whatever' })).status);
    statuses.push((await post(`${edge.url}/api/v1/uplinks/ttn/lim-tts`, ttsUplink('00000000000000F1', 'x'), { ...attacker, 'x-streetlab-secret': 'sli_wrong' })).status);
    expect(statuses).toEqual([401, 404, 401]);

    const refused = await post(`${edge.url}/api/v1/devices/lim-ghost-2/readings`, { pm25: 1 }, { ...attacker, authorization: 'Bearer whatever' });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = (await refused.json()) as { error: string; message: string };
    expect(body.error).toBe('TOO_MANY_FAILURES');
    expect(body.message).toContain('203.0.113.7');
    // Refused before the work: no DEVICE_UNKNOWN record for the refused request.
    expect(await unknownLines('lim-ghost-1')).toHaveLength(1);
    expect(await unknownLines('lim-ghost-2')).toHaveLength(0);
    // Even with the right credentials, the spent address waits (its requests are not checked).
    expect((await post(`${edge.url}/api/v1/devices/lim-http-1/readings`, { pm25: 1 }, { ...attacker, authorization: `Bearer ${deviceSecret}` })).status).toBe(429);

    // A device at another address is served, and its successes spend nothing.
    for (let i = 0; i < 5; i += 1) {
      const ok = await post(`${edge.url}/api/v1/devices/lim-http-1/readings`, { pm25: 10 + i, ts: Date.now() - 10_000 + i }, device);
      expect(ok.status).toBe(201);
    }
    expect(edge.failures!.retryAfterSeconds('198.51.100.20')).toBeUndefined();
  });

  it('counts malformed and oversized requests as failures too', async () => {
    const edge = await listen({ failureLimit: { burst: 3, perMinute: 1 }, deviceRate: false, bodyLimitBytes: 1024 });
    const from = { 'x-forwarded-for': '203.0.113.8' };
    expect((await post(`${edge.url}/api/v1/devices/bad id!/readings`, {}, from)).status).toBe(400);
    expect((await post(`${edge.url}/api/v1/devices/lim-http-1/readings`, { note: 'x'.repeat(2048) }, from)).status).toBe(413);
    expect((await post(`${edge.url}/api/v1/uplinks/airrohr`, { esp8266id: '1' }, from)).status).toBe(401);
    expect((await post(`${edge.url}/api/v1/uplinks/airrohr`, { esp8266id: '1' }, from)).status).toBe(429);
  });
});

describe('authenticated devices at their rate', () => {
  it('are slowed down, not refused, within their queue; past it 429 with Retry-After, and nothing of the refused request is stored', async () => {
    // One request per two seconds, none at once beyond the first, one may wait.
    const edge = await listen({ failureLimit: false, deviceRate: { ratePerSecond: 0.5, burst: 1, maxWaiting: 1 } });
    const base = Date.now() - 30_000;
    const responses = await Promise.all(
      [0, 1, 2].map((i) => post(`${edge.url}/api/v1/devices/lim-http-1/readings`, { pm10: 40 + i, ts: base + i }, { authorization: `Bearer ${deviceSecret}` })),
    );
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([201, 201, 429]);
    const refused = responses.find((r) => r.status === 429)!;
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await refused.json()) as { error: string }).error).toBe('DEVICE_RATE_EXCEEDED');
    expect(edge.deviceGate!.throttled()).toBeGreaterThanOrEqual(1);
    const stored = await eventually(async () => {
      await pipeline.ingest.flush();
      const rows = await influx.queryRows('SELECT pm10 FROM air WHERE device = $d AND pm10 >= 40', { d: 'lim-http-1' });
      return rows.length === 2 ? rows : undefined;
    }, 10_000, 'the two admitted readings');
    expect(stored).toHaveLength(2);
  });
});

describe('repeated DEVICE_UNKNOWN records', () => {
  it('are recorded once per identifier and window, then once as a count; every request still answers 404', async () => {
    const edge = await listen({ failureLimit: false, deviceRate: false, unknownWindowMs: 1_000 });
    for (let i = 0; i < 5; i += 1) {
      const response = await post(`${edge.url}/api/v1/devices/lim-ghost-9/readings`, { pm25: 1 }, { authorization: 'Bearer whatever' });
      expect(response.status).toBe(404);
      expect(((await response.json()) as { error: string }).error).toBe('DEVICE_UNKNOWN');
    }
    expect((await post(`${edge.url}/api/v1/devices/lim-ghost-10/readings`, { pm25: 1 }, { authorization: 'Bearer whatever' })).status).toBe(404);
    for (let i = 0; i < 3; i += 1) {
      expect((await post(`${edge.url}/api/v1/uplinks/ttn/lim-tts`, ttsUplink('00000000000000E9', 'eui-e9'), { 'x-streetlab-secret': integrationSecret })).status).toBe(404);
    }
    // Recorded once each right away (the first of each window was durable before its answer).
    expect(await unknownLines('lim-ghost-9')).toHaveLength(1);
    expect(await unknownLines('lim-ghost-10')).toHaveLength(1);
    expect(await unknownLines('00000000000000E9')).toHaveLength(1);
    // When the window ends, the rest are recorded as one count.
    const ghost = await eventually(async () => {
      const lines = await unknownLines('lim-ghost-9');
      return lines.length === 2 ? lines : undefined;
    }, 10_000, 'the count of lim-ghost-9');
    expect(ghost[1]).toContain('4 more messages');
    const lora = await eventually(async () => {
      const lines = await unknownLines('00000000000000E9');
      return lines.length === 2 ? lines : undefined;
    }, 10_000, 'the count of the DevEUI');
    expect(lora[1]).toContain('2 more messages');
    // lim-ghost-10 had one message: nothing more to record.
    expect(await unknownLines('lim-ghost-10')).toHaveLength(1);
    // And in InfluxDB, as GET /api/v1/rejections serves them.
    const rows = await eventually(async () => {
      await pipeline.ingest.flush();
      const found = (await influx.queryRows("SELECT * FROM rejected WHERE reason = 'DEVICE_UNKNOWN'", {})).filter((r) => String(r.topic).includes('lim-ghost-9'));
      return found.length === 2 ? found : undefined;
    }, 10_000, 'both records in InfluxDB');
    expect(rows.map((r) => String(r.message)).filter((m) => m.includes('4 more messages'))).toHaveLength(1);
  });
});

describe('through the API (EDGE_HTTP_URL)', () => {
  let api: FastifyInstance;
  afterAll(async () => api?.close());

  it('the edge limits the caller the API saw, whatever X-Forwarded-For the caller sends', async () => {
    const edge = await listen({ failureLimit: { burst: 2, perMinute: 1 }, deviceRate: false });
    api = await buildApp({ store: createReadingStore(influx), edgeHttpUrl: edge.url });
    await api.listen({ host: '127.0.0.1', port: 0 });
    const apiUrl = `http://127.0.0.1:${(api.server.address() as AddressInfo).port}`;
    const statuses = [];
    for (let i = 0; i < 4; i += 1) {
      // A new made-up address each time: the API replaces it with the address it saw.
      const response = await post(`${apiUrl}/api/v1/devices/lim-http-1/readings`, { pm25: 1 }, { authorization: 'Bearer wrong', 'x-forwarded-for': `192.0.2.${i}` });
      statuses.push(response.status);
      if (response.status === 429) expect(response.headers.get('retry-after')).not.toBeNull();
    }
    expect(statuses).toEqual([401, 401, 429, 429]);
    expect(edge.failures!.retryAfterSeconds('127.0.0.1')).toBeGreaterThanOrEqual(1);
  });
});
