/**
 * Stage 1, end to end: devices publish readings over MQTT, the broker's edge validates them
 * and appends them to its durable log (PUBACK after the fsync), ingest drains the log into
 * InfluxDB, and the stored rows are counted in InfluxDB.
 *
 * Each device's n-th reading of a run carries `ts` = base + n ms (and `seq` = 10^15 + n),
 * so every (device, ts) is unique and a count in InfluxDB is exact: lost = sent − stored.
 * At QoS 1 "sent" is what the broker acknowledged (the platform's promise); at QoS 0 it is
 * what the devices wrote to their sockets (best effort: losses are reported, not a failure).
 *
 * "Sustained" means a rate the pipeline keeps up with, so devices publish at an offered
 * rate, evenly paced, not as fast as acknowledgements allow: the broker acknowledges once a
 * reading is in its log, before ingest has stored it, so a closed loop would only measure how
 * fast the log grows. The rate is found in two steps:
 * 1. search: short steps at an offered rate; a step *holds* when at least 95% of it is
 *    acknowledged and no more than half a second's worth is acknowledged but not yet stored
 *    when it ends. The rate doubles from the start rate until a step misses (or halves until
 *    one holds, when the first misses), then the interval between the last rate held and the
 *    first missed is bisected until it is under 5% of the rate held, or the step budget is
 *    spent. Every step starts from a drained pipeline: after each one the bench waits (within
 *    a bound) until everything acknowledged is stored and nothing is in flight. The edge holds
 *    PUBACKs under overload (backpressure through TCP) instead of queueing in the broker, so
 *    a drained pipeline is back where it started; one that does not drain within the bound
 *    is replaced by fresh processes for the next step;
 * 2. measurement: a fresh pipeline (new processes), the whole run at the highest rate that
 *    held. Short steps can miss a slow collapse, so a measurement whose acknowledgements fall
 *    below 90% of the offered rate for 2 s in a row, or whose acknowledged-but-unstored
 *    backlog exceeds 2 s of readings at two checks in a row, is stopped and repeated on fresh
 *    processes at three quarters of the rate (within a time budget of about two runs); the
 *    figure is the first run that holds its rate.
 * The figure is stored readings over the time from the first publish to the last row
 * stored, so a backlog drained after the devices stop counts against it.
 *
 * CPU: the CPU time (user + system, all threads, from /proc/<pid>/stat) each process used
 * during the measurement, divided by the readings stored: µs per stored reading for the
 * broker (with its edge), ingest, the API, their sum (StreetLab's own processes; in the one-
 * process topology the one process), InfluxDB and the load generator.
 *
 * Why ~560 lines: the rate search and the measurement share the rig, the drain check and the per-process CPU accounting (one node or a cluster of several).
 */
import type { BenchContext } from '../context.ts';
import type { PublisherApi } from '../load/publisher.ts';
import type { WorkerHandle } from '../runtime.ts';
import { CLOCK_TICKS_PER_S } from '../system.ts';
import { PUBLISHER_SCRIPT, waitInfluxQuiet, createDatabase, influxQuery, publisherDevices, round, sleep, startPipeline, type ClusterSetup, type Pipeline, type Topology } from './shared.ts';
import type { HostStats } from '../sut/host.ts';

export interface E2eSearch {
  /** First offered rate tried. */
  startPerS: number;
  stepSeconds: number;
  /** The step budget: the search stops after this many steps, bracketed or not. */
  maxSteps: number;
}

/** Until the first miss the offered rate doubles each step (halves while nothing held). */
const GROWTH_FACTOR = 2;
/** Bisection stops when (first missed − last held) ÷ last held is below this. */
const BISECT_GAP = 0.05;
/** The search gives up shrinking below this rate. */
const MIN_SEARCH_RATE = 100;
/** A step holds with this share of its offered rate acknowledged… */
const HOLD_ACK_FRACTION = 0.95;
/** …and at most this many seconds of it (plus a constant for the batching) not yet stored at its end. */
const HOLD_BACKLOG_SECONDS = 0.5;
const HOLD_BACKLOG_SLACK = 5_000;
/** How long after a step the bench waits for the pipeline to drain before replacing it. */
const DRAIN_MIN_MS = 15_000;
/** Each fleet of devices in a search writes its readings in a slot of its own (ts range). */
const RIG_SLOT_MS = 600_000;
/** Pipelines that may be replaced without a step to show for it (a warm-up that did not drain). */
const MAX_EXTRA_RIGS = 2;

