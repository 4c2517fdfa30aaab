/**
 * Stage 1, end to end: devices publish readings over MQTT, the broker, ingest and InfluxDB
 * store them, and the stored rows are counted in InfluxDB.
 *
 * Each device's n-th reading of a run carries `ts` = base + n ms (and `seq` = 10^15 + n),
 * so every (device, ts) is unique and a count in InfluxDB is exact: lost = sent − stored.
 * At QoS 1 "sent" is what the broker acknowledged (the platform's promise); at QoS 0 it is
 * what the devices wrote to their sockets (best effort: losses are reported, not a failure).
 *
 * "Sustained" means a rate the pipeline keeps up with, so devices publish at an offered
 * rate, evenly paced, not as fast as acknowledgements allow: the broker acknowledges a
 * device before ingest has the reading, so a closed loop only measures how a backlog grows
 * inside the broker (and, with Aedes' in-memory persistence, how its cost per message grows
 * with it). The rate is found in two steps:
 * 1. search: short steps at offered rates rising by a quarter each, until a step where the
 *    pipeline falls behind (fewer than 95% acknowledged, or more than half a second's worth
 *    acknowledged but not yet stored when the step ends). Upward only: an overloaded Aedes
 *    stays slow afterwards (its mqemitter backlog grows without bound under overload), so
 *    any step after the first failure would measure the damage, not the rate;
 * 2. measurement: a fresh pipeline (new processes), the whole run at 80% of the highest rate
 *    that kept up, counted on its own. Short steps can miss a slow collapse, so a measurement
 *    whose acknowledgements fall below 90% of the offered rate for 2 s in a row, or whose
 *    acknowledged-but-unstored backlog exceeds 2 s of readings at two checks in a row, is
 *    stopped and repeated on fresh processes at three quarters of the rate (within a time
 *    budget of about two runs); the figure is the first run that holds its rate.
 * The figure is stored readings over the time from the first publish to the last row
 * stored, so a backlog drained after the devices stop counts against it.
 */
import type { BenchContext } from '../context.ts';
import type { PublisherApi } from '../load/publisher.ts';
import type { WorkerHandle } from '../runtime.ts';
import { PUBLISHER_SCRIPT, cpuPercent, createDatabase, influxQuery, publisherDevices, round, sleep, startPipeline, type Pipeline, type Topology } from './shared.ts';
import type { HostStats } from '../sut/host.ts';

export interface E2eSearch {
  /** First offered rate tried. */
  startPerS: number;
  stepSeconds: number;
  maxSteps: number;
}

/** Each search step offers this much more than the last. */
const SEARCH_FACTOR = 1.25;

export interface E2eOptions {
  qos: 0 | 1;
  topology: Topology;
  seconds: number;
  devices: number;
  window: number;
  /** A fixed offered rate; undefined = search for the sustainable one first (QoS 1). */
  ratePerS?: number | undefined;
  search: E2eSearch;
}

export interface SearchStep {
  offeredPerS: number;
  ackedPerS: number;
  /** Acknowledged but not yet stored when the step ended. */
  backlog: number;
  keptUp: boolean;
}

/** A measurement that could not hold its offered rate and was stopped. */
export interface E2eAttempt {
  offeredPerS: number;
  heldSeconds: number;
  reason: string;
  ackedPerSecond: number[];
}

export interface E2eResult {
  qos: 0 | 1;
  topology: Topology;
  security: string;
  devices: number;
  window: number;
  sent: number;
  stored: number;
  lost: number;
  /** Stored readings per second, first publish → last row stored. */
  readingsPerS: number;
  /** Offered rate of the measured run. */
  offeredPerS: number;
  /** What the devices got acknowledged (QoS 0: wrote) per second after warm-up. */
  publishRatePerS: number;
  loadSeconds: number;
  /** From the devices stopping to the last row stored. */
  drainSeconds: number;
  search: SearchStep[];
  /** Earlier measurements at higher rates that could not be held (most recent last). */
  attempts: E2eAttempt[];
  perSecond: number[];
  cpuPercent: Record<string, number>;
  /** CPU time per stored reading, µs, by process: comparable across runs on a busy machine. */
  cpuUsPerReading: Record<string, number>;
  ingest: HostStats['ingest'];
  writer: HostStats['writer'];
  publisherErrors: string[];
}

const COUNT_QUIET_MS = 10_000;
const COUNT_MAX_WAIT_MS = 180_000;
const MEASURE_FRACTION = 0.8;
/** A measurement stops when fewer than this share of the offered rate is acknowledged… */
const ABORT_FRACTION = 0.9;
/** …for this many consecutive seconds, and the next attempt offers this much of it. */
const ABORT_SECONDS = 2;
const BACKOFF_FACTOR = 0.75;
const BACKLOG_CHECK_MS = 2_500;
const BACKLOG_SECONDS = 2;

