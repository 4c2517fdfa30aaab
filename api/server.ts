/**
 * The API process: the fastify app (api/app.ts) on a port with its plugins — socket.io and
 * the live hub on the same server, research rollups, alerting, jobs, trials — each closed by
 * `app.close()` in reverse order of registration (api/plugins/).
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { InfluxClient } from '../common/influx.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { createMetricsRegistry, registerProcessMetrics, type MetricsRegistry } from '../common/metrics.ts';
import type { DeviceRegistry } from '../common/registry/types.ts';
import type { Alerting, AlertingOptions } from './alerts/index.ts';
import { buildApp, type AppOptions } from './app.ts';
import type { KindCatalogue } from '../common/kinds/index.ts';
import type { IntegrationStore } from '../common/registry/integrations.ts';
import type { ResearchOptions } from './jobs/research.ts';
import { createScheduler, type Scheduler } from './jobs/scheduler.ts';
import { createLease } from '../common/lease.ts';
import { DEVICE_EVENTS_ROOM, withLabRooms, type LiveHub, type LiveServer } from './live-hub.ts';
import { alertingOf } from './plugins/alerting.ts';
import { liveOf, type Live } from './plugins/live.ts';
import { createReadingStore } from './store.ts';

export { DEFAULT_TRIAL_SUMMARY_SCHEDULE } from './plugins/trials.ts';

export interface ApiServerOptions {
  host?: string;
  /** 0 = a free port. */
  port?: number;
  influx: InfluxClient;
  mqttUrl: string;
  mqttUsername?: string | undefined;
  mqttPassword?: string | undefined;
  dashboardDir?: string | undefined;
  corsOrigins?: string[];
  /** Device registry (devices and API keys); without it there are no device or key routes. */
  registry?: DeviceRegistry | undefined;
  /** Network-server integrations (/api/v1/integrations); the caller opens and closes it. */
  integrations?: IntegrationStore | undefined;
  /** EDGE_HTTP_URL: device readings and uplinks are passed on to the broker's HTTP ingestion listener. */
  edgeHttpUrl?: string | undefined;
  /** The kind catalogue (common/kinds/): /api/v1/kinds; the caller opens and closes it. */
  kinds?: KindCatalogue | undefined;
  /** ADMIN_TOKEN: the root credential for admin routes. */
  adminToken?: string | undefined;
  /** PUBLIC_READ: read routes and the live feed without credentials. Default false. */
  publicRead?: boolean;
  /** Requests per client per window (RATE_LIMIT_MAX / RATE_LIMIT_WINDOW_MS); false = none. */
  rateLimit?: { max: number; timeWindowMs: number } | false;
  bodyLimitBytes?: number;
  /** Research API: query limits, rollup job and retention (default: rollups on, 30 d raw / 5 y rollups). */
  research?: ResearchOptions | undefined;
  logger?: Logger;
  /** Prometheus registry for GET /metrics (default: a fresh one with process metrics). */
  metrics?: MetricsRegistry;
  /** Alert rules, evaluation, delivery and their jobs (api/alerts/); false = off. Default: on, in memory. */
  alerts?: AlertingOptions | false | undefined;
  /** Trials (api/trials/store.ts) and the report's limits; needs `registry`. */
  trials?: AppOptions['trials'];
  /**
   * Cluster mode (REDIS_URL): socket.io rooms shared through Redis, and the jobs and alert
   * evaluation run on one API node at a time, the holder of a lease in Redis.
   */
  cluster?: { redisUrl: string; leaseTtlMs?: number; nodeId?: string } | undefined;
  /** The dashboard's street map: tile server and attribution (default OpenStreetMap's). */
  map?: AppOptions['map'];
  /** The open data's licence and attribution (DATA_LICENCE, DATA_ATTRIBUTION); default CC-BY-4.0. */
  licence?: AppOptions['licence'];
  /** The default lab (LAB_ID, LAB_NAME, LAB_AREA): created on start unless it exists. */
  defaultLab?: AppOptions['defaultLab'];
}

