/**
 * `npm run bench`: the benchmark suite (bench/README.md), one command, real processes, a real
 * InfluxDB. Prints a table of every figure with its target, ratio and verdict, and writes
 * the same as JSON.
 *
 *   npm run bench                      full profile (< 15 min), the measurement of record
 *   npm run bench -- --quick           quick profile (< 3 min)
 *   npm run bench -- --profile smoke   seconds per stage (the harness test)
 *   options: --out <path> (default bench-results/latest.json), --stages e2e,brokers,…,
 *            --security auth|open, --e2e-rate <readings/s> (QoS 1; default: search for the sustainable rate),
 *            --e2e-qos0-rate <readings/s> (default: what QoS 1 sustained), --latency-client wire|socket.io-client,
 *            --cluster (adds the `cluster` stage: QoS 1 end to end with Redis, 1 and 2 nodes of each service)
 *
 * The only file of the bench with side effects: it reads argv, starts the shared InfluxDB
 * and the reaper, runs the stages, and cleans up on the way out — also on Ctrl-C.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { findInfluxd, startInfluxServer } from '../common/influx-server.ts';
import type { BenchContext } from './context.ts';
import { mosquittoVersion } from './mosquitto.ts';
import { PROFILES, type Profile } from './profiles.ts';
import {
  DEFAULT_STAGES,
  STAGE_NAMES,
  buildFigures,
  deriveNotes,
  renderTable,
  writeReport,
  type BenchReport,
  type StageName,
  type StageOutcome,
  type StageResults,
} from './report.ts';
import { createScope, forkWorker, removeDir, startReaper, type ForkOptions, type Reaper, type Scope, type WorkerApi } from './runtime.ts';
import { runE2e } from './stages/e2e.ts';
import { runInfluxCeiling } from './stages/influx-ceiling.ts';
import { runLatency } from './stages/latency.ts';
import { runMemory } from './stages/memory.ts';
import { runPubSub, type BrokerVariant, type PubSubResult } from './stages/pubsub.ts';
import { runQueries } from './stages/queries.ts';
import { runConformance } from './stages/conformance.ts';
import { runCluster } from './stages/cluster.ts';
import { deviceId, deviceSpecs } from './stages/shared.ts';
import { prepareSecurity, type SecuritySetup } from './sut/security.ts';
import { machineInfo } from './system.ts';

const ROOT = join(import.meta.dirname, '..');

const OptionsSchema = z
  .object({
    profile: z.enum(['smoke', 'quick', 'full']).default('full'),
    quick: z.boolean().default(false),
    out: z.string().min(1).default('bench-results/latest.json'),
    stages: z
      .string()
      .default(DEFAULT_STAGES.join(','))
      .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
      .pipe(z.array(z.enum(STAGE_NAMES)).min(1, 'name at least one stage')),
    security: z.enum(['auth', 'open']).default('auth').describe('auth = measure with authentication when the project has it'),
    e2eRate: z.coerce.number().int().min(0).default(0).describe('QoS 1 offered rate; 0 = search for the sustainable one'),
    e2eQos0Rate: z.coerce.number().int().min(0).default(0).describe('QoS 0 offered rate; 0 = what QoS 1 sustained'),
    latencyClient: z.enum(['wire', 'socket.io-client']).default('wire'),
    cluster: z.boolean().default(false).describe('add the cluster stage (Redis; 1 and 2 nodes of each service)'),
    help: z.boolean().default(false),
  })
  .transform((o) => ({
    ...o,
    profile: o.quick ? ('quick' as const) : o.profile,
    stages: o.cluster && !o.stages.includes('cluster') ? [...o.stages, 'cluster' as const] : o.stages,
  }));
type Options = z.infer<typeof OptionsSchema>;

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      profile: { type: 'string' },
      quick: { type: 'boolean' },
      out: { type: 'string' },
      stages: { type: 'string' },
      security: { type: 'string' },
      'e2e-rate': { type: 'string' },
      'e2e-qos0-rate': { type: 'string' },
      'latency-client': { type: 'string' },
      cluster: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  const result = OptionsSchema.safeParse({
    profile: values.profile,
    quick: values.quick,
    out: values.out,
    stages: values.stages,
    security: values.security,
    e2eRate: values['e2e-rate'],
    e2eQos0Rate: values['e2e-qos0-rate'],
    latencyClient: values['latency-client'],
    cluster: values.cluster,
    help: values.help,
  });
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  --${String(i.path[0] ?? '?').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}: ${i.message}`);
    throw new UsageError(`invalid options:\n${lines.join('\n')}`);
  }
  return result.data;
}

class UsageError extends Error {}

const USAGE = `usage: npm run bench -- [--quick | --profile smoke|quick|full] [--out path] [--stages ${STAGE_NAMES.join(',')}]
                        [--security auth|open] [--e2e-rate readings/s] [--e2e-qos0-rate readings/s]
                        [--latency-client wire|socket.io-client] [--cluster]
  --cluster adds the cluster stage (not run by default): QoS 1 end to end with Redis, 1 and 2 nodes of each service`;

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function packageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function influxdVersion(): string {
  const binary = findInfluxd();
  if (!binary) return 'not installed';
  const out = spawnSync(binary, ['version'], { encoding: 'utf8' }).stdout ?? '';
  return /v(\d[^\s]*)/.exec(out)?.[1] ?? 'unknown';
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : Math.round((sorted[mid - 1]! + sorted[mid]!) / 2);
}

async function main(): Promise<number> {
  let options: Options;
  try {
    options = parseOptions(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
    return 2;
  }
  if (options.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const profile: Profile = PROFILES[options.profile];
  const outPath = resolve(ROOT, options.out);
  const startedAt = new Date();
  const machine = machineInfo();
  const activeScopes = new Set<Scope>();
  const root = createScope();
  activeScopes.add(root);
  let reaper: Reaper | undefined;

  // Ctrl-C / SIGTERM: stop whatever is running (children, brokers, influxd, temp dirs); the
  // stage in progress then fails, the rest are skipped, and the partial report is written.
  // A second signal, or a bench that does not wind down in 30 s, exits at once (the reaper
  // still removes what is left).
  let aborted: NodeJS.Signals | undefined;
  const abort = (signal: NodeJS.Signals) => {
    if (aborted) process.exit(130);
    aborted = signal;
    log(`${signal}: stopping everything the bench started…`);
    setTimeout(() => process.exit(130), 30_000).unref();
    void (async () => {
      for (const scope of [...activeScopes].reverse()) if (scope !== root) await scope.close();
    })();
  };
  process.on('SIGINT', abort);
  process.on('SIGTERM', abort);

  const stages: Record<string, StageOutcome> = {};
  const results: StageResults = {};
  let security: SecuritySetup | undefined;
  // Every pid the bench starts, to prove at the end that none outlives it.
  const started = new Set<number>();
  try {
    reaper = await startReaper();
    const reap = reaper;
    const r = {
      track(pid: number, alive: boolean) {
        if (alive) started.add(pid);
        reap.track(pid, alive);
      },
      trackDir: (dir: string, present: boolean) => reap.trackDir(dir, present),
    };
    log(`profile ${profile.name}; stages ${options.stages.join(', ')}; results → ${outPath}`);

    const influx = await startInfluxServer({});
    if (influx.pid !== undefined) r.track(influx.pid, true);
    r.trackDir(influx.dataDir, true);
    root.defer(async () => {
      await influx.stop();
      if (influx.pid !== undefined) r.track(influx.pid, false);
      r.trackDir(influx.dataDir, false);
    });
    log(`InfluxDB ${influxdVersion()} at ${influx.url}`);

    const securityDir = await mkdtemp(join(tmpdir(), 'streetlab-bench-security-'));
    r.trackDir(securityDir, true);
    root.defer(async () => {
      await removeDir(securityDir);
      r.trackDir(securityDir, false);
    });
    // Every device id a stage publishes as (all kinds, and the all-air pub/sub fleet).
    const deviceCount = Math.max(profile.e2e.devices, profile.latency.devices, profile.cluster.devices);
    const devices = [...deviceSpecs(deviceCount), ...Array.from({ length: profile.ceilings.publishers }, (_, i) => ({ id: deviceId(i, 'air'), kind: 'air' as const }))];
    const unique = [...new Map(devices.map((d) => [d.id, d])).values()];
    const sec = await prepareSecurity(options.security, securityDir, unique);
    security = sec;
    log(`security: ${sec.detail}`);

    const baseContext = (scope: Scope): BenchContext => ({
      profile,
      influx: { url: influx.url, pid: influx.pid },
      security: sec,
      scope,
      async fork<Api extends WorkerApi, Info = unknown>(script: URL, forkOptions: ForkOptions) {
        const worker = await forkWorker<Api, Info>(script, { ...forkOptions, track: (pid, alive) => r.track(pid, alive) });
        scope.defer(() => worker.stop());
        return worker;
      },
      track: (pid, alive) => r.track(pid, alive),
      trackDir: (dir, present) => r.trackDir(dir, present),
      scoped: (fn) => scoped(fn),
      log,
    });

    /** Runs `fn` with its own scope: everything it starts is stopped when it returns. */
    const scoped = async <T>(fn: (ctx: BenchContext) => Promise<T>): Promise<T> => {
      const scope = createScope();
      activeScopes.add(scope);
      try {
        return await fn(baseContext(scope));
      } finally {
        const errors = await scope.close();
        activeScopes.delete(scope);
        for (const e of errors) log(`cleanup: ${e}`);
      }
    };

    const runners: Record<StageName, () => Promise<void>> = {
      async e2e() {
        const e = profile.e2e;
        const search = { startPerS: e.searchStartPerS, stepSeconds: e.searchStepSeconds, maxSteps: e.searchMaxSteps };
        const base = { devices: e.devices, window: e.window };
        const fixed = options.e2eRate > 0 ? options.e2eRate : undefined;
        const qos1 = await scoped((ctx) => runE2e(ctx, { ...base, qos: 1, topology: 'split', seconds: e.qos1Seconds, ratePerS: fixed, search }));
        log(`  QoS 1: ${qos1.readingsPerS.toLocaleString('en')} readings/s stored, lost ${qos1.lost}`);
        const qos0Rate = options.e2eQos0Rate > 0 ? options.e2eQos0Rate : Math.max(100, qos1.readingsPerS);
        const qos0 = await scoped((ctx) => runE2e(ctx, { ...base, qos: 0, topology: 'split', seconds: e.qos0Seconds, ratePerS: qos0Rate, search }));
        log(`  QoS 0: ${qos0.readingsPerS.toLocaleString('en')} readings/s stored, lost ${qos0.lost}`);
        // The one-process search starts at half the split one's rate: fewer steps to the answer.
        // Without a search (quick), it is offered what the split topology sustained.
        const labSearch = { ...search, startPerS: Math.max(1_000, Math.round(qos1.offeredPerS / 2)) };
        const labRate = fixed ?? (e.labSearch ? undefined : qos1.offeredPerS);
        const lab = await scoped((ctx) => runE2e(ctx, { ...base, qos: 1, topology: 'lab', seconds: e.labSeconds, ratePerS: labRate, search: labSearch }));
        log(`  QoS 1, one process: ${lab.readingsPerS.toLocaleString('en')} readings/s stored, lost ${lab.lost}`);
        results.e2e = { qos1, qos0, lab };
      },
      async brokers() {
        const c = profile.ceilings;
        const variants: BrokerVariant[] = ['ours-open', 'mosquitto-open'];
        if (sec.mode === 'auth') variants.push('ours-auth', 'mosquitto-auth');
        const runs: PubSubResult[] = [];
        for (let round = 0; round < c.rounds; round += 1) {
          for (const variant of variants) {
            log(`brokers: ${variant} (round ${round + 1}/${c.rounds}), ${c.publishers} publishers + 1 subscriber, ${c.pubsubSeconds} s`);
            const run = await scoped((ctx) =>
              runPubSub(ctx, { variant, seconds: c.pubsubSeconds, warmupSeconds: c.pubsubWarmupSeconds, publishers: c.publishers, window: c.window }),
            );
            log(`  ${variant}: ${run.msgPerS.toLocaleString('en')} msg/s, ${run.brokerCpuUsPerMsg} µs broker CPU per message`);
            runs.push(run);
          }
        }
        const rate = (variant: BrokerVariant) => median(runs.filter((r) => r.variant === variant).map((r) => r.msgPerS));
        const peerMode = sec.mode;
        results.brokers = {
          runs,
          oursOpen: rate('ours-open'),
          mosquittoOpen: rate('mosquitto-open'),
          oursPeer: rate(peerMode === 'auth' ? 'ours-auth' : 'ours-open'),
          mosquittoPeer: rate(peerMode === 'auth' ? 'mosquitto-auth' : 'mosquitto-open'),
          peerMode,
        };
      },
      async 'influx-ceiling'() {
        const result = await scoped((ctx) => runInfluxCeiling(ctx));
        log(`  InfluxDB: ${result.pointsPerS.toLocaleString('en')} points/s`);
        results['influx-ceiling'] = result;
      },
      async latency() {
        const result = await scoped((ctx) => runLatency(ctx, options.latencyClient));
        log(`  p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, max ${result.maxMs} ms (${result.samples.toLocaleString('en')} deliveries)`);
        results.latency = result;
      },
      async memory() {
        const result = await scoped((ctx) => runMemory(ctx));
        log(`  ${result.mbPer1000} MB per 1,000 idle devices (${result.devices} devices)`);
        results.memory = result;
      },
      async conformance() {
        const result = runConformance({ publishes: profile.name === 'smoke' ? 20_000 : 200_000 });
        log(`  front door: ${result.nsPerPublish} ns of CPU per PUBLISH (${result.publishes.toLocaleString('en')} publishes, median of ${result.rounds})`);
        results.conformance = result;
      },
      async cluster() {
        const result = await scoped((ctx) => runCluster(ctx, { ratePerS: options.e2eRate > 0 ? options.e2eRate : undefined }));
        log(`  cluster: 1 node ${result.one.readingsPerS.toLocaleString('en')}/s, 2 nodes ${result.two.readingsPerS.toLocaleString('en')}/s (×${result.scaling}); lost ${result.one.lost} and ${result.two.lost}`);
        results.cluster = result;
      },
      async queries() {
        const result = await scoped((ctx) => runQueries(ctx));
        log(`  aggregate p95 ${result.aggregate.p95Ms} ms, export ${result.export.rowsPerS.toLocaleString('en')} rows/s`);
        results.queries = result;
      },
    };

    // Order: the pipeline first, on a fresh InfluxDB; the write ceiling (which fills and
    // drops a database) after it; the query store in its own InfluxDB; the cluster (only with
    // --cluster or --stages cluster) last, each of its configurations with its own Redis.
    for (const name of STAGE_NAMES) {
      if (!options.stages.includes(name) || aborted) continue;
      const t0 = performance.now();
      log(`stage ${name}…`);
      try {
        await runners[name]();
        stages[name] = { ok: true, seconds: Math.round((performance.now() - t0) / 100) / 10 };
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        stages[name] = { ok: false, seconds: Math.round((performance.now() - t0) / 100) / 10, error: message.split('\n')[0]! };
        log(`stage ${name} FAILED: ${message}`);
      }
    }

  } finally {
    for (const e of await root.close()) log(`cleanup: ${e}`);
    activeScopes.delete(root);
    await reaper?.close();
  }

  // Belt and braces: anything the bench started that is still alive now is a bench bug.
  const leftAlive = [...started].filter(isAlive);
  for (const pid of leftAlive) {
    log(`cleanup: process ${pid} outlived its stage; killing it`);
    process.kill(pid, 'SIGKILL');
  }
  if (!security) throw new Error('the bench stopped before it could run a stage');

  const finishedAt = new Date();
  const report: BenchReport = {
    schema: 1,
    profile: profile.name,
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    seconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
    machine: { ...machine, loadAverage1mAtEnd: machineInfo().loadAverage1m },
    versions: {
      aedes: packageVersion('aedes'),
      mqtt: packageVersion('mqtt'),
      'socket.io': packageVersion('socket.io'),
      '@influxdata/influxdb-client': packageVersion('@influxdata/influxdb-client'),
      influxdb: influxdVersion(),
      mosquitto: mosquittoVersion(),
      ...(results.cluster ? { redis: results.cluster.redisVersion } : {}),
    },
    security: { mode: security.mode, detail: security.detail },
    notes: [...(aborted ? [`Aborted by ${aborted}: stages after the interrupted one did not run.`] : []), ...deriveNotes(results, security, machine.loadAverage1m, machine.cores)],
    figures: buildFigures(results),
    stages,
    details: results,
    cleanup: { processesStarted: started.size, leftAlive },
  };
  await writeReport(outPath, report);
  process.stdout.write(`\n${renderTable(report)}\n\nJSON: ${outPath}\n`);
  if (aborted) return 130;
  return Object.values(stages).every((s) => s.ok) && leftAlive.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
