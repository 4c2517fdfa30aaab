/**
 * The job scheduler (api/jobs/scheduler.ts) as a fastify plugin: serves GET /jobs, starts
 * every registered job in `onReady` and stops them (waiting for runs in progress) in
 * `onClose`. Register it after the plugins whose jobs it runs and whose state those jobs use
 * (research, alerting): `onClose` hooks run in reverse order of registration, so the jobs
 * stop before what they use closes, and `onReady` in order, so research has applied its
 * retention before the first rollup.
 */
import fp from 'fastify-plugin';
import type { Scheduler } from '../jobs/scheduler.ts';
import { jobRoutes } from '../routes/jobs.ts';

export interface JobsPluginOptions {
  scheduler: Scheduler;
  /** Route prefix (default /api/v1). */
  routePrefix?: string | undefined;
}

export const jobsPlugin = fp<JobsPluginOptions>(
  async (app, { scheduler, routePrefix }) => {
    await app.register(jobRoutes, { prefix: routePrefix ?? '/api/v1', jobs: scheduler });
    app.addHook('onReady', async () => {
      await scheduler.start();
    });
    app.addHook('onClose', async () => {
      await scheduler.close();
    });
  },
  { name: 'streetlab-jobs', fastify: '5.x' },
);
