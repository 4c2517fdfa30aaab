/**
 * The European Air Quality Index (EAQI) of the European Environment Agency and the WHO 2021
 * air-quality guidelines, as pure functions over hourly means. The API (`/api/v1/aqi`) and
 * the dashboard compute the index with this one module, so it imports nothing from node:*.
 *
 * Inputs are hourly means in µg/m³, oldest first, `null` for an hour without data. The index
 * follows the EEA's rules:
 * - PM2.5 and PM10 on the 24-hour running mean of hourly means, computed only when at least
 *   18 of the 24 hours have data;
 * - NO2, O3 and SO2 on the latest hourly mean;
 * - each pollutant's band is the first band whose upper limit is not exceeded (a value exactly
 *   at a limit belongs to that band; above the last limit is still band 6);
 * - the index is the worst band of any pollutant, and that pollutant is the dominant one;
 * - the EEA gives an index only for stations that measure enough: traffic stations need NO2 and
 *   PM (PM2.5 or PM10), other stations NO2, O3 and PM. Without that the answer is an explicit
 *   "insufficient data", never a guess from whatever happens to be there.
 */

/** Pollutants that take part in the EAQI, by contract field name (µg/m³). */
export const EAQI_POLLUTANTS = ['pm25', 'pm10', 'no2', 'o3', 'so2'] as const;
export type EaqiPollutant = (typeof EAQI_POLLUTANTS)[number];

export type EaqiLevel = 1 | 2 | 3 | 4 | 5 | 6;
export const EAQI_LEVELS: readonly EaqiLevel[] = [1, 2, 3, 4, 5, 6];

/** Labels of the six bands, index 0 = level 1. */
export const EAQI_LABELS = ['Good', 'Fair', 'Moderate', 'Poor', 'Very poor', 'Extremely poor'] as const;
export type EaqiLabel = (typeof EAQI_LABELS)[number];

export type EaqiAveraging = '24h-running-mean' | '1h-mean';

/** One versioned band table. Never edit a published table: add a new version instead. */
export interface EaqiTable {
  /** Stable id quoted in every response, so a stored result can be traced to its table. */
  version: string;
  description: string;
  /** Upper limit of bands 1–6 in µg/m³. */
  upperLimits: Readonly<Record<EaqiPollutant, readonly [number, number, number, number, number, number]>>;
  averaging: Readonly<Record<EaqiPollutant, EaqiAveraging>>;
  /** Hours of the 24 that must have data for a 24-hour running mean. */
  minHoursOf24: number;
  /** Which pollutants a station must have (valid) for an index; `pm` = PM2.5 or PM10. */
  requiredByStation: Readonly<Record<EaqiStation, readonly ('pm' | 'no2' | 'o3')[]>>;
}

/** Station types as the EEA classifies them; a street sensor is a traffic station. */
export const EAQI_STATIONS = ['traffic', 'background'] as const;
export type EaqiStation = (typeof EAQI_STATIONS)[number];

/**
 * The EEA six-band table (good … extremely poor), upper limits in µg/m³ as the README's
 * EAQI section and the dashboard use them. The EEA has
 * revised its bands over time; a revision becomes a new entry with a new version.
 */
export const EAQI_TABLE_EEA_6BAND: EaqiTable = {
  version: 'eea-eaqi-6band-v1',
  description: 'EEA European Air Quality Index, six bands; upper limits in µg/m³',
  upperLimits: {
    pm25: [10, 20, 25, 50, 75, 800],
    pm10: [20, 40, 50, 100, 150, 1200],
    no2: [40, 90, 120, 230, 340, 1000],
    o3: [50, 100, 130, 240, 380, 800],
    so2: [100, 200, 350, 500, 750, 1250],
  },
  averaging: { pm25: '24h-running-mean', pm10: '24h-running-mean', no2: '1h-mean', o3: '1h-mean', so2: '1h-mean' },
  minHoursOf24: 18,
  requiredByStation: { traffic: ['no2', 'pm'], background: ['no2', 'o3', 'pm'] },
};

