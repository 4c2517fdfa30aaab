/**
 * The reads behind a trial's device report (api/trials/report.ts), over InfluxDB: a device's
 * stored readings with receipt time, seq, battery and signal; which kind a removed device
 * was; its rejections by reason; hourly air means per device for the reference comparison.
 * Statements come from influxql.ts (bound values, allow-listed identifiers).
 */
import { metricsOf, readingKinds, REFERENCE_POLLUTANTS, RejectionReasonSchema, type DeviceReport, type ReadingKind, type RejectionReason } from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { InfluxClient, QueryParams } from '../../common/influx.ts';
import { seriesToRows } from '../../common/influx.ts';
import { FIELD_RECEIVED, TAG_DEVICE, TAG_REASON } from '../../common/influx-schema.ts';
import type { ReadingRow } from '../trials/stats.ts';
import { deviceCountStatements, deviceReadingsStatement, hourlyMeansStatement, rejectionsByReasonStatements } from './influxql.ts';

type Influx = Pick<InfluxClient, 'query' | 'queryChunks'>;

/** A period in ms: `from` inclusive, `to` exclusive. */
export interface MsRange {
  fromMs: number;
  toMs: number;
}

export interface RejectionFigures {
  total: number;
  byReason: DeviceReport['rejections']['byReason'];
}

/** Hourly means: device → pollutant → hour start (ms) → mean. */
export type HourlyMeans = Map<string, Map<string, Map<number, number>>>;

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Every stored reading of a device in the range; beyond `max` readings → 400 asking for a sub-range. */
export async function readDeviceRows(influx: Influx, kind: ReadingKind, deviceId: string, range: MsRange, max: number): Promise<ReadingRow[]> {
  const params: QueryParams = {};
  const statement = deviceReadingsStatement(kind, [FIELD_RECEIVED, 'seq', 'battery', 'rssi', ...metricsOf(kind)], deviceId, range, params);
  const rows: ReadingRow[] = [];
  for await (const results of influx.queryChunks(statement, params, 10_000)) {
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

/** The kind whose measurement holds a device's readings in the range (a removed device's kind). */
export async function findDeviceKind(influx: Influx, deviceId: string, range: MsRange): Promise<ReadingKind | undefined> {
  const params: QueryParams = {};
  const kinds = readingKinds();
  const results = await influx.query(deviceCountStatements(kinds, deviceId, range, params), params);
  const index = results.findIndex((r) => (r.series?.length ?? 0) > 0);
  return index >= 0 ? kinds[index] : undefined;
}

/** A device's rejections in the range: count per reason, most frequent first, with the newest examples. */
export async function readRejectionFigures(influx: Influx, deviceId: string, range: MsRange, examplesPerReason: number): Promise<RejectionFigures> {
  const params: QueryParams = {};
  const [counts, examples] = await influx.query(rejectionsByReasonStatements(deviceId, range, examplesPerReason, params), params);
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

/** Hourly means of the reference pollutants of each of `devices` (raw readings). */
export async function readHourlyMeans(influx: Influx, devices: readonly string[], range: MsRange): Promise<HourlyMeans> {
  const params: QueryParams = {};
  const [result] = await influx.query(hourlyMeansStatement(REFERENCE_POLLUTANTS, 'raw', { devices: [...devices] }, range, params, true), params);
  const out: HourlyMeans = new Map();
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
