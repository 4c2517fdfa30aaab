/**
 * Devices that do not speak our MQTT contract, end to end: HTTP devices, The Things Stack
 * webhooks, ChirpStack's HTTP integration and Sensor.Community sensors send recorded messages
 * in their own formats (test/fixtures/uplinks) with real HTTP clients (fetch) to the lab's
 * API port, which passes them to the edge's HTTP listener; a real InfluxDB stores what the
 * ingest worker drains. Checked: a 2xx means durable (the reading is in the log when the
 * answer arrives, and queryable after ingest drains), rejections are recorded and reach the
 * device's own `/rejected` topic, unknown devices get 404 and a rejection record, wrong
 * secrets 401, frame counters become `seq`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreateDeviceRequest, DeviceWithSecret, IngestResponse } from '../../contracts/index.ts';
import { buildRejectedTopic } from '../../contracts/index.ts';
import { openLogReader } from '../../common/spool/log-reader.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
const fixture = (name: string): Record<string, any> => JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/uplinks', name), 'utf8'));

beforeAll(async () => {
  stack = await startStack({ security: 'secured' });
}, 120_000);
afterAll(async () => {
  await stack?.close();
});

async function register(request: Partial<CreateDeviceRequest> & Pick<CreateDeviceRequest, 'id' | 'kind'>): Promise<DeviceWithSecret> {
  return stack.lab.registry.create({ owner: 'acme', lat: 55.69, lon: 12.55, intervalSeconds: 60, enabled: true, meta: {}, ...request } as CreateDeviceRequest);
}

function post(path: string, body: unknown, headers: Record<string, string> = {}, base = stack.apiUrl): Promise<Response> {
  return fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });
const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` });
const admin = () => ({ authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' });

async function createIntegration(id: string, type: 'ttn' | 'chirpstack'): Promise<string> {
  const response = await fetch(`${stack.apiUrl}/api/v1/integrations`, { method: 'POST', headers: admin(), body: JSON.stringify({ id, type, name: `${type} test` }) });
  expect(response.status).toBe(201);
  return ((await response.json()) as { secret: string }).secret;
}

async function rows(influxql: string, params: Record<string, string>): Promise<Record<string, unknown>[]> {
  await stack.flush();
  return stack.influx.queryRows(influxql, params);
}

/** Every line a fresh reader finds in the edge's log right now. */
async function logLines(): Promise<string[]> {
  const reader = await openLogReader({ dir: stack.lab.broker.edge!.logDir, consumer: `probe-${Date.now()}` });
  const out: string[] = [];
  for (;;) {
    const batch = await reader.nextBatch(10_000, 16 * 1024 * 1024, 0);
    if (!batch) break;
    out.push(...batch.records);
  }
  await reader.close();
  return out;
}

