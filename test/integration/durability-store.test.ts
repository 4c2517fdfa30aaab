/**
 * What InfluxDB refuses, against a real influxd: a 400 for part of a batch stores every good
 * line and dead-letters the bad ones by reason (in the `dead_letter` measurement and the
 * log's dead-letter file); a 413 splits the batch until it fits. And the log at its bound:
 * devices are held (no PUBACK), nothing is refused, everything arrives once InfluxDB is back.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildReadingTopic } from '../../contracts/index.ts';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { createBatchWriter } from '../../ingest/influx-writer.ts';
import { startEdgePipeline, type EdgePipeline } from '../helpers/edge.ts';
import { readMetricText, tempDir, waitUntil } from '../helpers/processes.ts';

let influxServer: InfluxServer;
let smallServer: InfluxServer;
let influx: InfluxClient;
let small: InfluxClient;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  [influxServer, smallServer] = await Promise.all([
    startInfluxServer({ database: 'streetlab' }),
    // 4 KiB bodies at most: a batch of a few hundred readings gets 413.
    startInfluxServer({ database: 'streetlab', maxBodySizeBytes: 4_096 }),
  ]);
  influx = createInfluxClient({ url: influxServer.url, database: 'streetlab' });
  small = createInfluxClient({ url: smallServer.url, database: 'streetlab' });
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await Promise.all([influxServer?.stop(), smallServer?.stop()]);
});

async function startPipeline(client: InfluxClient, batchSize: number): Promise<EdgePipeline> {
  const pipeline = await startEdgePipeline(client, { ingest: { batchSize } });
  cleanups.push(() => pipeline.close());
  return pipeline;
}

/** Publishes every body at QoS 1 from one device connection; resolves once all are acknowledged. */
async function publishAll(pipeline: EdgePipeline, clientId: string, messages: { device: string; body: object }[]): Promise<void> {
  const client = await pipeline.device(clientId);
  await Promise.all(messages.map((m) => client.publishAsync(buildReadingTopic('air', m.device), JSON.stringify(m.body), { qos: 1 })));
}

