/**
 * The research API's settings and its background job in one place: query limits, the rollup
 * job (node-cron) with retention, and where a device's declared interval comes from. The API
 * server builds this once (createResearch) and starts it after it listens.
 */
import { z } from 'zod';
import { booleanSchema, cronSchema, positiveIntSchema } from '../../common/config.ts';
import type { InfluxClient } from '../../common/influx.ts';
import type { Logger } from '../../common/logger.ts';
import type { DeviceRegistry } from '../../common/registry/types.ts';
import type { Scheduler } from './scheduler.ts';
import {
  DEFAULT_RAW_RETENTION_DAYS,
  DEFAULT_ROLLUP_RETENTION_DAYS,
  DEFAULT_ROLLUP_SCHEDULE,
  createRollupJob,
  type LookupInterval,
  type RollupJob,
} from '../../common/rollups/index.ts';
import { DAY_MS, DEFAULT_QUERY_LIMITS, HOUR_MS, type QueryLimits } from '../query/limits.ts';

/** Environment variables of the research API (spread into the API's and the lab's config). */
export const ResearchConfigShape = {
  /** Run the rollup job (hourly and daily rollups, retention). */
  ROLLUPS_ENABLED: booleanSchema(true),
  /** node-cron expression of the rollup job. */
  ROLLUP_SCHEDULE: cronSchema(DEFAULT_ROLLUP_SCHEDULE),
  /** Hours recomputed on every run, the current one included. */
  ROLLUP_RECOMPUTE_HOURS: z.coerce.number().int().min(1).max(48).default(2),
  /** How far back late readings re-trigger rollups; match ingest's TS_MAX_AGE_S. */
  ROLLUP_LATE_WINDOW_HOURS: z.coerce.number().int().min(1).max(24 * 90).default(168),
  /** Raw readings are kept this many days (InfluxDB retention policy); 0 = forever. */
  RAW_RETENTION_DAYS: z.coerce.number().int().min(0).default(DEFAULT_RAW_RETENTION_DAYS),
  /** Rollups are kept this many days; 0 = forever. */
  ROLLUP_RETENTION_DAYS: z.coerce.number().int().min(0).default(DEFAULT_ROLLUP_RETENTION_DAYS),
  /** Longest range one request may read from raw readings. */
  QUERY_RAW_MAX_DAYS: positiveIntSchema(31),
  /** Most points in one JSON response. */
  QUERY_MAX_POINTS: positiveIntSchema(DEFAULT_QUERY_LIMITS.jsonMaxPoints),
  /** Most rows in one CSV/NDJSON export. */
  QUERY_EXPORT_MAX_ROWS: positiveIntSchema(DEFAULT_QUERY_LIMITS.exportMaxPoints),
  /** Most windows × devices in one aggregated request. */
  QUERY_MAX_WINDOWS: positiveIntSchema(DEFAULT_QUERY_LIMITS.maxWindows),
  /** Aggregations with every ≥ 1h read rollups for ranges longer than this. */
  QUERY_ROLLUP_MIN_RANGE_HOURS: positiveIntSchema(48),
  /** A device's reporting interval when the registry does not declare one. */
  DEVICE_DEFAULT_INTERVAL_S: positiveIntSchema(60),
};
const ResearchConfigSchema = z.object(ResearchConfigShape);
export type ResearchConfig = z.infer<typeof ResearchConfigSchema>;

export interface ResearchOptions {
  /** false = no rollup job: queries read raw readings only (and refuse long ranges). */
  rollups?: false | { schedule?: string; recomputeHours?: number; lateWindowMs?: number; runOnStart?: boolean } | undefined;
  /** Days; 0 = forever. Default 30 / 1825. */
  rawRetentionDays?: number | undefined;
  rollupRetentionDays?: number | undefined;
  limits?: Partial<Omit<QueryLimits, 'rollupsEnabled' | 'rawRetentionMs'>> | undefined;
  /** Seconds; default: the registry's intervalSeconds, else defaultIntervalSeconds. */
  lookupInterval?: LookupInterval | undefined;
  defaultIntervalSeconds?: number | undefined;
}

