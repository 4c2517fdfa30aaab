/**
 * Air-quality answers from InfluxDB: hourly means in, contracts/aqi.ts out. The index itself
 * is computed only in contracts/aqi.ts (the dashboard uses the same functions); this module
 * fetches the hourly means it needs, from raw readings or, beyond raw retention, from the
 * hourly rollups.
 */
import {
  EAQI_POLLUTANTS,
  WHO_2021,
  WHO_POLLUTANTS,
  computeEaqi,
  whoExceedances,
  type AqiResponse,
  type EaqiPollutant,
  type EaqiStation,
  type WhoPollutant,
  type WhoResponse,
} from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { InfluxClient, QueryParams } from '../../common/influx.ts';
import { seriesToRows } from '../../common/influx.ts';
import { TAG_DEVICE } from '../../common/influx-schema.ts';
import { hourlyMeansStatement, iso } from './influxql.ts';
import { DAY_MS, HOUR_MS, type QueryLimits } from './limits.ts';
import type { TagFilter } from './params.ts';

export interface AqiDeps {
  influx: Pick<InfluxClient, 'query' | 'queryChunks'>;
  limits: QueryLimits;
}

type HourlySource = 'raw' | 'rollup_1h';

/** Raw readings while they are kept; the hourly rollups for older hours (when the job runs). */
function hourlySource(fromMs: number, nowMs: number, limits: QueryLimits): HourlySource {
  const beyondRetention = limits.rawRetentionMs > 0 && fromMs < nowMs - limits.rawRetentionMs;
  return beyondRetention && limits.rollupsEnabled ? 'rollup_1h' : 'raw';
}

/** The EAQI at `atMs` for one device or one site (all its air devices pooled per hour). */
export async function answerAqi(
  deps: AqiDeps,
  input: {
    device?: string | undefined;
    site?: string | undefined;
    atMs: number;
    station: EaqiStation;
    /** Only these devices count (a lab's, api/labs/scope.ts); undefined = every device. */
    within?: Pick<TagFilter, 'devices' | 'excludeDevices'> | undefined;
  },
  nowMs: number,
): Promise<AqiResponse> {
  // The index describes the complete hours before `at`: the latest hour ends at the full hour.
  const endMs = Math.floor(input.atMs / HOUR_MS) * HOUR_MS;
  const startMs = endMs - 24 * HOUR_MS;
  const source = hourlySource(startMs, nowMs, deps.limits);
  const params: QueryParams = {};
  const picked: TagFilter = input.device ? { devices: [input.device] } : { site: input.site };
  const filter: TagFilter = input.within ? { ...picked, ...input.within } : picked;
  const rows = await deps.influx.query(hourlyMeansStatement(EAQI_POLLUTANTS, source, filter, { fromMs: startMs, toMs: endMs }, params, false), params);
  const hourly: Record<EaqiPollutant, (number | null)[]> = Object.fromEntries(EAQI_POLLUTANTS.map((p) => [p, new Array<number | null>(24).fill(null)])) as Record<
    EaqiPollutant,
    (number | null)[]
  >;
  for (const row of seriesToRows(rows[0]?.series ?? [])) {
    const index = Math.round((Number(row.time) - startMs) / HOUR_MS);
    if (index < 0 || index >= 24) continue;
    for (const p of EAQI_POLLUTANTS) {
      const v = row[p];
      if (typeof v === 'number' && Number.isFinite(v)) hourly[p][index] = v;
    }
  }
  const result = computeEaqi(hourly, { station: input.station });
  const pollutants = result.pollutants.map((r) => ({
    pollutant: r.pollutant,
    status: r.status,
    ...(r.value === undefined ? {} : { value: r.value }),
    unit: 'µg/m³' as const,
    averaging: r.averaging,
    from: iso(endMs - r.periodHours * HOUR_MS),
    to: iso(endMs),
    hoursWithData: r.hoursWithData,
    hoursRequired: r.hoursRequired,
    coverage: r.coverage,
    ...(r.level === undefined ? {} : { level: r.level, label: r.label }),
  }));
  const base = {
    ...(input.device ? { device: input.device } : {}),
    ...(input.site ? { site: input.site } : {}),
    at: iso(input.atMs),
    pollutants,
    station: result.station,
    tableVersion: result.tableVersion,
    source,
  };
  if (result.status === 'ok') return { ...base, status: 'ok', level: result.level, label: result.label, dominant: result.dominant };
  return { ...base, status: 'insufficient_data', missing: result.missing, message: result.message };
}

export const WHO_MAX_RANGE_MS = 366 * DAY_MS;

/** WHO 2021 exceedance days per device over whole UTC days. */
export async function answerWho(
  deps: AqiDeps,
  input: { filter: TagFilter; fromMs: number; toMs: number },
  nowMs: number,
): Promise<WhoResponse> {
  const fromMs = Math.floor(input.fromMs / DAY_MS) * DAY_MS;
  const toMs = Math.ceil(input.toMs / DAY_MS) * DAY_MS;
  if (toMs - fromMs > WHO_MAX_RANGE_MS) {
    throw new AppError('BAD_REQUEST', `from/to: at most 366 days per request (got ${Math.round((toMs - fromMs) / DAY_MS)}); narrow from and to`);
  }
  // The first 8-hour O3 means of a day begin 7 hours before it.
  const queryFrom = fromMs - 7 * HOUR_MS;
  let source = hourlySource(queryFrom, nowMs, deps.limits);
  if (source === 'raw' && toMs - queryFrom > deps.limits.rawMaxRangeMs + DAY_MS) {
    if (!deps.limits.rollupsEnabled) {
      throw new AppError('BAD_REQUEST', `from/to: without rollups at most ${Math.round(deps.limits.rawMaxRangeMs / DAY_MS)} days of raw readings are read at a time; narrow from and to`);
    }
    source = 'rollup_1h';
  }
  const params: QueryParams = {};
  const statement = hourlyMeansStatement(WHO_POLLUTANTS, source, input.filter, { fromMs: queryFrom, toMs }, params, true);

  const devices: WhoResponse['devices'] = [];
  let current: string | undefined;
  let hours = new Map<WhoPollutant, Map<number, number>>();
  const finish = () => {
    if (current === undefined) return;
    devices.push({
      deviceId: current,
      pollutants: WHO_POLLUTANTS.map((p) => {
        const r = whoExceedances(p, hours.get(p) ?? new Map(), fromMs, toMs);
        return {
          pollutant: p,
          limit: r.limit,
          averaging: r.averaging,
          validDays: r.validDays,
          exceedanceDays: r.exceedanceDays,
          exceededDates: r.days.filter((d) => d.exceeded).map((d) => d.date),
        };
      }),
    });
  };
  // Streamed device by device: a year of hours for one device at a time.
  for await (const results of deps.influx.queryChunks(statement, params)) {
    for (const series of results[0]?.series ?? []) {
      const device = series.tags?.[TAG_DEVICE] ?? '';
      if (device !== current) {
        finish();
        current = device;
        hours = new Map(WHO_POLLUTANTS.map((p) => [p, new Map<number, number>()]));
      }
      for (const row of seriesToRows([series])) {
        for (const p of WHO_POLLUTANTS) {
          const v = row[p];
          if (typeof v === 'number' && Number.isFinite(v)) hours.get(p)!.set(Number(row.time), v);
        }
      }
    }
  }
  finish();
  return { from: iso(fromMs), to: iso(toMs), guidelineVersion: WHO_2021.version, source, devices };
}