/** Every table by version; responses name the one they used. */
export const EAQI_TABLES: Readonly<Record<string, EaqiTable>> = { [EAQI_TABLE_EEA_6BAND.version]: EAQI_TABLE_EEA_6BAND };
export const EAQI_CURRENT_TABLE = EAQI_TABLE_EEA_6BAND;

export function isEaqiPollutant(metric: string): metric is EaqiPollutant {
  return (EAQI_POLLUTANTS as readonly string[]).includes(metric);
}

export function eaqiLabel(level: EaqiLevel): EaqiLabel {
  return EAQI_LABELS[level - 1]!;
}

/**
 * The band (1–6) of one concentration, or undefined for a missing, negative or non-finite
 * value. A value exactly at a band's upper limit belongs to that band.
 */
export function eaqiBand(pollutant: EaqiPollutant, microgramsPerM3: number | null | undefined, table: EaqiTable = EAQI_CURRENT_TABLE): EaqiLevel | undefined {
  if (typeof microgramsPerM3 !== 'number' || !Number.isFinite(microgramsPerM3) || microgramsPerM3 < 0) return undefined;
  const limits = table.upperLimits[pollutant];
  for (let i = 0; i < limits.length; i++) if (microgramsPerM3 <= limits[i]!) return (i + 1) as EaqiLevel;
  return 6;
}

/**
 * The instantaneous indication of one reading: each EAQI pollutant it carries, banded with the
 * same table, and the worst of them (the first in EAQI_POLLUTANTS order on a tie). Not the
 * official index, which needs hourly and 24-hour means (computeEaqi); the dashboard's live
 * colours and the live `eaqi` alert rules both use this, so they always agree.
 */
export interface EaqiIndication {
  level: EaqiLevel;
  dominant: EaqiPollutant;
  /** The dominant pollutant's concentration, µg/m³. */
  value: number;
  byPollutant: Partial<Record<EaqiPollutant, EaqiLevel>>;
}

/** undefined when the values hold no EAQI pollutant with a usable value. */
export function eaqiIndication(values: Readonly<Record<string, number | boolean | null | undefined>>, table: EaqiTable = EAQI_CURRENT_TABLE): EaqiIndication | undefined {
  let result: EaqiIndication | undefined;
  const byPollutant: Partial<Record<EaqiPollutant, EaqiLevel>> = {};
  for (const pollutant of EAQI_POLLUTANTS) {
    const value = values[pollutant];
    if (typeof value !== 'number') continue;
    const level = eaqiBand(pollutant, value, table);
    if (level === undefined) continue;
    byPollutant[pollutant] = level;
    if (!result || level > result.level) result = { level, dominant: pollutant, value, byPollutant };
  }
  return result;
}

