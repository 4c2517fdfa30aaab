/**
 * The API process: the fastify app on a port, socket.io on the same server, and the live
 * hub feeding it from the broker.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Server as SocketServer } from 'socket.io';
import type { InfluxClient } from '../common/influx.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { createMetricsRegistry, registerProcessMetrics, type MetricsRegistry } from '../common/metrics.ts';
import type { DeviceRegistry } from '../common/registry/types.ts';
import { buildApp, type AppOptions } from './app.ts';
import { createResearch, type ResearchOptions } from './jobs/research.ts';
import { createAuthenticator } from './plugins/auth.ts';
import { createLiveHub, roomsOf, type LiveHub, type LiveServer } from './live-hub.ts';
import { createScheduler, type Scheduler } from './jobs/scheduler.ts';
import { summariseTrialsDaily } from './trials/daily-summary.ts';

/** 00:15 every day: the UTC day before is complete by then, late store-and-forward aside. */
export const DEFAULT_TRIAL_SUMMARY_SCHEDULE = '15 0 * * *';
import { createAlerting, type Alerting, type AlertingOptions } from './alerts/index.ts';
import type { Alert } from '../contracts/index.ts';
import { createReadingStore } from './store.ts';

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
}

export interface ApiServer {
  app: FastifyInstance;
  io: LiveServer;
  hub: LiveHub;
  /** Scheduled jobs (GET /api/v1/jobs); `registerJob` adds one, e.g. a daily trial summary. */
  scheduler: Scheduler;
  /** Alerting, unless turned off. */
  alerts: Alerting | undefined;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function createApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const log = options.logger ?? createSilentLogger();
  const { influx } = options;
  let hub: LiveHub | undefined;
  let io: LiveServer | undefined;
  const auth = { adminToken: options.adminToken, publicRead: options.publicRead ?? false };
  const scheduler = createScheduler({ logger: log.child({ component: 'jobs' }) });
  const research = createResearch(influx, options.research ?? {}, { logger: log, registry: options.registry, scheduler });
  const registry = options.registry;
  const alerting =
    options.alerts === false
      ? undefined
      : await createAlerting(options.alerts ?? {}, {
          scheduler,
          logger: log,
          peekDevice: registry ? (id) => registry.peek(id) : undefined,
          listDevices: registry ? () => registry.list() : undefined,
          emit: (alert: Alert) => {
            const rooms = alert.deviceId === undefined ? ['all'] : alert.kind ? roomsOf(alert.kind, alert.deviceId) : ['all', `device:${alert.deviceId}`];
            io?.to(rooms).emit('alert', alert);
          },
        });
  if (options.trials && registry) {
    // Yesterday's figures for every device of every open trial, stored as `trial_daily`.
    const { store, maxReadingsPerDevice } = options.trials;
    scheduler.registerJob(
      'trial-daily-summary',
      options.trials.dailySummarySchedule ?? DEFAULT_TRIAL_SUMMARY_SCHEDULE,
      () =>
        summariseTrialsDaily({
          trials: store,
          report: { influx, lookupDevice: (id) => registry.get(id), maxReadingsPerDevice },
          write: (lines) => influx.write(lines),
          logger: log.child({ component: 'trial-daily-summary' }),
        }),
      { description: "yesterday's completeness, gaps, rejections and latency per device of every open trial (UTC day)" },
    );
  }
  const metrics = options.metrics ?? createMetricsRegistry();
  if (!options.metrics) registerProcessMetrics(metrics);
  metrics.gauge({ name: 'streetlab_api_socketio_clients', help: 'socket.io clients connected (live feed).', collect: () => io?.engine.clientsCount ?? 0 });
  metrics.gauge({ name: 'streetlab_api_live_events_forwarded', help: 'Live events forwarded from the broker to socket.io since start (a counter read at scrape time).', collect: () => hub?.stats().forwarded ?? 0 });
  metrics.gauge({ name: 'streetlab_api_live_events_dropped', help: 'Live events dropped as malformed since start.', collect: () => hub?.stats().dropped ?? 0 });
  if (alerting) {
    metrics.gauge({ name: 'streetlab_api_alerts_active', help: 'Alerts open right now.', collect: () => alerting.engine.stats().active });
    metrics.gauge({ name: 'streetlab_api_alert_webhook_failed', help: 'Alert events the webhook never accepted (attempts exhausted) since start.', collect: () => alerting.webhook?.stats().failed ?? 0 });
  }
  metrics.gauge({ name: 'streetlab_api_broker_connected', help: '1 while the live feed is connected to the broker.', collect: () => (hub?.connected() ? 1 : 0) });
  const app = await buildApp({
    metrics,
    research: { limits: research.limits, lookupInterval: research.lookupInterval },
    store: createReadingStore(influx),
    logger: log,
    dashboardDir: options.dashboardDir,
    registry: options.registry,
    trials: options.trials,
    ...(alerting ? { alerts: { rules: alerting.rules, history: alerting.history } } : {}),
    jobs: scheduler,
    auth,
    security: { corsOrigins: options.corsOrigins ?? [], ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }) },
    ...(options.bodyLimitBytes ? { bodyLimitBytes: options.bodyLimitBytes } : {}),
    onDeviceStatus: (status) => io?.emit('device', status),
    readinessChecks: {
      influxdb: async () => ({ ok: await influx.ping() }),
      broker: async () => ({ ok: hub?.connected() ?? false }),
    },
  });
  await app.ready();
  io = new SocketServer(app.server, {
    serveClient: false,
    cors: { origin: options.corsOrigins && options.corsOrigins.length > 0 ? options.corsOrigins : false },
    // Clients only send small subscribe requests.
    maxHttpBufferSize: 16 * 1024,
  }) as LiveServer;
  // The live feed is a read endpoint: same keys as REST (handshake `auth: { token }`), open with PUBLIC_READ.
  const authenticator = createAuthenticator({ ...auth, registry: options.registry });
  // Live clients are let in only once the hub is subscribed to the broker: a client that
  // subscribes and then back-fills from REST (docs/durability.md) misses nothing in between.
  let liveReady = false;
  io.use((_socket, next) => {
    if (liveReady) return next();
    next(Object.assign(new Error('UNAVAILABLE: the live feed is starting; retry'), { data: { error: 'UNAVAILABLE', statusCode: 503 } }));
  });
  io.use((socket, next) => {
    const token: unknown = socket.handshake.auth?.token;
    const principal = typeof token === 'string' && token !== '' ? (authenticator.authenticate(token) ?? null) : undefined;
    const verdict = authenticator.check('read', principal);
    if (verdict === 'ok') return next();
    const error = Object.assign(new Error(principal === null ? 'UNAUTHORIZED: the token is not valid' : 'UNAUTHORIZED: the live feed needs auth: { token }'), {
      data: { error: 'UNAUTHORIZED', statusCode: verdict },
    });
    next(error);
  });
  hub = createLiveHub({
    io,
    mqttUrl: options.mqttUrl,
    mqttUsername: options.mqttUsername,
    mqttPassword: options.mqttPassword,
    logger: log,
    ...(alerting ? { onReading: alerting.onReading, onRejection: alerting.onRejection } : {}),
  });
  const host = options.host ?? '127.0.0.1';
  await app.listen({ host, port: options.port ?? 8080 });
  const port = (app.server.address() as AddressInfo).port;
  // The broker may come later (services start in any order): REST serves at once, the live
  // feed once the hub is subscribed (until then live clients are told to retry).
  hub.ready.then(
    () => {
      liveReady = true;
      log.info('live feed subscribed');
    },
    (error: unknown) => log.error({ err: String(error) }, 'live feed unavailable: the broker refused the subscription'),
  );
  await research.start();
  // After research.start(): the rollups' retention policy exists before their first run.
  await scheduler.start();
  log.info({ url: `http://${host}:${port}` }, 'api listening');
  let closing: Promise<void> | undefined;
  const liveHub = hub;
  return {
    app,
    io,
    hub: liveHub,
    scheduler,
    alerts: alerting,
    port,
    url: `http://${host}:${port}`,
    close() {
      closing ??= (async () => {
        await scheduler.close();
        await research.close();
        await alerting?.close();
        await liveHub.close();
        // Closing the transports (not disconnectSockets, which tells clients "you were
        // kicked: do not reconnect") lets live clients reconnect to the next process.
        await new Promise<void>((resolve) => io.close(() => resolve()));
        await app.close();
      })();
      return closing;
    },
  };
}
