/**
 * The European Air Quality Index (EAQI) bands and colours of the European Environment
 * Agency, applied to single readings.
 *
 * The EEA computes the official index from hourly means (24 h running means for PM). The
 * dashboard applies the same band table to the latest instantaneous values, so what it shows
 * is an *instantaneous indication* and is labelled as such wherever it appears. The band
 * table and the computation are the contract's (contracts/aqi.ts, also used by the live
 * `eaqi` alert rules); this module adds the EEA colours and the dashboard's wording.
 *
 * Pure: no DOM, no contracts-side effects; unit tested at every band edge.
 */
import { EAQI_CURRENT_TABLE, eaqiBand, eaqiIndication, eaqiLabel, type EaqiLevel, type EaqiPollutant } from '../../contracts/aqi.ts';

export { EAQI_POLLUTANTS, isEaqiPollutant, type EaqiLevel, type EaqiPollutant } from '../../contracts/aqi.ts';

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
  { level: 1, label: eaqiLabel(1), colour: '#50F0E6', ink: '#0B2530' },
  { level: 2, label: eaqiLabel(2), colour: '#50CCAA', ink: '#0B2530' },
  { level: 3, label: eaqiLabel(3), colour: '#F0E641', ink: '#0B2530' },
  { level: 4, label: eaqiLabel(4), colour: '#FF5050', ink: '#0B2530' },
  { level: 5, label: eaqiLabel(5), colour: '#960032', ink: '#FFFFFF' },
  { level: 6, label: eaqiLabel(6), colour: '#7D2181', ink: '#FFFFFF' },
];

/** Upper limit of each band in µg/m³: the versioned EEA table in contracts/aqi.ts. */
export const EAQI_UPPER_LIMITS = EAQI_CURRENT_TABLE.upperLimits;

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


/** The band level of one concentration, or undefined for a missing or impossible value. */
export function eaqiLevelOf(pollutant: EaqiPollutant, microgramsPerM3: number | boolean | undefined | null): EaqiLevel | undefined {
  return typeof microgramsPerM3 === 'number' ? eaqiBand(pollutant, microgramsPerM3) : undefined;
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
  const indication = eaqiIndication(values);
  return indication && { level: indication.level, dominant: indication.dominant, byPollutant: indication.byPollutant };
}

/** The worst of several levels; undefined when there are none. */
export function worstLevel(levels: Iterable<EaqiLevel | undefined>): EaqiLevel | undefined {
  let worst: EaqiLevel | undefined;
  for (const level of levels) if (level !== undefined && (worst === undefined || level > worst)) worst = level;
  return worst;
}