/** Points stored in the reading measurements since `fromMs` (counted on `seq`, which every bench reading has). */
async function countSince(url: string, database: string, fromMs: number): Promise<number> {
  const body = (await influxQuery(url, database, 'SELECT count("seq") FROM "air", "traffic", "waste" WHERE time >= $from', {
    from: new Date(fromMs).toISOString(),
  })) as { results: { series?: { values: [number, number][] }[] }[] };
  let total = 0;
  for (const series of body.results[0]?.series ?? []) total += series.values[0]?.[1] ?? 0;
  return total;
}

/** Waits until `target` rows are stored since `fromMs`, or the count stops moving. */
async function waitStored(url: string, database: string, fromMs: number, target: number, quietMs: number): Promise<{ stored: number; lastChange: number }> {
  let stored = await countSince(url, database, fromMs);
  let lastChange = performance.now();
  const started = performance.now();
  while (stored < target && performance.now() - lastChange < quietMs && performance.now() - started < COUNT_MAX_WAIT_MS) {
    await sleep(250);
    const now = await countSince(url, database, fromMs);
    if (now !== stored) {
      stored = now;
      lastChange = performance.now();
    }
  }
  return { stored, lastChange };
}

interface Rig {
  pipeline: Pipeline;
  publisher: WorkerHandle<PublisherApi>;
}

/** A fresh pipeline and fleet of devices, stopped when the enclosing scope closes. */
async function startRig(ctx: BenchContext, options: E2eOptions, database: string): Promise<Rig> {
  const pipeline = await startPipeline(ctx, { topology: options.topology, database, api: true });
  const publisher = await ctx.fork<PublisherApi>(PUBLISHER_SCRIPT, { name: 'e2e-devices' });
  await publisher.call('connect', {
    host: pipeline.mqtt.host,
    port: pipeline.mqtt.port,
    qos: options.qos,
    window: options.window,
    payloadMode: 'counter',
    devices: publisherDevices(ctx, options.devices),
  });
  return { pipeline, publisher };
}

/** Offers rising rates until the pipeline falls behind; returns the steps. */
async function searchRate(ctx: BenchContext, options: E2eOptions, database: string, base: number): Promise<SearchStep[]> {
  const { startPerS, stepSeconds, maxSteps } = options.search;
  const { publisher } = await startRig(ctx, options, database);
  const steps: SearchStep[] = [];
  let offered = startPerS;
  let ackedTotal = 0;
  for (let step = 0; step < maxSteps; step += 1) {
    const run = await publisher.call('run', {
      durationMs: stepSeconds * 1000,
      ratePerS: Math.round(offered),
      warmupMs: 0,
      drainTimeoutMs: 2_000,
      ...(step === 0 ? { tsBaseMs: base } : {}),
    });
    ackedTotal += run.acked;
    const stored = await countSince(ctx.influx.url, database, base);
    const backlog = ackedTotal - stored;
    const ackedPerS = Math.round(run.acked / (run.durationMs / 1000));
    const keptUp = ackedPerS >= offered * 0.95 && backlog <= offered * 0.5 + 5_000;
    steps.push({ offeredPerS: Math.round(offered), ackedPerS, backlog, keptUp });
    ctx.log(`  search ${Math.round(offered).toLocaleString('en')}/s offered: ${ackedPerS.toLocaleString('en')}/s acknowledged, backlog ${backlog.toLocaleString('en')} → ${keptUp ? 'kept up' : 'fell behind'}`);
    if (!keptUp) break;
    offered *= SEARCH_FACTOR;
  }
  return steps;
}

type Measured = Omit<E2eResult, 'search' | 'attempts'>;

/**
 * Stops the run when acknowledged-but-not-stored readings exceed BACKLOG_SECONDS of the
 * offered rate at two checks in a row: ingest is not keeping up, whatever the broker acks.
 */
async function watchBacklog(ctx: BenchContext, publisher: WorkerHandle<PublisherApi>, database: string, base: number, rate: number, done: () => boolean): Promise<void> {
  let over = 0;
  while (!done()) {
    await sleep(BACKLOG_CHECK_MS);
    if (done()) return;
    const { acked } = await publisher.call('progress');
    const stored = await countSince(ctx.influx.url, database, base);
    over = acked - stored > rate * BACKLOG_SECONDS ? over + 1 : 0;
    if (over >= 2) {
      await publisher.call('abort', { reason: `more than ${BACKLOG_SECONDS} s of readings acknowledged but not stored at two checks in a row` });
      return;
    }
  }
}

