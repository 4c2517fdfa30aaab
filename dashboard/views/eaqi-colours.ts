/**
 * The European Air Quality Index (EAQI) bands and colours of the European Environment
 * Agency, applied to single readings.
 *
 * The EEA computes the official index from hourly means (24 h running means for PM). The
 * dashboard applies the same band table to the latest instantaneous values, so what it shows
 * is an *instantaneous indication* and is labelled as such wherever it appears. When the
 * index computation lands in contracts/, this module keeps only the colour scale.
 *
 * Pure: no DOM, no contracts-side effects; unit tested at every band edge.
 */

/** Pollutants that take part in the EAQI, by contract field name. */
export const EAQI_POLLUTANTS = ['pm25', 'pm10', 'no2', 'o3', 'so2'] as const;
export type EaqiPollutant = (typeof EAQI_POLLUTANTS)[number];

export type EaqiLevel = 1 | 2 | 3 | 4 | 5 | 6;

export interface EaqiBand {
  level: EaqiLevel;
  label: string;
  /** The EEA's colour for the band. */
  colour: string;
  /** Text colour with at least 4.5:1 contrast on `colour`. */
  ink: string;
}

/** The six EEA bands with the EEA's colours (good … extremely poor). */
export const EAQI_BANDS: readonly EaqiBand[] = [
  { level: 1, label: 'Good', colour: '#50F0E6', ink: '#0B2530' },
  { level: 2, label: 'Fair', colour: '#50CCAA', ink: '#0B2530' },
  { level: 3, label: 'Moderate', colour: '#F0E641', ink: '#0B2530' },
  { level: 4, label: 'Poor', colour: '#FF5050', ink: '#0B2530' },
  { level: 5, label: 'Very poor', colour: '#960032', ink: '#FFFFFF' },
  { level: 6, label: 'Extremely poor', colour: '#7D2181', ink: '#FFFFFF' },
];

/**
 * Upper limit of each band in µg/m³ (EEA EAQI table). A concentration exactly at a limit
 * belongs to that band; above the last limit is still "extremely poor".
 */
export const EAQI_UPPER_LIMITS: Readonly<Record<EaqiPollutant, readonly [number, number, number, number, number, number]>> = {
  pm25: [10, 20, 25, 50, 75, 800],
  pm10: [20, 40, 50, 100, 150, 1200],
  no2: [40, 90, 120, 230, 340, 1000],
  o3: [50, 100, 130, 240, 380, 800],
  so2: [100, 200, 350, 500, 750, 1250],
};

export const EAQI_POLLUTANT_LABELS: Readonly<Record<EaqiPollutant, string>> = {
  pm25: 'PM2.5',
  pm10: 'PM10',
  no2: 'NO₂',
  o3: 'O₃',
  so2: 'SO₂',
};

/** Shown next to every EAQI value the dashboard derives from live readings. */
export const EAQI_DISCLAIMER = 'Instantaneous indication from the latest readings, using the EEA band limits; the official EAQI uses hourly and 24-hour means.';

export function bandOf(level: EaqiLevel): EaqiBand {
  return EAQI_BANDS[level - 1]!;
}

export function isEaqiPollutant(metric: string): metric is EaqiPollutant {
  return (EAQI_POLLUTANTS as readonly string[]).includes(metric);
}

/** The band level of one concentration, or undefined for a missing or impossible value. */
export function eaqiLevelOf(pollutant: EaqiPollutant, microgramsPerM3: number | boolean | undefined | null): EaqiLevel | undefined {
  if (typeof microgramsPerM3 !== 'number' || !Number.isFinite(microgramsPerM3) || microgramsPerM3 < 0) return undefined;
  const limits = EAQI_UPPER_LIMITS[pollutant];
  for (let i = 0; i < limits.length; i++) {
    if (microgramsPerM3 <= limits[i]!) return (i + 1) as EaqiLevel;
  }
  return 6;
}

export interface EaqiResult {
  /** The index is the worst band of any pollutant measured. */
  level: EaqiLevel;
  /** The pollutant that decided the level (the first in EAQI_POLLUTANTS order on a tie). */
  dominant: EaqiPollutant;
  /** The level of every pollutant present. */
  byPollutant: Partial<Record<EaqiPollutant, EaqiLevel>>;
}

/** The EAQI of a set of values (a reading's `values`); undefined if it has no EAQI pollutant. */
export function eaqiOf(values: Readonly<Record<string, number | boolean>>): EaqiResult | undefined {
  let result: EaqiResult | undefined;
  const byPollutant: Partial<Record<EaqiPollutant, EaqiLevel>> = {};
  for (const pollutant of EAQI_POLLUTANTS) {
    const level = eaqiLevelOf(pollutant, values[pollutant]);
    if (level === undefined) continue;
    byPollutant[pollutant] = level;
    if (!result || level > result.level) result = { level, dominant: pollutant, byPollutant };
  }
  return result;
}

/** The worst of several levels; undefined when there are none. */
export function worstLevel(levels: Iterable<EaqiLevel | undefined>): EaqiLevel | undefined {
  let worst: EaqiLevel | undefined;
  for (const level of levels) if (level !== undefined && (worst === undefined || level > worst)) worst = level;
  return worst;
}
