/**
 * Trials as a fastify plugin: /trials and their device reports (reads through the
 * TrialQueries of api/store.ts), and, given a scheduler, the daily summary job
 * (`trial-daily-summary`) that stores yesterday's figures as `trial_daily`. The trial store
 * belongs to whoever opened it (it outlives the app in the lab); the job stops with the
 * scheduler; so `onClose` here has nothing of its own to close.
 */
import fp from 'fastify-plugin';
import type { DeviceRegistry } from '../../common/registry/types.ts';
import type { Logger } from '../../common/logger.ts';
import type { Scheduler } from '../jobs/scheduler.ts';
import { trialRoutes } from '../routes/trials.ts';
import type { TrialQueries } from '../store.ts';
import { summariseTrialsDaily, type DailySummaryDeps } from '../trials/daily-summary.ts';
import type { TrialStore } from '../trials/store.ts';

/** 00:15 every day: the UTC day before is complete by then, late store-and-forward aside. */
export const DEFAULT_TRIAL_SUMMARY_SCHEDULE = '15 0 * * *';

export interface TrialsPluginOptions {
  store: TrialStore;
  queries: TrialQueries;
  /** Kind and name of each trial device (a removed device is looked up in the readings). */
  registry: DeviceRegistry;
  /** Most readings read per device in one report (default 2,000,000). */
  maxReadingsPerDevice?: number | undefined;
  now: () => number;
  /** The daily summary: scheduled here when given, stored with `write` (omitted = logged only). */
  scheduler?: Scheduler | undefined;
  dailySummarySchedule?: string | undefined;
  write?: DailySummaryDeps['write'];
  logger?: Logger | undefined;
  /** Route prefix (default /api/v1). */
  routePrefix?: string | undefined;
}

export const trialsPlugin = fp<TrialsPluginOptions>(
  async (app, options) => {
    const { registry, store, scheduler } = options;
    const report = { queries: options.queries, lookupDevice: (id: string) => registry.get(id), maxReadingsPerDevice: options.maxReadingsPerDevice };
    await app.register(trialRoutes, { prefix: options.routePrefix ?? '/api/v1', trials: store, now: options.now, report });
    if (scheduler) {
      // Yesterday's figures for every device of every open trial, stored as `trial_daily`.
      scheduler.registerJob(
        'trial-daily-summary',
        options.dailySummarySchedule ?? DEFAULT_TRIAL_SUMMARY_SCHEDULE,
        () => summariseTrialsDaily({ trials: store, report, write: options.write, logger: options.logger?.child({ component: 'trial-daily-summary' }) }),
        { description: "yesterday's completeness, gaps, rejections and latency per device of every open trial (UTC day)" },
      );
    }
  },
  { name: 'streetlab-trials', fastify: '5.x' },
);
