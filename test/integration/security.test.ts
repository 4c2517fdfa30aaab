/**
 * The security model (README, "Security") end to end, with real parts and real clients:
 * Debian's mosquitto_pub / mosquitto_sub and mqtt.js against the secured lab (broker +
 * ingest + InfluxDB + API).
 * Only a registered device with its secret gets data stored, only on its own topic; what
 * the broker refuses is stored and reported as a rejection; a rotated secret stops working
 * at once; and the onboarding flow (register → publish → read back) works as printed.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceWithSecret, ReadingsResponse, RejectionsResponse } from '../../contracts/index.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
const MOSQUITTO_SUB = '/usr/bin/mosquitto_sub';
let stack: Stack;
let host: string;
let port: string;
const clients: MqttClient[] = [];

beforeAll(async () => {
  for (const tool of [MOSQUITTO_PUB, MOSQUITTO_SUB]) {
    if (!existsSync(tool)) throw new Error(`${tool} is missing: install it with \`sudo apt-get install -y mosquitto-clients\``);
  }
  stack = await startStack({ security: 'secured', mqttWsPort: 0, deviceRateLimit: { ratePerSecond: 2, burst: 3 } });
  const url = new URL(stack.mqttUrl);
  host = url.hostname;
  port = url.port;
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
  await stack?.close();
});

interface Run {
  code: number | null;
  output: string;
}

function run(binary: string, args: string[], input?: string | Buffer, timeoutMs = 10_000): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(binary, args, { timeout: timeoutMs, encoding: 'utf8', maxBuffer: 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? ((error as { code?: number | string }).code as number | null) ?? 1 : 0;
      resolve({ code: typeof code === 'number' ? code : 1, output: `${stdout}${stderr}` });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** mosquitto_pub one message at QoS 1 as `id` (client id and username) with `secret`. */
function mosquittoPub(id: string, secret: string | undefined, topic: string, message: string): Promise<Run> {
  const auth = secret === undefined ? [] : ['-u', id, '-P', secret];
  return run(MOSQUITTO_PUB, ['-h', host, '-p', port, '-V', 'mqttv311', '-i', id, ...auth, '-q', '1', '-t', topic, '-m', message]);
}

async function register(id: string, kind: 'air' | 'traffic' | 'waste' = 'air', extra: { site?: string; owner?: string } = {}): Promise<string> {
  return (await stack.register(kind, id, extra)).secret;
}

async function storedRows(measurement: 'air' | 'traffic' | 'waste', device: string): Promise<Record<string, unknown>[]> {
  await stack.flush();
  return stack.influx.queryRows(`SELECT * FROM "${measurement}" WHERE device = $d`, { d: device });
}

