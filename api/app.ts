/**
 * The HTTP application: REST under /api/v1, health, and the built dashboard at `/`.
 * Built by a factory so tests use `app.inject()` without a socket; server.ts adds the
 * listening socket, socket.io and the live feed.
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
import { registerErrorHandling } from './plugins/errors.ts';
import { registerOpenApi } from './plugins/openapi.ts';
import type { QueryLimits } from './query/limits.ts';
import type { LookupInterval } from './query/readings.ts';
import { aqiRoutes } from './routes/aqi.ts';
import { registerSecurity, type SecurityOptions } from './plugins/security.ts';
import { deviceRoutes } from './routes/devices.ts';
import { keyRoutes } from './routes/keys.ts';
import { healthRoutes, type HealthCheck } from './routes/health.ts';
import { metricsRoutes } from './routes/metrics.ts';
import type { MetricsRegistry } from '../common/metrics.ts';
import { readingRoutes } from './routes/readings.ts';
import { alertRoutes, type AlertRoutesOptions } from './routes/alerts.ts';
import { jobRoutes, type JobRoutesOptions } from './routes/jobs.ts';
import { trialRoutes } from './routes/trials.ts';
import type { TrialStore } from './trials/store.ts';
import type { ReadingStore } from './store.ts';

export interface AppOptions {
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
  /** Who may read and administer; omitted = public read and no admin token (tests, demos). */
  auth?: Omit<AuthSettings, 'registry'> | undefined;
  /** CORS allow-list and rate limit (default 1,200 requests per minute per client). */
  security?: Omit<SecurityOptions, 'authenticator'> | undefined;
  /** Told when a device is registered, removed, disabled or re-enabled (live `device` events). */
  onDeviceStatus?: ((status: DeviceStatus) => void) | undefined;
  /** Research API: query limits (api/query/limits.ts) and each device's declared interval (s). */
  research?: { limits?: QueryLimits | undefined; lookupInterval?: LookupInterval | undefined } | undefined;
  /** Prometheus registry served at GET /metrics (with HTTP request metrics); omitted = no /metrics. */
  metrics?: MetricsRegistry | undefined;
  /** Alert rules (/api/v1/alert-rules, admin) and alerts (/api/v1/alerts, read); omitted = no alert routes. */
  alerts?: Omit<AlertRoutesOptions, 'now'> | undefined;
  /** Scheduled jobs shown at /api/v1/jobs (api/jobs/scheduler.ts); omitted = no /jobs. */
  jobs?: JobRoutesOptions['jobs'] | undefined;
  /** Trials and their device reports (/api/v1/trials); needs `registry`. */
  trials?: { store: TrialStore; maxReadingsPerDevice?: number | undefined; dailySummarySchedule?: string | undefined } | undefined;
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
  const authenticator = createAuthenticator({ ...(options.auth ?? { publicRead: true }), registry: options.registry });
  await registerSecurity(app, { ...options.security, authenticator });
  registerAuth(app, authenticator);
  // Before the routes: @fastify/swagger collects them as they are registered.
  await registerOpenApi(app);

  const now = options.now ?? Date.now;
  // First: its onResponse hook counts the requests of every route registered after it.
  if (options.metrics) await app.register(metricsRoutes, { registry: options.metrics });
  await app.register(healthRoutes, { readinessChecks: options.readinessChecks ?? {} });
  await app.register(readingRoutes, {
    prefix: '/api/v1',
    store: options.store,
    now,
    latestWindowMs: options.latestWindowMs ?? 30 * 86_400_000,
    limits: options.research?.limits,
    lookupInterval: options.research?.lookupInterval,
  });
  await app.register(aqiRoutes, { prefix: '/api/v1', store: options.store, now, limits: options.research?.limits });
  if (options.alerts) await app.register(alertRoutes, { prefix: '/api/v1', ...options.alerts, now });
  if (options.jobs) await app.register(jobRoutes, { prefix: '/api/v1', jobs: options.jobs });

  if (options.registry) {
    await app.register(deviceRoutes, { prefix: '/api/v1', registry: options.registry, onStatus: options.onDeviceStatus });
    await app.register(keyRoutes, { prefix: '/api/v1', registry: options.registry });
    if (options.trials) {
      const registry = options.registry;
      await app.register(trialRoutes, {
        prefix: '/api/v1',
        trials: options.trials.store,
        now,
        report: { influx: options.store.influx, lookupDevice: (id) => registry.get(id), maxReadingsPerDevice: options.trials.maxReadingsPerDevice },
      });
    }
  }

  const dashboardDir = options.dashboardDir ?? DEFAULT_DASHBOARD_DIR;
  if (existsSync(join(dashboardDir, 'index.html'))) {
    await app.register(fastifyStatic, { root: dashboardDir, prefix: '/', wildcard: false });
  } else {
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .send('<!doctype html><title>StreetLab</title><h1>StreetLab API</h1><p>The dashboard is not built. Run <code>npm run build:dashboard</code> (npm run lab does it for you).</p>'),
    );
  }
  return app;
}
