/**
 * The rollup job (node-cron): keeps the hourly and daily rollups current, including windows
 * that late readings changed, and applies retention at start.
 *
 * Each run recomputes
 * 1. the last `recomputeHours` hours (the current, still open hour included), so rollups lag
 *    the raw data by at most one schedule interval and normal delivery delays need nothing
 *    special; and
 * 2. every older hour within `lateWindowMs` that received readings since the previous run
 *    started (less `lateMarginMs` for readings still in ingest's write buffer then): a
 *    reading's `received_ms` field says when it arrived, its timestamp which window it
 *    belongs to. One grouped COUNT query per kind finds those hours. `lateWindowMs` should
 *    match the oldest timestamp ingest accepts (TS_MAX_AGE_S, 7 days by default).
 * then the days containing any recomputed hour, from the hourly rollups.
 *
 * Where the previous run started is kept in InfluxDB itself (measurement `rollup_state` in the
 * rollups retention policy), so a restarted process catches up instead of starting blind; the
 * very first run treats the whole late window as dirty, which is also the initial backfill.
 * Recomputing is idempotent (same series and time overwrite), so overlaps cost only time.
 */
import cron, { type ScheduledTask } from 'node-cron';
import { readingKinds, type ReadingKind } from '../../contracts/index.ts';
import type { InfluxClient } from '../influx.ts';
import { quoteIdentifier } from '../influx.ts';
import { FIELD_RECEIVED, ROLLUP_RETENTION_POLICY, ROLLUP_STATE_MEASUREMENT } from '../influx-schema.ts';
import type { Logger } from '../logger.ts';
import { createSilentLogger } from '../logger.ts';
import { DAY_MS, HOUR_MS, computeDaily, computeHourly, findLateHours, toRanges, type ComputeContext, type LookupInterval } from './compute.ts';
import { applyRetention, type RetentionReport, type RetentionSettings } from './retention.ts';

export interface RollupJobOptions {
  influx: Pick<InfluxClient, 'query' | 'write' | 'settings'>;
  /** node-cron expression; default every 5 minutes. */
  schedule?: string;
  /** Hours recomputed on every run, the current one included (default 2). */
  recomputeHours?: number;
  /** How far back late readings are looked for (default 7 days). */
  lateWindowMs?: number;
  /** Slack for readings received before the previous run but written after it (default 10 min). */
  lateMarginMs?: number;
  retention?: RetentionSettings | undefined;
  lookupInterval?: LookupInterval | undefined;
  /** Seconds, when lookupInterval knows nothing of a device (default 60). */
  defaultIntervalSeconds?: number;
  /** Run once right after start (default true). */
  runOnStart?: boolean;
  /**
   * false = start() creates no cron task of its own: the caller runs runOnce on the schedule
   * (the API's job scheduler does, so the job shows at GET /api/v1/jobs). Default true.
   */
  selfScheduled?: boolean;
  kinds?: readonly ReadingKind[];
  logger?: Logger;
  now?: () => number;
}

export interface RollupRunReport {
  startedMs: number;
  sinceMs: number;
  hours: number;
  lateHours: number;
  days: number;
  points: number;
}

export interface RollupJob {
  /** Applies retention, schedules the job and (by default) runs it once in the background. */
  start(): Promise<RetentionReport | undefined>;
  /** One run now (queued behind a run in progress). */
  runOnce(nowMs?: number): Promise<RollupRunReport>;
  /** Recomputes every hour and day in [fromMs, toMs), e.g. after importing history. */
  recompute(fromMs: number, toMs: number): Promise<number>;
  readonly schedule: string;
  close(): Promise<void>;
}

export const DEFAULT_ROLLUP_SCHEDULE = '*/5 * * * *';
export const DEFAULT_RAW_RETENTION_DAYS = 30;
export const DEFAULT_ROLLUP_RETENTION_DAYS = 5 * 365;

