import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { HealthResponseSchema } from '../../contracts/index.ts';

export type HealthCheck = () => Promise<{ ok: boolean; detail?: string }>;

export interface HealthRoutesOptions {
  /** Checks that must all pass for the API to be ready (InfluxDB, broker, …). */
  readinessChecks: Record<string, HealthCheck>;
}

export const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (app, { readinessChecks }) => {
  app.get('/healthz', { schema: { summary: 'Liveness: the process is up', tags: ['health'], response: { 200: HealthResponseSchema } } }, async () => ({
    status: 'ok' as const,
    checks: {},
  }));

  app.get('/readyz', {
    schema: { summary: 'Readiness: InfluxDB and the broker answer', tags: ['health'], response: { 200: HealthResponseSchema, 503: HealthResponseSchema } },
  }, async (_request, reply) => {
    const entries = await Promise.all(
      Object.entries(readinessChecks).map(async ([name, check]) => {
        try {
          return [name, await check()] as const;
        } catch (error) {
          return [name, { ok: false, detail: error instanceof Error ? error.message : String(error) }] as const;
        }
      }),
    );
    const checks = Object.fromEntries(entries);
    const ok = entries.every(([, result]) => result.ok);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', checks });
  });
};
