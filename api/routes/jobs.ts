/** GET /api/v1/jobs: the scheduled jobs, their last run and outcome, and the next run (read access: a key; not open data). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ErrorResponseSchema, JobListResponseSchema, type JobStatus } from '../../contracts/index.ts';

export interface JobRoutesOptions {
  jobs: { list(): JobStatus[] };
}

export const jobRoutes: FastifyPluginAsyncZod<JobRoutesOptions> = async (app, { jobs }) => {
  app.get('/jobs', {
    config: { access: 'read' },
    schema: {
      summary: 'Scheduled jobs: schedule, last run (start, end, duration, outcome), next run, skipped ticks',
      tags: ['jobs'],
      response: { 200: JobListResponseSchema, 401: ErrorResponseSchema, 429: ErrorResponseSchema },
    },
  }, async () => ({ jobs: jobs.list() }));
};
