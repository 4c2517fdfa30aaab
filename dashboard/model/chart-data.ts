/**
 * Which metrics can be charted, their defaults and scales, and the aligned data for a chart
 * of several devices. Pure: no DOM.
 */
import type { ReadingKind } from '../../contracts/readings.ts';
import { kindDisplayOf, numericMetricsOf, readingKinds, unitsOf } from '../../contracts/kinds-table.ts';
import { alignColumns, metricColumn, type ChartedSeries } from './series.ts';

/** Not worth a line: the traffic count period is configuration (booleans, like the lid, have no line either). */
const NOT_CHARTED = new Set(['period']);

/** The kind's numeric measurements in definition order, then the health fields. */
export function chartableMetrics(kind: ReadingKind): string[] {
  return [...numericMetricsOf(kind).filter((m) => !NOT_CHARTED.has(m)), 'battery', 'rssi'];
}

/** The metric a chart of the kind starts with: the kind's headline (pm25, cars, fill, …). */
export function defaultMetricOf(kind: ReadingKind): string {
  return kindDisplayOf(kind)?.headline ?? chartableMetrics(kind)[0] ?? 'battery';
}

/** The kind a metric belongs to, preferring `preferred` for shared names (temperature). */
export function kindOfMetric(metric: string, preferred?: ReadingKind): ReadingKind | undefined {
  if (preferred && chartableMetrics(preferred).includes(metric)) return preferred;
  return readingKinds().find((kind) => chartableMetrics(kind).includes(metric));
}

/** Percentages get a fixed 0–100 axis so two charts compare at a glance. */
export function fixedRange(kind: ReadingKind, metric: string): [number, number] | undefined {
  const unit = unitsOf(kind)[metric];
  return unit === '%' || unit === '%RH' ? [0, 100] : undefined;
}

/** Counts per period look right as steps. */
export function isStepped(kind: ReadingKind, metric: string): boolean {
  return unitsOf(kind)[metric] === 'count';
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
