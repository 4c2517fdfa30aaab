/**
 * The foundation's promise, end to end with real parts: a device publishes over MQTT, the
 * reading is in InfluxDB, the REST API returns it, and a subscribed socket.io client gets it
 * live. A bad payload becomes a stored, reported, pushed rejection, and loses nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io as connectSocket, type Socket } from 'socket.io-client';
import type {
  ClientToServerEvents,
  LatestResponse,
  LiveReading,
  ReadingsResponse,
  Rejection,
  RejectionsResponse,
  ServerToClientEvents,
  SubscribeAck,
} from '../../contracts/index.ts';
import { RejectionSchema, buildRejectedTopic } from '../../contracts/index.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

let stack: Stack;
const sockets: LiveSocket[] = [];
/**
 * The admin token: rejections (REST and live) are not open data (test/integration/open-data.test.ts),
 * and the devices here are unregistered, which only the platform-wide view sees.
 */
let platformToken: string;

beforeAll(async () => {
  stack = await startStack();
  platformToken = stack.adminToken;
});

afterAll(async () => {
  sockets.forEach((s) => s.disconnect());
  await stack?.close();
});

async function openSocket(subscription: { kind?: 'air' | 'traffic' | 'waste'; deviceId?: string }): Promise<LiveSocket> {
  const socket: LiveSocket = connectSocket(stack.apiUrl, { transports: ['websocket'], reconnection: false, auth: { token: platformToken } });
  sockets.push(socket);
  const ack = await new Promise<SubscribeAck>((resolve, reject) => {
    socket.once('connect_error', reject);
    socket.once('connect', () => socket.emit('subscribe', subscription, resolve));
  });
  expect(ack.ok).toBe(true);
  return socket;
}

async function getJson<T>(path: string): Promise<{ status: number; body: T }> {
  const response = await fetch(`${stack.apiUrl}${path}`, { headers: { authorization: `Bearer ${platformToken}` } });
  return { status: response.status, body: (await response.json()) as T };
}

describe('a valid reading', () => {
  it('is stored in InfluxDB, served by the API and pushed live to subscribers', async () => {
    const socket = await openSocket({ deviceId: 'air-pipeline-1' });
    const other = await openSocket({ kind: 'waste' });
    const received: LiveReading[] = [];
    const otherReceived: LiveReading[] = [];
    socket.on('reading', (r) => received.push(r));
    other.on('reading', (r) => otherReceived.push(r));

    const ts = new Date(Date.now() - 1_000).toISOString();
    await stack.publish('air', 'air-pipeline-1', { ts, seq: 7, pm25: 12.5, no2: 31, temperature: 8.5, battery: 97 });

    const live = await eventually(() => received[0], 5_000, 'the live reading');
    expect(live).toMatchObject({ kind: 'air', deviceId: 'air-pipeline-1', ts, seq: 7, battery: 97, values: { pm25: 12.5, no2: 31, temperature: 8.5 } });

    await stack.flush();
    const rows = await stack.influx.queryRows('SELECT * FROM air WHERE device = $d', { d: 'air-pipeline-1' });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ time: Date.parse(ts), pm25: 12.5, no2: 31, temperature: 8.5, seq: 7, battery: 97 });

    const { status, body } = await getJson<ReadingsResponse>('/api/v1/readings?device=air-pipeline-1&from=-1h');
    expect(status).toBe(200);
    expect(body.readings).toHaveLength(1);
    expect(body.readings[0]).toMatchObject({ kind: 'air', deviceId: 'air-pipeline-1', ts, values: { pm25: 12.5 } });

    // A waste-only subscriber must not be sent air readings.
    expect(otherReceived).toHaveLength(0);
  });

  it('uses the receive time when the device sends no timestamp, and shows in latest', async () => {
    const before = Date.now();
    await stack.publish('waste', 'bin-pipeline-1', { fill: 42, lidOpen: false });
    const latest = await eventually(async () => {
      await stack.flush();
      const { body } = await getJson<LatestResponse>('/api/v1/latest?kind=waste');
      return body.readings.find((r) => r.deviceId === 'bin-pipeline-1');
    }, 5_000, 'the bin in /latest');
    expect(latest.values).toEqual({ fill: 42, lidOpen: false });
    expect(Date.parse(latest.ts)).toBeGreaterThanOrEqual(before - 5);
    expect(Date.parse(latest.ts)).toBeLessThanOrEqual(Date.now());
  });
});