describe('HTTP devices: POST /api/v1/devices/{id}/readings', () => {
  let secret: string;
  beforeAll(async () => {
    secret = (await register({ id: 'http-air-1', kind: 'air', source: 'http' })).secret;
  });

  it('answers 201 once the reading is in the log, and it is queryable after ingest drains', async () => {
    const response = await post('/api/v1/devices/http-air-1/readings', { pm25: 11.5, no2: 20, seq: 7 }, bearer(secret));
    expect(response.status).toBe(201);
    const body = (await response.json()) as IngestResponse;
    expect(body).toMatchObject({ deviceId: 'http-air-1', accepted: 1, rejected: 0, results: [{ index: 0, status: 'accepted' }] });
    // Durable when answered: the line is in the log before ingest has been asked for anything.
    expect((await logLines()).some((line) => line.startsWith('air,device=http-air-1') && line.includes('pm25=11.5'))).toBe(true);
    const stored = await rows('SELECT pm25, no2, seq FROM air WHERE device = $d', { d: 'http-air-1' });
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ pm25: 11.5, no2: 20, seq: 7 });
  });

  it('takes an array with basic auth: 202 with each reading\'s outcome, the bad one recorded as a rejection', async () => {
    const ts = Date.now() - 60_000;
    const response = await post('/api/v1/devices/http-air-1/readings', [{ pm10: 30, ts }, { pm10: 'high', ts: ts + 1 }, { pm10: 31, ts: ts + 2 }], basic('http-air-1', secret));
    expect(response.status).toBe(202);
    const body = (await response.json()) as IngestResponse;
    expect(body.accepted).toBe(2);
    expect(body.rejected).toBe(1);
    expect(body.results.map((r) => r.status)).toEqual(['accepted', 'rejected', 'accepted']);
    const rejected = body.results[1]!;
    expect(rejected.status === 'rejected' && rejected.rejection.reason).toBe('FIELD_TYPE');
    const stored = await rows('SELECT pm10 FROM air WHERE device = $d AND pm10 > 0', { d: 'http-air-1' });
    expect(stored.map((r) => r.pm10)).toEqual([30, 31]);
    const rejections = await rows("SELECT * FROM rejected WHERE device = $d AND reason = 'FIELD_TYPE'", { d: 'http-air-1' });
    expect(rejections).toHaveLength(1);
  });

  it('answers 400 with the rejection when every reading is invalid, and tells the device on its /rejected topic', async () => {
    const notices: string[] = [];
    const device = await stack.connect({ clientId: 'http-air-1', username: 'http-air-1', password: secret });
    await device.subscribeAsync(buildRejectedTopic('air', 'http-air-1'), { qos: 1 });
    device.on('message', (_topic, payload) => notices.push(payload.toString()));
    const response = await post('/api/v1/devices/http-air-1/readings', { pm25: 10, colour: 'blue' }, bearer(secret));
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; rejection: { reason: string; message: string } };
    expect(body.error).toBe('READING_REJECTED');
    expect(body.rejection.reason).toBe('FIELD_UNKNOWN');
    expect(body.rejection.message).toContain('colour');
    const notice = await eventually(() => notices.find((n) => n.includes('colour')), 10_000, 'the rejection on the device topic');
    expect(JSON.parse(notice)).toMatchObject({ reason: 'FIELD_UNKNOWN', deviceId: 'http-air-1' });
  });

  it('records a body that is not JSON as PAYLOAD_NOT_JSON', async () => {
    const response = await post('/api/v1/devices/http-air-1/readings', '{"pm25": 1', bearer(secret));
    expect(response.status).toBe(400);
    expect(((await response.json()) as { rejection: { reason: string } }).rejection.reason).toBe('PAYLOAD_NOT_JSON');
  });

  it('refuses a wrong secret (401), another device\'s credentials (403), no credentials (401)', async () => {
    expect((await post('/api/v1/devices/http-air-1/readings', { pm25: 1 }, bearer('not-the-secret'))).status).toBe(401);
    expect((await post('/api/v1/devices/http-air-1/readings', { pm25: 1 }, basic('someone-else', secret))).status).toBe(403);
    const anonymous = await post('/api/v1/devices/http-air-1/readings', { pm25: 1 });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toContain('Basic');
  });

  it('answers 404 for a device nobody registered and records a DEVICE_UNKNOWN rejection', async () => {
    const response = await post('/api/v1/devices/ghost-7/readings', { pm25: 1 }, bearer('whatever'));
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: string }).error).toBe('DEVICE_UNKNOWN');
    const recorded = await rows("SELECT * FROM rejected WHERE reason = 'DEVICE_UNKNOWN'", {});
    expect(recorded.some((r) => String(r.topic).includes('ghost-7'))).toBe(true);
  });

  it('works on the edge\'s own listener too (the API only passes requests on)', async () => {
    const edgeUrl = stack.lab.ingestion.http!.url;
    const response = await post('/api/v1/devices/http-air-1/readings', { o3: 44 }, bearer(secret), edgeUrl);
    expect(response.status).toBe(201);
  });
});

