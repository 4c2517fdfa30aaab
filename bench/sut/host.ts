/**
 * Entry point of a system-under-test process: hosts any of the broker (with its edge), the
 * ingest worker and the API, built with the project's own factories exactly as their
 * `main.ts` files build them:
 * - broker: `createEdge({ logDir, fsync, lookupTags, … })`, the policy around it
 *   (`createBrokerPolicy({ registry, serviceToken, edge, … })`, broker/auth.ts), then
 *   `createBroker({ edge, policy })`; in open mode `createBroker({ edge })`;
 * - ingest: `createIngest({ logDir, influx })`, reading the broker's log from its checkpoint;
 * - API: `createApiServer(…)` with the live hub on the broker as `svc:api`.
 * With a Redis URL the broker and the API are cluster nodes (REDIS_URL in their main.ts).
 * One host with all three is `npm run lab`'s topology (ingest first, and the edge wakes it on
 * every commit: `onCommit: () => ingest.wake()`); separate hosts are the services deployed as
 * processes, the broker and ingest sharing one log directory.
 *
 * Each host keeps what its services log at `warn` and above (counted, with the first lines),
 * so the bench can report trouble in the pipeline under load.
 */
import { Writable } from 'node:stream';
import type { Broker } from '../../broker/broker.ts';
import type { Edge } from '../../broker/edge.ts';
import type { Ingest } from '../../ingest/ingest.ts';
import type { ApiServer } from '../../api/server.ts';
import { createLogger, type Logger } from '../../common/logger.ts';
import { createMetricsRegistry } from '../../common/metrics.ts';
import { serveWorker } from '../runtime.ts';
import { readRssBytes } from '../system.ts';
import { buildBrokerSecurity, type BrokerSecurity, type BrokerSecurityPlan, type Credentials } from './security.ts';

export interface InfluxTarget {
  url: string;
  database: string;
}

export interface HostConfig {
  /**
   * The broker and its edge, appending to the log in `logDir`. With `redisUrl`, a cluster node
   * as broker/main.ts builds it with REDIS_URL: Aedes on `createClusterEngines(redisUrl)` (mq and
   * persistence in Redis) and the device registry read from Redis.
   */
  broker?: { security: BrokerSecurityPlan; logDir: string; redisUrl?: string | undefined };
  /** The ingest worker, draining the log in `logDir` (the broker's, in this host or another). */
  ingest?: { logDir: string; influx: InfluxTarget };
  /** mqttUrl omitted = the broker in this host. With `redisUrl`, an API node of a cluster (`cluster: { redisUrl }`, as api/main.ts with REDIS_URL). */
  api?: { mqttUrl?: string; influx: InfluxTarget; credentials?: Credentials | undefined; redisUrl?: string | undefined };
}

export interface HostLogs {
  warnings: number;
  errors: number;
  /** The first lines logged at warn and above, and how often each message came. */
  samples: string[];
  byMessage: Record<string, number>;
}

/** Sums from the services' own metrics (the ones `GET /metrics` shows), over the host's life. */
export interface HostMetrics {
  /** The edge's group commits (one write + fdatasync each), records in them, seconds spent in them. */
  edgeCommits: number | undefined;
  edgeCommitRecords: number | undefined;
  edgeCommitSeconds: number | undefined;
  /** Ingest's InfluxDB writes and the seconds they took. */
  ingestWrites: number | undefined;
  ingestWriteSeconds: number | undefined;
}

export interface HostStats {
  pid: number;
  rssBytes: number;
  brokerClients: number | undefined;
  edge: ReturnType<Edge['counters']> | undefined;
  logBytes: number | undefined;
  ingest: ReturnType<Ingest['counters']> | undefined;
  backlog: ReturnType<Ingest['backlog']> | undefined;
  writer: ReturnType<Ingest['writer']> | undefined;
  api: ReturnType<ApiServer['hub']['stats']> | undefined;
  logs: HostLogs;
  metrics: HostMetrics;
}

let broker: Broker | undefined;
let edge: Edge | undefined;
let security: BrokerSecurity | undefined;
let ingest: Ingest | undefined;
let api: ApiServer | undefined;

// ---- warn and above, kept for the report
const logs: HostLogs = { warnings: 0, errors: 0, samples: [], byMessage: {} };
const MAX_SAMPLES = 20;
const sink = new Writable({
  write(chunk: Buffer, _encoding, callback) {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (!line) continue;
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string; name?: string; service?: string };
        if ((entry.level ?? 0) >= 50) logs.errors += 1;
        else logs.warnings += 1;
        const key = `${entry.name ?? '?'}: ${entry.msg ?? ''}`;
        logs.byMessage[key] = (logs.byMessage[key] ?? 0) + 1;
      } catch {
        logs.warnings += 1;
      }
      if (logs.samples.length < MAX_SAMPLES) logs.samples.push(line.slice(0, 500));
    }
    callback();
  },
});
const logger = (name: string): Logger => createLogger({ level: 'warn', name, destination: sink });
// One registry per process, as each main.ts has.
const metrics = createMetricsRegistry();