export interface E2eOptions {
  qos: 0 | 1;
  topology: Topology;
  seconds: number;
  devices: number;
  window: number;
  /** A fixed offered rate; undefined = search for the sustainable one first (QoS 1). */
  ratePerS?: number | undefined;
  search: E2eSearch;
  /** Cluster mode (split only): nodes of each service sharing Redis, the devices split evenly over the broker nodes. */
  cluster?: ClusterSetup | undefined;
}

export interface SearchStep {
  phase: 'grow' | 'shrink' | 'bisect';
  offeredPerS: number;
  ackedPerS: number;
  /** Acknowledged but not yet stored when the step ended. */
  backlog: number;
  keptUp: boolean;
  /** Seconds until everything acknowledged was stored (and nothing was in flight); undefined = not within the bound. */
  drainSeconds: number | undefined;
  /** Acknowledged − stored after the drain (0 unless readings went missing); undefined without a drain. */
  lost: number | undefined;
  /** This step ran on processes started for it (the first, or after a pipeline that did not drain). */
  freshProcesses: boolean;
}

export interface SearchOutcome {
  steps: SearchStep[];
  /** Highest offered rate that held, and lowest that missed (undefined: none). */
  held: number | undefined;
  missed: number | undefined;
  /** Why the search stopped. */
  stoppedBy: 'bracketed' | 'step budget' | 'rate floor';
  /** Trouble the search's pipelines reported: warnings and errors they logged, rejections, log write failures. */
  problems: string[];
}

/** A measurement that could not hold its offered rate and was stopped. */
export interface E2eAttempt {
  offeredPerS: number;
  heldSeconds: number;
  reason: string;
  ackedPerSecond: number[];
}

/**
 * µs of CPU time per stored reading (or % of one core) by process. Services as processes:
 * broker (with its edge), ingest, api; one process: lab. `streetlab` is StreetLab's own
 * processes together (broker + ingest + api, or the one process).
 */
export interface CpuByProcess {
  broker?: number;
  ingest?: number;
  api?: number;
  lab?: number;
  /** A cluster's second node (cluster mode; the first node's are broker, ingest, api). */
  broker2?: number;
  ingest2?: number;
  api2?: number;
  streetlab: number;
  influxd: number;
  /** Cluster mode: the Redis the nodes share (apart, like InfluxDB). */
  redis?: number;
  loadGenerator: number;
}

/** Roles accounted apart from StreetLab's own processes. */
const APART_ROLES = new Set(['influxd', 'redis', 'loadGenerator']);
const CPU_ROLES = ['broker', 'ingest', 'api', 'broker2', 'ingest2', 'api2', 'lab', 'streetlab', 'influxd', 'redis', 'loadGenerator'];

export interface E2eResult {
  qos: 0 | 1;
  topology: Topology;
  /** Cluster mode: nodes of each service (with Redis); undefined without Redis. */
  clusterNodes: number | undefined;
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
  searchOutcome: SearchOutcome | undefined;
  /** Earlier measurements at higher rates that could not be held (most recent last). */
  attempts: E2eAttempt[];
  perSecond: number[];
  cpuPercent: CpuByProcess;
  /** CPU time per stored reading, µs, by process: comparable across runs on a busy machine. */
  cpuUsPerReading: CpuByProcess;
  /** CPU seconds used by each process over the measurement (the raw figures). */
  cpuSeconds: CpuByProcess;
  /** The broker's edge: messages received, readings accepted, rejections, log write failures. */
  edge: HostStats['edge'];
  ingest: HostStats['ingest'];
  writer: HostStats['writer'];
  /** What ingest had not yet stored when the count ended. */
  backlog: HostStats['backlog'];
  /** What each service logged at warn and above during the measurement's life. */
  logs: Record<string, HostStats['logs']>;
  /** Sums of the services' own metrics (edge group commits, ingest writes), by process. */
  serviceMetrics: Record<string, HostStats['metrics']>;
  publisherErrors: string[];
}

