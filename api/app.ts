/**
 * The HTTP application: REST under /api/v1, health, and the built dashboard at `/`.
 * Built by a factory so tests use `app.inject()` without a socket; server.ts adds the
 * listening socket and the parts with a life of their own. Those are fastify plugins
 * (api/plugins/): live feed, research (rollups), alerting, jobs, trials — each takes its
 * dependencies as options, registers its routes and closes in an `onClose` hook, so
 * `app.close()` closes them in reverse order of registration (jobs before what they use).
 * Routes read through a ReadingStore (api/store.ts), never the InfluxDB client.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Logger } from '../common/logger.ts';
import type { DeviceStatus } from '../contracts/index.ts';
import type { DeviceRegistry } from '../common/registry/types.ts';
import { createAuthenticator, registerAuth, type AuthSettings } from './plugins/auth.ts';
import { registerOpenData } from './plugins/open-data.ts';
import { DEFAULT_LICENCE } from './open-data.ts';
import type { Licence } from '../contracts/index.ts';
import { registerErrorHandling } from './plugins/errors.ts';
import { registerOpenApi } from './plugins/openapi.ts';
import type { QueryLimits } from './query/limits.ts';
import type { LookupInterval } from './query/readings.ts';
import { aqiRoutes } from './routes/aqi.ts';
import { wasteRoutes } from './routes/waste.ts';
import { dashboardConfigRoutes } from './routes/dashboard-config.ts';
import { DEFAULT_MAP_SETTINGS, tileImageSource, type MapSettings } from './map-config.ts';
import { registerSecurity, type SecurityOptions } from './plugins/security.ts';
import { deviceRoutes } from './routes/devices.ts';
import { keyRoutes } from './routes/keys.ts';
import { edgeForwardRoutes } from './routes/edge-forward.ts';
import { integrationRoutes } from './routes/integrations.ts';
import type { IntegrationStore } from '../common/registry/integrations.ts';
import { kindRoutes } from './routes/kinds.ts';
import type { KindCatalogue } from '../common/kinds/index.ts';
import { labRoutes } from './routes/labs.ts';
import { registryLabDirectory } from './labs/directory.ts';
import { DEFAULT_LAB } from './labs/config.ts';
import type { CreateLabRequest } from '../contracts/index.ts';
import { healthRoutes, type HealthCheck } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import type { MetricsRegistry } from '../common/metrics.ts';
import { readingRoutes } from './routes/readings.ts';
import type { Scheduler } from './jobs/scheduler.ts';
import { alertingPlugin, type AlertingPluginOptions } from './plugins/alerting.ts';
import { jobsPlugin } from './plugins/jobs.ts';
import { livePlugin, liveOf, type LivePluginOptions } from './plugins/live.ts';
import { researchOf, researchPlugin, type ResearchPluginOptions } from './plugins/research.ts';
import { trialsPlugin, type TrialsPluginOptions } from './plugins/trials.ts';
import { ngsiLdPlugin } from './ngsi-ld/plugin.ts';
import { sensorThingsPlugin } from './sensorthings/plugin.ts';
import type { ReadingStore } from './store.ts';

export interface AppOptions {
  /** The reads of every route (api/store.ts: createReadingStore over InfluxDB). */
  store: ReadingStore;
  readinessChecks?: Record<string, HealthCheck>;
  /** Directory of the built dashboard (dist/dashboard); missing = a page saying how to build it. */
  dashboardDir?: string | undefined;
  logger?: Logger;
  now?: () => number;
  latestWindowMs?: number;
  bodyLimitBytes?: number;
  /** The device registry: enables /api/v1/devices and /api/v1/keys, and API-key authentication. */
  registry?: DeviceRegistry | undefined;
  /** Network-server integrations (common/registry/integrations.ts): enables /api/v1/integrations (admin). */
  integrations?: IntegrationStore | undefined;
  /** The broker's HTTP ingestion listener (EDGE_HTTP_URL): device readings and uplinks sent here are passed on to it. */
  edgeHttpUrl?: string | undefined;
  /** The kind catalogue (common/kinds/): enables /api/v1/kinds. */
  kinds?: KindCatalogue | undefined;
  /** Who may read and administer; omitted = public read and no admin token (tests, demos). */
  auth?: Omit<AuthSettings, 'registry' | 'labs'> | undefined;
  /** The default lab (LAB_ID, LAB_NAME, LAB_AREA): records without a lab belong to it; created on ready. Default DEFAULT_LAB. */
  defaultLab?: CreateLabRequest | undefined;
  /** The open data's licence and attribution (DATA_LICENCE, DATA_ATTRIBUTION); default CC-BY-4.0, "StreetLab test bed". */
  licence?: Licence | undefined;
  /** CORS allow-list and rate limit (default 1,200 requests per minute per client). */
  security?: Omit<SecurityOptions, 'authenticator'> | undefined;
  /** Told when a device is registered, removed, disabled or re-enabled (live `device` events). */
  onDeviceStatus?: ((status: DeviceStatus, lab: string) => void) | undefined;
  /** Research API: query limits (api/query/limits.ts) and each device's declared interval (s); `researchJob` supplies them when given. */
  research?: { limits?: QueryLimits | undefined; lookupInterval?: LookupInterval | undefined } | undefined;
  /** The research plugin: rollup job and retention, started on ready (api/plugins/research.ts). */
  researchJob?: Pick<ResearchPluginOptions, 'influx' | 'research'> | undefined;
  /** The live feed (socket.io on this app's server, fed from the broker): api/plugins/live.ts. */
  live?: Omit<LivePluginOptions, 'authenticator' | 'logger'> | undefined;
  /** Prometheus registry served at GET /metrics (with HTTP request metrics); omitted = no /metrics. */
  metrics?: MetricsRegistry | undefined;
  /** Cluster mode: this node holds the lease for jobs and alert evaluation (default: always). */
  leader?: (() => boolean) | undefined;
  /** Alerting: rules (/api/v1/alert-rules, admin), alerts (/api/v1/alerts, read), engine and its jobs; needs `jobs`. Omitted = none. */
  alerts?: AlertingPluginOptions['alerting'] | undefined;
  /** The job scheduler: started on ready, shown at /api/v1/jobs, stopped on close; omitted = no /jobs. */
  jobs?: Scheduler | undefined;
  /** Trials and their device reports (/api/v1/trials), with the daily summary job when `jobs` is given; needs `registry`. */
  trials?: Pick<TrialsPluginOptions, 'store' | 'maxReadingsPerDevice' | 'dailySummarySchedule' | 'write'> | undefined;
  /** The dashboard's street map (GET /api/v1/dashboard-config); default OpenStreetMap's tiles. */
  map?: MapSettings | undefined;
}

