/**
 * The limits of the research API: how much one request may read and return. Every one is a
 * setting (api/config.ts) so an operator can trade load for convenience.
 */
export interface QueryLimits {
  /** Most points in one JSON response (`limit` may not exceed it). */
  jsonMaxPoints: number;
  /** Points in a JSON response when `limit` is not given. */
  jsonDefaultPoints: number;
  /** Most rows of one csv/ndjson export; also its default `limit`. */
  exportMaxPoints: number;
  /** Longest range a request may read from raw readings. */
  rawMaxRangeMs: number;
  /** Most windows × groups an aggregated request may ask InfluxDB for. */
  maxWindows: number;
  /** `source=auto` reads rollups for every ≥ 1h when the range is longer than this. */
  rollupMinRangeMs: number;
  /** Raw readings are kept this long (0 = forever): older ranges can only come from rollups. */
  rawRetentionMs: number;
  /** Whether the rollup job runs (otherwise nothing is read from rollups). */
  rollupsEnabled: boolean;
  /** How often the rollup job runs, for the freshness note in responses. */
  rollupFreshnessNote?: string | undefined;
}

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

export const DEFAULT_QUERY_LIMITS: QueryLimits = {
  jsonMaxPoints: 10_000,
  jsonDefaultPoints: 1_000,
  exportMaxPoints: 5_000_000,
  rawMaxRangeMs: 31 * DAY_MS,
  maxWindows: 2_000_000,
  rollupMinRangeMs: 2 * DAY_MS,
  rawRetentionMs: 30 * DAY_MS,
  rollupsEnabled: false,
};
