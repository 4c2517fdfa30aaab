/**
 * Time series for the devices a view is charting: history loaded from the API, extended by
 * the live feed and by back-fill after a reconnect, kept sorted by measurement time with one
 * point per timestamp (the same reading arriving live and from the API counts once).
 * Pure: no DOM.
 */
import type { LiveReading } from '../../contracts/live.ts';
import { TIME_GAP_INTERVALS } from './gaps.ts';

/** Points kept per device; the oldest go first (a week at one reading a minute fits). */
export const MAX_POINTS_PER_DEVICE = 20_000;

export interface DeviceSeries {
  deviceId: string;
  /** Measurement times, ms, ascending, unique. */
  t: number[];
  readings: LiveReading[];
}

export function createSeries(deviceId: string): DeviceSeries {
  return { deviceId, t: [], readings: [] };
}

/** Index of the first point with time ≥ t. */
export function lowerBound(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Merges readings of this device (any order) into the series. Appending newer points — the
 * live case — is O(1) each; older ones (back-fill) are inserted in place. A reading with a
 * timestamp already present replaces it. Returns how many points are new.
 */
export function mergeReadings(series: DeviceSeries, readings: readonly LiveReading[], maxPoints = MAX_POINTS_PER_DEVICE): number {
  let added = 0;
  for (const reading of readings) {
    if (reading.deviceId !== series.deviceId) continue;
    const t = Date.parse(reading.ts);
    if (!Number.isFinite(t)) continue;
    const n = series.t.length;
    if (n === 0 || t > series.t[n - 1]!) {
      series.t.push(t);
      series.readings.push(reading);
      added += 1;
      continue;
    }
    const i = lowerBound(series.t, t);
    if (series.t[i] === t) {
      series.readings[i] = reading;
    } else {
      series.t.splice(i, 0, t);
      series.readings.splice(i, 0, reading);
      added += 1;
    }
  }
  if (series.t.length > maxPoints) {
    const drop = series.t.length - maxPoints;
    series.t.splice(0, drop);
    series.readings.splice(0, drop);
  }
  return added;
}

/** Drops points older than `fromMs`. */
export function trimBefore(series: DeviceSeries, fromMs: number): void {
  const i = lowerBound(series.t, fromMs);
  if (i > 0) {
    series.t.splice(0, i);
    series.readings.splice(0, i);
  }
}

/** Points within [fromMs, toMs]. */
export function sliceRange(series: DeviceSeries, fromMs: number, toMs = Number.POSITIVE_INFINITY): { t: number[]; readings: LiveReading[] } {
  const start = lowerBound(series.t, fromMs);
  const end = toMs === Number.POSITIVE_INFINITY ? series.t.length : lowerBound(series.t, toMs + 1);
  return { t: series.t.slice(start, end), readings: series.readings.slice(start, end) };
}

export interface Column {
  /** Seconds (uPlot's x unit). */
  x: number[];
  /** null breaks the line: inserted where the device was silent. */
  y: (number | null)[];
}

/**
 * One metric of a series as chart columns, with a null inserted after every silence longer
 * than TIME_GAP_INTERVALS × the interval, so the chart shows the hole instead of bridging it.
 */
export function metricColumn(series: DeviceSeries, metric: string, fromMs: number, intervalSeconds: number, toMs = Number.POSITIVE_INFINITY): Column {
  const start = lowerBound(series.t, fromMs);
  const gapMs = TIME_GAP_INTERVALS * intervalSeconds * 1000;
  const x: number[] = [];
  const y: (number | null)[] = [];
  let previous: number | undefined;
  for (let i = start; i < series.t.length; i++) {
    const t = series.t[i]!;
    if (t > toMs) break;
    const value = metricValue(series.readings[i]!, metric);
    if (value === undefined) continue;
    if (previous !== undefined && t - previous > gapMs) {
      x.push((previous + 1) / 1000);
      y.push(null);
    }
    x.push(t / 1000);
    y.push(value);
    previous = t;
  }
  return { x, y };
}

/** A metric of a reading: measurements, or the health fields `battery`, `rssi`, `seq`. */
export function metricValue(reading: LiveReading, metric: string): number | undefined {
  if (metric === 'battery' || metric === 'rssi' || metric === 'seq') return reading[metric];
  const value = reading.values[metric];
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

/**
 * Aligns several columns on one x axis (uPlot's AlignedData): the union of x values, each
 * y series with `undefined` where it has no point (uPlot draws across those) and `null` where
 * its own column has a gap marker (uPlot breaks the line there).
 */
export function alignColumns(columns: readonly Column[]): [number[], ...(number | null | undefined)[][]] {
  if (columns.length === 1) return [columns[0]!.x, columns[0]!.y];
  const xs: number[] = [];
  const ys: (number | null | undefined)[][] = columns.map(() => []);
  const cursor = columns.map(() => 0);
  for (;;) {
    let next = Number.POSITIVE_INFINITY;
    for (let c = 0; c < columns.length; c++) {
      const x = columns[c]!.x[cursor[c]!];
      if (x !== undefined && x < next) next = x;
    }
    if (next === Number.POSITIVE_INFINITY) break;
    xs.push(next);
    for (let c = 0; c < columns.length; c++) {
      const column = columns[c]!;
      if (column.x[cursor[c]!] === next) {
        ys[c]!.push(column.y[cursor[c]!]);
        // Duplicate x within one column: keep the first, skip the rest.
        while (column.x[cursor[c]!] === next) cursor[c]! += 1;
      } else ys[c]!.push(undefined);
    }
  }
  for (const y of ys) expandNulls(y);
  return [xs, ...ys];
}

/**
 * A gap marker (null) only breaks the line between its immediate neighbours on the shared
 * axis, and those may be other devices' points: spread each null over the alignment holes
 * (undefined) around it, so the line breaks for the whole silence (uPlot's NULL_EXPAND).
 */
function expandNulls(ys: (number | null | undefined)[]): void {
  for (let i = 0; i < ys.length; i++) {
    if (ys[i] !== null) continue;
    for (let j = i - 1; j >= 0 && ys[j] === undefined; j--) ys[j] = null;
    let j = i + 1;
    for (; j < ys.length && ys[j] === undefined; j++) ys[j] = null;
    i = j - 1;
  }
}

/**
 * The series a view charts, by device. Live readings and back-fills go to every tracked
 * device's series; untracked devices cost nothing.
 */
export class ChartedSeries {
  readonly #series = new Map<string, DeviceSeries>();
  /** Earliest time loaded from the API per device (history before it is unknown). */
  readonly #loadedFrom = new Map<string, number>();
  #version = 0;

  get version(): number {
    return this.#version;
  }

  /** The devices tracked now. */
  ids(): string[] {
    return [...this.#series.keys()];
  }

  has(deviceId: string): boolean {
    return this.#series.has(deviceId);
  }

  get(deviceId: string): DeviceSeries | undefined {
    return this.#series.get(deviceId);
  }

  /** Starts tracking a device (empty until history is loaded or live readings arrive). */
  track(deviceId: string): DeviceSeries {
    let series = this.#series.get(deviceId);
    if (!series) {
      series = createSeries(deviceId);
      this.#series.set(deviceId, series);
    }
    return series;
  }

  /** Whether history from `fromMs` has been loaded for the device. */
  covers(deviceId: string, fromMs: number): boolean {
    const loaded = this.#loadedFrom.get(deviceId);
    return loaded !== undefined && loaded <= fromMs;
  }

  /** Records loaded history: merges it and notes how far back it reaches. */
  loaded(deviceId: string, fromMs: number, readings: readonly LiveReading[]): void {
    const series = this.track(deviceId);
    mergeReadings(series, readings);
    const previous = this.#loadedFrom.get(deviceId);
    if (previous === undefined || fromMs < previous) this.#loadedFrom.set(deviceId, fromMs);
    this.#version += 1;
  }

  /** Merges readings into tracked series; returns the ids of series that changed. */
  ingest(readings: readonly LiveReading[]): Set<string> {
    const byDevice = new Map<string, LiveReading[]>();
    for (const reading of readings) {
      if (!this.#series.has(reading.deviceId)) continue;
      let list = byDevice.get(reading.deviceId);
      if (!list) byDevice.set(reading.deviceId, (list = []));
      list.push(reading);
    }
    const changed = new Set<string>();
    for (const [deviceId, list] of byDevice) {
      mergeReadings(this.#series.get(deviceId)!, list);
      changed.add(deviceId);
    }
    if (changed.size > 0) this.#version += 1;
    return changed;
  }

  /** Stops tracking devices not in `keep` (when views change). */
  retainOnly(keep: ReadonlySet<string>): void {
    for (const id of [...this.#series.keys()]) {
      if (!keep.has(id)) {
        this.#series.delete(id);
        this.#loadedFrom.delete(id);
      }
    }
  }
}
