/**
 * Scheduled jobs (node-cron, api/jobs/scheduler.ts) as `GET /api/v1/jobs` shows them: each
 * job's schedule, its last run and outcome, the next run, and how often a tick was skipped
 * because the previous run was still going (a job never overlaps itself).
 */
import { z } from 'zod';

export const JobRunSchema = z.object({
  startedAt: z.iso.datetime(),
  finishedAt: z.iso.datetime(),
  durationMs: z.number().min(0).describe('ms'),
  outcome: z.enum(['ok', 'error']),
  message: z.string().optional().describe('the error message when the run failed'),
});
export type JobRun = z.infer<typeof JobRunSchema>;

export const JobStatusSchema = z.object({
  name: z.string().meta({ example: 'offline-detection' }),
  schedule: z.string().describe('node-cron expression (an optional sixth, leading field is seconds)').meta({ example: '* * * * *' }),
  description: z.string().optional(),
  running: z.boolean().describe('a run is in progress'),
  runningSince: z.iso.datetime().optional(),
  lastRun: JobRunSchema.optional().describe('the latest finished run'),
  nextRunAt: z.iso.datetime().optional().describe('the next scheduled tick; absent when the scheduler is stopped'),
  runs: z.number().int().min(0).describe('finished runs since start'),
  failures: z.number().int().min(0).describe('runs that failed since start'),
  skips: z.number().int().min(0).describe('ticks skipped because the previous run was still going'),
});
export type JobStatus = z.infer<typeof JobStatusSchema>;

export const JobListResponseSchema = z.object({ jobs: z.array(JobStatusSchema) });
export type JobListResponse = z.infer<typeof JobListResponseSchema>;
