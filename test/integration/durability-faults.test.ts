/**
 * The delivery guarantee (docs/durability.md) under fault injection, with the services as
 * separate processes and a real InfluxDB: a reading the broker acknowledged at QoS 1 is
 * stored exactly once through an InfluxDB outage, an ingest crash (SIGKILL), a broker crash
 * while ingest is down, and SIGTERM of each service during load.
 *
 * Each test drives a steady QoS 1 load of unique readings (device, ts, seq), injects its
 * fault, waits for recovery, and counts in InfluxDB: stored = acknowledged, no reading twice,
 * with readings acknowledged both before the fault and after it. It prints its figures: sent,
 * stored, lost, duplicated, recovery seconds, peak log backlog. How many readings a second
 * get through, and how fast recovery is, depend on the machine and are printed, not
 * asserted: the benchmark measures speed.
 *
 * DURABILITY_OUTAGE_S sets the InfluxDB outage (default 60 s, as the guarantee states).
 * DURABILITY_RATE sets the load (default 400 readings/s).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import {
  createPipeline,
  readMetric,
  samplePeak,
  startLoad,
  tally,
  waitUntil,
  type Load,
  type LoadResult,
  type Pipeline,
} from '../helpers/processes.ts';

const OUTAGE_S = Number(process.env.DURABILITY_OUTAGE_S ?? 60);
const RATE = Number(process.env.DURABILITY_RATE ?? 400);
const DEVICES = 10;

let influxDir: string;
let influxServer: InfluxServer;
let influxPort: number;
let influx: InfluxClient;
let pipeline: Pipeline;

beforeAll(async () => {
  influxDir = await mkdtemp(join(tmpdir(), 'streetlab-durability-influx-'));
  influxServer = await startInfluxServer({ dataDir: influxDir, database: 'streetlab' });
  influxPort = influxServer.port;
  influx = createInfluxClient({ url: influxServer.url, database: 'streetlab' });
  pipeline = await createPipeline(influxServer.url);
  await pipeline.startBroker();
  await pipeline.startIngest();
});

afterAll(async () => {
  await pipeline?.close();
  await influxServer?.stop();
  if (influxDir) await rm(influxDir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Figures {
  sent: number;
  stored: number;
  lost: number;
  duplicated: number;
  recoverySeconds: number;
  peakLogBacklogBytes: number;
  unacknowledged: number;
  /** Acknowledged when the fault began, and after it was over. */
  ackedBeforeFault: number;
  ackedAfterFault: number;
}

/** Stored = acknowledged, once each, and the fault hit a running stream that went on after it. */
function expectStoredExactlyOnce(figures: Figures): void {
  expect(figures.lost).toBe(0);
  expect(figures.duplicated).toBe(0);
  expect(figures.stored).toBe(figures.sent);
  expect(figures.ackedBeforeFault).toBeGreaterThan(0);
  expect(figures.ackedAfterFault).toBeGreaterThan(0);
}

/**
 * Load for a while, run `fault` (which resolves when the fault is over: the service is back),
 * keep loading, stop, and count. Recovery = from the fault's end until every reading
 * acknowledged before that moment is in InfluxDB.
 */
async function underLoad(name: string, prefix: string, fault: (load: Load) => Promise<void>): Promise<Figures> {
  const load = await startLoad({ mqttUrl: pipeline.mqttUrl, prefix, devices: DEVICES, ratePerS: RATE });
  const peak = samplePeak(async () => (pipeline.ingest?.opsUrl ? readMetric(pipeline.ingest.opsUrl, 'streetlab_ingest_log_backlog_bytes') : undefined));
  let result: LoadResult | undefined;
  try {
    await sleep(2_000);
    const ackedBeforeFault = load.acked();
    await fault(load);
    const atFaultEnd = load.snapshot();
    const recoveryStarted = Date.now();
    const recoverySeconds = await waitUntil(async () => (await tally(influx, prefix, atFaultEnd)).lost === 0, 90_000, `${name}: the backlog stored`)
      .then(() => (Date.now() - recoveryStarted) / 1000)
      .catch(async (error: unknown) => {
        // What a failure needs to be understood: what is missing, and what the services said.
        const counted = await tally(influx, prefix, atFaultEnd).catch(() => undefined);
        const recent = (logs: { msg: string; level: number }[] | undefined) => (logs ?? []).filter((r) => r.level >= 30).slice(-15).map((r) => JSON.stringify(r)).join('\n');
        console.log(`[durability] ${name} did not recover: ${JSON.stringify(counted)}\nbroker:\n${recent(pipeline.broker?.logs)}\ningest:\n${recent(pipeline.ingest?.logs)}`);
        throw error;
      });
    await sleep(1_500);
    result = await load.stop(30_000);
    await waitUntil(async () => (await tally(influx, prefix, result!)).lost === 0, 60_000, `${name}: every acknowledged reading stored`).catch(() => {});
    const counted = await tally(influx, prefix, result);
    const figures: Figures = {
      sent: result.ackedCount,
      stored: counted.stored,
      lost: counted.lost,
      duplicated: counted.duplicated,
      recoverySeconds: Math.round(recoverySeconds * 10) / 10,
      peakLogBacklogBytes: peak.peak(),
      unacknowledged: result.unacked,
      ackedBeforeFault,
      ackedAfterFault: result.ackedCount - atFaultEnd.ackedCount,
    };
    console.log(`[durability] ${name}: ${JSON.stringify(figures)}${counted.missing.length > 0 ? ` missing e.g. ${counted.missing.join(', ')}` : ''}`);
    return figures;
  } finally {
    peak.stop();
    if (!result) await load.stop(1_000);
  }
}