describe('device identifiers', () => {
  it('are unique platform-wide: a DevEUI taken by another device answers 409, in any case', async () => {
    await register({ id: 'lora-taken', kind: 'air', source: 'ttn', devEui: '00112233445566AA' });
    const body = { id: 'lora-clash', kind: 'air', owner: 'acme', lat: 55.6, lon: 12.5, source: 'chirpstack', devEui: '00112233445566aa' };
    const response = await fetch(`${stack.apiUrl}/api/v1/devices`, { method: 'POST', headers: admin(), body: JSON.stringify(body) });
    expect(response.status).toBe(409);
    expect(((await response.json()) as { message: string }).message).toContain('lora-taken');
    const patch = await fetch(`${stack.apiUrl}/api/v1/devices/http-air-1`, { method: 'PATCH', headers: admin(), body: JSON.stringify({ devEui: '00112233445566AA' }) });
    expect(patch.status).toBe(409);
  });
});

describe('The Things Stack v3 webhook: POST /api/v1/uplinks/ttn/{integration}', () => {
  let secret: string;
  let deviceSecret: string;
  const uplink = (overrides: (message: Record<string, any>) => void = () => {}) => {
    const message = fixture('tts-v3-uplink.json');
    message.received_at = new Date(Date.now() - 5_000).toISOString().replace('Z', '123456Z');
    overrides(message);
    return message;
  };

  beforeAll(async () => {
    secret = await createIntegration('tts-air', 'ttn');
    deviceSecret = (await register({
      id: 'lora-air-1',
      kind: 'air',
      source: 'ttn',
      devEui: '70b3d57ed005a1b2',
      fieldMap: { pm2_5: { to: 'pm25', scale: 0.1 }, pm10: { to: 'pm10', scale: 0.1 }, battery_voltage: { ignore: true } },
    })).secret;
  });

  it('stores the decoded payload through the field mapping, f_cnt as seq, the best gateway\'s rssi', async () => {
    const response = await post('/api/v1/uplinks/ttn/tts-air', uplink(), { 'x-streetlab-secret': secret });
    expect(response.status).toBe(201);
    const stored = await rows('SELECT pm25, pm10, temperature, humidity, seq, rssi FROM air WHERE device = $d', { d: 'lora-air-1' });
    expect(stored).toHaveLength(1);
    expect(stored[0]).toMatchObject({ pm25: 8.4, pm10: 14.1, temperature: 4.2, humidity: 81, seq: 1287, rssi: -87 });
  });

  it('refuses a wrong or missing secret (401), an unknown integration (404) and a disabled one (403)', async () => {
    expect((await post('/api/v1/uplinks/ttn/tts-air', uplink(), { 'x-streetlab-secret': 'sli_wrong' })).status).toBe(401);
    expect((await post('/api/v1/uplinks/ttn/tts-air', uplink())).status).toBe(401);
    expect((await post('/api/v1/uplinks/ttn/no-such-integration', uplink(), { 'x-streetlab-secret': secret })).status).toBe(404);
    const patch = (enabled: boolean) => fetch(`${stack.apiUrl}/api/v1/integrations/tts-air`, { method: 'PATCH', headers: admin(), body: JSON.stringify({ enabled }) });
    expect((await patch(false)).status).toBe(200);
    const refused = await post('/api/v1/uplinks/ttn/tts-air', uplink(), { 'x-streetlab-secret': secret });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toBe('INTEGRATION_DISABLED');
    expect((await patch(true)).status).toBe(200);
  });

  it('answers 404 for an unknown DevEUI and records a DEVICE_UNKNOWN rejection', async () => {
    const response = await post('/api/v1/uplinks/ttn/tts-air', uplink((m) => {
      m.end_device_ids.dev_eui = 'FFFFFFFFFFFF0001';
      m.end_device_ids.device_id = 'eui-ffffffffffff0001';
    }), { 'x-streetlab-secret': secret });
    expect(response.status).toBe(404);
    const body = (await response.json()) as { rejection: { reason: string; message: string } };
    expect(body.rejection.message).toContain('FFFFFFFFFFFF0001');
    const recorded = await rows("SELECT * FROM rejected WHERE reason = 'DEVICE_UNKNOWN'", {});
    expect(recorded.some((r) => String(r.message).includes('FFFFFFFFFFFF0001'))).toBe(true);
  });

  it('rejects a decoder field that maps to nothing (400), recorded for the device and on its /rejected topic', async () => {
    const notices: string[] = [];
    const device = await stack.connect({ clientId: 'lora-air-1', username: 'lora-air-1', password: deviceSecret });
    await device.subscribeAsync(buildRejectedTopic('air', 'lora-air-1'), { qos: 1 });
    device.on('message', (_topic, payload) => notices.push(payload.toString()));
    const response = await post('/api/v1/uplinks/ttn/tts-air', uplink((m) => (m.uplink_message.decoded_payload.co2_ppm = 612)), { 'x-streetlab-secret': secret });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { rejection: { reason: string; issues: { path: string }[] } };
    expect(body.rejection.reason).toBe('FIELD_UNKNOWN');
    expect(body.rejection.issues.map((i) => i.path)).toContain('co2_ppm');
    await eventually(() => notices.find((n) => n.includes('co2_ppm')), 10_000, 'the rejection on the device topic');
    const recorded = await rows("SELECT * FROM rejected WHERE device = $d AND reason = 'FIELD_UNKNOWN'", { d: 'lora-air-1' });
    expect(recorded).toHaveLength(1);
  });

  it('an integration scoped to another owner does not find the device', async () => {
    const response = await fetch(`${stack.apiUrl}/api/v1/integrations`, { method: 'POST', headers: admin(), body: JSON.stringify({ id: 'tts-other', type: 'ttn', owner: 'other-company' }) });
    const scoped = ((await response.json()) as { secret: string }).secret;
    expect((await post('/api/v1/uplinks/ttn/tts-other', uplink(), { 'x-streetlab-secret': scoped })).status).toBe(404);
  });
});

