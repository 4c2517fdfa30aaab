/**
 * The device report of a trial: fetches each device's stored readings, rejections and (for
 * air trials with a reference station) hourly means from InfluxDB, and hands them to the pure
 * modules (stats.ts, reference.ts, verdicts.ts). Every value from a request travels as a
 * bound parameter; measurement and field names come from the contract allow-lists.
 */
import {
  METRICS_BY_KIND,
  METRIC_UNITS,
  READING_KINDS,
  REFERENCE_POLLUTANTS,
  RejectionReasonSchema,
  type DeviceRecord,
  type DeviceReport,
  type PollutantComparison,
  type ReadingKind,
  type RejectionReason,
  type Trial,
  type TrialReport,
} from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { InfluxClient, QueryParams } from '../../common/influx.ts';
import { quoteIdentifier, seriesToRows } from '../../common/influx.ts';
import { FIELD_RECEIVED, MEASUREMENTS, REJECTED_MEASUREMENT, TAG_DEVICE, TAG_REASON } from '../../common/influx-schema.ts';
import { parseTimeBound } from '../time-range.ts';
import { compareWithReference, pairHours } from './reference.ts';
import { analyseReadings, type ReadingRow } from './stats.ts';
import { judgeGoals } from './verdicts.ts';

export interface TrialReportDeps {
  influx: Pick<InfluxClient, 'query' | 'queryChunks'>;
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

function timeParams(fromMs: number, toMs: number, extra: QueryParams = {}): QueryParams {
  return { ...extra, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

async function readDeviceRows(deps: TrialReportDeps, kind: ReadingKind, deviceId: string, fromMs: number, toMs: number): Promise<ReadingRow[]> {
  const max = deps.maxReadingsPerDevice ?? DEFAULT_MAX_READINGS_PER_DEVICE;
  const fields = [FIELD_RECEIVED, 'seq', 'battery', 'rssi', ...METRICS_BY_KIND[kind]].map(quoteIdentifier).join(', ');
  const influxql = `SELECT ${fields} FROM ${quoteIdentifier(MEASUREMENTS[kind])} WHERE ${quoteIdentifier(TAG_DEVICE)} = $device AND time >= $from AND time < $to`;
  const rows: ReadingRow[] = [];
  for await (const results of deps.influx.queryChunks(influxql, timeParams(fromMs, toMs, { device: deviceId }), 10_000)) {
    for (const series of results[0]?.series ?? []) {
      const at = (name: string) => series.columns.indexOf(name);
      const [iTime, iReceived, iSeq, iBattery, iRssi] = [at('time'), at(FIELD_RECEIVED), at('seq'), at('battery'), at('rssi')];
      for (const values of series.values) {
        const row: ReadingRow = { ts: Number(values[iTime]) };
        const received = num(values[iReceived]);
        const seq = num(values[iSeq]);
        const battery = num(values[iBattery]);
        const rssi = num(values[iRssi]);
        if (received !== undefined) row.receivedMs = received;
        if (seq !== undefined) row.seq = seq;
        if (battery !== undefined) row.battery = battery;
        if (rssi !== undefined) row.rssi = rssi;
        rows.push(row);
      }
      if (rows.length > max) {
        throw new AppError('BAD_REQUEST', `from/to: device "${deviceId}" has more than ${max} readings in this range; ask for a shorter sub-range`);
      }
    }
  }
  return rows;
}

/** A removed device's kind: the measurement that holds its readings. */
async function guessKind(deps: TrialReportDeps, deviceId: string, fromMs: number, toMs: number): Promise<ReadingKind | undefined> {
  const statements = READING_KINDS.map(
    (kind) => `SELECT COUNT(${quoteIdentifier(FIELD_RECEIVED)}) AS "n" FROM ${quoteIdentifier(MEASUREMENTS[kind])} WHERE ${quoteIdentifier(TAG_DEVICE)} = $device AND time >= $from AND time < $to`,
  );
  const results = await deps.influx.query(statements.join('; '), timeParams(fromMs, toMs, { device: deviceId }));
  const index = results.findIndex((r) => (r.series?.length ?? 0) > 0);
  return index >= 0 ? READING_KINDS[index] : undefined;
}

interface RejectionFigures {
  total: number;
  byReason: DeviceReport['rejections']['byReason'];
}

async function readRejections(deps: TrialReportDeps, deviceId: string, fromMs: number, toMs: number): Promise<RejectionFigures> {
  const from = `FROM ${quoteIdentifier(REJECTED_MEASUREMENT)} WHERE ${quoteIdentifier(TAG_DEVICE)} = $device AND time >= $from AND time < $to GROUP BY ${quoteIdentifier(TAG_REASON)}`;
  const [counts, examples] = await deps.influx.query(
    `SELECT COUNT("size") AS "n" ${from}; SELECT "message", "excerpt" ${from} ORDER BY time DESC LIMIT ${EXAMPLES_PER_REASON}`,
    timeParams(fromMs, toMs, { device: deviceId }),
  );
  const byReason = new Map<RejectionReason, DeviceReport['rejections']['byReason'][number]>();
  for (const row of seriesToRows(counts?.series ?? [])) {
    const reason = RejectionReasonSchema.safeParse(row[TAG_REASON]);
    if (!reason.success) continue;
    byReason.set(reason.data, { reason: reason.data, count: Number(row.n ?? 0), examples: [] });
  }
  for (const row of seriesToRows(examples?.series ?? [])) {
    const entry = byReason.get(row[TAG_REASON] as RejectionReason);
    entry?.examples.push({ receivedAt: new Date(Number(row.time)).toISOString(), message: String(row.message ?? ''), excerpt: String(row.excerpt ?? '') });
  }
  const list = [...byReason.values()].sort((a, b) => b.count - a.count || a.reason.localeCompare(b.reason));
  return { total: list.reduce((sum, r) => sum + r.count, 0), byReason: list };
}

/** Hourly means (hour start ms → mean) per pollutant of each of `devices`. */
async function hourlyMeans(deps: TrialReportDeps, devices: readonly string[], fromMs: number, toMs: number): Promise<Map<string, Map<string, Map<number, number>>>> {
  const params = timeParams(fromMs, toMs);
  const terms = devices.map((device, i) => {
    params[`device${i}`] = device;
    return `${quoteIdentifier(TAG_DEVICE)} = $device${i}`;
  });
  const select = REFERENCE_POLLUTANTS.map((p) => `MEAN(${quoteIdentifier(p)}) AS ${quoteIdentifier(p)}`).join(', ');
  const [result] = await deps.influx.query(
    `SELECT ${select} FROM ${quoteIdentifier(MEASUREMENTS.air)} WHERE (${terms.join(' OR ')}) AND time >= $from AND time < $to GROUP BY time(1h), ${quoteIdentifier(TAG_DEVICE)} fill(none)`,
    params,
  );
  const out = new Map<string, Map<string, Map<number, number>>>();
  for (const row of seriesToRows(result?.series ?? [])) {
    const device = String(row[TAG_DEVICE]);
    const byPollutant = out.get(device) ?? new Map<string, Map<number, number>>();
    out.set(device, byPollutant);
    for (const pollutant of REFERENCE_POLLUTANTS) {
      const value = num(row[pollutant]);
      if (value === undefined) continue;
      const series = byPollutant.get(pollutant) ?? new Map<number, number>();
      series.set(Number(row.time), value);
      byPollutant.set(pollutant, series);
    }
  }
  return out;
}

const orNull = <T>(value: T | undefined): T | null => (value === undefined ? null : value);

export async function buildTrialReport(deps: TrialReportDeps, trial: Trial, range: { fromMs: number; toMs: number }): Promise<TrialReport> {
  const now = deps.now ?? Date.now;
  const { fromMs, toMs } = range;
  const intervalMs = trial.goals.intervalSeconds * 1000;
  const notes = [...REPORT_NOTES];

  const reference = trial.referenceDeviceId;
  const airDevices: string[] = [];
  const devices: DeviceReport[] = [];
  const kinds = new Map<string, ReadingKind | undefined>();
  for (const deviceId of trial.deviceIds) {
    const record = await deps.lookupDevice(deviceId);
    const kind = record?.kind ?? (await guessKind(deps, deviceId, fromMs, toMs));
    kinds.set(deviceId, kind);
    if (kind === 'air' && reference !== undefined && deviceId !== reference) airDevices.push(deviceId);
  }
  const hourly = reference !== undefined && airDevices.length > 0 ? await hourlyMeans(deps, [...airDevices, reference], fromMs, toMs) : undefined;
  if (reference !== undefined && hourly && !hourly.has(reference)) notes.push(`The reference device "${reference}" has no air readings in this period: no comparison was possible.`);

  for (const deviceId of trial.deviceIds) {
    const record = await deps.lookupDevice(deviceId);
    const kind = kinds.get(deviceId);
    if (!record) notes.push(`Device "${deviceId}" is not (or no longer) registered.`);
    const rows = kind ? await readDeviceRows(deps, kind, deviceId, fromMs, toMs) : [];
    const figures = analyseReadings(rows, { fromMs, toMs, intervalMs });
    const rejections = await readRejections(deps, deviceId, fromMs, toMs);
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
          unit: METRIC_UNITS.air[pollutant] ?? '',
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

