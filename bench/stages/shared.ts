/**
 * Pieces several stages share: the simulated devices' payloads, InfluxDB housekeeping, and
 * starting the pipeline (broker, ingest, API) as separate processes or as one.
 */
import { buildReadingTopic, BUILT_IN_KINDS, type BuiltInKind, type ReadingKind } from '../../contracts/index.ts';
import type { BenchContext } from '../context.ts';
import type { DeviceConnectionSpec } from '../load/publisher.ts';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeDir, type WorkerHandle } from '../runtime.ts';
import type { HostApi, HostConfig, HostStats } from '../sut/host.ts';
import { readCpuTicks } from '../system.ts';

export const HOST_SCRIPT = new URL('../sut/host.ts', import.meta.url);
export const PUBLISHER_SCRIPT = new URL('../load/publisher.ts', import.meta.url);

/** Valid readings of each kind (contract v1), about the size of a real device's. */
export const BODIES: Record<BuiltInKind, string> = {
  air: '"pm1":8.1,"pm25":12.4,"pm10":20.3,"no2":41.2,"o3":30.5,"temperature":14.2,"humidity":61.5,"pressure":1012.3,"noise":58.1,"battery":87.5,"rssi":-71',
  traffic: '"period":60,"cars":42,"buses":3,"trucks":2,"bicycles":57,"pedestrians":31,"speed":34.5,"occupancy":12.5,"battery":90,"rssi":-65',
  waste: '"fill":47.5,"temperature":12.1,"lidOpen":false,"tilt":2.5,"weight":31.2,"battery":77,"rssi":-80',
};

export function deviceId(index: number, kind: ReadingKind = kindOf(index)): string {
  return `bench-${kind}-${index}`;
}

/** Devices cycle through the kinds, so every measurement and schema is exercised. */
export function kindOf(index: number): BuiltInKind {
  return BUILT_IN_KINDS[index % BUILT_IN_KINDS.length]!;
}

export function deviceSpecs(count: number): { id: string; kind: ReadingKind }[] {
  return Array.from({ length: count }, (_, i) => ({ id: deviceId(i), kind: kindOf(i) }));
}

/** Publisher connections for `count` devices, with their credentials when security is on. */
export function publisherDevices(ctx: BenchContext, count: number, allAir = false, withCredentials = true): DeviceConnectionSpec[] {
  return Array.from({ length: count }, (_, i) => {
    const kind = allAir ? 'air' : kindOf(i);
    const id = deviceId(i, kind);
    const credentials = withCredentials ? ctx.security.devices.get(id) : undefined;
    return { clientId: id, username: credentials?.username, password: credentials?.password, topic: buildReadingTopic(kind, id), body: BODIES[kind] };
  });
}

// ---------------------------------------------------------------- InfluxDB

export async function influxQuery(url: string, database: string | undefined, q: string, params?: Record<string, string | number>): Promise<unknown> {
  const form = new URLSearchParams({ q, epoch: 'ms' });
  if (database) form.set('db', database);
  if (params) form.set('params', JSON.stringify(params));
  const response = await fetch(`${url}/query`, { method: 'POST', body: form });
  const text = await response.text();
  if (!response.ok) throw new Error(`InfluxDB ${q.slice(0, 60)}: HTTP ${response.status} ${text.slice(0, 200)}`);
  const body = JSON.parse(text) as { results?: { error?: string }[] };
  const error = body.results?.find((r) => r.error)?.error;
  if (error) throw new Error(`InfluxDB ${q.slice(0, 60)}: ${error}`);
  return body;
}

export async function createDatabase(ctx: BenchContext, url: string, database: string): Promise<void> {
  await influxQuery(url, undefined, `CREATE DATABASE "${database}"`);
  // Dropped with the stage: its points would otherwise sit in influxd's cache and
  // compactions while later stages measure.
  ctx.scope.defer(async () => {
    await influxQuery(url, undefined, `DROP DATABASE "${database}"`);
  });
}

// ---------------------------------------------------------------- the pipeline

/**
 * A log directory for a broker's edge, owned by the bench: its processes are stopped, not
 * closed, so nothing else would remove it.
 */
export async function benchLogDir(ctx: BenchContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'streetlab-bench-log-'));
  ctx.trackDir(dir, true);
  ctx.scope.defer(async () => {
    await removeDir(dir);
    ctx.trackDir(dir, false);
  });
  return dir;
}

export type Topology = 'split' | 'lab';

export interface Pipeline {
  /** The (first) broker node's MQTT address. */
  mqtt: { host: string; port: number };
  /** Every broker node's MQTT address (one unless a cluster of several nodes). */
  mqttNodes: { host: string; port: number }[];
  apiUrl: string | undefined;
  brokerPid: number;
  hosts: WorkerHandle<HostApi>[];
  /** Stats of each host that answers within a few seconds, with its role (broker, ingest, api, lab; broker2, ingest2, api2 for a cluster's second node). */
  stats(): Promise<(HostStats & { role: string })[]>;
  /** CPU time (ticks) each process has used so far, by role; `extra` adds load generators. */
  cpuTicks(extra?: Record<string, number>): Record<string, number>;
}

/**
 * Cluster mode (REDIS_URL): `nodes` nodes of each service — broker n (its own log directory),
 * ingest n on that log, API n on broker n — all sharing the Redis at `redisUrl`, whose process
 * (`redisPid`) is accounted apart.
 */
export interface ClusterSetup {
  nodes: number;
  redisUrl: string;
  redisPid: number | undefined;
}