describe('ChirpStack v4 HTTP integration: POST /api/v1/uplinks/chirpstack/{integration}?event=…', () => {
  let secret: string;
  beforeAll(async () => {
    secret = await createIntegration('cs-bins', 'chirpstack');
    await register({
      id: 'lora-bin-12',
      kind: 'waste',
      source: 'chirpstack',
      devEui: 'A84041000181C061',
      fieldMap: { fillLevel: { to: 'fill' }, lid: { to: 'lidOpen' }, temp: { to: 'temperature' } },
    });
  });

  it('ignores events other than up with 204', async () => {
    const response = await post('/api/v1/uplinks/chirpstack/cs-bins?event=join', fixture('chirpstack-v4-join.json'), { 'x-streetlab-secret': secret });
    expect(response.status).toBe(204);
  });

  it('stores an up event with fCnt as seq', async () => {
    const event = fixture('chirpstack-v4-up.json');
    event.time = new Date(Date.now() - 3_000).toISOString();
    const response = await post('/api/v1/uplinks/chirpstack/cs-bins?event=up', event, { 'x-streetlab-secret': secret });
    expect(response.status).toBe(201);
    const stored = await rows('SELECT fill, lidOpen, temperature, seq, rssi FROM waste WHERE device = $d', { d: 'lora-bin-12' });
    expect(stored[0]).toMatchObject({ fill: 62, lidOpen: false, temperature: 7.5, seq: 311, rssi: -71 });
  });

  it('refuses a ChirpStack body on the TTS path of the same integration', async () => {
    const response = await post('/api/v1/uplinks/ttn/cs-bins', fixture('chirpstack-v4-up.json'), { 'x-streetlab-secret': secret });
    expect(response.status).toBe(400);
  });
});