export function createRollupJob(options: RollupJobOptions): RollupJob {
  const log = options.logger ?? createSilentLogger();
  const schedule = options.schedule ?? DEFAULT_ROLLUP_SCHEDULE;
  if (!cron.validate(schedule)) throw new Error(`not a cron expression: ${schedule}`);
  // Read at every run: a kind added at run time gets rollups from the next run on.
  const kinds = () => options.kinds ?? readingKinds();
  const recomputeHours = Math.max(1, options.recomputeHours ?? 2);
  const lateWindowMs = options.lateWindowMs ?? 7 * DAY_MS;
  const lateMarginMs = options.lateMarginMs ?? 10 * 60_000;
  const now = options.now ?? Date.now;
  const { influx } = options;
  let task: ScheduledTask | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let lastStartedMs: number | undefined;
  let closed = false;

  function context(): ComputeContext {
    const cache = new Map<string, number>();
    const fallback = options.defaultIntervalSeconds ?? 60;
    return {
      influx,
      async intervalOf(deviceId) {
        let seconds = cache.get(deviceId);
        if (seconds === undefined) {
          const found = await options.lookupInterval?.(deviceId);
          seconds = typeof found === 'number' && found > 0 ? found : fallback;
          cache.set(deviceId, seconds);
        }
        return seconds;
      },
    };
  }

  async function previousStart(): Promise<number | undefined> {
    if (lastStartedMs !== undefined) return lastStartedMs;
    const rows = await influx.query(
      `SELECT LAST("started_ms") FROM ${quoteIdentifier(ROLLUP_RETENTION_POLICY)}.${quoteIdentifier(ROLLUP_STATE_MEASUREMENT)}`,
    );
    const value = rows[0]?.series?.[0]?.values[0]?.[1];
    return typeof value === 'number' ? value : undefined;
  }

  async function recomputeHours_(ctx: ComputeContext, kind: ReadingKind, hours: Iterable<number>): Promise<{ points: number; days: Set<number> }> {
    let points = 0;
    const days = new Set<number>();
    for (const [from, to] of toRanges(hours, HOUR_MS, 24)) {
      points += await computeHourly(ctx, kind, from, to);
      for (let h = from; h < to; h += HOUR_MS) days.add(Math.floor(h / DAY_MS) * DAY_MS);
    }
    for (const [from, to] of toRanges(days, DAY_MS, 31)) points += await computeDaily(ctx, kind, from, to);
    return { points, days };
  }

  async function run(nowMs: number): Promise<RollupRunReport> {
    const currentHour = Math.floor(nowMs / HOUR_MS) * HOUR_MS;
    const recentFrom = currentHour - (recomputeHours - 1) * HOUR_MS;
    const lateFrom = Math.floor((nowMs - lateWindowMs) / HOUR_MS) * HOUR_MS;
    const previous = await previousStart();
    const sinceMs = previous === undefined ? nowMs - lateWindowMs : previous - lateMarginMs;
    const ctx = context();
    const report: RollupRunReport = { startedMs: nowMs, sinceMs, hours: 0, lateHours: 0, days: 0, points: 0 };
    for (const kind of kinds()) {
      const late = await findLateHours(influx, kind, lateFrom, recentFrom, sinceMs, FIELD_RECEIVED);
      const hours = new Set(late);
      for (let h = recentFrom; h <= currentHour; h += HOUR_MS) hours.add(h);
      const { points, days } = await recomputeHours_(ctx, kind, hours);
      report.lateHours += late.length;
      report.hours += hours.size;
      report.days += days.size;
      report.points += points;
    }
    await influx.write([`${ROLLUP_STATE_MEASUREMENT} started_ms=${nowMs} ${nowMs}000000`], { retentionPolicy: ROLLUP_RETENTION_POLICY });
    lastStartedMs = nowMs;
    log.info(report, 'rollups updated');
    return report;
  }

  function enqueue<T>(work: () => Promise<T>): Promise<T> {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  }

  return {
    schedule,
    async start() {
      let retention: RetentionReport | undefined;
      try {
        // The rollups need their retention policy even when raw retention is left alone.
        retention = await applyRetention(influx, options.retention ?? { rollupDays: DEFAULT_ROLLUP_RETENTION_DAYS });
        log.info({ retention }, retention.applied ? 'retention policies applied' : 'retention is managed by the server');
      } catch (error) {
        log.warn({ err: error }, 'could not apply retention policies');
      }
      if (options.selfScheduled === false) {
        if (options.runOnStart ?? true) enqueue(() => run(now())).catch((error: unknown) => log.error({ err: error }, 'rollup run failed'));
        return retention;
      }
      task = cron.createTask(
        schedule,
        async () => {
          try {
            await enqueue(() => run(now()));
          } catch (error) {
            log.error({ err: error }, 'rollup run failed');
          }
        },
        { name: 'streetlab-rollups', noOverlap: true },
      );
      await task.start();
      if (options.runOnStart ?? true) {
        enqueue(() => run(now())).catch((error: unknown) => log.error({ err: error }, 'rollup run failed'));
      }
      return retention;
    },
    runOnce(nowMs) {
      if (closed) return Promise.reject(new Error('rollup job closed'));
      return enqueue(() => run(nowMs ?? now()));
    },
    recompute(fromMs, toMs) {
      return enqueue(async () => {
        const ctx = context();
        const first = Math.floor(fromMs / HOUR_MS) * HOUR_MS;
        const hours: number[] = [];
        for (let h = first; h < toMs; h += HOUR_MS) hours.push(h);
        let points = 0;
        for (const kind of kinds()) points += (await recomputeHours_(ctx, kind, hours)).points;
        return points;
      });
    },
    async close() {
      closed = true;
      await task?.destroy();
      await queue;
    },
  };
}