function isValue(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

/** The mean of the hourly means present among the last 24 hours, with how many there were. */
export function runningMean24h(
  hourlyMeans: readonly (number | null | undefined)[],
  minHours: number = EAQI_CURRENT_TABLE.minHoursOf24,
): { value: number | undefined; hoursWithData: number; sufficient: boolean } {
  const last24 = hourlyMeans.slice(-24);
  let sum = 0;
  let n = 0;
  for (const v of last24) {
    if (!isValue(v)) continue;
    sum += v;
    n += 1;
  }
  const sufficient = n >= minHours;
  return { value: sufficient ? sum / n : undefined, hoursWithData: n, sufficient };
}

export type EaqiPollutantStatus = 'ok' | 'insufficient_data' | 'not_measured';

export interface EaqiPollutantResult {
  pollutant: EaqiPollutant;
  status: EaqiPollutantStatus;
  /** µg/m³, the averaged concentration the band is read from (when status is ok). */
  value?: number | undefined;
  averaging: EaqiAveraging;
  /** Hours the average covers (24 or 1). */
  periodHours: number;
  hoursWithData: number;
  hoursRequired: number;
  /** hoursWithData / periodHours, 0–1. */
  coverage: number;
  level?: EaqiLevel | undefined;
  label?: EaqiLabel | undefined;
}

export type EaqiResult =
  | {
      status: 'ok';
      level: EaqiLevel;
      label: EaqiLabel;
      /** The pollutant with the worst band (the first in EAQI_POLLUTANTS order on a tie). */
      dominant: EaqiPollutant;
      pollutants: EaqiPollutantResult[];
      tableVersion: string;
      station: EaqiStation;
    }
  | {
      status: 'insufficient_data';
      /** Which required pollutant (group) lacked valid data, e.g. ['no2', 'pm25|pm10']. */
      missing: string[];
      message: string;
      pollutants: EaqiPollutantResult[];
      tableVersion: string;
      station: EaqiStation;
    };

/** The band result of one pollutant from its hourly means (oldest first, the last is the latest hour). */
export function eaqiPollutant(
  pollutant: EaqiPollutant,
  hourlyMeans: readonly (number | null | undefined)[] | undefined,
  table: EaqiTable = EAQI_CURRENT_TABLE,
): EaqiPollutantResult {
  const averaging = table.averaging[pollutant];
  const periodHours = averaging === '24h-running-mean' ? 24 : 1;
  const hoursRequired = averaging === '24h-running-mean' ? table.minHoursOf24 : 1;
  const base = { pollutant, averaging, periodHours, hoursRequired };
  const hours = hourlyMeans ?? [];
  if (!hours.some(isValue)) {
    return { ...base, status: hourlyMeans === undefined ? 'not_measured' : 'insufficient_data', hoursWithData: 0, coverage: 0 };
  }
  let value: number | undefined;
  let hoursWithData: number;
  if (averaging === '24h-running-mean') {
    const mean = runningMean24h(hours, table.minHoursOf24);
    value = mean.value;
    hoursWithData = mean.hoursWithData;
  } else {
    const latest = hours[hours.length - 1];
    value = isValue(latest) ? latest : undefined;
    hoursWithData = value === undefined ? 0 : 1;
  }
  const coverage = hoursWithData / periodHours;
  const level = eaqiBand(pollutant, value, table);
  if (value === undefined || level === undefined) return { ...base, status: 'insufficient_data', hoursWithData, coverage };
  return { ...base, status: 'ok', value, hoursWithData, coverage, level, label: eaqiLabel(level) };
}

/**
 * The EAQI from hourly means per pollutant (each array oldest first, ending with the latest
 * complete hour; a pollutant the station does not measure is left out).
 */
export function computeEaqi(
  hourly: Partial<Record<EaqiPollutant, readonly (number | null | undefined)[]>>,
  options: { station?: EaqiStation; table?: EaqiTable } = {},
): EaqiResult {
  const table = options.table ?? EAQI_CURRENT_TABLE;
  const station = options.station ?? 'traffic';
  const pollutants = EAQI_POLLUTANTS.map((p) => eaqiPollutant(p, hourly[p], table));
  const ok = (p: EaqiPollutant) => pollutants.find((r) => r.pollutant === p)?.status === 'ok';
  const missing: string[] = [];
  for (const requirement of table.requiredByStation[station]) {
    if (requirement === 'pm') {
      if (!ok('pm25') && !ok('pm10')) missing.push('pm25|pm10');
    } else if (!ok(requirement)) missing.push(requirement);
  }
  if (missing.length > 0) {
    return {
      status: 'insufficient_data',
      missing,
      message: `not enough data for an index at a ${station} station: ${missing.join(', ')} lack valid data (PM needs ${table.minHoursOf24} of 24 hourly means; NO2, O3 and SO2 need the latest hourly mean)`,
      pollutants,
      tableVersion: table.version,
      station,
    };
  }
  let worst: EaqiPollutantResult | undefined;
  for (const result of pollutants) {
    if (result.status !== 'ok' || result.level === undefined) continue;
    if (!worst || result.level > worst.level!) worst = result;
  }
  // The requirements above guarantee at least one valid pollutant.
  const level = worst!.level!;
  return { status: 'ok', level, label: eaqiLabel(level), dominant: worst!.pollutant, pollutants, tableVersion: table.version, station };
}

// ---------------------------------------------------------------------------------------------
// WHO 2021 air-quality guidelines: short-term guideline levels and exceedance days.

export const WHO_POLLUTANTS = ['pm25', 'pm10', 'no2', 'o3'] as const;
export type WhoPollutant = (typeof WHO_POLLUTANTS)[number];

export interface WhoGuideline {
  /** µg/m³; a day exceeds it when its value is strictly greater. */
  limit: number;
  averaging: '24h-mean' | 'max-daily-8h-mean';
}

/** WHO global air quality guidelines (2021), short-term levels (99th percentile guidelines). */
export const WHO_2021 = {
  version: 'who-aqg-2021',
  guidelines: {
    pm25: { limit: 15, averaging: '24h-mean' },
    pm10: { limit: 45, averaging: '24h-mean' },
    no2: { limit: 25, averaging: '24h-mean' },
    o3: { limit: 100, averaging: 'max-daily-8h-mean' },
  } satisfies Record<WhoPollutant, WhoGuideline>,
  /** A daily value needs 75 % of its parts: 18 of 24 hours, 6 of 8 hours, 18 of 24 8-hour means. */
  minHoursPerDay: 18,
  minHoursPer8h: 6,
  min8hMeansPerDay: 18,
} as const;

export interface WhoDay {
  /** UTC date, YYYY-MM-DD. */
  date: string;
  /** µg/m³: the daily mean, or the maximum 8-hour mean of the day for O3; absent when not valid. */
  value?: number | undefined;
  valid: boolean;
  exceeded: boolean;
}

export interface WhoExceedance {
  pollutant: WhoPollutant;
  limit: number;
  averaging: WhoGuideline['averaging'];
  validDays: number;
  exceedanceDays: number;
  days: WhoDay[];
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

function utcDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/**
 * WHO 2021 exceedance days of one pollutant from hourly means (`hourStartMs` → µg/m³) over the
 * UTC days in [fromMs, toMs) (both on UTC midnights). For O3 pass the 7 hours before `fromMs`
 * too: the first 8-hour means of a day start on the day before. An 8-hour mean belongs to the
 * day in which it ends.
 */
export function whoExceedances(
  pollutant: WhoPollutant,
  hourly: ReadonlyMap<number, number> | readonly { hourStartMs: number; value: number }[],
  fromMs: number,
  toMs: number,
): WhoExceedance {
  const guideline = WHO_2021.guidelines[pollutant];
  const byHour = hourly instanceof Map ? hourly : new Map((hourly as readonly { hourStartMs: number; value: number }[]).map((h) => [h.hourStartMs, h.value]));
  const days: WhoDay[] = [];
  for (let day = fromMs; day < toMs; day += DAY_MS) {
    let sum = 0;
    let n = 0;
    let value: number | undefined;
    if (guideline.averaging === '24h-mean') {
      for (let h = day; h < day + DAY_MS; h += HOUR_MS) {
        const v = byHour.get(h);
        if (isValue(v)) {
          sum += v;
          n += 1;
        }
      }
      if (n >= WHO_2021.minHoursPerDay) value = sum / n;
    } else {
      let validMeans = 0;
      let max: number | undefined;
      // The 8-hour mean whose last hour starts at `last` (the window ends an hour later).
      for (let last = day; last < day + DAY_MS; last += HOUR_MS) {
        let s = 0;
        let c = 0;
        for (let h = last - 7 * HOUR_MS; h <= last; h += HOUR_MS) {
          const v = byHour.get(h);
          if (isValue(v)) {
            s += v;
            c += 1;
          }
        }
        if (c < WHO_2021.minHoursPer8h) continue;
        validMeans += 1;
        const mean = s / c;
        if (max === undefined || mean > max) max = mean;
      }
      if (validMeans >= WHO_2021.min8hMeansPerDay) value = max;
    }
    const valid = value !== undefined;
    days.push({ date: utcDate(day), ...(valid ? { value } : {}), valid, exceeded: valid && value! > guideline.limit });
  }
  return {
    pollutant,
    limit: guideline.limit,
    averaging: guideline.averaging,
    validDays: days.filter((d) => d.valid).length,
    exceedanceDays: days.filter((d) => d.exceeded).length,
    days,
  };
}