async function metricSums(): Promise<HostMetrics> {
  const text = await metrics.render();
  const value = (name: string): number | undefined => {
    let total: number | undefined;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const rest = line.slice(name.length);
      if (rest[0] !== ' ' && rest[0] !== '{') continue;
      total = (total ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  };
  return {
    edgeCommits: value('streetlab_edge_log_commit_seconds_count'),
    edgeCommitRecords: value('streetlab_edge_log_commit_records_sum'),
    edgeCommitSeconds: value('streetlab_edge_log_commit_seconds_sum'),
    ingestWrites: value('streetlab_ingest_write_seconds_count'),
    ingestWriteSeconds: value('streetlab_ingest_write_seconds_sum'),
  };
}

// Each service's modules are loaded only when this host runs it: a broker-only process
// holds what `npm run broker` holds, which matters for the memory stage's baseline.
const hostApi = {
  async start(config: HostConfig) {
    if (config.ingest) {
      // As ingest/main.ts: the log directory and InfluxDB, nothing else (no MQTT). In the lab
      // topology it starts before the edge, as lab/lab.ts does.
      const { createIngest } = await import('../../ingest/ingest.ts');
      const { createInfluxClient } = await import('../../common/influx.ts');
      const c = config.ingest;
      ingest = createIngest({ logDir: c.logDir, influx: createInfluxClient({ url: c.influx.url, database: c.influx.database }), metrics, logger: logger('ingest') });
      await ingest.ready;
    }
    if (config.broker) {
      const { createBroker } = await import('../../broker/broker.ts');
      const { createEdge } = await import('../../broker/edge.ts');
      const c = config.broker;
      if (config.ingest && config.ingest.logDir !== c.logDir) throw new Error('broker and ingest in one host must share the log directory');
      // The registry is opened before the edge (its tags go into every line), the policy after it.
      security = await buildBrokerSecurity(c.security, c.redisUrl);
      edge = await createEdge({
        logDir: c.logDir,
        // broker/main.ts's defaults: LOG_FSYNC=true, 1 GiB bound, 16 MiB segments, default parse limits.
        fsync: true,
        ...(security ? { lookupTags: security.lookupTags } : {}),
        ...(ingest ? { onCommit: () => ingest!.wake() } : {}),
        metrics,
        logger: logger('edge'),
      });
      const policy = security?.policyFor(edge);
      const cluster = c.redisUrl ? (await import('../../broker/cluster.ts')).createClusterEngines(c.redisUrl, { logger: logger('cluster') }) : undefined;
      broker = await createBroker({ port: 0, edge, ...(policy ? { policy } : {}), ...(cluster ? { mq: cluster.mq, persistence: cluster.persistence } : {}), logger: logger('broker') });
    }
    if (config.api) {
      const { createApiServer } = await import('../../api/server.ts');
      const { createInfluxClient } = await import('../../common/influx.ts');
      const c = config.api;
      const mqttUrl = c.mqttUrl ?? broker?.url;
      if (!mqttUrl) throw new Error('no mqttUrl given and no broker in this host');
      api = await createApiServer({
        port: 0,
        // Read routes and the live feed open, as `npm run lab` runs them (PUBLIC_READ=true):
        // the bench's dashboard clients and research queries carry no API key.
        publicRead: true,
        influx: createInfluxClient({ url: c.influx.url, database: c.influx.database }),
        mqttUrl,
        mqttUsername: c.credentials?.username,
        mqttPassword: c.credentials?.password,
        ...(c.redisUrl ? { cluster: { redisUrl: c.redisUrl } } : {}),
        logger: logger('api'),
      });
      // The API no longer waits for the broker to start; the bench does, so live clients are
      // not told to retry in the middle of a measurement.
      await withTimeout(api.hub.ready, 15_000, 'the API did not subscribe to the live feed within 15 s');
    }
    return { pid: process.pid, mqttUrl: broker?.url, apiUrl: api?.url };
  },

  async stats(): Promise<HostStats> {
    return {
      pid: process.pid,
      rssBytes: readRssBytes(),
      brokerClients: broker?.connectedClients(),
      edge: edge?.counters(),
      logBytes: edge?.depth().bytes,
      ingest: ingest?.counters(),
      backlog: ingest?.backlog(),
      writer: ingest?.writer(),
      api: api?.hub.stats(),
      logs: { ...logs, samples: [...logs.samples], byMessage: { ...logs.byMessage } },
      metrics: await metricSums(),
    };
  },

  /** Full GC (the host runs with --expose-gc for memory measurements), then RSS. */
  async gc() {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 200));
      gc();
    }
    return { rssBytes: readRssBytes(), exposed: gc !== undefined };
  },

  async flush() {
    await ingest?.flush();
  },

  async close() {
    await api?.close();
    // The broker closes its edge (what it holds becomes durable) before ingest stops reading.
    await broker?.close();
    await ingest?.close();
    await security?.close();
  },
};

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]).finally(() => clearTimeout(timer));
}

export type HostApi = typeof hostApi;

serveWorker(hostApi, { pid: process.pid });