export interface ApiServer {
  app: FastifyInstance;
  io: LiveServer;
  hub: LiveHub;
  /** Scheduled jobs (GET /api/v1/jobs); `registerJob` adds one, e.g. a daily trial summary. */
  scheduler: Scheduler;
  /** Alerting, unless turned off. */
  alerts: Alerting | undefined;
  /** This node runs the jobs and evaluates alerts now (always true without cluster mode). */
  leader(): boolean;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function createApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const log = options.logger ?? createSilentLogger();
  const { influx } = options;
  const lease = options.cluster
    ? createLease({
        redisUrl: options.cluster.redisUrl,
        key: 'streetlab:lease:api-jobs',
        ...(options.cluster.leaseTtlMs ? { ttlMs: options.cluster.leaseTtlMs } : {}),
        ...(options.cluster.nodeId ? { holderId: options.cluster.nodeId } : {}),
        logger: log.child({ component: 'lease' }),
      })
    : undefined;
  const leader = () => lease?.held() ?? true;
  const scheduler = createScheduler({ logger: log.child({ component: 'jobs' }), shouldRun: leader });
  // Read at scrape time and by the readiness check: set once the app is built.
  let live: Live | undefined;
  let alerting: Alerting | undefined;
  const metrics = options.metrics ?? createMetricsRegistry();
  if (!options.metrics) registerProcessMetrics(metrics);
  metrics.gauge({ name: 'streetlab_api_socketio_clients', help: 'socket.io clients connected (live feed).', collect: () => live?.io.engine.clientsCount ?? 0 });
  metrics.counter({ name: 'streetlab_api_live_events_forwarded', help: 'Live events forwarded from the broker to socket.io since start (a counter read at scrape time).', collect: () => live?.hub.stats().forwarded ?? 0 });
  metrics.counter({ name: 'streetlab_api_live_events_dropped', help: 'Live events dropped as malformed since start.', collect: () => live?.hub.stats().dropped ?? 0 });
  if (options.alerts !== false) {
    metrics.gauge({ name: 'streetlab_api_alerts_active', help: 'Alerts open right now.', collect: () => alerting?.engine.stats().active ?? 0 });
    metrics.counter({ name: 'streetlab_api_alert_webhook_failed', help: 'Alert events the webhook never accepted (attempts exhausted) since start.', collect: () => alerting?.webhook?.stats().failed ?? 0 });
  }
  metrics.gauge({ name: 'streetlab_api_jobs_lease_held', help: '1 while this API node runs the scheduled jobs and evaluates alerts (always 1 without cluster mode).', collect: () => (leader() ? 1 : 0) });
  metrics.gauge({ name: 'streetlab_api_broker_connected', help: '1 while the live feed is connected to the broker.', collect: () => (live?.hub.connected() ? 1 : 0) });
  const app = await buildApp({
    metrics,
    researchJob: { influx, research: options.research ?? {} },
    store: createReadingStore(influx),
    logger: log,
    dashboardDir: options.dashboardDir,
    registry: options.registry,
    integrations: options.integrations,
    edgeHttpUrl: options.edgeHttpUrl,
    kinds: options.kinds,
    live: {
      mqttUrl: options.mqttUrl,
      mqttUsername: options.mqttUsername,
      mqttPassword: options.mqttPassword,
      corsOrigins: options.corsOrigins,
      ...(options.cluster ? { redisUrl: options.cluster.redisUrl } : {}),
    },
    leader,
    ...(options.trials ? { trials: { ...options.trials, write: (lines: string[]) => influx.write(lines) } } : {}),
    ...(options.alerts === false ? {} : { alerts: options.alerts ?? {} }),
    jobs: scheduler,
    auth: { adminToken: options.adminToken, publicRead: options.publicRead ?? false },
    security: { corsOrigins: options.corsOrigins ?? [], ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }) },
    ...(options.bodyLimitBytes ? { bodyLimitBytes: options.bodyLimitBytes } : {}),
    ...(options.map ? { map: options.map } : {}),
    ...(options.licence ? { licence: options.licence } : {}),
    ...(options.defaultLab ? { defaultLab: options.defaultLab } : {}),
    // Every node sees registry changes itself: its own sockets only, the platform's and the device's lab's.
    onDeviceStatus: (status, lab) => live?.io.local.to(withLabRooms([DEVICE_EVENTS_ROOM], lab)).emit('device', status),
    readinessChecks: {
      influxdb: async () => ({ ok: await influx.ping() }),
      broker: async () => ({ ok: live?.hub.connected() ?? false }),
    },
  });
  live = liveOf(app)!;
  alerting = alertingOf(app);
  const host = options.host ?? '127.0.0.1';
  try {
    // Ready first: research applies retention, then the scheduler starts (plugin onReady hooks).
    await app.ready();
    await app.listen({ host, port: options.port ?? 8080 });
  } catch (error) {
    await app.close().catch(() => {});
    throw error;
  }
  const port = (app.server.address() as AddressInfo).port;
  log.info({ url: `http://${host}:${port}` }, 'api listening');
  let closing: Promise<void> | undefined;
  return {
    app,
    io: live.io,
    hub: live.hub,
    scheduler,
    alerts: alerting,
    leader,
    port,
    url: `http://${host}:${port}`,
    close() {
      closing ??= app.close().finally(() => lease?.close());
      return closing;
    },
  };
}
