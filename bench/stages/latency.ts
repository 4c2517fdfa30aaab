/**
 * Stage 4, live latency: publish → socket.io delivery at a steady rate (1,000 readings/s,
 * evenly paced on a 1 ms tick, QoS 1) with N dashboard clients each subscribed to every
 * reading, through the whole live path: broker (the edge validates each reading and
 * publishes the live feed, one `$lab/live/v1/batch` message per event-loop turn) → API live
 * hub (subscribed as `svc:api`) → socket.io. Ingest runs too, draining the log into InfluxDB.
 *
 * The publisher writes the publish time (epoch µs) into each reading's `seq`; each client
 * subtracts it from its receive time. Publisher and clients are separate processes and use
 * the same clock (`performance.timeOrigin + performance.now()`, wall clock sampled once at
 * process start with µs precision plus the monotonic clock). Only readings published after
 * the warm-up count, and every one of them must reach every client.
 */
import type { BenchContext } from '../context.ts';
import { createHistogram, mergeInto, percentileUs } from '../histogram.ts';
import type { LiveClientsApi } from '../load/live-clients.ts';
import type { PublisherApi } from '../load/publisher.ts';
import { PUBLISHER_SCRIPT, cpuPercent, createDatabase, publisherDevices, round, sleep, startPipeline } from './shared.ts';

export interface LatencyResult {
  ratePerS: number;
  clients: number;
  clientMode: 'wire' | 'socket.io-client';
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
  /** Deliveries measured (readings after warm-up × clients). */
  samples: number;
  expected: number;
  /** samples / expected: 1 when every client got every reading. */
  deliveredRatio: number;
  publishRatePerS: number;
  cpuPercent: Record<string, number>;
}

const CLIENTS_SCRIPT = new URL('../load/live-clients.ts', import.meta.url);

export async function runLatency(ctx: BenchContext, clientMode: 'wire' | 'socket.io-client'): Promise<LatencyResult> {
  const { ratePerS, clients, devices, seconds, warmupSeconds } = ctx.profile.latency;
  const database = 'bench_latency';
  await createDatabase(ctx, ctx.influx.url, database);
  const pipeline = await startPipeline(ctx, { topology: 'split', database, api: true });

  const receivers = await ctx.fork<LiveClientsApi>(CLIENTS_SCRIPT, { name: 'dashboard-clients' });
  await receivers.call('connect', { apiUrl: pipeline.apiUrl!, clients, mode: clientMode });

  const publisher = await ctx.fork<PublisherApi>(PUBLISHER_SCRIPT, { name: 'latency-devices' });
  await publisher.call('connect', {
    host: pipeline.mqtt.host,
    port: pipeline.mqtt.port,
    qos: 1,
    window: 10,
    payloadMode: 'clock',
    devices: publisherDevices(ctx, devices),
  });

  ctx.log(`latency: ${ratePerS} readings/s to ${clients} socket.io clients for ${seconds} s`);
  const load = { devices: publisher.pid, clients: receivers.pid };
  const ticksBefore = pipeline.cpuTicks(load);
  const started = performance.now();
  const run = await publisher.call('run', { durationMs: seconds * 1000, ratePerS, warmupMs: warmupSeconds * 1000, tickMs: 1 });
  const cpu = cpuPercent(ticksBefore, pipeline.cpuTicks(load), performance.now() - started);

  // Let the last readings arrive: until every client has them, or nothing changes for 2 s.
  const expected = run.issuedSteady * clients;
  const window = { fromUs: run.steadyFromUs, toUs: run.endedAtUs + 1 };
  let samples = await receivers.call('samples', window);
  let lastChange = performance.now();
  while (samples.deliveries < expected && performance.now() - lastChange < 2_000) {
    await sleep(200);
    const next = await receivers.call('samples', window);
    if (next.deliveries !== samples.deliveries) lastChange = performance.now();
    samples = next;
  }
  const histogram = createHistogram();
  mergeInto(histogram, samples.histogram);
  const ms = (us: number) => round(us / 1000, 2);
  return {
    ratePerS,
    clients,
    clientMode,
    p50Ms: ms(percentileUs(histogram, 50)),
    p90Ms: ms(percentileUs(histogram, 90)),
    p99Ms: ms(percentileUs(histogram, 99)),
    p999Ms: ms(percentileUs(histogram, 99.9)),
    maxMs: ms(histogram.maxUs),
    meanMs: ms(histogram.count > 0 ? histogram.sumUs / histogram.count : Number.NaN),
    samples: samples.deliveries,
    expected,
    deliveredRatio: round(expected > 0 ? samples.deliveries / expected : Number.NaN, 4),
    publishRatePerS: run.steadyRatePerS,
    cpuPercent: cpu,
  };
}