const COUNT_QUIET_MS = 10_000;
const COUNT_MAX_WAIT_MS = 180_000;
/** A measurement stops when fewer than this share of the offered rate is acknowledged… */
const ABORT_FRACTION = 0.9;
/** …for this many consecutive seconds, and the next attempt offers this much of it. */
const ABORT_SECONDS = 2;
const BACKOFF_FACTOR = 0.75;
const BACKLOG_CHECK_MS = 2_500;
const BACKLOG_SECONDS = 2;

/** Points stored in the reading measurements with `fromMs` ≤ time < `toMs` (counted on `seq`, which every bench reading has). */
async function countSince(url: string, database: string, fromMs: number, toMs = fromMs + 24 * 3_600_000): Promise<number> {
  const body = (await influxQuery(url, database, 'SELECT count("seq") FROM "air", "traffic", "waste" WHERE time >= $from AND time < $to', {
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
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
  const pipeline = await startPipeline(ctx, { topology: options.topology, database, api: true, cluster: options.cluster });
  const publisher = await ctx.fork<PublisherApi>(PUBLISHER_SCRIPT, { name: 'e2e-devices' });
  // Several broker nodes: device i connects to node i mod n (an even split, every kind on each).
  const nodes = pipeline.mqttNodes;
  await publisher.call('connect', {
    host: pipeline.mqtt.host,
    port: pipeline.mqtt.port,
    qos: options.qos,
    window: options.window,
    payloadMode: 'counter',
    devices: publisherDevices(ctx, options.devices).map((d, i) => (nodes.length > 1 ? { ...d, host: nodes[i % nodes.length]!.host, port: nodes[i % nodes.length]!.port } : d)),
  });
  return { pipeline, publisher };
}

/** The search's next offered rate, or undefined when it is done. */
function nextRate(search: E2eSearch, held: number | undefined, missed: number | undefined, tried: number): { rate: number; phase: SearchStep['phase'] } | 'bracketed' | 'rate floor' {
  if (tried === 0) return { rate: search.startPerS, phase: 'grow' };
  if (missed === undefined) return { rate: Math.round(held! * GROWTH_FACTOR), phase: 'grow' };
  if (held === undefined) {
    const rate = Math.round(missed / GROWTH_FACTOR);
    return rate < MIN_SEARCH_RATE ? 'rate floor' : { rate, phase: 'shrink' };
  }
  if ((missed - held) / held < BISECT_GAP) return 'bracketed';
  return { rate: Math.round((held + missed) / 2), phase: 'bisect' };
}

/**
 * Doubles the offered rate until a step misses, then bisects between the last rate held and
 * the first missed. Each step starts from a drained pipeline; one that does not drain in time
 * is replaced (each fleet writes its readings in a ts slot of its own, counted apart).
 */
async function searchRate(ctx: BenchContext, options: E2eOptions, database: string, base: number): Promise<SearchOutcome> {
  const { stepSeconds, maxSteps } = options.search;
  const steps: SearchStep[] = [];
  let held: number | undefined;
  let missed: number | undefined;
  let stoppedBy: SearchOutcome['stoppedBy'] = 'step budget';
  const drainBoundMs = Math.max(DRAIN_MIN_MS, stepSeconds * 4_000);
  const problems: string[] = [];
  let slot = 0;
  let rigBase = base;
  while (steps.length < maxSteps && slot < maxSteps + MAX_EXTRA_RIGS) {
    const next = nextRate(options.search, held, missed, steps.length);
    if (typeof next === 'string') {
      stoppedBy = next;
      break;
    }
    // One fleet of devices and one pipeline, for as long as the pipeline drains after each step.
    rigBase = base + slot * RIG_SLOT_MS;
    slot += 1;
    const done = await ctx.scoped(async (c) => {
      const { pipeline, publisher } = await startRig(c, options, database);
      try {
        return await onRig(publisher);
      } finally {
        for (const st of await pipeline.stats()) {
          const l = st.logs;
          if (l.errors + l.warnings > 0) problems.push(`${st.role} logged ${l.errors} error(s), ${l.warnings} warning(s): ${Object.entries(l.byMessage).map(([m, n]) => `${m} ×${n}`).join('; ')}`);
          if (st.edge && st.edge.rejected > 0) problems.push(`the edge rejected ${st.edge.rejected}: ${JSON.stringify(st.edge.rejectedByReason)}`);
          if (st.edge && st.edge.logFailures > 0) problems.push(`the edge's log refused ${st.edge.logFailures} writes`);
          if (st.ingest && st.ingest.deadLettered > 0) problems.push(`ingest dead-lettered ${st.ingest.deadLettered}`);
        }
      }
    });
    if (done) break;
  }
  if (steps.length >= maxSteps && stoppedBy === 'step budget') {
    const next = nextRate(options.search, held, missed, steps.length);
    if (typeof next === 'string') stoppedBy = next;
  }
  for (const problem of problems) ctx.log(`  search: ${problem}`);
  return { steps, held, missed, stoppedBy, problems };

  /** Runs steps on one pipeline while it drains after each; true when the search is over. */
  async function onRig(publisher: WorkerHandle<PublisherApi>): Promise<boolean> {
    // Drained: every publish acknowledged (late acks count) and every acknowledged reading stored.
    let ackedTotal = 0;
    const drain = async (storedAtStart: number) => {
      const drainStarted = performance.now();
      let stored = storedAtStart;
      let progress = await publisher.call('progress');
      let drained = false;
      while (performance.now() - drainStarted < drainBoundMs) {
        if (progress.unacked === 0 && stored >= ackedTotal + progress.acked) {
          drained = true;
          break;
        }
        await sleep(200);
        progress = await publisher.call('progress');
        stored = await countSince(ctx.influx.url, database, rigBase, rigBase + RIG_SLOT_MS);
      }
      ackedTotal += progress.acked;
      return { drained, stored, seconds: round((performance.now() - drainStarted) / 1000, 1) };
    };
    // Fresh processes warm up first (uncounted step at half the rate): a first step on cold
    // processes measures the JIT compiling their hot paths, not the rate they sustain.
    const first = nextRate(options.search, held, missed, steps.length);
    if (typeof first !== 'string') {
      const warmRate = Math.max(1, Math.round(first.rate / 2));
      await publisher.call('run', { durationMs: Math.max(1_000, stepSeconds * 1000), ratePerS: warmRate, warmupMs: 0, drainTimeoutMs: 2_000, tsBaseMs: rigBase });
      const warm = await drain(await countSince(ctx.influx.url, database, rigBase, rigBase + RIG_SLOT_MS));
      ctx.log(`  search: fresh processes warmed up at ${warmRate.toLocaleString('en')}/s${warm.drained ? '' : ' (did not drain)'}`);
      if (!warm.drained) return false;
    }
    for (let onThisRig = 0; steps.length < maxSteps; onThisRig += 1) {
      const step = nextRate(options.search, held, missed, steps.length);
      if (typeof step === 'string') {
        stoppedBy = step;
        return true;
      }
      const offered = step.rate;
      const run = await publisher.call('run', {
        durationMs: stepSeconds * 1000,
        ratePerS: offered,
        warmupMs: 0,
        drainTimeoutMs: 2_000,
      });
      const ackedAtEnd = ackedTotal + run.acked;
      const storedAtEnd = await countSince(ctx.influx.url, database, rigBase, rigBase + RIG_SLOT_MS);
      const backlog = ackedAtEnd - storedAtEnd;
      // Acknowledged while the step ran (not during its drain wait: late acks would flatter it).
      const ackedPerS = run.steadyRatePerS;
      const keptUp = ackedPerS >= offered * HOLD_ACK_FRACTION && backlog <= offered * HOLD_BACKLOG_SECONDS + HOLD_BACKLOG_SLACK;
      if (keptUp) held = Math.max(held ?? 0, offered);
      else missed = Math.min(missed ?? Number.POSITIVE_INFINITY, offered);

      const { drained, stored, seconds } = await drain(storedAtEnd);
      const drainSeconds = drained ? seconds : undefined;
      const lost = drained ? ackedTotal - stored : undefined;
      steps.push({ phase: step.phase, offeredPerS: offered, ackedPerS, backlog, keptUp, drainSeconds, lost, freshProcesses: onThisRig === 0 });
      ctx.log(
        `  search ${offered.toLocaleString('en')}/s offered (${step.phase}): ${ackedPerS.toLocaleString('en')}/s acknowledged, backlog ${backlog.toLocaleString('en')} → ${keptUp ? 'held' : 'missed'}; ` +
          (drained ? `drained in ${drainSeconds} s${lost ? `, ${lost} LOST` : ''}` : `not drained within ${Math.round(drainBoundMs / 1000)} s: fresh processes for the next step`),
      );
      if (!drained) return false;
    }
    return true;
  }
}

type Measured = Omit<E2eResult, 'search' | 'searchOutcome' | 'attempts'>;

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
  // InfluxDB still compacting what the search (or an earlier run) wrote would be charged to this one.
  await waitInfluxQuiet(ctx, 10_000);
  ctx.log(`e2e QoS ${options.qos} (${options.cluster ? `cluster, ${options.cluster.nodes} node(s) of each service` : options.topology}): ${options.devices} devices, ${rate.toLocaleString('en')} readings/s offered, ${options.seconds} s`);
  const load = { loadGenerator: publisher.pid };
  const ticksBefore = pipeline.cpuTicks(load);
  const started = performance.now();
  const warmupMs = Math.min(2_000, options.seconds * 200);
  const running = publisher.call('run', {
    durationMs: options.seconds * 1000,
    ratePerS: rate,
    warmupMs,
    tsBaseMs: base,
    // The warm-up seconds of fresh processes are not judged (they still count in the figure).
    ...(canAbort ? { abortBelow: { fraction: ABORT_FRACTION, seconds: ABORT_SECONDS, fromSecond: Math.ceil(warmupMs / 1000) } } : {}),
  });
  // The broker may acknowledge on time while ingest falls behind: watch what is stored too.
  let done = false;
  const watching = canAbort ? watchBacklog(ctx, publisher, database, base, rate, () => done) : Promise.resolve();
  const run = await running;
  done = true;
  await watching;
  const loadEnded = started + run.durationMs;
  if (run.abortedAfterS !== undefined) {
    ctx.log(`  could not hold the rate (${run.abortReason}): stopped after ${run.abortedAfterS} s`);
  } else {
    ctx.log(`  devices stopped after ${(run.durationMs / 1000).toFixed(1)} s (+${(run.drainMs / 1000).toFixed(1)} s for outstanding acks); counting rows`);
  }
  // Acknowledgements that came after the run's own drain wait count as sent too.
  const progress = await publisher.call('progress');
  const sent = options.qos === 1 ? Math.max(run.acked, progress.acked) : run.issued;
  // An aborted attempt is not counted: its processes are about to be replaced.
  const { stored, lastChange } =
    run.abortedAfterS === undefined ? await waitStored(ctx.influx.url, database, base, sent, COUNT_QUIET_MS) : { stored: 0, lastChange: performance.now() };
  const finished = lastChange;
  const ticksAfter = pipeline.cpuTicks(load);
  const cpu = cpuByProcess(ticksBefore, ticksAfter, stored, finished - started);
  const stats = await pipeline.stats();
  // Several nodes: the edges' and ingest workers' counters summed over the nodes.
  const brokerStats = sumStats(stats.filter((st) => st.edge !== undefined));
  const ingestStats = sumStats(stats.filter((st) => st.ingest !== undefined));
  const logs: Record<string, HostStats['logs']> = {};
  const serviceMetrics: Record<string, HostStats['metrics']> = {};
  for (const st of stats) {
    logs[st.role] = st.logs;
    serviceMetrics[st.role] = st.metrics;
  }
  for (const [role, l] of Object.entries(logs)) {
    if (l.errors + l.warnings > 0) ctx.log(`  ${role} logged ${l.errors} error(s), ${l.warnings} warning(s): ${Object.entries(l.byMessage).map(([m, n]) => `${m} ×${n}`).join('; ')}`);
  }
  const elapsedS = (Math.max(finished, loadEnded) - started) / 1000;
  return {
    qos: options.qos,
    topology: options.topology,
    clusterNodes: options.cluster?.nodes,
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
    cpuPercent: cpu.percent,
    cpuUsPerReading: cpu.usPerReading,
    cpuSeconds: cpu.seconds,
    edge: brokerStats?.edge,
    ingest: ingestStats?.ingest,
    writer: ingestStats?.writer,
    backlog: ingestStats?.backlog,
    logs,
    serviceMetrics,
    publisherErrors: run.errors,
    abortedAfterS: run.abortedAfterS,
    abortReason: run.abortReason,
  };
}

/** Per-process CPU over a measurement: seconds, % of one core, and µs per stored reading. */
function cpuByProcess(before: Record<string, number>, after: Record<string, number>, stored: number, ms: number): { seconds: CpuByProcess; percent: CpuByProcess; usPerReading: CpuByProcess } {
  const seconds: Record<string, number> = {};
  for (const [role, ticks] of Object.entries(after)) seconds[role] = (ticks - (before[role] ?? ticks)) / CLOCK_TICKS_PER_S;
  // StreetLab's own processes: the one process, or broker + ingest + API (of every node);
  // InfluxDB, Redis and the load generator apart.
  const own = seconds.lab ?? Object.entries(seconds).reduce((sum, [role, sec]) => sum + (APART_ROLES.has(role) ? 0 : sec), 0);
  const all: Record<string, number> = { ...seconds, streetlab: own };
  const map = (f: (cpuSeconds: number) => number) => {
    const out: Record<string, number> = {};
    for (const role of CPU_ROLES) if (all[role] !== undefined) out[role] = f(all[role]);
    return out as unknown as CpuByProcess;
  };
  return {
    seconds: map((sec) => round(sec, 2)),
    percent: map((sec) => Math.round((sec / (ms / 1000)) * 100)),
    usPerReading: map((sec) => round((sec * 1e6) / Math.max(1, stored), 1)),
  };
}

/**
 * The hosts' stats summed over nodes (counters added, per-reason maps merged); the first
 * host's as they are when there is one; undefined when there is none.
 */
function sumStats<T extends HostStats>(list: T[]): T | undefined {
  if (list.length <= 1) return list[0];
  const add = (a: unknown, b: unknown): unknown => {
    if (typeof a === 'number' && typeof b === 'number') return a + b;
    if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a)) {
      const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
      for (const [k, v] of Object.entries(b as Record<string, unknown>)) out[k] = k in out ? add(out[k], v) : v;
      return out;
    }
    return a ?? b;
  };
  return list.slice(1).reduce((sum, st) => add(sum, st) as T, list[0]!);
}

