/**
 * The HTTP application: REST under /api/v1, health, and the built dashboard at `/`.
 * Built by a factory so tests use `app.inject()` without a socket; server.ts adds the
 * listening socket, socket.io and the live feed.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Logger } from '../common/logger.ts';
import { registerErrorHandling } from './plugins/errors.ts';
import { healthRoutes, type HealthCheck } from './routes/health.ts';
import { readingRoutes } from './routes/readings.ts';
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
}

export const DEFAULT_DASHBOARD_DIR = join(import.meta.dirname, '..', 'dist', 'dashboard');

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // pino's Logger and fastify's base logger type differ only in generics.
    loggerInstance: options.logger as FastifyBaseLogger | undefined,
    disableRequestLogging: true,
    bodyLimit: options.bodyLimitBytes ?? 64 * 1024,
    // Repeated query keys (`device=a&device=b`) arrive as arrays.
    routerOptions: { ignoreTrailingSlash: true },
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandling(app);

  const now = options.now ?? Date.now;
  await app.register(healthRoutes, { readinessChecks: options.readinessChecks ?? {} });
  await app.register(readingRoutes, {
    prefix: '/api/v1',
    store: options.store,
    now,
    latestWindowMs: options.latestWindowMs ?? 30 * 86_400_000,
  });

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