/** The role of service `service` on cluster node `node` (0-based): broker, broker2, broker3… */
export function nodeRole(service: 'broker' | 'ingest' | 'api', node: number): string {
  return node === 0 ? service : `${service}${node + 1}`;
}

/**
 * Starts the pipeline: `split` = broker, ingest and API each in its own process (the
 * services' own `npm run broker|ingest|api`); `lab` = all three in one (`npm run lab`).
 * With `cluster` (split only), that many nodes of each service sharing Redis.
 */
export async function startPipeline(ctx: BenchContext, options: { topology: Topology; database: string; api: boolean; cluster?: ClusterSetup | undefined }): Promise<Pipeline> {
  const influx = { url: ctx.influx.url, database: options.database };
  const { services } = ctx.security;
  const redisUrl = options.cluster?.redisUrl;
  const api = (mqttUrl?: string): NonNullable<HostConfig['api']> => ({ mqttUrl, influx, credentials: services.api, ...(redisUrl ? { redisUrl } : {}) });

  const startHost = async (name: string, config: HostConfig) => {
    const host = await ctx.fork<HostApi>(HOST_SCRIPT, { name, nodeFlags: sutNodeFlags() });
    const started = await host.call('start', config);
    return { host, started };
  };

  const roles: Record<string, number> = {};
  const hosts: WorkerHandle<HostApi>[] = [];
  const mqttUrls: string[] = [];
  let apiUrl: string | undefined;
  let brokerPid: number | undefined;
  if (options.topology === 'lab') {
    if (options.cluster) throw new Error('cluster mode runs the services as processes (split)');
    // The edge's log, shared by the broker (appends, fsyncs, acknowledges) and ingest (drains
    // it into InfluxDB): DATA_DIR/log of `npm run broker` and `npm run ingest`.
    const logDir = await benchLogDir(ctx);
    const { host, started } = await startHost('lab', { broker: { security: ctx.security.plan, logDir }, ingest: { logDir, influx }, ...(options.api ? { api: api() } : {}) });
    hosts.push(host);
    roles.lab = host.pid;
    mqttUrls.push(started.mqttUrl!);
    apiUrl = started.apiUrl;
    brokerPid = host.pid;
  } else {
    const nodes = options.cluster?.nodes ?? 1;
    for (let n = 0; n < nodes; n += 1) {
      // Each broker node has its log (LOG_DIR) and one ingest worker draining it.
      const logDir = await benchLogDir(ctx);
      const b = await startHost(nodeRole('broker', n), { broker: { security: ctx.security.plan, logDir, ...(redisUrl ? { redisUrl } : {}) } });
      hosts.push(b.host);
      roles[b.host.name] = b.host.pid;
      mqttUrls.push(b.started.mqttUrl!);
      brokerPid ??= b.host.pid;
      const i = await startHost(nodeRole('ingest', n), { ingest: { logDir, influx } });
      hosts.push(i.host);
      roles[i.host.name] = i.host.pid;
      if (options.api) {
        const a = await startHost(nodeRole('api', n), { api: api(b.started.mqttUrl!) });
        hosts.push(a.host);
        roles[a.host.name] = a.host.pid;
        apiUrl ??= a.started.apiUrl;
      }
    }
  }
  const mqttNodes = mqttUrls.map((u) => {
    const parsed = new URL(u);
    return { host: parsed.hostname, port: Number(parsed.port) };
  });
  return {
    mqtt: mqttNodes[0]!,
    mqttNodes,
    apiUrl,
    brokerPid: brokerPid!,
    hosts,
    async stats() {
      const answers = await Promise.all(
        hosts.map((h) =>
          h.call('stats', undefined, 10_000).then(
            (st) => ({ ...st, role: h.name }),
            () => undefined,
          ),
        ),
      );
      return answers.filter((a): a is HostStats & { role: string } => a !== undefined);
    },
    cpuTicks(extra = {}) {
      const ticks: Record<string, number> = {};
      for (const [role, pid] of Object.entries({ ...roles, ...extra })) ticks[role] = safeTicks(pid);
      if (ctx.influx.pid !== undefined) ticks.influxd = safeTicks(ctx.influx.pid);
      if (options.cluster?.redisPid !== undefined) ticks.redis = safeTicks(options.cluster.redisPid);
      return ticks;
    },
  };
}

/**
 * Extra node flags for the pipeline's service processes, from BENCH_SUT_NODE_ARGS (e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof`: a CPU profile of each service, written when its
 * process ends with the stage).
 */
export function sutNodeFlags(): string[] {
  return (process.env.BENCH_SUT_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
}

/**
 * Waits (up to `maxMs`) until InfluxDB uses less than a tenth of a core over half a second:
 * compactions of what an earlier run wrote would otherwise be charged to the next one.
 */
export async function waitInfluxQuiet(ctx: BenchContext, maxMs: number): Promise<number> {
  const pid = ctx.influx.pid;
  const started = performance.now();
  if (pid === undefined) return 0;
  let ticks = safeTicks(pid);
  while (performance.now() - started < maxMs) {
    await sleep(500);
    const now = safeTicks(pid);
    if (now - ticks < 5) break;
    ticks = now;
  }
  return Math.round(performance.now() - started);
}

export function safeTicks(pid: number): number {
  try {
    return readCpuTicks(pid);
  } catch {
    return Number.NaN;
  }
}

/** CPU used between two tick snapshots, as % of one core over `ms`. */
export function cpuPercent(before: Record<string, number>, after: Record<string, number>, ms: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [role, ticks] of Object.entries(after)) out[role] = Math.round(((ticks - (before[role] ?? ticks)) / 100 / (ms / 1000)) * 100);
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
