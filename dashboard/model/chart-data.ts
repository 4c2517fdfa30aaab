/**
 * Which metrics can be charted, their defaults and scales, and the aligned data for a chart
 * of several devices. Pure: no DOM.
 */
import { METRICS_BY_KIND, METRIC_UNITS, type ReadingKind } from '../../contracts/readings.ts';
import { alignColumns, metricColumn, type ChartedSeries } from './series.ts';

/** Fields that are not worth a line: the count period is configuration, the lid a boolean. */
const NOT_CHARTED = new Set(['period', 'lidOpen']);

/** The kind's measurements in contract order, then the health fields. */
export function chartableMetrics(kind: ReadingKind): string[] {
  return [...METRICS_BY_KIND[kind].filter((m) => !NOT_CHARTED.has(m)), 'battery', 'rssi'];
}

export const DEFAULT_METRIC: Readonly<Record<ReadingKind, string>> = { air: 'pm25', traffic: 'cars', waste: 'fill' };

/** The kind a metric belongs to, preferring `preferred` for shared names (temperature). */
export function kindOfMetric(metric: string, preferred?: ReadingKind): ReadingKind | undefined {
  if (preferred && chartableMetrics(preferred).includes(metric)) return preferred;
  return (['air', 'traffic', 'waste'] as const).find((kind) => chartableMetrics(kind).includes(metric));
}

/** Percentages get a fixed 0–100 axis so two charts compare at a glance. */
export function fixedRange(kind: ReadingKind, metric: string): [number, number] | undefined {
  const unit = METRIC_UNITS[kind][metric];
  return unit === '%' || unit === '%RH' ? [0, 100] : undefined;
}

/** Counts per period look right as steps. */
export function isStepped(kind: ReadingKind, metric: string): boolean {
  return METRIC_UNITS[kind][metric] === 'count';
}

export interface ChartInput {
  deviceIds: readonly string[];
  metric: string;
  fromMs: number;
  toMs?: number;
  intervalSeconds(deviceId: string): number;
}

/** Aligned uPlot data (x in seconds) for one metric of several devices. */
export function buildChartData(series: ChartedSeries, input: ChartInput): [number[], ...(number | null | undefined)[][]] {
  const columns = input.deviceIds.map((id) => {
    const s = series.get(id);
    return s ? metricColumn(s, input.metric, input.fromMs, input.intervalSeconds(id), input.toMs) : { x: [], y: [] };
  });
  if (columns.length === 0) return [[]];
  return alignColumns(columns);
}

export interface SeriesSummary {
  latest?: number | undefined;
  min?: number | undefined;
  max?: number | undefined;
  mean?: number | undefined;
  count: number;
}

/** Latest, min, max and mean of a y column (nulls and gaps ignored). */
export function summarise(ys: readonly (number | null | undefined)[]): SeriesSummary {
  let count = 0;
  let sum = 0;
  let min: number | undefined;
  let max: number | undefined;
  let latest: number | undefined;
  for (const y of ys) {
    if (y === null || y === undefined) continue;
    count += 1;
    sum += y;
    if (min === undefined || y < min) min = y;
    if (max === undefined || y > max) max = y;
    latest = y;
  }
  return { latest, min, max, mean: count > 0 ? sum / count : undefined, count };
}
