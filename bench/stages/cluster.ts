/**
 * `--cluster`: the QoS 1 end-to-end measurement of stages/e2e.ts (same devices, rate search,
 * exact count and CPU accounting, auth on as in e2e) in cluster mode, on this one machine:
 * 1. one node of each service with REDIS_URL set — the broker on `createClusterEngines`
 *    (every publish through Redis, sessions in Redis), the registry read from Redis, the API
 *    with `cluster: { redisUrl }` — so the Redis cost is in the figure;
 * 2. two nodes of each service: two broker hosts (each with its own log), two ingest hosts
 *    (each on its node's log), two API hosts (each on its node's broker), the devices split
 *    evenly over the two brokers.
 * Each configuration gets a private redis-server (`startRedisServer`), stopped with it. CPU
 * per stored reading is reported for every StreetLab process and their sum; Redis, InfluxDB
 * and the load generator apart.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { findRedisServer, startRedisServer } from '../../common/redis-server.ts';
import type { BenchContext } from '../context.ts';
import { seedRegistryInRedis } from '../sut/security.ts';
import { runE2e, type E2eResult } from './e2e.ts';

export interface ClusterResult {
  /** One node of each service, with Redis. */
  one: E2eResult;
  /** Two nodes of each service, with Redis. */
  two: E2eResult;
  /** Stored readings/s with two nodes ÷ with one. */
  scaling: number;
  redisVersion: string;
}

export function redisVersion(): string {
  const binary = findRedisServer();
  if (!binary) return 'not installed';
  const out = spawnSync(binary, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  return /v=(\S+)/.exec(out)?.[1] ?? 'unknown';
}

/**
 * The pid of the redis-server this process started on `port` (common/redis-server.ts does not
 * expose it): a child of this process whose title names the port.
 */
function findRedisPid(port: number): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes('redis-server') && (cmdline.includes(`:${port}`) || cmdline.includes(`--port ${port}`))) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

export interface ClusterOptions {
  /** A fixed offered rate for both configurations; undefined = search (the profile's, or `--e2e-rate`). */
  ratePerS: number | undefined;
}

/** One configuration: a fresh Redis (registry copied into it), `nodes` nodes of each service. */
async function runNodes(ctx: BenchContext, nodes: number, ratePerS: number | undefined, startPerS: number): Promise<E2eResult> {
  const c = ctx.profile.cluster;
  const redis = await startRedisServer();
  const pid = findRedisPid(redis.port);
  if (pid !== undefined) ctx.track(pid, true);
  ctx.trackDir(redis.dir, true);
  ctx.scope.defer(async () => {
    await redis.stop();
    if (pid !== undefined) ctx.track(pid, false);
    ctx.trackDir(redis.dir, false);
  });
  ctx.log(`cluster: redis-server at ${redis.url} (pid ${pid ?? '?'}), ${nodes} node(s) of each service`);
  await seedRegistryInRedis(ctx.security.plan, redis.url);
  return runE2e(ctx, {
    qos: 1,
    topology: 'split',
    seconds: c.seconds,
    devices: c.devices,
    window: c.window,
    ratePerS,
    search: { startPerS, stepSeconds: c.searchStepSeconds, maxSteps: c.searchMaxSteps },
    cluster: { nodes, redisUrl: redis.url, redisPid: pid },
  });
}

export async function runCluster(ctx: BenchContext, options: ClusterOptions): Promise<ClusterResult> {
  const c = ctx.profile.cluster;
  const fixed = options.ratePerS ?? c.ratePerS;
  const one = await ctx.scoped((s) => runNodes(s, 1, fixed, c.searchStartPerS));
  ctx.log(`  cluster, 1 node of each: ${one.readingsPerS.toLocaleString('en')} readings/s stored, lost ${one.lost}, StreetLab ${one.cpuUsPerReading.streetlab} µs CPU per reading`);
  // Two nodes: the search starts at three quarters of what one node held (fewer steps).
  const one75 = Math.max(1_000, Math.round(one.offeredPerS * 0.75));
  const two = await ctx.scoped((s) => runNodes(s, 2, fixed, fixed === undefined ? one75 : c.searchStartPerS));
  ctx.log(`  cluster, 2 nodes of each: ${two.readingsPerS.toLocaleString('en')} readings/s stored, lost ${two.lost}, StreetLab ${two.cpuUsPerReading.streetlab} µs CPU per reading`);
  return { one, two, scaling: one.readingsPerS > 0 ? Math.round((two.readingsPerS / one.readingsPerS) * 100) / 100 : Number.NaN, redisVersion: redisVersion() };
}
