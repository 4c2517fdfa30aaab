/**
 * The API's scheduled jobs over node-cron: offline detection, alert repeats, rollups (and
 * whatever else registers, such as a daily trial summary). Each job
 * - has its own cron schedule (an env var per job, validated at start);
 * - never overlaps itself: a tick that finds the previous run still going is skipped and
 *   counted (node-cron's own `noOverlap` would skip silently, and we want the count at
 *   GET /api/v1/jobs);
 * - records its last run: start, end, duration, outcome (ok / error + message), and the next tick.
 * A failing run is logged and recorded; it never stops the schedule or the process.
 *
 * `trigger(name)` runs a job exactly as a tick would (skipping when busy), which is how tests
 * drive time-triggered jobs without waiting for the wall clock, and `createTask` can replace
 * node-cron altogether.
 */
import cron from 'node-cron';
import type { JobStatus } from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { createSilentLogger } from '../../common/logger.ts';

export interface JobContext {
  name: string;
  /** When this run started (the scheduler's clock, ms). */
  startedMs: number;
}

export type JobRunner = (context: JobContext) => unknown;

export interface JobOptions {
  description?: string | undefined;
  /** Run once as soon as the scheduler starts (default false). */
  runOnStart?: boolean | undefined;
}

/** What the scheduler needs of a cron task (node-cron's ScheduledTask has it). */
export interface CronTask {
  start(): void | Promise<void>;
  destroy(): void | Promise<void>;
  getNextRun(): Date | null;
}

export type CreateCronTask = (schedule: string, onTick: () => void, name: string) => CronTask;

export interface SchedulerOptions {
  /**
   * Ticks run only while this says yes (cluster mode: this node holds the jobs' lease);
   * skipped ticks are not runs. `trigger()` is not affected. Default: always.
   */
  shouldRun?: () => boolean;
  logger?: Logger | undefined;
  /** Clock of the run records (ms); default Date.now. */
  now?: (() => number) | undefined;
  /** Replaces node-cron (tests); default node-cron's createTask. */
  createTask?: CreateCronTask | undefined;
}

export type TriggerResult = 'ok' | 'error' | 'skipped';

export interface Scheduler {
  /**
   * Adds a job. Throws BAD_REQUEST for a taken name or an invalid cron expression. A job added
   * after `start()` is scheduled at once.
   */
  registerJob(name: string, schedule: string, run: JobRunner, options?: JobOptions): void;
  /** Starts every job's schedule (and the runOnStart runs). */
  start(): Promise<void>;
  /** One run now, as a tick would: 'skipped' (and counted) while a run is in progress. */
  trigger(name: string): Promise<TriggerResult>;
  list(): JobStatus[];
  has(name: string): boolean;
  /** Stops every schedule and waits for runs in progress. */
  close(): Promise<void>;
}

interface JobState {
  name: string;
  schedule: string;
  description: string | undefined;
  runOnStart: boolean;
  run: JobRunner;
  task: CronTask | undefined;
  current: Promise<TriggerResult> | undefined;
  currentStartedMs: number | undefined;
  lastRun: JobStatus['lastRun'];
  runs: number;
  failures: number;
  skips: number;
}

const defaultCreateTask: CreateCronTask = (schedule, onTick, name) => cron.createTask(schedule, onTick, { name });

export function createScheduler(options: SchedulerOptions = {}): Scheduler {
  const log = options.logger ?? createSilentLogger();
  const now = options.now ?? Date.now;
  const createTask = options.createTask ?? defaultCreateTask;
  const jobs = new Map<string, JobState>();
  let started = false;
  let closed = false;

  function runJob(job: JobState): Promise<TriggerResult> {
    if (job.current) {
      job.skips += 1;
      log.warn({ job: job.name, skips: job.skips }, 'job still running: tick skipped');
      return Promise.resolve('skipped');
    }
    const startedMs = now();
    job.currentStartedMs = startedMs;
    const finish = (outcome: 'ok' | 'error', message?: string): TriggerResult => {
      const finishedMs = now();
      job.lastRun = {
        startedAt: new Date(startedMs).toISOString(),
        finishedAt: new Date(finishedMs).toISOString(),
        durationMs: Math.max(0, finishedMs - startedMs),
        outcome,
        ...(message === undefined ? {} : { message }),
      };
      job.runs += 1;
      if (outcome === 'error') job.failures += 1;
      job.current = undefined;
      job.currentStartedMs = undefined;
      return outcome;
    };
    job.current = (async () => {
      // Yield first: a runner that throws synchronously must finish after `current` is set.
      await Promise.resolve();
      try {
        await job.run({ name: job.name, startedMs });
        return finish('ok');
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        log.error({ job: job.name, err: error }, 'job failed');
        return finish('error', message.slice(0, 500));
      }
    })();
    return job.current;
  }

  async function schedule(job: JobState): Promise<void> {
    const shouldRun = options.shouldRun ?? (() => true);
    job.task = createTask(job.schedule, () => void (shouldRun() ? runJob(job) : undefined), `streetlab-${job.name}`);
    await job.task.start();
    if (job.runOnStart && shouldRun()) void runJob(job);
  }

  return {
    registerJob(name, scheduleExpression, run, jobOptions = {}) {
      if (closed) throw new AppError('INTERNAL', 'the scheduler is closed');
      if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(name)) throw new AppError('BAD_REQUEST', `job name "${name}": lower-case letters, digits, - and _ only`);
      if (jobs.has(name)) throw new AppError('BAD_REQUEST', `a job "${name}" is already registered`);
      if (!cron.validate(scheduleExpression)) throw new AppError('BAD_REQUEST', `job "${name}": "${scheduleExpression}" is not a cron expression`);
      const job: JobState = {
        name,
        schedule: scheduleExpression,
        description: jobOptions.description,
        runOnStart: jobOptions.runOnStart ?? false,
        run,
        task: undefined,
        current: undefined,
        currentStartedMs: undefined,
        lastRun: undefined,
        runs: 0,
        failures: 0,
        skips: 0,
      };
      jobs.set(name, job);
      if (started) void schedule(job).catch((error: unknown) => log.error({ job: name, err: error }, 'could not schedule job'));
    },
    async start() {
      if (started || closed) return;
      started = true;
      for (const job of jobs.values()) await schedule(job);
    },
    trigger(name) {
      const job = jobs.get(name);
      if (!job) return Promise.reject(new AppError('NOT_FOUND', `no job "${name}"`));
      return runJob(job);
    },
    has: (name) => jobs.has(name),
    list() {
      return [...jobs.values()].map((job): JobStatus => {
        const next = job.task?.getNextRun();
        return {
          name: job.name,
          schedule: job.schedule,
          ...(job.description ? { description: job.description } : {}),
          running: job.current !== undefined,
          ...(job.currentStartedMs === undefined ? {} : { runningSince: new Date(job.currentStartedMs).toISOString() }),
          ...(job.lastRun ? { lastRun: job.lastRun } : {}),
          ...(next && !closed ? { nextRunAt: next.toISOString() } : {}),
          runs: job.runs,
          failures: job.failures,
          skips: job.skips,
        };
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const job of jobs.values()) await job.task?.destroy();
      await Promise.all([...jobs.values()].map((job) => job.current));
    },
  };
}
