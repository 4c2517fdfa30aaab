/**
 * The broker's file persistence (broker/persistence-file.ts) with a real Aedes: messages
 * queued for an offline persistent session survive a broker restart, the journal compacts
 * into a snapshot without losing them, and acknowledgements after a reconnection clear the
 * right queue entries. (Readings do not depend on it: the edge's log holds them before their
 * PUBACK — test/integration/edge.test.ts.)
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import mqtt, { type MqttClient } from 'mqtt';
import { createBroker, type Broker } from '../../broker/broker.ts';
import { createFilePersistence, type FilePersistence } from '../../broker/persistence-file.ts';
import { tempDir, waitUntil } from '../helpers/processes.ts';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function brokerOn(dir: string, compactBytes?: number): Promise<{ broker: Broker; persistence: FilePersistence }> {
  const persistence = await createFilePersistence({ dir, ...(compactBytes ? { compactBytes } : {}) });
  const broker = await createBroker({ port: 0, persistence });
  cleanups.push(() => broker.close());
  return { broker, persistence };
}

async function connect(url: string, clientId: string, clean: boolean): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId, clean, reconnectPeriod: 0 });
  cleanups.push(() => client.endAsync(true));
  return client;
}

async function collect(client: MqttClient, count: number, timeoutMs = 10_000): Promise<Set<string>> {
  const seen = new Set<string>();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`received ${seen.size} of ${count}`)), timeoutMs);
    client.on('message', (_topic, payload) => {
      seen.add(payload.toString());
      if (seen.size >= count) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return seen;
}

describe('the broker file persistence', () => {
  it('keeps messages queued for an offline persistent session across a broker restart, through a compaction', async () => {
    const dir = await tempDir('broker-persistence');
    cleanups.push(dir.remove);
    // A tiny compaction threshold: the journal is snapshotted several times on the way.
    const { broker: first, persistence } = await brokerOn(dir.path, 16 * 1024);
    const subscriber = await connect(first.url, 'ingest-like', false);
    await subscriber.subscribeAsync('lab/v1/#', { qos: 1 });
    await subscriber.endAsync();

    const device = await connect(first.url, 'device-1', true);
    await Promise.all(Array.from({ length: 300 }, (_, i) => device.publishAsync('lab/v1/air/device-1', `m${i}`, { qos: 1 })));
    await device.endAsync();
    const stats = () => persistence.stats();
    await waitUntil(() => stats().compactions > 0, 5_000, 'a compaction');
    const journal = stats();
    // Compaction keeps the journal near its threshold, not the whole history.
    expect(journal.journalBytes).toBeLessThan(4 * 16 * 1024);
    await first.close();

    const { broker: second } = await brokerOn(dir.path);
    const again = await connect(second.url, 'ingest-like', false);
    const seen = await collect(again, 300);
    expect(seen.size).toBe(300);
    expect(seen.has('m0') && seen.has('m299')).toBe(true);
  });

  it('clears the entry a PUBACK names, not an older one with the same id from a previous connection', async () => {
    const dir = await tempDir('broker-persistence');
    cleanups.push(dir.remove);
    const persistence = await createFilePersistence({ dir: dir.path });
    cleanups.push(() => persistence.close());
    const client = { id: 'sub' };
    const packet = (n: number) => ({ cmd: 'publish', brokerId: 'b1', brokerCounter: n, topic: 't', payload: Buffer.from(`p${n}`), qos: 1 });
    for (const n of [1, 2, 3]) await persistence.outgoingEnqueue({ clientId: 'sub' }, packet(n));
    // Connection 1 is sent the three with ids 1–3 and drops without acknowledging.
    for await (const p of persistence.outgoingStream(client)) void p;
    for (const n of [1, 2, 3]) await persistence.outgoingUpdate(client, { ...packet(n), messageId: n });
    // Connection 2: a new message gets id 1 before the old ones are resent, and is acknowledged.
    persistence.outgoingStream(client);
    await persistence.outgoingEnqueue({ clientId: 'sub' }, { ...packet(4), brokerId: 'b2' });
    await persistence.outgoingUpdate(client, { ...packet(4), brokerId: 'b2', messageId: 1 });
    const cleared = await persistence.outgoingClearMessageId(client, { messageId: 1 });
    expect(cleared?.payload?.toString()).toBe('p4');
    const left: string[] = [];
    for await (const p of persistence.outgoingStream(client)) left.push(String((p as { payload: Buffer }).payload));
    expect(left).toEqual(['p1', 'p2', 'p3']);
  });
});