describe('an invalid payload', () => {
  it('is stored as a rejection with its reason, reported to the device and pushed live, and loses nothing around it', async () => {
    const device = await stack.device('traffic-bad-1');
    const feedback: Rejection[] = [];
    await device.subscribeAsync(buildRejectedTopic('traffic', 'traffic-bad-1'), { qos: 1 });
    device.on('message', (_topic, payload) => feedback.push(RejectionSchema.parse(JSON.parse(payload.toString()))));
    const socket = await openSocket({ kind: 'traffic' });
    const pushed: Rejection[] = [];
    socket.on('rejected', (r) => pushed.push(r));

    const now = Date.now();
    await stack.publish('traffic', 'traffic-bad-1', { ts: now - 3_000, period: 60, cars: 12, bicycles: 40 });
    await stack.publish('traffic', 'traffic-bad-1', { ts: now - 2_000, period: 60, cars: -3 });
    await stack.publish('traffic', 'traffic-bad-1', '{"period": 60, "cars": ');
    await stack.publish('traffic', 'traffic-bad-1', { ts: now - 1_000, period: 60, cars: 14, bicycles: 41 });

    const reported = await eventually(() => (feedback.length >= 2 ? feedback : undefined), 5_000, 'two rejections on the device topic');
    expect(reported.map((r) => r.reason)).toEqual(['FIELD_RANGE', 'PAYLOAD_NOT_JSON']);
    expect(reported[0]!.issues[0]).toMatchObject({ path: 'cars', code: 'FIELD_RANGE' });
    expect(reported[1]!.excerpt).toBe('{"period": 60, "cars": ');

    await eventually(() => (pushed.length >= 2 ? pushed : undefined), 5_000, 'two rejections over socket.io');

    await stack.flush();
    const { body } = await getJson<RejectionsResponse>('/api/v1/rejections?device=traffic-bad-1');
    expect(body.rejections.map((r) => r.reason).sort()).toEqual(['FIELD_RANGE', 'PAYLOAD_NOT_JSON']);
    expect(body.rejections.every((r) => r.deviceId === 'traffic-bad-1' && r.kind === 'traffic')).toBe(true);

    const stored = await stack.influx.queryRows('SELECT cars, bicycles FROM traffic WHERE device = $d ORDER BY time', { d: 'traffic-bad-1' });
    expect(stored.map((r) => r.cars)).toEqual([12, 14]);
  });

  it('on a malformed topic is kept with TOPIC_INVALID', async () => {
    const client = await stack.connect({ clientId: 'stray-client' });
    await client.publishAsync('lab/v1/air/has space/extra', '{"pm25":1}', { qos: 1 });
    const rejection = await eventually(async () => {
      await stack.flush();
      const { body } = await getJson<RejectionsResponse>('/api/v1/rejections?limit=50');
      return body.rejections.find((r) => r.topic === 'lab/v1/air/has space/extra');
    }, 5_000, 'the TOPIC_INVALID rejection');
    expect(rejection.reason).toBe('TOPIC_INVALID');
    expect(rejection.kind).toBe('air');
  });
});

describe('the API', () => {
  it('answers bad parameters with 400 naming the parameter', async () => {
    const cases: [string, string][] = [
      ['/api/v1/readings?from=yesterday', 'from'],
      ['/api/v1/readings?kind=bicycle', 'kind'],
      ['/api/v1/readings?limit=0', 'limit'],
      ['/api/v1/readings?from=-1h&to=-2h', 'from'],
      ['/api/v1/readings?device=%27%20OR%201=1', 'device'],
      ['/api/v1/rejections?device=a%3Bb', 'device'],
      ['/api/v1/readings?surprise=1', 'surprise'],
    ];
    for (const [path, name] of cases) {
      const { status, body } = await getJson<{ error: string; message: string }>(path);
      expect(status, path).toBe(400);
      expect(body.error, path).toBe('BAD_REQUEST');
      expect(body.message, path).toContain(name);
    }
  });

  it('reports ready when InfluxDB and the broker answer', async () => {
    const { status, body } = await getJson<{ status: string; checks: Record<string, { ok: boolean }> }>('/readyz');
    expect(status).toBe(200);
    expect(body.checks.influxdb?.ok).toBe(true);
    expect(body.checks.broker?.ok).toBe(true);
  });

  it('refuses a socket.io subscription that is not in the contract', async () => {
    const socket: LiveSocket = connectSocket(stack.apiUrl, { transports: ['websocket'], reconnection: false });
    sockets.push(socket);
    const ack = await new Promise<SubscribeAck>((resolve) => {
      socket.once('connect', () => socket.emit('subscribe', { kind: 'nuclear' } as never, resolve));
    });
    expect(ack.ok).toBe(false);
  });
});