describe('a batch InfluxDB answers with 400 for some of its lines', () => {
  it('stores every good line and dead-letters the bad ones by reason', async () => {
    const base = Date.now() - 60_000;
    // `no2` becomes an integer field in this shard: every float no2 after it is a type conflict.
    await influx.write([`air,device=conflict-seed no2=5i ${base}000000`]);
    const pipeline = await startPipeline(influx, 1_000);
    const { ingest } = pipeline;

    // One burst on one connection (open broker: any client may publish on any reading topic).
    await publishAll(
      pipeline,
      'partial-publisher',
      Array.from({ length: 200 }, (_, i) => {
        const bad = i % 10 === 0;
        return { device: bad ? `partial-bad-${i}` : `partial-good-${i}`, body: bad ? { ts: base + i, no2: 31.5 } : { ts: base + i, pm25: 12.5 } };
      }),
    );
    await ingest.flush();

    const good = await influx.queryRows(`SELECT COUNT(pm25) AS n FROM air WHERE device =~ /^partial-good-/`);
    const bad = await influx.queryRows(`SELECT COUNT(no2) AS n FROM air WHERE device =~ /^partial-bad-/`);
    const dead = await influx.queryRows(`SELECT line, reason, target FROM dead_letter WHERE reason = 'FIELD_TYPE_CONFLICT'`);
    const file = (await readFile(join(pipeline.logDir, 'dead-letters.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { reason: string; line: string });
    const metrics = await ingest.metrics.render();
    const writes = readMetricText(metrics, 'streetlab_ingest_write_batches_total');
    console.log(`[400 partial] sent 200 (20 bad): stored ${good[0]?.n}, dead letters ${dead.length}, writes ${writes}`);

    expect(good[0]?.n).toBe(180);
    expect(bad).toEqual([]);
    expect(dead).toHaveLength(20);
    expect(dead.every((row) => row.target === 'air' && String(row.line).includes('partial-bad-'))).toBe(true);
    expect(file).toHaveLength(20);
    expect(file.every((l) => l.reason === 'FIELD_TYPE_CONFLICT')).toBe(true);
    expect(ingest.counters().deadLettered).toBe(20);
    expect(readMetricText(metrics, 'streetlab_ingest_dead_letters_total', { reason: 'FIELD_TYPE_CONFLICT' })).toBe(20);
    expect(ingest.backlog().bytes).toBe(0);
  });

  it('dead-letters a malformed line as LINE_UNPARSEABLE and stores the lines around it', async () => {
    const writer = createBatchWriter({ client: influx });
    const ts = (Date.now() - 30_000) * 1e6;
    const result = await writer.write([
      `air,device=parse-good-1 pm25=1 ${ts}`,
      `air,device=parse-bad pm25= ${ts}`,
      `air,device=parse-good-2 pm25=2 ${ts}`,
    ]);
    expect(result.stored).toBe(2);
    expect(result.deadLetters.map((d) => d.reason)).toEqual(['LINE_UNPARSEABLE']);
    expect(result.deadLetters[0]!.line).toContain('parse-bad');
    const rows = await influx.queryRows(`SELECT pm25 FROM air WHERE device =~ /^parse-good-/`);
    expect(rows).toHaveLength(2);
  });
});

describe('a batch larger than InfluxDB accepts (413)', () => {
  it('is split until every part fits, and everything is stored', async () => {
    const pipeline = await startPipeline(small, 5_000);
    const { ingest } = pipeline;
    const base = Date.now() - 60_000;
    await publishAll(
      pipeline,
      'split-publisher',
      Array.from({ length: 400 }, (_, i) => ({ device: `split-${i % 10}`, body: { ts: base + i, seq: i, pm25: 10 + (i % 7), no2: 20.5 } })),
    );
    await ingest.flush();
    const rows = await small.queryRows(`SELECT COUNT(seq) AS n FROM air WHERE device =~ /^split-/`);
    const writes = readMetricText(await ingest.metrics.render(), 'streetlab_ingest_write_batches_total');
    console.log(`[413 split] sent 400 in one batch: stored ${rows[0]?.n} in ${writes} writes of at most 4 KiB`);
    expect(rows[0]?.n).toBe(400);
    expect(writes).toBeGreaterThan(8);
    expect(ingest.counters().deadLettered).toBe(0);
  });

  it('dead-letters a single line that can never fit as LINE_TOO_LARGE', async () => {
    const writer = createBatchWriter({ client: small });
    const ts = (Date.now() - 30_000) * 1e6;
    const result = await writer.write([`air,device=huge note="${'x'.repeat(5_000)}" ${ts}`, `air,device=small-ok pm25=3 ${ts}`]);
    expect(result.deadLetters.map((d) => d.reason)).toEqual(['LINE_TOO_LARGE']);
    expect(result.stored).toBe(1);
  });
});

describe('the log at its bound', () => {
  it('holds devices without acknowledging or refusing, then takes everything once InfluxDB drains it', { timeout: 90_000 }, async () => {
    const dataDir = await tempDir('influx-bounded');
    let server = await startInfluxServer({ dataDir: dataDir.path, database: 'streetlab' });
    const port = server.port;
    cleanups.push(async () => {
      await server.stop();
      await dataDir.remove();
    });
    const client = createInfluxClient({ url: server.url, database: 'streetlab' });
    await server.stop();
    const pipeline = await startEdgePipeline(client, { edge: { maxLogBytes: 64 * 1024, segmentBytes: 16 * 1024 }, ingest: { retryMaxMs: 500 } });
    cleanups.push(() => pipeline.close());
    const device = await pipeline.device('bounded-1');
    const base = Date.now() - 60_000;
    // ~1,500 readings ≈ 200 KB of lines: three times the log's bound.
    let acknowledged = 0;
    let failed = 0;
    const all = Promise.all(
      Array.from({ length: 1_500 }, (_, i) =>
        device
          .publishAsync(buildReadingTopic('air', 'bounded-1'), JSON.stringify({ ts: base + i, seq: i, pm25: 5, no2: 7.5, temperature: 10.25 }), { qos: 1 })
          .then(() => (acknowledged += 1), () => (failed += 1)),
      ),
    );
    await waitUntil(() => pipeline.edge.depth().full, 20_000, 'the log at its bound, holding readings');
    // Groups appended before the bound was reached still commit and are acknowledged; then nothing.
    let last = -1;
    await waitUntil(() => {
      const settled = acknowledged === last;
      last = acknowledged;
      return settled;
    }, 20_000, 'the acknowledgements of what was taken before the bound');
    const heldAt = acknowledged;
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    // Held: no more acknowledgements while InfluxDB is down and the log is full, and nothing refused.
    expect(acknowledged).toBe(heldAt);
    expect(acknowledged).toBeLessThan(1_500);
    expect(pipeline.edge.depth().bytes).toBeLessThan(96 * 1024);
    expect(pipeline.edge.counters().rejected).toBe(0);

    server = await startInfluxServer({ dataDir: dataDir.path, port, database: 'streetlab' });
    const seconds = await waitUntil(async () => {
      const rows = await client.queryRows(`SELECT COUNT(seq) AS n FROM air WHERE device = 'bounded-1'`);
      return rows[0]?.n === 1_500;
    }, 60_000, 'all 1,500 stored');
    await all;
    console.log(`[log bound] 1,500 readings through a 64 KiB log with InfluxDB down: ${heldAt} acknowledged before the device was held; all stored ${seconds.toFixed(1)} s after InfluxDB came back`);
    expect(acknowledged).toBe(1_500);
    expect(failed).toBe(0);
  });
});
