/**
 * The device report of a trial: fetches each device's stored readings, rejections and (for
 * air trials with a reference station) hourly means through the query interface
 * (TrialQueries, api/store.ts: no InfluxQL here), and hands them to the pure modules
 * (stats.ts, reference.ts, verdicts.ts).
 */
import {
  unitsOf,
  REFERENCE_POLLUTANTS,
  type DeviceRecord,
  type DeviceReport,
  type PollutantComparison,
  type ReadingKind,
  type Trial,
  type TrialReport,
} from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { TrialQueries } from '../store.ts';
import { parseTimeBound } from '../time-range.ts';
import { compareWithReference, pairHours } from './reference.ts';
import { analyseReadings } from './stats.ts';
import { judgeGoals } from './verdicts.ts';

export interface TrialReportDeps {
  /** The reads a report needs (api/store.ts implements them over InfluxDB). */
  queries: TrialQueries;
  /** The registry's record of a device (kind, name), or undefined when it was removed. */
  lookupDevice: (id: string) => DeviceRecord | undefined | Promise<DeviceRecord | undefined>;
  /** Most readings read per device in one report (default 2,000,000); beyond → 400 asking for a sub-range. */
  maxReadingsPerDevice?: number | undefined;
  now?: () => number;
}

export const DEFAULT_MAX_READINGS_PER_DEVICE = 2_000_000;
const EXAMPLES_PER_REASON = 3;

export const REPORT_NOTES = [
  'Completeness: unique readings ÷ (period ÷ declared interval). Uptime: share of the period covered by [reading time, + interval).',
  'Gaps come from holes in the sequence counter (seq) when the device sends one, else from time (readings more than 1.5 × the interval apart); silence at the start or end of the period counts as an edge gap.',
  'Duplicates are readings repeating a sequence number at another timestamp. A redelivery with the same timestamp is stored once (storage is idempotent on device + timestamp) and is not counted.',
  'Out of order: in order of receipt, a reading older (lower seq, or earlier timestamp without seq) than one received before it.',
  'Latency: receipt − device timestamp. A device clock behind shows as extra latency; a clock ahead shows as readings stamped after their receipt.',
  'Reference comparison: on paired hourly means (UTC hours); bias = mean(device − reference); fit device = slope × reference + intercept; drift = slope of the hourly error over time.',
];

/** The period a report covers: the trial period, or the part of `from`/`to` inside it. */
export function resolveReportPeriod(trial: Trial, query: { from?: string | undefined; to?: string | undefined }, nowMs: number): { fromMs: number; toMs: number } {
  const startMs = Date.parse(trial.start);
  const endMs = trial.end !== undefined ? Math.min(Date.parse(trial.end), trial.status === 'open' ? Math.max(nowMs, startMs) : Infinity) : nowMs;
  const askedFrom = query.from === undefined ? startMs : parseTimeBound(query.from, 'from', nowMs);
  const askedTo = query.to === undefined ? endMs : parseTimeBound(query.to, 'to', nowMs);
  const fromMs = Math.max(startMs, askedFrom);
  const toMs = Math.min(endMs, askedTo);
  if (fromMs >= toMs) {
    throw new AppError(
      'BAD_REQUEST',
      `from/to: the range ${new Date(askedFrom).toISOString()} – ${new Date(askedTo).toISOString()} holds no time of the trial (${trial.start} – ${trial.end ?? 'now'})`,
    );
  }
  return { fromMs, toMs };
}

const orNull = <T>(value: T | undefined): T | null => (value === undefined ? null : value);