export const DEFAULT_DASHBOARD_DIR = join(import.meta.dirname, '..', 'dist', 'dashboard');

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger and fastify's base logger type differ only in generics.
    loggerInstance: options.logger as FastifyBaseLogger | undefined,
    // One log line per request would drown the readings' own logs; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? 64 * 1024,
    // Repeated query keys (`device=a&device=b`) arrive as arrays.
    routerOptions: { ignoreTrailingSlash: true },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);
  const defaultLab = options.defaultLab ?? DEFAULT_LAB;
  const labs = options.registry ? registryLabDirectory(options.registry, defaultLab.id) : undefined;
  const authenticator = createAuthenticator({ ...(options.auth ?? { publicRead: true }), registry: options.registry, labs });
  const map = options.map ?? DEFAULT_MAP_SETTINGS;
  const tileSource = tileImageSource(map.tilesUrl);
  await registerSecurity(app, { ...options.security, authenticator, ...(tileSource ? { imageSources: [tileSource] } : {}) });
  registerAuth(app, authenticator);
  // Before the routes too: the licence goes on every answer of an `open` route.
  const licence = options.licence ?? DEFAULT_LICENCE;
  registerOpenData(app, { licence, publicRead: authenticator.publicRead });
  // Before the routes: @fastify/swagger collects them as they are registered.
  await registerOpenApi(app);

  const now = options.now ?? Date.now;
  const log = options.logger;
  // Registered first, closed last: the plugins after it (alerting) use it until they close.
  const labOfDevice = (id: string) => {
    // Unregistered devices (an open broker) are the default lab's, as for REST (api/labs/scope.ts).
    return options.registry?.peek(id)?.lab ?? defaultLab.id;
  };
  if (options.live) await app.register(livePlugin, { ...options.live, authenticator, logger: log, labOf: labs ? labOfDevice : undefined });
  if (options.researchJob) {
    await app.register(researchPlugin, { ...options.researchJob, scheduler: options.jobs, registry: options.registry, logger: log });
  }
  const research = researchOf(app) ?? options.research;
  // First: its onResponse hook counts the requests of every route registered after it.
  if (options.metrics) await app.register(metricsRoutes, { registry: options.metrics });
  await app.register(healthRoutes, { readinessChecks: options.readinessChecks ?? {} });
  await app.register(readingRoutes, {
    prefix: '/api/v1',
    store: options.store,
    now,
    latestWindowMs: options.latestWindowMs ?? 30 * 86_400_000,
    limits: research?.limits,
    lookupInterval: research?.lookupInterval,
    licence,
  });
  await app.register(aqiRoutes, { prefix: '/api/v1', store: options.store, now, limits: research?.limits });
  await app.register(wasteRoutes, { prefix: '/api/v1', store: options.store, now });
  await app.register(dashboardConfigRoutes, { prefix: '/api/v1', map });
  if (options.kinds) await app.register(kindRoutes, { prefix: '/api/v1', catalogue: options.kinds, hasReadings: (kind) => options.store.hasReadings(kind) });
  if (options.alerts) {
    if (!options.jobs) throw new Error('buildApp: alerts need jobs (a scheduler for their offline and repeat jobs)');
    await app.register(alertingPlugin, { alerting: options.alerts, scheduler: options.jobs, live: liveOf(app), registry: options.registry, logger: log, now, leader: options.leader, defaultLab: defaultLab.id });
  }
  // After research and alerting, whose jobs it runs: closed before them.
  if (options.jobs) await app.register(jobsPlugin, { scheduler: options.jobs });

  if (options.registry) {
    await app.register(deviceRoutes, { prefix: '/api/v1', registry: options.registry, onStatus: options.onDeviceStatus });
    await app.register(keyRoutes, { prefix: '/api/v1', registry: options.registry });
    // Standard read-outs for exchanging data with other cities: NGSI-LD and OGC SensorThings over the same store and registry.
    await app.register(ngsiLdPlugin, { prefix: '/ngsi-ld/v1', store: options.store, registry: options.registry, now, latestWindowMs: options.latestWindowMs ?? 30 * 86_400_000, limits: research?.limits });
    await app.register(sensorThingsPlugin, { prefix: '/sta/v1.1', store: options.store, registry: options.registry, now, limits: research?.limits });
    if (options.integrations) await app.register(integrationRoutes, { prefix: '/api/v1', integrations: options.integrations });
    await app.register(labRoutes, { prefix: '/api/v1', registry: options.registry, defaultLab });
    if (options.trials) {
      await app.register(trialsPlugin, { ...options.trials, queries: options.store, registry: options.registry, now, scheduler: options.jobs, logger: log });
    }
  }

  if (options.edgeHttpUrl) await app.register(edgeForwardRoutes, { edgeUrl: options.edgeHttpUrl });

  const dashboardDir = options.dashboardDir ?? DEFAULT_DASHBOARD_DIR;
  if (existsSync(join(dashboardDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: dashboardDir, prefix: '/', wildcard: false });
    // A lab's dashboard: the same page, which reads its lab from the path (dashboard/model/route.ts).
    app.get('/labs/:lab/', { schema: { hide: true }, config: { access: 'public' } }, async (_request, reply) => reply.sendFile('index.html'));
    // The visitor showcase has a short address for the kiosk's browser: /showcase[?lang=da].
    app.get('/showcase', { schema: { hide: true }, config: { access: 'public' } }, async (request, reply) => {
      const query = request.raw.url?.split('?')[1];
      return reply.redirect(`/#/showcase${query ? `?${query}` : ''}`);
    });
  } else {
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .send('<!doctype html><title>StreetLab</title><h1>StreetLab API</h1><p>The dashboard is not built. Run <code>npm run build:dashboard</code> (npm run lab does it for you).</p>'),
    );
  }
  return app;
}