/** One measurement on fresh processes; `abortedAfterS` set when the rate could not be held. */
async function measure(
  ctx: BenchContext,
  options: E2eOptions,
  database: string,
  rate: number,
  base: number,
  canAbort: boolean,
): Promise<Measured & { abortedAfterS: number | undefined; abortReason: string | undefined }> {
  const { pipeline, publisher } = await startRig(ctx, options, database);
  ctx.log(`e2e QoS ${options.qos} (${options.topology}): ${options.devices} devices, ${rate.toLocaleString('en')} readings/s offered, ${options.seconds} s`);
  const load = { devices: publisher.pid };
  const ticksBefore = pipeline.cpuTicks(load);
  const started = performance.now();
  const running = publisher.call('run', {
    durationMs: options.seconds * 1000,
    ratePerS: rate,
    warmupMs: Math.min(2_000, options.seconds * 200),
    tsBaseMs: base,
    ...(canAbort ? { abortBelow: { fraction: ABORT_FRACTION, seconds: ABORT_SECONDS } } : {}),
  });
  // The broker may acknowledge on time while ingest falls behind: watch what is stored too.
  let done = false;
  const watching = canAbort ? watchBacklog(ctx, publisher, database, base, rate, () => done) : Promise.resolve();
  const run = await running;
  done = true;
  await watching;
  const loadEnded = started + run.durationMs;
  const sent = options.qos === 1 ? run.acked : run.issued;
  if (run.abortedAfterS !== undefined) {
    ctx.log(`  could not hold the rate (${run.abortReason}): stopped after ${run.abortedAfterS} s`);
  } else {
    ctx.log(`  devices stopped after ${(run.durationMs / 1000).toFixed(1)} s (+${(run.drainMs / 1000).toFixed(1)} s for outstanding acks); counting rows`);
  }
  // An aborted attempt is not counted: its processes are about to be replaced.
  const { stored, lastChange } =
    run.abortedAfterS === undefined ? await waitStored(ctx.influx.url, database, base, sent, COUNT_QUIET_MS) : { stored: 0, lastChange: performance.now() };
  const finished = lastChange;
  const ticksAfter = pipeline.cpuTicks(load);
  const cpu = cpuPercent(ticksBefore, ticksAfter, finished - started);
  const cpuUsPerReading: Record<string, number> = {};
  for (const [role, ticks] of Object.entries(ticksAfter)) cpuUsPerReading[role] = round(((ticks - (ticksBefore[role] ?? ticks)) * 10_000) / Math.max(1, stored), 1);
  const stats = await pipeline.stats();
  const ingestStats = stats.find((st) => st.ingest !== undefined);
  const elapsedS = (Math.max(finished, loadEnded) - started) / 1000;
  return {
    qos: options.qos,
    topology: options.topology,
    security: ctx.security.mode,
    devices: options.devices,
    window: options.window,
    sent,
    stored,
    lost: sent - stored,
    readingsPerS: Math.round(stored / elapsedS),
    offeredPerS: rate,
    publishRatePerS: run.steadyRatePerS,
    loadSeconds: round(run.durationMs / 1000, 1),
    drainSeconds: round(Math.max(0, finished - loadEnded) / 1000, 2),
    perSecond: run.perSecond,
    cpuPercent: cpu,
    cpuUsPerReading,
    ingest: ingestStats?.ingest,
    writer: ingestStats?.writer,
    publisherErrors: run.errors,
    abortedAfterS: run.abortedAfterS,
    abortReason: run.abortReason,
  };
}

export async function runE2e(ctx: BenchContext, options: E2eOptions): Promise<E2eResult> {
  if (options.qos === 0 && !options.ratePerS) throw new Error('QoS 0 needs an offered rate (no acknowledgements to find one by)');
  const database = `bench_e2e_${options.topology}_q${options.qos}`;
  await createDatabase(ctx, ctx.influx.url, database);
  // Search readings from three hours ago, measured ones from two (each attempt ten minutes
  // later than the last): inside ingest's accepted window, never in the future, countable apart.
  const hour = 3_600_000;
  const searchBase = Math.floor((Date.now() - 3 * hour) / 1000) * 1000;
  const measureBase = searchBase + hour;

  // ---- 1. search, on processes of its own
  let search: SearchStep[] = [];
  let rate = options.ratePerS;
  const searched = rate === undefined;
  if (rate === undefined) {
    search = await ctx.scoped((c) => searchRate(c, options, database, searchBase));
    const kept = search.filter((st) => st.keptUp).map((st) => st.offeredPerS);
    // Nothing kept up: start the measurement at half the first step.
    rate = Math.round(kept.length > 0 ? Math.max(...kept) * MEASURE_FRACTION : options.search.startPerS / 2);
  }

  // ---- 2. measurement, on fresh processes; a searched rate that cannot be held for the
  // whole run is lowered by a quarter and measured again, within a time budget.
  const attempts: E2eAttempt[] = [];
  const budgetEnds = performance.now() + (options.seconds * 2 + 10) * 1000;
  for (let attempt = 0; ; attempt += 1) {
    const offered = rate;
    const canAbort = searched && options.qos === 1 && performance.now() + options.seconds * 1000 < budgetEnds;
    const result = await ctx.scoped((c) => measure(c, options, database, offered, measureBase + attempt * 600_000, canAbort));
    if (result.abortedAfterS === undefined) {
      const { abortedAfterS: _aborted, abortReason: _reason, ...measured } = result;
      return { ...measured, search, attempts };
    }
    attempts.push({ offeredPerS: offered, heldSeconds: result.abortedAfterS, reason: result.abortReason ?? '', ackedPerSecond: result.perSecond });
    rate = Math.round(offered * BACKOFF_FACTOR);
  }
}