export async function runE2e(ctx: BenchContext, options: E2eOptions): Promise<E2eResult> {
  if (options.qos === 0 && !options.ratePerS) throw new Error('QoS 0 needs an offered rate (no acknowledgements to find one by)');
  if ((options.search.maxSteps + MAX_EXTRA_RIGS) * RIG_SLOT_MS > 4 * 3_600_000) throw new Error('the search has more steps than ts slots');
  if (options.cluster && options.topology !== 'split') throw new Error('cluster mode runs the services as processes (split)');
  const database = options.cluster ? `bench_cluster_n${options.cluster.nodes}_q${options.qos}` : `bench_e2e_${options.topology}_q${options.qos}`;
  await createDatabase(ctx, ctx.influx.url, database);
  // Search readings from six hours ago (each fleet ten minutes after the last), measured ones
  // from two (each attempt ten minutes later than the last): inside the edge's accepted
  // window, never in the future, countable apart.
  const hour = 3_600_000;
  const searchBase = Math.floor((Date.now() - 6 * hour) / 1000) * 1000;
  const measureBase = searchBase + 4 * hour;

  // ---- 1. search
  let searchOutcome: SearchOutcome | undefined;
  let rate = options.ratePerS;
  const searched = rate === undefined;
  if (rate === undefined) {
    searchOutcome = await searchRate(ctx, options, database, searchBase);
    const { held, missed, steps, stoppedBy } = searchOutcome;
    // Nothing held: half the lowest rate tried.
    rate = held ?? Math.max(1, Math.round(Math.min(options.search.startPerS, ...steps.map((st) => st.offeredPerS)) / 2));
    ctx.log(`  search: ${held === undefined ? 'nothing held' : `held ${held.toLocaleString('en')}/s`}, ${missed === undefined ? 'nothing missed' : `missed ${missed.toLocaleString('en')}/s`} (${stoppedBy}, ${steps.length} steps) → measuring at ${rate.toLocaleString('en')}/s`);
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
      return { ...measured, search: searchOutcome?.steps ?? [], searchOutcome, attempts };
    }
    attempts.push({ offeredPerS: offered, heldSeconds: result.abortedAfterS, reason: result.abortReason ?? '', ackedPerSecond: result.perSecond });
    rate = Math.round(offered * BACKOFF_FACTOR);
  }
}