export async function buildTrialReport(deps: TrialReportDeps, trial: Trial, range: { fromMs: number; toMs: number }): Promise<TrialReport> {
  const now = deps.now ?? Date.now;
  const { fromMs, toMs } = range;
  const intervalMs = trial.goals.intervalSeconds * 1000;
  const { queries } = deps;
  const maxRows = deps.maxReadingsPerDevice ?? DEFAULT_MAX_READINGS_PER_DEVICE;
  const notes = [...REPORT_NOTES];

  const reference = trial.referenceDeviceId;
  const airDevices: string[] = [];
  const devices: DeviceReport[] = [];
  const kinds = new Map<string, ReadingKind | undefined>();
  for (const deviceId of trial.deviceIds) {
    const record = await deps.lookupDevice(deviceId);
    const kind = record?.kind ?? (await queries.deviceKind(deviceId, range));
    kinds.set(deviceId, kind);
    if (kind === 'air' && reference !== undefined && deviceId !== reference) airDevices.push(deviceId);
  }
  const hourly = reference !== undefined && airDevices.length > 0 ? await queries.hourlyMeans([...airDevices, reference], range) : undefined;
  if (reference !== undefined && hourly && !hourly.has(reference)) notes.push(`The reference device "${reference}" has no air readings in this period: no comparison was possible.`);

  for (const deviceId of trial.deviceIds) {
    const record = await deps.lookupDevice(deviceId);
    const kind = kinds.get(deviceId);
    if (!record) notes.push(`Device "${deviceId}" is not (or no longer) registered.`);
    const rows = kind ? await queries.deviceRows(kind, deviceId, range, maxRows) : [];
    const figures = analyseReadings(rows, { fromMs, toMs, intervalMs });
    const rejections = await queries.rejectionFigures(deviceId, range, EXAMPLES_PER_REASON);
    const messages = rejections.total + figures.stored;
    const rejectRatePct = messages > 0 ? Math.round((rejections.total / messages) * 100_000) / 1000 : undefined;

    let comparison: DeviceReport['reference'] = null;
    if (hourly && reference !== undefined && airDevices.includes(deviceId)) {
      const pollutants: PollutantComparison[] = [];
      for (const pollutant of REFERENCE_POLLUTANTS) {
        const mine = hourly.get(deviceId)?.get(pollutant);
        const theirs = hourly.get(reference)?.get(pollutant);
        if (!mine || !theirs) continue;
        const c = compareWithReference(pairHours(mine, theirs));
        if (c.pairedHours === 0) continue;
        pollutants.push({
          pollutant,
          unit: unitsOf('air')[pollutant] ?? '',
          pairedHours: c.pairedHours,
          meanDevice: orNull(c.meanDevice),
          meanReference: orNull(c.meanReference),
          bias: orNull(c.bias),
          rmse: orNull(c.rmse),
          r2: orNull(c.r2),
          slope: orNull(c.slope),
          intercept: orNull(c.intercept),
          drift: { perDay: orNull(c.drift.perDay), windowDays: c.drift.windowDays, earlyBias: orNull(c.drift.earlyBias), lateBias: orNull(c.drift.lateBias) },
          pairs: c.pairs,
        });
      }
      comparison = { deviceId: reference, pollutants };
    }

    devices.push({
      deviceId,
      kind: kind ?? null,
      name: record?.name ?? null,
      intervalSeconds: trial.goals.intervalSeconds,
      readings: { stored: figures.stored, unique: figures.unique, expected: figures.expected },
      completenessPct: figures.completenessPct,
      uptimePct: figures.uptimePct,
      medianIntervalSeconds: orNull(figures.medianIntervalSeconds),
      gaps: { ...figures.gaps, longest: orNull(figures.gaps.longest) },
      duplicates: figures.duplicates,
      outOfOrder: figures.outOfOrder,
      rejections: { total: rejections.total, ratePct: orNull(rejectRatePct), byReason: rejections.byReason },
      latency: {
        samples: figures.latency.samples,
        p50Ms: orNull(figures.latency.p50Ms),
        p95Ms: orNull(figures.latency.p95Ms),
        maxMs: orNull(figures.latency.maxMs),
      },
      clockSkew: {
        aheadReadings: figures.clockSkew.aheadReadings,
        maxAheadMs: orNull(figures.clockSkew.maxAheadMs),
        medianOffsetMs: orNull(figures.clockSkew.medianOffsetMs),
      },
      battery: figures.battery
        ? {
            samples: figures.battery.samples,
            first: figures.battery.first,
            last: figures.battery.last,
            drainPerDay: orNull(figures.battery.drainPerDay),
            projectedDaysLeft: orNull(figures.battery.projectedDaysLeft),
            ...(figures.battery.replacedAtMs !== undefined ? { replacedAt: new Date(figures.battery.replacedAtMs).toISOString() } : {}),
          }
        : null,
      signal: figures.signal ?? null,
      reference: comparison,
      verdicts: judgeGoals(trial.goals, {
        completenessPct: figures.completenessPct,
        rejectRatePct,
        latencyP95Ms: figures.latency.p95Ms,
        medianIntervalSeconds: figures.medianIntervalSeconds,
      }),
      series: figures.series,
    });
  }

  return {
    trial,
    period: { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), days: Math.round(((toMs - fromMs) / 86_400_000) * 1000) / 1000 },
    generatedAt: new Date(now()).toISOString(),
    devices,
    allGoalsMet: devices.length > 0 && devices.every((d) => d.verdicts.every((v) => v.met)),
    notes,
  };
}