/** The options of ResearchConfigShape's variables. */
export function researchOptionsFromConfig(config: ResearchConfig): ResearchOptions {
  return {
    rollups: config.ROLLUPS_ENABLED
      ? { schedule: config.ROLLUP_SCHEDULE, recomputeHours: config.ROLLUP_RECOMPUTE_HOURS, lateWindowMs: config.ROLLUP_LATE_WINDOW_HOURS * HOUR_MS }
      : false,
    rawRetentionDays: config.RAW_RETENTION_DAYS,
    rollupRetentionDays: config.ROLLUP_RETENTION_DAYS,
    limits: {
      rawMaxRangeMs: config.QUERY_RAW_MAX_DAYS * DAY_MS,
      jsonMaxPoints: config.QUERY_MAX_POINTS,
      jsonDefaultPoints: Math.min(DEFAULT_QUERY_LIMITS.jsonDefaultPoints, config.QUERY_MAX_POINTS),
      exportMaxPoints: config.QUERY_EXPORT_MAX_ROWS,
      maxWindows: config.QUERY_MAX_WINDOWS,
      rollupMinRangeMs: config.QUERY_ROLLUP_MIN_RANGE_HOURS * HOUR_MS,
    },
    defaultIntervalSeconds: config.DEVICE_DEFAULT_INTERVAL_S,
  };
}

export interface Research {
  limits: QueryLimits;
  lookupInterval: LookupInterval;
  job: RollupJob | undefined;
  /** Applies retention and starts the rollup job. */
  start(): Promise<void>;
  close(): Promise<void>;
}

function describeSchedule(schedule: string): string {
  const every = /^\*\/(\d+) \* \* \* \*$/.exec(schedule);
  if (every) return `${every[1]} minutes`;
  return schedule === '* * * * *' ? '1 minute' : `one run of "${schedule}"`;
}

export function createResearch(
  influx: Pick<InfluxClient, 'query' | 'write' | 'settings'>,
  options: ResearchOptions,
  context: {
    logger?: Logger | undefined;
    registry?: DeviceRegistry | undefined;
    /** The API's job scheduler: the rollup job runs as its job `rollups` (shown at GET /api/v1/jobs). */
    scheduler?: Scheduler | undefined;
  } = {},
): Research {
  const scheduler = context.scheduler;
  const registry = context.registry;
  const fallback = options.defaultIntervalSeconds ?? 60;
  const declared: LookupInterval = options.lookupInterval ?? ((id) => registry?.peek(id)?.intervalSeconds);
  const lookupInterval: LookupInterval = (id) => {
    const seconds = declared(id);
    return seconds instanceof Promise ? seconds.then((s) => s ?? fallback) : (seconds ?? fallback);
  };
  const rawRetentionDays = options.rawRetentionDays ?? DEFAULT_RAW_RETENTION_DAYS;
  const rollupRetentionDays = options.rollupRetentionDays ?? DEFAULT_ROLLUP_RETENTION_DAYS;
  const rollups = options.rollups === false ? undefined : (options.rollups ?? {});
  const job = rollups
    ? createRollupJob({
        influx,
        ...(rollups.schedule ? { schedule: rollups.schedule } : {}),
        ...(rollups.recomputeHours ? { recomputeHours: rollups.recomputeHours } : {}),
        ...(rollups.lateWindowMs ? { lateWindowMs: rollups.lateWindowMs } : {}),
        // Under the scheduler, the start-up run is the scheduler's runOnStart (so it is recorded).
        ...(scheduler ? { runOnStart: false, selfScheduled: false } : rollups.runOnStart === undefined ? {} : { runOnStart: rollups.runOnStart }),
        retention: { rawDays: rawRetentionDays, rollupDays: rollupRetentionDays },
        lookupInterval,
        ...(context.logger ? { logger: context.logger.child({ job: 'rollups' }) } : {}),
      })
    : undefined;
  if (job && scheduler) {
    scheduler.registerJob('rollups', job.schedule, () => job.runOnce(), {
      description: 'hourly and daily rollups of the readings, late readings included',
      runOnStart: rollups?.runOnStart ?? true,
    });
  }
  const limits: QueryLimits = {
    ...DEFAULT_QUERY_LIMITS,
    ...options.limits,
    rawRetentionMs: rawRetentionDays * DAY_MS,
    rollupsEnabled: job !== undefined,
    ...(job ? { rollupFreshnessNote: describeSchedule(job.schedule) } : {}),
  };
  return {
    limits,
    lookupInterval,
    job,
    async start() {
      await job?.start();
    },
    async close() {
      await job?.close();
    },
  };
}
