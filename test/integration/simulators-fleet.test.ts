/**
 * A fleet of simulated devices against the real broker, in-process on a free port, watched
 * by a real MQTT client subscribed to every reading topic.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { parseTopic, type ReadingPayload } from '../../contracts/index.ts';
import { createBroker, type Broker, type BrokerPolicy } from '../../broker/broker.ts';
import { parseMessage } from '../../broker/parse-message.ts';
import { createFleet, type Fleet, type FleetOptions, type SentEvent } from '../../simulators/fleet.ts';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

interface Received {
  topic: string;
  payload: Buffer;
  atMs: number;
}

async function startBroker(policy?: BrokerPolicy): Promise<{ broker: Broker; clientIds: string[] }> {
  const broker = await createBroker({ port: 0, ...(policy ? { policy } : {}) });
  closers.push(() => broker.close());
  const clientIds: string[] = [];
  broker.aedes.on('client', (client) => clientIds.push(client.id));
  return { broker, clientIds };
}

async function watch(url: string): Promise<{ received: Received[]; client: MqttClient }> {
  const client = await mqtt.connectAsync(url, { clientId: 'watcher', reconnectPeriod: 0 });
  closers.push(() => client.endAsync());
  const received: Received[] = [];
  client.on('message', (topic, payload) => received.push({ topic, payload, atMs: Date.now() }));
  await client.subscribeAsync('lab/v1/+/+', { qos: 1 });
  return { received, client };
}

function startFleet(options: FleetOptions): Fleet {
  const fleet = createFleet(options);
  closers.push(() => fleet.close());
  return fleet;
}

async function waitFor<T>(probe: () => T | undefined | false, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const tsOf = (payload: ReadingPayload) => (typeof payload.ts === 'number' ? payload.ts : Date.parse(payload.ts!));

describe('createFleet with a real broker', () => {
  it('publishes each device on its own topic over its own connection, and closes every connection', async () => {
    const { broker, clientIds } = await startBroker();
    const { received } = await watch(broker.url);
    const fleet = startFleet({ mqttUrl: broker.url, devices: { air: 2, traffic: 1, waste: 2 }, intervalMs: 100, qos: 1, seed: 1 });
    expect(fleet.devices.map((d) => d.id)).toEqual(['air-001', 'air-002', 'traffic-001', 'bin-001', 'bin-002']);
    await fleet.start();
    expect(fleet.stats().connected).toBe(5);

    const topics = fleet.devices.map((d) => d.topic);
    await waitFor(() => topics.every((t) => received.filter((r) => r.topic === t).length >= 3), 'three readings from every device');
    expect(new Set(received.map((r) => r.topic))).toEqual(new Set(['lab/v1/air/air-001', 'lab/v1/air/air-002', 'lab/v1/traffic/traffic-001', 'lab/v1/waste/bin-001', 'lab/v1/waste/bin-002']));
    for (const message of received) {
      const result = parseMessage(message.topic, message.payload, message.atMs);
      expect(result.ok, message.payload.toString()).toBe(true);
      if (result.ok) expect(`lab/v1/${result.reading.kind}/${result.reading.deviceId}`).toBe(message.topic);
    }
    // Client id = device id: one connection per device.
    for (const device of fleet.devices) expect(clientIds).toContain(device.id);
    // seq counts up per device.
    for (const topic of topics) {
      const seqs = received.filter((r) => r.topic === topic).map((r) => (JSON.parse(r.payload.toString()) as ReadingPayload).seq);
      expect(seqs).toEqual(seqs.map((_, i) => i));
    }

    await fleet.close();
    const stats = fleet.stats();
    expect(stats.running).toBe(false);
    expect(stats.sent).toBeGreaterThanOrEqual(15);
    expect(stats.acked).toBe(stats.sent);
    expect(stats.errors).toBe(0);
    expect(stats.connectionsUp).toBe(0);
    await waitFor(() => broker.connectedClients() === 1, 'only the watcher left on the broker');
    // Everything acknowledged was delivered.
    await waitFor(() => received.length >= stats.acked, 'every acknowledged reading');
  });

  it('connects with device credentials: username = client id = device id', async () => {
    const seen: { clientId: string; username: string | undefined; password: string | undefined }[] = [];
    const { broker } = await startBroker({
      authenticate(client, username, password, callback) {
        seen.push({ clientId: client.id, username, password: password?.toString() });
        if (client.id === 'watcher') return callback(null, true);
        const ok = username === client.id && password?.toString() === `secret-of-${username}`;
        callback(ok ? null : Object.assign(new Error('bad credentials'), { returnCode: 4 }), ok);
      },
    });
    const { received } = await watch(broker.url);
    const fleet = startFleet({
      mqttUrl: broker.url,
      devices: [
        { id: 'air-001', kind: 'air' },
        { id: 'bin-001', kind: 'waste', password: 'secret-of-bin-001' },
        { id: 'bin-002', kind: 'waste' },
      ],
      intervalMs: 100,
      seed: 2,
      reconnectMs: 200,
      credentials: (deviceId) => (deviceId === 'bin-002' ? { password: 'wrong' } : { username: deviceId, password: `secret-of-${deviceId}` }),
    });
    await fleet.start();
    await waitFor(() => ['lab/v1/air/air-001', 'lab/v1/waste/bin-001'].every((t) => received.some((r) => r.topic === t)), 'readings from the devices with good secrets');
    const attempts = seen.filter((s) => s.clientId !== 'watcher');
    expect(attempts.find((s) => s.clientId === 'air-001')).toEqual({ clientId: 'air-001', username: 'air-001', password: 'secret-of-air-001' });
    expect(attempts.find((s) => s.clientId === 'bin-001')).toEqual({ clientId: 'bin-001', username: 'bin-001', password: 'secret-of-bin-001' });
    // A refused device keeps retrying, is counted as an error, and sends nothing.
    await waitFor(() => seen.filter((s) => s.clientId === 'bin-002').length >= 2, 'bin-002 retrying');
    expect(received.some((r) => r.topic === 'lab/v1/waste/bin-002')).toBe(false);
    const stats = fleet.stats();
    expect(stats.connected).toBe(2);
    expect(stats.connectErrors).toBeGreaterThan(0);
    expect(stats.buffered).toBeGreaterThan(0);
  });

  it('multiplexes many devices over a few connections, each still on its own topic', async () => {
    const { broker, clientIds } = await startBroker();
    const { received } = await watch(broker.url);
    const fleet = startFleet({ mqttUrl: broker.url, devices: { air: 3, traffic: 2, waste: 5 }, intervalMs: 100, qos: 0, multiplex: 4, seed: 3, clientIdPrefix: 'gw' });
    await fleet.start();
    expect(fleet.stats().connections).toBe(3);
    expect(clientIds.filter((id) => id !== 'watcher').sort()).toEqual(['gw-0001', 'gw-0002', 'gw-0003']);
    expect(new Set(fleet.devices.map((d) => d.clientId))).toEqual(new Set(['gw-0001', 'gw-0002', 'gw-0003']));
    await waitFor(() => fleet.devices.every((d) => received.some((r) => r.topic === d.topic)), 'a reading from all ten devices');
    for (const r of received) expect(parseTopic(r.topic)?.type).toBe('reading');
    await fleet.close();
    expect(fleet.stats().acked).toBe(fleet.stats().sent);
    await waitFor(() => broker.connectedClients() === 1, 'only the watcher left');
  });

  it('stores readings through a dropout and forwards them, with their original timestamps, on reconnect', async () => {
    const { broker, clientIds } = await startBroker();
    const { received } = await watch(broker.url);
    const sent: SentEvent[] = [];
    const fleet = startFleet({
      mqttUrl: broker.url,
      devices: [{ id: 'air-042', kind: 'air' }],
      intervalMs: 40,
      seed: 4,
      faults: { rates: { dropout: 0.15 }, dropoutMeanMs: 500 },
      onSent: (event) => sent.push(event),
    });
    await fleet.start();
    await waitFor(() => fleet.stats().injected.dropout >= 2 && fleet.stats().readings >= 60, 'two dropouts');
    await waitFor(() => fleet.stats().connected === 1 && fleet.stats().buffered === 0, 'the device back online with its backlog sent');
    await fleet.close();
    await waitFor(() => received.length >= fleet.stats().acked, 'every acknowledged reading');

    // It really disconnected and came back.
    expect(clientIds.filter((id) => id === 'air-042').length).toBeGreaterThanOrEqual(2);
    const payloads = received.map((r) => ({ payload: JSON.parse(r.payload.toString()) as ReadingPayload, atMs: r.atMs }));
    // Nothing lost: every reading taken up to the stop arrived, each once.
    const seqs = payloads.map((p) => p.payload.seq!).sort((a, b) => a - b);
    expect(seqs).toEqual(sent.map((e) => e.message.seq!).sort((a, b) => a - b));
    expect(seqs).toEqual(seqs.map((_, i) => i));
    // Forwarded readings arrived well after they were taken, with the time they were taken.
    const late = payloads.filter((p) => p.atMs - tsOf(p.payload) > 200);
    expect(late.length).toBeGreaterThan(3);
    for (const p of payloads) expect(parseMessage('lab/v1/air/air-042', Buffer.from(JSON.stringify(p.payload)), p.atMs).ok).toBe(true);
  });

  it('sends faulty messages that ingest rejects with the reason the fault layer recorded', async () => {
    const { broker } = await startBroker();
    const { received } = await watch(broker.url);
    const expected = new Map<string, string>();
    const fleet = startFleet({
      mqttUrl: broker.url,
      devices: { air: 2, traffic: 2, waste: 2 },
      intervalMs: 30,
      seed: 5,
      reconnectMs: 100,
      faults: { defaultRate: 0.03, rates: { dropout: 0, PAYLOAD_TOO_LARGE: 0 } },
      onSent: ({ topic, message }) => expected.set(`${topic} ${message.payload.toString('latin1')}`, message.expect),
    });
    await fleet.start();
    await waitFor(() => fleet.stats().readings >= 600, '600 readings');
    await fleet.close();
    const stats = fleet.stats();
    await waitFor(() => received.length >= stats.acked, 'every acknowledged message');

    const verdicts = new Map<string, number>();
    for (const r of received) {
      const result = parseMessage(r.topic, r.payload, r.atMs);
      const verdict = result.ok ? 'accepted' : result.rejection.reason;
      expect(verdict, r.payload.toString().slice(0, 200)).toBe(expected.get(`${r.topic} ${r.payload.toString('latin1')}`));
      verdicts.set(verdict, (verdicts.get(verdict) ?? 0) + 1);
    }
    expect(verdicts.get('accepted')).toBeGreaterThan(300);
    expect([...verdicts.keys()].filter((v) => v !== 'accepted').length).toBeGreaterThanOrEqual(8);
    const injectedPayloadFaults = Object.entries(stats.injected).filter(([k, n]) => k === k.toUpperCase() && n > 0);
    for (const [reason, n] of injectedPayloadFaults) expect(verdicts.get(reason)).toBeGreaterThanOrEqual(n);
  });

  it('keeps a device reporting after an oversized message, whatever the broker does with it', async () => {
    const { broker } = await startBroker();
    const { received } = await watch(broker.url);
    const fleet = startFleet({
      mqttUrl: broker.url,
      devices: [{ id: 'bin-007', kind: 'waste' }],
      intervalMs: 40,
      seed: 6,
      reconnectMs: 100,
      faults: { rates: { PAYLOAD_TOO_LARGE: 0.1 } },
    });
    await fleet.start();
    await waitFor(() => fleet.stats().injected.PAYLOAD_TOO_LARGE >= 2, 'two oversized messages');
    const after = fleet.stats().readings;
    await waitFor(() => fleet.stats().readings >= after + 10 && fleet.stats().buffered === 0 && fleet.stats().connected === 1, 'ten more readings sent');
    await fleet.close();
    const valid = received.filter((r) => parseMessage(r.topic, r.payload, r.atMs).ok);
    expect(valid.length).toBeGreaterThanOrEqual(after + 8 - fleet.stats().injected.PAYLOAD_TOO_LARGE);
  });

  it('replays the same readings for the same seed and simulated start time', async () => {
    const { broker } = await startBroker();
    const runOnce = async () => {
      const sent: SentEvent[] = [];
      const fleet = startFleet({
        mqttUrl: broker.url,
        devices: { air: 1, traffic: 1, waste: 1 },
        intervalMs: 30,
        seed: 77,
        startTimeMs: Date.parse('2026-03-02T08:00:00+01:00'),
        timestamps: 'sim',
        onSent: (event) => sent.push(event),
      });
      await fleet.start();
      await waitFor(() => fleet.devices.every((d) => sent.filter((e) => e.deviceId === d.id).length >= 5), 'five readings each');
      await fleet.close();
      return Object.fromEntries(fleet.devices.map((d) => [d.id, sent.filter((e) => e.deviceId === d.id).slice(0, 5).map((e) => e.message.payload.toString())]));
    };
    const first = await runOnce();
    const second = await runOnce();
    expect(second).toEqual(first);
    // Readings are taken on the simulated clock: 08:00 on a Monday morning.
    const firstTs = JSON.parse(first['air-001']![0]!) as ReadingPayload;
    expect(tsOf(firstTs) - Date.parse('2026-03-02T08:00:00+01:00')).toBeLessThan(100);
  });

  it('runs simulated time fast and stamps readings with the wall clock so ingest accepts them', async () => {
    const { broker } = await startBroker();
    const { received } = await watch(broker.url);
    const fleet = startFleet({
      mqttUrl: broker.url,
      devices: { traffic: 1 },
      intervalMs: 50,
      seed: 8,
      timeScale: 3_600,
      startTimeMs: Date.parse('2026-03-02T00:00:00+01:00'),
    });
    await fleet.start();
    await waitFor(() => received.length >= 20, 'twenty counts');
    await fleet.close();
    // 50 ms of wall time = 3 simulated minutes per count.
    const counts = received.map((r) => JSON.parse(r.payload.toString()) as ReadingPayload & { period: number });
    expect(counts.every((c) => c.period === 180)).toBe(true);
    expect(Date.parse(fleet.stats().simTime)).toBeGreaterThan(Date.parse('2026-03-02T00:30:00+01:00'));
    for (const r of received) expect(parseMessage(r.topic, r.payload, r.atMs).ok).toBe(true);
  });
});
