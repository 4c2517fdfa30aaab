/**
 * The API's read interface to the stored readings, and its one implementation over InfluxDB.
 * Routes, the trial report and the jobs that read get a `ReadingStore` — named questions
 * (readings for a plan, latest, rejections, AQI, a trial device's figures) — never the
 * InfluxDB client, so nothing outside api/query/ and this module can send InfluxQL.
 * Statements come from api/query/influxql.ts: values from requests only ever travel as bound
 * parameters; measurement and field names come from the contract allow-lists.
 */
import { metricsOf, type AqiResponse, type Licence, type EaqiStation, type LiveReading, type ReadingKind, type Rejection, type WhoResponse } from '../contracts/index.ts';
import type { InfluxClient, QueryParams } from '../common/influx.ts';
import { createInfluxClient, seriesToRows } from '../common/influx.ts';
import { TAG_DEVICE, rowToReading, rowToRejection } from '../common/influx-schema.ts';
import { answerAqi, answerWho } from './query/aqi.ts';
import { anyReadingStatement, lastValueStatement, latestStatement, rejectionsStatement, wasteFillStatement } from './query/influxql.ts';
import type { FillReading } from './waste/collections.ts';
import { AppError } from '../common/errors.ts';
import type { QueryLimits } from './query/limits.ts';
import type { ReadingsPlan, TagFilter } from './query/params.ts';
import { answerReadings, type LookupInterval, type ReadingsAnswer } from './query/readings.ts';
import { findDeviceKind, readDeviceRows, readHourlyMeans, readRejectionFigures, type HourlyMeans, type MsRange, type RejectionFigures } from './query/trials.ts';
import type { ReadingRow } from './trials/stats.ts';

export type { HourlyMeans, MsRange, RejectionFigures };

/** How long a streamed export may wait on a slow client before InfluxDB's socket counts as idle. */
export const EXPORT_IDLE_TIMEOUT_MS = 5 * 60_000;

/** Latest values of every metric per `kind/device`: metric → value and its time. */
export type LatestPerMetric = Map<string, Record<string, { value: number | boolean; ts: string }>>;

/** What the research routes (/readings, /latest, /rejections, /aqi) ask. */
export interface ReadingQueries {
  /** A planned `/readings` request (api/query/params.ts): a JSON page or a streamed export. */
  readings(plan: ReadingsPlan, settings: { limits: QueryLimits; lookupInterval?: LookupInterval | undefined; licence?: Licence | undefined }): Promise<ReadingsAnswer>;
  /** The latest reading of every device heard from within `windowMs`. */
  latest(kinds: readonly ReadingKind[], nowMs: number, windowMs: number): Promise<LiveReading[]>;
  /**
   * The latest value of every metric of every device within `windowMs`, with its time: a
   * device that sends some metrics less often than others still shows each one's age.
   */
  latestPerMetric(kinds: readonly ReadingKind[], nowMs: number, windowMs: number): Promise<LatestPerMetric>;
  /** `within`: only these devices (a lab's, api/labs/scope.ts). */
  rejections(filter: { device?: string | undefined; kind?: ReadingKind | undefined; fromMs: number; limit: number; within?: Pick<TagFilter, 'devices' | 'excludeDevices'> | undefined }): Promise<Rejection[]>;
  /** Whether any raw reading of the kind is stored (the kind catalogue's versioning rules depend on it). */
  hasReadings(kind: ReadingKind): Promise<boolean>;
  /** The EAQI at `atMs` of a device or a site (api/query/aqi.ts). */
  aqi(
    input: { device?: string | undefined; site?: string | undefined; atMs: number; station: EaqiStation; within?: Pick<TagFilter, 'devices' | 'excludeDevices'> | undefined },
    nowMs: number,
    limits: QueryLimits,
  ): Promise<AqiResponse>;
  /** WHO 2021 guideline exceedance days per device. */
  who(input: { filter: TagFilter; fromMs: number; toMs: number }, nowMs: number, limits: QueryLimits): Promise<WhoResponse>;
}

/** What a trial's device report (api/trials/report.ts) asks. */
export interface TrialQueries {
  /** Every stored reading of a device in the range; more than `maxRows` → 400 asking for a sub-range. */
  deviceRows(kind: ReadingKind, deviceId: string, range: MsRange, maxRows: number): Promise<ReadingRow[]>;
  /** The kind of a device's stored readings in the range (for a device no longer registered). */
  deviceKind(deviceId: string, range: MsRange): Promise<ReadingKind | undefined>;
  /** A device's rejections in the range by reason, with the newest `examplesPerReason` of each. */
  rejectionFigures(deviceId: string, range: MsRange, examplesPerReason: number): Promise<RejectionFigures>;
  /** Hourly means of the reference pollutants per device. */
  hourlyMeans(devices: readonly string[], range: MsRange): Promise<HourlyMeans>;
}

/** One waste bin's fill series (time order), with its registry tags as stored. */
export interface BinSeries {
  deviceId: string;
  site: string | undefined;
  owner: string | undefined;
  readings: FillReading[];
}