describe('a reading the broker acknowledged at QoS 1 is stored exactly once', () => {
  it(`through an InfluxDB outage of ${OUTAGE_S} s during steady load`, { timeout: 120_000 + OUTAGE_S * 1_000 }, async () => {
    const ingest = pipeline.ingest!;
    const outage = { ackedAtStart: 0, ackedMidway: 0, ackedAtEnd: 0, backlogAtEnd: 0 };
    const figures = await underLoad(`InfluxDB down ${OUTAGE_S} s`, 'dur-influx', async (load) => {
      await influxServer.stop();
      outage.ackedAtStart = load.acked();
      await sleep(1_500);
      // Ingest reports itself not ready while InfluxDB is unreachable, and the edge keeps acknowledging.
      const ready = await fetch(`${ingest.opsUrl}/readyz`);
      expect(ready.status).toBe(503);
      const rest = Math.max(0, OUTAGE_S * 1_000 - 1_500);
      await sleep(rest / 2);
      outage.ackedMidway = load.acked();
      await sleep(rest / 2);
      outage.ackedAtEnd = load.acked();
      outage.backlogAtEnd = (await readMetric(ingest.opsUrl!, 'streetlab_ingest_log_backlog_bytes')) ?? 0;
      influxServer = await startInfluxServer({ dataDir: influxDir, port: influxPort, database: 'streetlab' });
    });
    console.log(`[durability] during the outage: ${JSON.stringify(outage)}`);
    expectStoredExactlyOnce(figures);
    // The edge acknowledged readings all through the outage, not only at its start…
    expect(outage.ackedMidway).toBeGreaterThan(outage.ackedAtStart);
    expect(outage.ackedAtEnd).toBeGreaterThan(outage.ackedMidway);
    // …and every one of them waited in the log, behind ingest's checkpoint (a line is well
    // over 50 bytes): the backlog counts the log's bytes on disk, not a rate.
    expect(outage.backlogAtEnd).toBeGreaterThanOrEqual((outage.ackedAtEnd - outage.ackedAtStart) * 50);
    expect(figures.peakLogBacklogBytes).toBeGreaterThan(0);
    const started = await ingest.waitForLog((r) => r.msg === 'InfluxDB outage started; the log holds the readings, retrying', 1_000, 'the outage log');
    const ended = await ingest.waitForLog((r) => r.msg === 'InfluxDB outage ended; writing the backlog', 1_000, 'the recovery log');
    expect(typeof ended.outageMs).toBe('number');
    expect(ended.backlogBytes as number).toBeGreaterThan(0);
    expect(started.backlogBytes).toBeDefined();
    expect((await fetch(`${ingest.opsUrl}/readyz`)).status).toBe(200);
  });

  it('through an ingest crash (SIGKILL) mid-stream and restart', { timeout: 120_000 }, async () => {
    const figures = await underLoad('ingest SIGKILL', 'dur-kill', async () => {
      await pipeline.ingest!.kill();
      await sleep(2_000);
      await pipeline.startIngest();
    });
    expectStoredExactlyOnce(figures);
  });

  it('through a broker crash while ingest is down: the log keeps what was acknowledged', { timeout: 120_000 }, async () => {
    const figures = await underLoad('broker crash, ingest down', 'dur-broker', async (load) => {
      const stopped = await pipeline.ingest!.stop();
      expect(stopped.code).toBe(0);
      // The edge goes on acknowledging into its log meanwhile…
      const before = load.acked();
      await sleep(2_000);
      expect(load.acked()).toBeGreaterThan(before);
      // …and crashes with the backlog in it.
      await pipeline.broker!.kill();
      await sleep(500);
      await pipeline.startBroker();
      await sleep(1_500);
      await pipeline.startIngest();
    });
    expectStoredExactlyOnce(figures);
  });

  it('through SIGTERM of ingest and of the broker during load: each exits 0 within the grace', { timeout: 120_000 }, async () => {
    const exits: { service: string; code: number | null; ms: number }[] = [];
    const figures = await underLoad('SIGTERM ingest, then broker', 'dur-term', async () => {
      const ingest = await pipeline.ingest!.stop();
      exits.push({ service: 'ingest', code: ingest.code, ms: ingest.ms });
      await pipeline.startIngest();
      await sleep(1_500);
      const broker = await pipeline.broker!.stop();
      exits.push({ service: 'broker', code: broker.code, ms: broker.ms });
      await pipeline.startBroker();
    });
    console.log(`[durability] SIGTERM exits: ${JSON.stringify(exits)}`);
    // Exit 0 is "within the grace": past SHUTDOWN_GRACE_MS a service exits 1 by itself
    // (common/shutdown.ts), and one that hung would be SIGKILLed by stop() (no exit code).
    for (const exit of exits) expect(exit.code, exit.service).toBe(0);
    expectStoredExactlyOnce(figures);
  });
});