async function rejectionsOf(device: string): Promise<RejectionsResponse['rejections']> {
  await stack.flush();
  // Rejections are not open data: an admin's view (the stack's admin token).
  const response = await fetch(`${stack.apiUrl}/api/v1/rejections?device=${device}&limit=100`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
  return ((await response.json()) as RejectionsResponse).rejections;
}

describe('mosquitto_pub as a device', () => {
  it('with the right secret: the reading is stored with the registry’s site and owner tags', async () => {
    const secret = await register('air-mq-ok', 'air', { site: 'Nørrebrogade 12', owner: 'Acme Air' });
    const result = await mosquittoPub('air-mq-ok', secret, 'lab/v1/air/air-mq-ok', '{"pm25": 12.5, "no2": 31}');
    expect(result.code, result.output).toBe(0);
    const rows = await eventually(async () => {
      const found = await storedRows('air', 'air-mq-ok');
      return found.length > 0 ? found : undefined;
    }, 5_000, 'the stored reading');
    expect(rows[0]).toMatchObject({ pm25: 12.5, no2: 31, site: 'Nørrebrogade 12', owner: 'Acme Air' });
  });

  it('with a wrong secret, as an unknown device, a disabled device or anonymously: refused, nothing stored', async () => {
    const secret = await register('air-mq-wrong');
    await register('air-mq-off');
    const disabledSecret = (await stack.registry.rotateSecret('air-mq-off')).secret;
    await stack.registry.update('air-mq-off', { enabled: false });

    const wrong = await mosquittoPub('air-mq-wrong', `${secret.slice(0, -2)}xx`, 'lab/v1/air/air-mq-wrong', '{"pm25": 1}');
    const unknown = await mosquittoPub('air-mq-ghost', secret, 'lab/v1/air/air-mq-ghost', '{"pm25": 1}');
    const disabled = await mosquittoPub('air-mq-off', disabledSecret, 'lab/v1/air/air-mq-off', '{"pm25": 1}');
    const anonymous = await mosquittoPub('air-mq-anon', undefined, 'lab/v1/air/air-mq-anon', '{"pm25": 1}');
    for (const [name, result] of Object.entries({ wrong, unknown, disabled, anonymous })) {
      expect(result.code, `${name}: ${result.output}`).not.toBe(0);
      expect(result.output, name).toMatch(/not authori[sz]ed|bad user ?name or password/i);
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (const id of ['air-mq-wrong', 'air-mq-ghost', 'air-mq-off', 'air-mq-anon']) expect(await storedRows('air', id), id).toEqual([]);
  });

  it('on another device’s topic: nothing is stored for the other device, and the attempt is a stored rejection', async () => {
    const secretA = await register('air-mq-a');
    await register('air-mq-b');
    const result = await mosquittoPub('air-mq-a', secretA, 'lab/v1/air/air-mq-b', '{"pm25": 999}');
    expect(result.code, result.output).toBe(0); // acknowledged, not delivered (MQTT 3.1.1 has no per-message refusal)
    const rejection = await eventually(async () => (await rejectionsOf('air-mq-a')).find((r) => r.reason === 'TOPIC_INVALID'), 5_000, 'the TOPIC_INVALID rejection');
    expect(rejection).toMatchObject({ deviceId: 'air-mq-a', kind: 'air', topic: 'lab/v1/air/air-mq-b', excerpt: '{"pm25": 999}' });
    expect(await storedRows('air', 'air-mq-b')).toEqual([]);
    expect(await rejectionsOf('air-mq-b')).toEqual([]);
  });

  it('with an oversized payload: refused, reported as PAYLOAD_TOO_LARGE, and the broker keeps serving', async () => {
    const secret = await register('air-mq-big');
    const big = JSON.stringify({ pm25: 1, note: 'x'.repeat(20 * 1024) });
    const result = await run(MOSQUITTO_PUB, ['-h', host, '-p', port, '-V', 'mqttv311', '-i', 'air-mq-big', '-u', 'air-mq-big', '-P', secret, '-q', '1', '-t', 'lab/v1/air/air-mq-big', '-s'], big);
    expect(result.code, result.output).not.toBe(0);
    const rejection = await eventually(async () => (await rejectionsOf('air-mq-big')).find((r) => r.reason === 'PAYLOAD_TOO_LARGE'), 5_000, 'the PAYLOAD_TOO_LARGE rejection');
    expect(rejection.size).toBe(Buffer.byteLength(big));
    expect(await storedRows('air', 'air-mq-big')).toEqual([]);
    const after = await mosquittoPub('air-mq-big', secret, 'lab/v1/air/air-mq-big', '{"pm25": 2}');
    expect(after.code, after.output).toBe(0);
    await eventually(async () => ((await storedRows('air', 'air-mq-big')).length === 1 ? true : undefined), 5_000, 'the small reading');
  });

  it('after a rotation through the API: the old secret is refused at once, the new one works', async () => {
    const created = await fetch(`${stack.apiUrl}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'waste-mq-rot', kind: 'waste', owner: 'Bins Inc', lat: 55.69, lon: 12.55 }),
    });
    expect(created.status).toBe(201);
    const { secret: old } = (await created.json()) as DeviceWithSecret;
    expect((await mosquittoPub('waste-mq-rot', old, 'lab/v1/waste/waste-mq-rot', '{"fill": 10}')).code).toBe(0);
    const rotated = await fetch(`${stack.apiUrl}/api/v1/devices/waste-mq-rot/secret`, { method: 'POST', headers: { authorization: `Bearer ${stack.adminToken}` } });
    expect(rotated.status).toBe(200);
    const { secret: fresh } = (await rotated.json()) as DeviceWithSecret;
    const refused = await mosquittoPub('waste-mq-rot', old, 'lab/v1/waste/waste-mq-rot', '{"fill": 20}');
    expect(refused.code, refused.output).not.toBe(0);
    expect((await mosquittoPub('waste-mq-rot', fresh, 'lab/v1/waste/waste-mq-rot', '{"fill": 30}')).code).toBe(0);
    const fills = await eventually(async () => {
      const rows = await storedRows('waste', 'waste-mq-rot');
      return rows.length >= 2 ? rows.map((r) => r.fill) : undefined;
    }, 5_000, 'both accepted readings');
    expect(fills.sort()).toEqual([10, 30]);
  });
});

describe('mosquitto_sub as a device', () => {
  it('receives its own rejections (queued in its persistent session while away) and nothing of another device’s', async () => {
    const secretA = await register('traffic-sub-a', 'traffic');
    const secretB = await register('traffic-sub-b', 'traffic');
    const sub = (id: string, secret: string, topics: string[], waitS: number) =>
      run(MOSQUITTO_SUB, ['-h', host, '-p', port, '-V', 'mqttv311', '-c', '-i', id, '-u', id, '-P', secret, '-q', '1', ...topics.flatMap((t) => ['-t', t]), '-C', '1', '-W', String(waitS)]);
    // One connection per device (client id = device id): the device subscribes with a
    // persistent session, goes away, and collects its feedback on return.
    const first = await sub('traffic-sub-a', secretA, ['lab/v1/traffic/traffic-sub-a/rejected'], 1);
    expect(first.code, first.output).toBe(27); // timed out: nothing yet
    const foreign = sub('traffic-sub-b', secretB, ['lab/v1/traffic/traffic-sub-a/rejected', 'lab/v1/#'], 4);
    // A payload over the broker's limit: the connection is closed on its first bytes and the
    // refusal is reported to the device's session, which is away by then.
    const oversized = JSON.stringify({ period: 60, note: 'x'.repeat(17 * 1024) });
    const bad = await run(MOSQUITTO_PUB, ['-h', host, '-p', port, '-V', 'mqttv311', '-c', '-i', 'traffic-sub-a', '-u', 'traffic-sub-a', '-P', secretA, '-q', '1', '-t', 'lab/v1/traffic/traffic-sub-a', '-m', oversized]);
    expect(bad.code, bad.output).not.toBe(0);
    await eventually(async () => ((await rejectionsOf('traffic-sub-a')).length > 0 ? true : undefined), 5_000, 'the rejection');
    const own = await sub('traffic-sub-a', secretA, ['lab/v1/traffic/traffic-sub-a/rejected'], 5);
    expect(own.code, own.output).toBe(0);
    expect(JSON.parse(own.output)).toMatchObject({ reason: 'PAYLOAD_TOO_LARGE', deviceId: 'traffic-sub-a' });
    const foreignResult = await foreign;
    expect(foreignResult.output).not.toContain('PAYLOAD_TOO_LARGE');
  });
});

describe('mqtt.js as a device', () => {
  it('over WebSocket with its secret: stored; with a wrong one: refused', async () => {
    const secret = await register('air-ws-1');
    const client = await mqtt.connectAsync(stack.lab.urls.mqttWs!, { clientId: 'air-ws-1', username: 'air-ws-1', password: secret, reconnectPeriod: 0 });
    clients.push(client);
    await client.publishAsync('lab/v1/air/air-ws-1', '{"pm10": 20}', { qos: 1 });
    await eventually(async () => ((await storedRows('air', 'air-ws-1')).length === 1 ? true : undefined), 5_000, 'the WebSocket reading');
    await expect(mqtt.connectAsync(stack.lab.urls.mqttWs!, { clientId: 'air-ws-1', username: 'air-ws-1', password: 'nope', reconnectPeriod: 0 })).rejects.toThrow(/bad user ?name or password/i);
  });

  it('subscribed on its own connection: gets the rejection of its invalid reading at once, on its own topic', async () => {
    await stack.publish('traffic', 'traffic-own-1', { period: 60, cars: 0 });
    const device = await stack.device('traffic-own-1');
    const notices: string[] = [];
    device.on('message', (_topic, payload) => notices.push(payload.toString()));
    await device.subscribeAsync('lab/v1/traffic/traffic-own-1/rejected', { qos: 1 });
    await device.publishAsync('lab/v1/traffic/traffic-own-1', JSON.stringify({ period: 60, cars: -1 }), { qos: 1 });
    const notice = await eventually(() => notices[0], 3_000, 'the notice');
    expect(JSON.parse(notice)).toMatchObject({ reason: 'FIELD_RANGE', deviceId: 'traffic-own-1', kind: 'traffic' });
  });

  it('over its rate limit: slowed down, and every message stored, none refused', async () => {
    await stack.publish('traffic', 'traffic-rate-1', { period: 60, cars: 0 });
    const device = await stack.device('traffic-rate-1');
    const now = Date.now();
    await Promise.all(Array.from({ length: 12 }, (_, i) => device.publishAsync('lab/v1/traffic/traffic-rate-1', JSON.stringify({ ts: now - 60_000 + i * 1_000, period: 60, cars: i + 1 }), { qos: 1 })));
    await stack.flush();
    const stored = await storedRows('traffic', 'traffic-rate-1');
    expect(stored).toHaveLength(13);
    expect((await rejectionsOf('traffic-rate-1')).filter((r) => r.reason === 'RATE_LIMITED')).toEqual([]);
  });
});

describe('onboarding', () => {
  it('register with the admin token, publish with the secret, read the reading back', async () => {
    const response = await fetch(`${stack.apiUrl}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'my-sensor-1', kind: 'air', owner: 'my-company', lat: 55.6761, lon: 12.5683, site: 'Test bench' }),
    });
    expect(response.status).toBe(201);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const { secret, device } = (await response.json()) as DeviceWithSecret;
    expect(device).toMatchObject({ id: 'my-sensor-1', enabled: true, site: 'Test bench' });
    const published = await mosquittoPub('my-sensor-1', secret, 'lab/v1/air/my-sensor-1', '{"pm25": 12.5, "no2": 31}');
    expect(published.code, published.output).toBe(0);
    const readings = await eventually(async () => {
      await stack.flush();
      const body = (await (await fetch(`${stack.apiUrl}/api/v1/readings?device=my-sensor-1`)).json()) as ReadingsResponse;
      return body.readings.length > 0 ? body.readings : undefined;
    }, 5_000, 'the reading through the API');
    expect(readings[0]).toMatchObject({ deviceId: 'my-sensor-1', values: { pm25: 12.5, no2: 31 } });
    expect(stack.lab.onboarding.join('\n')).toContain('-u my-sensor-1 -P "$SECRET"');
  });
});