describe('Sensor.Community airrohr: POST /api/v1/uplinks/airrohr', () => {
  let secret: string;
  beforeAll(async () => {
    secret = (await register({ id: 'sc-13972394', kind: 'air', source: 'airrohr', airrohrChipId: '13972394' })).secret;
  });

  it('stores the firmware\'s string values, pressure in hPa, with basic auth and X-Sensor', async () => {
    const response = await post('/api/v1/uplinks/airrohr', fixture('airrohr.json'), { ...basic('sc-13972394', secret), 'x-sensor': 'esp8266-13972394', 'x-pin': '1' });
    expect(response.status).toBe(201);
    const stored = await rows('SELECT pm10, pm25, temperature, humidity, pressure, rssi FROM air WHERE device = $d', { d: 'sc-13972394' });
    expect(stored[0]).toMatchObject({ pm10: 14.65, pm25: 8.3, temperature: 5.42, humidity: 78.31, pressure: 1013.25, rssi: -67 });
  });

  it('refuses another sensor\'s chip id under this device\'s credentials (403) and a wrong password (401)', async () => {
    const other = { ...fixture('airrohr.json'), esp8266id: '999' };
    expect((await post('/api/v1/uplinks/airrohr', other, basic('sc-13972394', secret))).status).toBe(403);
    expect((await post('/api/v1/uplinks/airrohr', fixture('airrohr.json'), basic('sc-13972394', 'wrong'))).status).toBe(401);
  });
});

describe('integrations API', () => {
  it('lists integrations without secrets or bridge passwords, admin only', async () => {
    const created = await fetch(`${stack.apiUrl}/api/v1/integrations`, {
      method: 'POST',
      headers: admin(),
      body: JSON.stringify({ id: 'tts-bridge', type: 'ttn', enabled: false, mqtt: { url: 'mqtts://eu1.cloud.thethings.network:8883', username: 'streetlab-air@ttn', password: 'NNSXS.SECRETKEY' } }),
    });
    expect(created.status).toBe(201);
    const list = await fetch(`${stack.apiUrl}/api/v1/integrations`, { headers: admin() });
    const text = await list.text();
    expect(text).toContain('tts-bridge');
    expect(text).not.toContain('NNSXS.SECRETKEY');
    expect(text).not.toContain('secretHash');
    expect(JSON.parse(text).integrations.find((i: { id: string }) => i.id === 'tts-bridge').mqtt).toMatchObject({ passwordSet: true });
    expect((await fetch(`${stack.apiUrl}/api/v1/integrations`)).status).toBe(401);
    const bad = await fetch(`${stack.apiUrl}/api/v1/integrations`, { method: 'POST', headers: admin(), body: JSON.stringify({ id: 'x', type: 'lorawan' }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toContain('type');
  });
});

describe('simulated network-server devices (npm run simulate -- --ttn N --chirpstack N)', () => {
  it('register with their DevEUIs and field maps, and their webhook uplinks are stored with frame counters as seq', async () => {
    const { createUplinkFleet } = await import('../../simulators/uplinks.ts');
    const fleet = createUplinkFleet({ apiUrl: stack.apiUrl, adminToken: stack.adminToken, ttn: 2, chirpstack: 2, intervalMs: 150, seed: 3 });
    await fleet.start();
    try {
      await eventually(() => (fleet.stats().accepted >= 12 ? true : undefined), 20_000, 'twelve stored uplinks');
    } finally {
      await fleet.stop();
    }
    const stats = fleet.stats();
    expect(stats.rejected).toBe(0);
    expect(stats.failed).toBe(0);
    const device = await stack.lab.registry.get('ttn-air-001');
    expect(device).toMatchObject({ source: 'ttn', devEui: fleet.devices[0]!.devEui });
    const air = await rows('SELECT pm25, seq FROM air WHERE device = $d ORDER BY time', { d: 'ttn-air-001' });
    expect(air.length).toBeGreaterThan(1);
    expect(air.map((r) => r.seq)).toEqual(air.map((_r, i) => i));
    const bins = await rows('SELECT fill, seq FROM waste WHERE device = $d', { d: 'cs-bin-001' });
    expect(bins.length).toBeGreaterThan(1);
    expect(typeof bins[0]!.fill).toBe('number');
  }, 60_000);
});
