/**
 * The daily trial summary: yesterday's figures (UTC day) for every device of every open
 * trial, computed like the device report, logged one line per device and, with `write`,
 * stored in InfluxDB (measurement `trial_daily`, tags trial/device/owner, one point per device
 * per day at the day's start, so a re-run overwrites rather than duplicates). Meant to run
 * on the scheduler (api/jobs/scheduler.ts) shortly after midnight UTC; it never throws
 * because of one trial: a failing trial is logged and counted, the others still run.
 */
import type { InfluxClient } from '../../common/influx.ts';
import { tagString } from '../../common/influx-schema.ts';
import type { Logger } from '../../common/logger.ts';
import { createSilentLogger } from '../../common/logger.ts';
import type { Trial } from '../../contracts/index.ts';
import { buildTrialReport, type TrialReportDeps } from './report.ts';
import type { TrialStore } from './store.ts';

/** Where daily summaries are stored (one point per trial device and UTC day). */
export const TRIAL_DAILY_MEASUREMENT = 'trial_daily';
const DAY_MS = 86_400_000;

export interface DeviceDaySummary {
  trialId: string;
  owner: string;
  deviceId: string;
  /** The UTC day, YYYY-MM-DD. */
  day: string;
  from: string;
  to: string;
  stored: number;
  expected: number;
  completenessPct: number;
  uptimePct: number;
  gaps: number;
  missing: number;
  longestGapMs: number;
  duplicates: number;
  outOfOrder: number;
  rejections: number;
  rejectRatePct: number | null;
  latencyP95Ms: number | null;
  battery: number | null;
  goalsMet: number;
  goalsTotal: number;
}

export interface DailySummaryDeps {
  trials: Pick<TrialStore, 'list'>;
  report: Omit<TrialReportDeps, 'now'>;
  /** Stores the summaries (e.g. `influx.write`); omitted = log only. */
  write?: InfluxClient['write'] | undefined;
  logger?: Logger | undefined;
  now?: () => number;
}

export interface DailySummaryResult {
  day: string;
  summaries: DeviceDaySummary[];
  /** Trials whose summary failed (logged). */
  failed: { trialId: string; error: string }[];
}

/** `trial_daily,device=…,owner=…,trial=… field=… <day start ns>`. */
export function summaryToLine(summary: DeviceDaySummary): string {
  const fields: string[] = [];
  const numeric: (keyof DeviceDaySummary)[] = [
    'stored', 'expected', 'completenessPct', 'uptimePct', 'gaps', 'missing', 'longestGapMs', 'duplicates', 'outOfOrder',
    'rejections', 'rejectRatePct', 'latencyP95Ms', 'battery', 'goalsMet', 'goalsTotal',
  ];
  for (const key of numeric) {
    const value = summary[key];
    if (typeof value === 'number' && Number.isFinite(value)) fields.push(`${key}=${value}`);
  }
  const tags = tagString({ trial: summary.trialId, device: summary.deviceId, owner: summary.owner });
  return `${TRIAL_DAILY_MEASUREMENT}${tags} ${fields.join(',')} ${Date.parse(summary.from)}000000`;
}

/** The part of the UTC day `[dayStart, dayStart + 1 d)` inside the trial, or undefined. */
function overlap(trial: Trial, dayStart: number): { fromMs: number; toMs: number } | undefined {
  const fromMs = Math.max(dayStart, Date.parse(trial.start));
  const toMs = Math.min(dayStart + DAY_MS, trial.end !== undefined ? Date.parse(trial.end) : Infinity);
  return fromMs < toMs ? { fromMs, toMs } : undefined;
}

/** Computes, logs and (with `write`) stores yesterday's figures of every open trial. `day` (YYYY-MM-DD) overrides yesterday. */
export async function summariseTrialsDaily(deps: DailySummaryDeps, options: { day?: string } = {}): Promise<DailySummaryResult> {
  const log = deps.logger ?? createSilentLogger();
  const nowMs = (deps.now ?? Date.now)();
  const dayStart = options.day !== undefined ? Date.parse(`${options.day}T00:00:00Z`) : Math.floor(nowMs / DAY_MS) * DAY_MS - DAY_MS;
  if (!Number.isFinite(dayStart)) throw new Error(`day: "${options.day}" is not YYYY-MM-DD`);
  const day = new Date(dayStart).toISOString().slice(0, 10);
  const summaries: DeviceDaySummary[] = [];
  const failed: DailySummaryResult['failed'] = [];

  for (const trial of await deps.trials.list()) {
    if (trial.status !== 'open') continue;
    const period = overlap(trial, dayStart);
    if (!period) continue;
    try {
      const report = await buildTrialReport({ ...deps.report, now: () => nowMs }, trial, period);
      const mine: DeviceDaySummary[] = report.devices.map((d) => ({
        trialId: trial.id,
        owner: trial.owner,
        deviceId: d.deviceId,
        day,
        from: report.period.from,
        to: report.period.to,
        stored: d.readings.stored,
        expected: d.readings.expected,
        completenessPct: d.completenessPct,
        uptimePct: d.uptimePct,
        gaps: d.gaps.count,
        missing: d.gaps.missing,
        longestGapMs: d.gaps.longest?.durationMs ?? 0,
        duplicates: d.duplicates.count,
        outOfOrder: d.outOfOrder.count,
        rejections: d.rejections.total,
        rejectRatePct: d.rejections.ratePct,
        latencyP95Ms: d.latency.p95Ms,
        battery: d.battery?.last ?? null,
        goalsMet: d.verdicts.filter((v) => v.met).length,
        goalsTotal: d.verdicts.length,
      }));
      for (const summary of mine) log.info({ ...summary }, 'trial daily summary');
      if (deps.write && mine.length > 0) await deps.write(mine.map(summaryToLine));
      summaries.push(...mine);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      failed.push({ trialId: trial.id, error: message });
      log.error({ err: error, trialId: trial.id, day }, 'trial daily summary failed');
    }
  }
  return { day, summaries, failed };
}
