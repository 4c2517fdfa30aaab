/**
 * The edge with a real Aedes and real MQTT clients: a QoS 1 PUBACK leaves only once the
 * reading is in the log (a crash simulated by copying the log directory inside the PUBACK
 * callback, with a slow disk), readings acknowledged while no ingest worker has ever run
 * are there for the first one, and the live feed carries one batch per turn.
 */
import { cpSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { LIVE_BATCH_TOPIC, LiveFeedBatchSchema } from '../../contracts/index.ts';
import { createBroker } from '../../broker/broker.ts';
import { openLogReader } from '../../common/spool/log-reader.ts';
import { tempDir } from '../helpers/processes.ts';
import { eventually } from '../helpers/stack.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function openEdgeBroker(logDir: string) {
  const broker = await createBroker({ port: 0, edge: { logDir } });
  cleanups.push(() => broker.close());
  return { edge: broker.edge!, broker };
}

async function device(url: string, clientId: string): Promise<MqttClient> {
  const client = await mqtt.connectAsync(url, { clientId, reconnectPeriod: 0 });
  cleanups.push(() => client.endAsync(true));
  return client;
}

/** Every record a fresh consumer finds in `dir`. */
async function recordsIn(dir: string): Promise<string[]> {
  const reader = await openLogReader({ dir, consumer: 'probe' });
  const out: string[] = [];
  for (;;) {
    const batch = await reader.nextBatch(10_000, 16 * 1024 * 1024, 0);
    if (!batch) break;
    out.push(...batch.records);
  }
  await reader.close();
  return out;
}

describe('the edge', () => {
  it('sends a QoS 1 PUBACK only once the reading is written and synced: a crash right after the PUBACK keeps it', async () => {
    const dir = await tempDir('edge');
    cleanups.push(dir.remove);
    // A slow disk: every file write waits 150 ms first. An edge that acknowledged before its
    // group is written would let the PUBACK through while the log is still empty.
    const probe = await open(join(dir.path, 'probe'), 'w');
    const proto = Object.getPrototypeOf(probe) as { write: (...args: unknown[]) => Promise<unknown> };
    await probe.close();
    const write = proto.write;
    proto.write = async function slowWrite(this: unknown, ...args: unknown[]) {
      await new Promise((resolve) => setTimeout(resolve, 150));
      return write.apply(this, args);
    };
    cleanups.push(() => {
      proto.write = write;
    });
    const { broker } = await openEdgeBroker(join(dir.path, 'log'));
    const client = await device(broker.url, 'edge-crash-1');
    const crashed = join(dir.path, 'at-puback');
    await new Promise<void>((resolve, reject) => {
      client.publish('lab/v1/air/edge-crash-1', JSON.stringify({ ts: Date.now() - 1_000, seq: 7, pm25: 4.5 }), { qos: 1 }, (error) => {
        if (error) return reject(error);
        // What a SIGKILL now would leave on disk: every byte written so far.
        cpSync(join(dir.path, 'log'), crashed, { recursive: true });
        resolve();
      });
    });
    proto.write = write;
    const records = await recordsIn(crashed);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatch(/^air,device=edge-crash-1 .*seq=7\b/);
  });

  it('keeps what it acknowledged before any ingest worker ever ran, for the first one to drain', async () => {
    const dir = await tempDir('edge');
    cleanups.push(dir.remove);
    const logDir = join(dir.path, 'log');
    const { edge, broker } = await openEdgeBroker(logDir);
    const client = await device(broker.url, 'edge-early-1');
    await Promise.all(Array.from({ length: 50 }, (_, i) => client.publishAsync('lab/v1/air/edge-early-1', JSON.stringify({ seq: i, pm25: i }), { qos: 1 })));
    // Housekeeping runs meanwhile: with no consumer checkpoint yet, it must free nothing.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const records = await recordsIn(logDir);
    expect(records.map((r) => Number(/seq=(\d+)/.exec(r)?.[1]))).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(edge.counters()).toMatchObject({ received: 50, accepted: 50, rejected: 0 });
  });

  it('publishes the live feed as batches of what one turn validated, readings and rejections in arrival order', async () => {
    const dir = await tempDir('edge');
    cleanups.push(dir.remove);
    const { broker } = await openEdgeBroker(join(dir.path, 'log'));
    const watcher = await device(broker.url, 'live-watcher');
    const batches: unknown[] = [];
    watcher.on('message', (topic, payload) => {
      if (topic === LIVE_BATCH_TOPIC) batches.push(JSON.parse(payload.toString()));
    });
    await watcher.subscribeAsync(LIVE_BATCH_TOPIC, { qos: 0 });
    const client = await device(broker.url, 'edge-live-1');
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => client.publishAsync('lab/v1/air/edge-live-1', JSON.stringify(i % 10 === 9 ? { seq: i, pm25: -5 } : { seq: i, pm25: i }), { qos: 1 })),
    );
    const parsed = await eventually(() => {
      const all = batches.map((b) => LiveFeedBatchSchema.parse(b));
      const readings = all.flatMap((b) => b.readings);
      const rejections = all.flatMap((b) => b.rejections);
      return readings.length === 90 && rejections.length === 10 ? { all, readings, rejections } : undefined;
    }, 3_000, '90 readings and 10 rejections on the live feed');
    expect(parsed.readings.map((r) => r.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i).filter((i) => i % 10 !== 9));
    expect(parsed.rejections.every((r) => r.reason === 'FIELD_RANGE' && r.deviceId === 'edge-live-1')).toBe(true);
    // One message per turn, not one per reading.
    expect(parsed.all.length).toBeLessThan(100);
  });
});