/** What the waste collection routes (api/routes/waste.ts) ask. */
export interface WasteQueries {
  /** Every bin's fill series in the range; more than `maxRows` readings in all → 400 asking for a shorter range. */
  binSeries(filter: TagFilter, range: MsRange, maxRows: number): Promise<BinSeries[]>;
}

export type ReadingStore = ReadingQueries & TrialQueries & WasteQueries;

/**
 * The store over an InfluxDB client. Streamed exports use their own client with a long idle
 * timeout: a download paced by a slow client leaves the InfluxDB socket idle (backpressure),
 * which the client's usual 10 s timeout would cut.
 */
export function createReadingStore(influx: Pick<InfluxClient, 'query' | 'queryChunks'> & { settings?: InfluxClient['settings'] }): ReadingStore {
  const exportInflux = influx.settings
    ? createInfluxClient({ ...influx.settings, timeoutMs: Math.max(influx.settings.timeoutMs ?? 0, EXPORT_IDLE_TIMEOUT_MS) })
    : influx;
  return {
    readings: (plan, settings) => answerReadings(plan, { influx, exportInflux, limits: settings.limits, lookupInterval: settings.lookupInterval, licence: settings.licence }),
    aqi: (input, nowMs, limits) => answerAqi({ influx, limits }, input, nowMs),
    who: (input, nowMs, limits) => answerWho({ influx, limits }, input, nowMs),

    async latest(kinds, nowMs, windowMs) {
      const params: QueryParams = {};
      const statements = kinds.map((kind) => latestStatement(kind, nowMs - windowMs, params));
      const results = await influx.query(statements.join('; '), params);
      const readings: LiveReading[] = [];
      results.forEach((result, i) => {
        for (const row of seriesToRows(result.series ?? [])) readings.push(rowToReading(kinds[i]!, row));
      });
      return readings.sort((a, b) => a.deviceId.localeCompare(b.deviceId));
    },

    async latestPerMetric(kinds, nowMs, windowMs) {
      const params: QueryParams = {};
      const asked = kinds.flatMap((kind) => metricsOf(kind).map((metric) => ({ kind, metric })));
      const statements = asked.map(({ kind, metric }) => lastValueStatement(kind, metric, nowMs - windowMs, params));
      const results = await influx.query(statements.join('; '), params);
      const byDevice: LatestPerMetric = new Map();
      results.forEach((result, i) => {
        const { kind, metric } = asked[i]!;
        for (const row of seriesToRows(result.series ?? [])) {
          const value = row.value;
          if (typeof value !== 'number' && typeof value !== 'boolean') continue;
          const key = `${kind}/${String(row[TAG_DEVICE])}`;
          const metrics = byDevice.get(key) ?? {};
          metrics[metric] = { value, ts: new Date(Number(row.time)).toISOString() };
          byDevice.set(key, metrics);
        }
      });
      return byDevice;
    },

    async rejections(filter) {
      const params: QueryParams = {};
      const [result] = await influx.query(rejectionsStatement(filter, filter.fromMs, filter.limit, params), params);
      return seriesToRows(result?.series ?? []).map(rowToRejection);
    },

    async hasReadings(kind) {
      const [result] = await influx.query(anyReadingStatement(kind));
      return (result?.series ?? []).some((series) => series.values.length > 0);
    },

    deviceRows: (kind, deviceId, range, maxRows) => readDeviceRows(influx, kind, deviceId, range, maxRows),
    deviceKind: (deviceId, range) => findDeviceKind(influx, deviceId, range),
    rejectionFigures: (deviceId, range, examples) => readRejectionFigures(influx, deviceId, range, examples),
    hourlyMeans: (devices, range) => readHourlyMeans(influx, devices, range),

    async binSeries(filter, range, maxRows) {
      const params: QueryParams = {};
      const bins = new Map<string, BinSeries>();
      let rows = 0;
      for await (const results of influx.queryChunks(wasteFillStatement(filter, range, params), params, 10_000)) {
        for (const series of results[0]?.series ?? []) {
          const deviceId = series.tags?.[TAG_DEVICE];
          if (!deviceId) continue;
          let bin = bins.get(deviceId);
          if (!bin) bins.set(deviceId, (bin = { deviceId, site: series.tags?.site || undefined, owner: series.tags?.owner || undefined, readings: [] }));
          const [iTime, iFill, iLid] = ['time', 'fill', 'lidOpen'].map((c) => series.columns.indexOf(c)) as [number, number, number];
          for (const values of series.values) {
            const fill = values[iFill];
            if (typeof fill !== 'number') continue;
            bin.readings.push({ atMs: Number(values[iTime]), fill, ...(values[iLid] === true ? { lidOpen: true } : {}) });
          }
          rows += series.values.length;
          if (rows > maxRows) throw new AppError('BAD_REQUEST', `from/to: more than ${maxRows} bin readings in this range; ask for a shorter range or fewer bins`);
        }
      }
      for (const bin of bins.values()) bin.readings.sort((a, b) => a.atMs - b.atMs);
      return [...bins.values()].sort((a, b) => a.deviceId.localeCompare(b.deviceId));
    },
  };
}
