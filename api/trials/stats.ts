/**
 * The figures of a device report, computed from a device's stored readings. Pure: no I/O,
 * no clock; report.ts fetches the rows and hands them here.
 *
 * Definitions (the report's notes repeat them for readers):
 * - expected readings = ⌊period ÷ declared interval⌋; completeness = unique ÷ expected (≤ 100 %).
 * - uptime = share of the period covered by the union of [reading time, + interval).
 * - gaps: from holes in `seq` when every reading carries one (a counter falling back by more
 *   than SEQ_RESET_DROP is a restart, not a reorder), else from time: two readings more than
 *   GAP_FACTOR × interval apart. The period's edges count too: a device silent at the start or
 *   the end has an edge gap.
 * - duplicates: a `seq` seen again at another timestamp. A redelivery with the same timestamp
 *   is stored once (InfluxDB overwrites device + timestamp), so storage cannot count it.
 * - out of order: in order of receipt, a reading with a lower `seq` (or, without seq, an
 *   earlier timestamp) than one received before it.
 * - latency = receipt − device timestamp; clock ahead = device timestamp after receipt by
 *   more than CLOCK_AHEAD_TOLERANCE_MS (impossible with a right clock).
 */
import type { TrialGap } from '../../contracts/index.ts';

export const GAP_FACTOR = 1.5;
export const SEQ_RESET_DROP = 1_000;
export const CLOCK_AHEAD_TOLERANCE_MS = 1_000;
/** A battery rising by this many points is a swap: the trend restarts. */
export const BATTERY_SWAP_RISE = 20;
export const MAX_GAPS_LISTED = 500;
export const MAX_SERIES_POINTS = 200;

export interface ReadingRow {
  /** Device timestamp, epoch ms (the point's time). */
  ts: number;
  receivedMs?: number | undefined;
  seq?: number | undefined;
  battery?: number | undefined;
  rssi?: number | undefined;
}

export interface Period {
  fromMs: number;
  toMs: number;
  intervalMs: number;
}

/** Nearest-rank percentile of ascending `sorted` (InfluxDB's PERCENTILE); undefined when empty. */
export function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1];
}

/** The middle value (mean of the two middle ones for an even count). */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function mean(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

export interface LinearFit {
  slope: number;
  intercept: number;
  /** Coefficient of determination; undefined when y does not vary. */
  r2: number | undefined;
}

/** Ordinary least squares y = slope·x + intercept; undefined with fewer than 2 points or constant x. */
export function linearFit(xs: readonly number[], ys: readonly number[]): LinearFit | undefined {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return undefined;
  // Centred sums: stable for epoch-ms x values.
  const mx = mean(xs.slice(0, n))!;
  const my = mean(ys.slice(0, n))!;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = xs[i]! - mx;
    const dy = ys[i]! - my;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  if (sxx === 0) return undefined;
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  return { slope, intercept, r2: syy === 0 ? undefined : (sxy * sxy) / (sxx * syy) };
}

export interface ReadingFigures {
  stored: number;
  unique: number;
  expected: number;
  completenessPct: number;
  uptimePct: number;
  medianIntervalSeconds: number | undefined;
  gaps: { method: 'seq' | 'time'; count: number; missing: number; longest: TrialGap | undefined; list: TrialGap[]; truncated: boolean };
  duplicates: { count: number; seqs: number[] };
  outOfOrder: { count: number; method: 'seq' | 'time' };
  latency: { samples: number; p50Ms: number | undefined; p95Ms: number | undefined; maxMs: number | undefined };
  clockSkew: { aheadReadings: number; maxAheadMs: number | undefined; medianOffsetMs: number | undefined };
  battery: BatteryTrend | undefined;
  signal: { samples: number; medianDbm: number; minDbm: number; maxDbm: number } | undefined;
  series: { bucketMs: number; coveragePct: number[]; battery: [number, number][] };
}

export interface BatteryTrend {
  samples: number;
  first: number;
  last: number;
  drainPerDay: number | undefined;
  projectedDaysLeft: number | undefined;
  replacedAtMs?: number | undefined;
}

const iso = (ms: number) => new Date(ms).toISOString();
const round = (value: number, digits = 3) => {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

/** Expected readings in a period: ⌊length ÷ interval⌋, at least 1. */
export function expectedReadings(period: Period): number {
  return Math.max(1, Math.floor((period.toMs - period.fromMs) / period.intervalMs));
}

/** Share of the period (%) covered by the union of [t, t + interval) over `times` (sorted ascending). */
export function coveragePercent(sortedTimes: readonly number[], period: Period): number {
  let covered = 0;
  let reach = period.fromMs;
  for (const t of sortedTimes) {
    const start = Math.max(t, reach, period.fromMs);
    const end = Math.min(t + period.intervalMs, period.toMs);
    if (end > start) covered += end - start;
    reach = Math.max(reach, end);
  }
  return (covered / (period.toMs - period.fromMs)) * 100;
}

/** Splits readings (ascending by ts) into runs of one counter: a fall by more than SEQ_RESET_DROP starts a new run. */
function seqSegments(byTime: readonly ReadingRow[]): number[] {
  const segment: number[] = [];
  let current = 0;
  let previous: number | undefined;
  for (const row of byTime) {
    if (previous !== undefined && row.seq! < previous - SEQ_RESET_DROP) current += 1;
    segment.push(current);
    previous = row.seq!;
  }
  return segment;
}

/** Gaps at the edges of the period (by time, whatever the method inside). */
function edgeGaps(firstTs: number | undefined, lastTs: number | undefined, period: Period): TrialGap[] {
  const { fromMs, toMs, intervalMs } = period;
  if (firstTs === undefined || lastTs === undefined) {
    const missing = expectedReadings(period);
    return [{ from: iso(fromMs), to: iso(toMs), durationMs: toMs - fromMs, missing, edge: 'start' }];
  }
  const gaps: TrialGap[] = [];
  const leading = Math.round((firstTs - fromMs) / intervalMs);
  if (leading >= 1) gaps.push({ from: iso(fromMs), to: iso(firstTs), durationMs: firstTs - fromMs, missing: leading, edge: 'start' });
  const trailing = Math.round((toMs - lastTs) / intervalMs) - 1;
  if (trailing >= 1) gaps.push({ from: iso(lastTs), to: iso(toMs), durationMs: toMs - lastTs, missing: trailing, edge: 'end' });
  return gaps;
}

export function batteryTrend(points: readonly [number, number][]): BatteryTrend | undefined {
  if (points.length === 0) return undefined;
  // Fit only since the last swap: a fresh battery is a new line.
  let startIndex = 0;
  for (let i = 1; i < points.length; i++) if (points[i]![1] - points[i - 1]![1] >= BATTERY_SWAP_RISE) startIndex = i;
  const since = points.slice(startIndex);
  const fit = linearFit(
    since.map(([t]) => t),
    since.map(([, b]) => b),
  );
  const drainPerDay = fit ? -fit.slope * 86_400_000 : undefined;
  const lastT = since[since.length - 1]![0];
  const fitted = fit ? fit.slope * lastT + fit.intercept : since[since.length - 1]![1];
  const projectedDaysLeft = drainPerDay !== undefined && drainPerDay > 0 ? Math.max(0, fitted) / drainPerDay : undefined;
  return {
    samples: points.length,
    first: points[0]![1],
    last: points[points.length - 1]![1],
    drainPerDay: drainPerDay === undefined ? undefined : round(drainPerDay, 4),
    projectedDaysLeft: projectedDaysLeft === undefined ? undefined : round(projectedDaysLeft, 1),
    ...(startIndex > 0 ? { replacedAtMs: points[startIndex]![0] } : {}),
  };
}

/** Every stored-reading figure of one device over `period`. `rows` in any order; all inside the period. */
export function analyseReadings(rows: readonly ReadingRow[], period: Period): ReadingFigures {
  const { intervalMs } = period;
  const byTime = [...rows].sort((a, b) => a.ts - b.ts || (a.seq ?? 0) - (b.seq ?? 0));
  const stored = byTime.length;
  const method: 'seq' | 'time' = stored > 0 && byTime.every((r) => r.seq !== undefined) ? 'seq' : 'time';

  // Duplicates and the unique readings (by seq within a counter run).
  const segment = method === 'seq' ? seqSegments(byTime) : byTime.map(() => 0);
  const duplicateSeqs: number[] = [];
  const firstOfSeq = new Map<string, ReadingRow>();
  const uniqueRows: { row: ReadingRow; segment: number }[] = [];
  byTime.forEach((row, i) => {
    if (method !== 'seq') {
      uniqueRows.push({ row, segment: 0 });
      return;
    }
    const key = `${segment[i]}:${row.seq}`;
    if (firstOfSeq.has(key)) duplicateSeqs.push(row.seq!);
    else {
      firstOfSeq.set(key, row);
      uniqueRows.push({ row, segment: segment[i]! });
    }
  });
  const unique = uniqueRows.length;
  const expected = expectedReadings(period);
  const uniqueTimes = uniqueRows.map((u) => u.row.ts).sort((a, b) => a - b);

  // Gaps.
  const interior: TrialGap[] = [];
  if (method === 'seq') {
    const bySegment = new Map<number, ReadingRow[]>();
    for (const { row, segment: s } of uniqueRows) bySegment.set(s, [...(bySegment.get(s) ?? []), row]);
    for (const runRows of bySegment.values()) {
      runRows.sort((a, b) => a.seq! - b.seq!);
      for (let i = 1; i < runRows.length; i++) {
        const before = runRows[i - 1]!;
        const after = runRows[i]!;
        const missing = after.seq! - before.seq! - 1;
        if (missing >= 1) {
          interior.push({ from: iso(before.ts), to: iso(after.ts), durationMs: Math.max(0, after.ts - before.ts), missing, afterSeq: before.seq!, beforeSeq: after.seq! });
        }
      }
    }
  } else {
    for (let i = 1; i < uniqueTimes.length; i++) {
      const delta = uniqueTimes[i]! - uniqueTimes[i - 1]!;
      if (delta > GAP_FACTOR * intervalMs) {
        interior.push({ from: iso(uniqueTimes[i - 1]!), to: iso(uniqueTimes[i]!), durationMs: delta, missing: Math.max(1, Math.round(delta / intervalMs) - 1) });
      }
    }
  }
  const allGaps = [...edgeGaps(uniqueTimes[0], uniqueTimes[uniqueTimes.length - 1], period), ...interior].sort((a, b) => Date.parse(a.from) - Date.parse(b.from));
  const longest = allGaps.reduce<TrialGap | undefined>((best, g) => (!best || g.durationMs > best.durationMs ? g : best), undefined);
  let list = allGaps;
  const truncated = allGaps.length > MAX_GAPS_LISTED;
  if (truncated) {
    const keep = new Set([...allGaps].sort((a, b) => b.durationMs - a.durationMs).slice(0, MAX_GAPS_LISTED));
    list = allGaps.filter((g) => keep.has(g));
  }

  // Out of order, in order of receipt (rows without a receipt time cannot say).
  const received = byTime
    .map((row, i) => ({ row, segment: segment[i]! }))
    .filter(({ row }) => row.receivedMs !== undefined)
    .sort((a, b) => a.row.receivedMs! - b.row.receivedMs! || (method === 'seq' ? a.row.seq! - b.row.seq! : a.row.ts - b.row.ts));
  let outOfOrder = 0;
  if (method === 'seq') {
    const seen = new Set<string>();
    const maxBySegment = new Map<number, number>();
    for (const { row, segment: s } of received) {
      const key = `${s}:${row.seq}`;
      if (seen.has(key)) continue; // a duplicate, counted as such
      seen.add(key);
      const max = maxBySegment.get(s);
      if (max !== undefined && row.seq! < max) outOfOrder += 1;
      else maxBySegment.set(s, row.seq!);
    }
  } else {
    let maxTs = -Infinity;
    for (const { row } of received) {
      if (row.ts < maxTs) outOfOrder += 1;
      else maxTs = row.ts;
    }
  }

  // Latency and clock.
  const latencies: number[] = [];
  const offsets: number[] = [];
  for (const row of byTime) {
    if (row.receivedMs === undefined) continue;
    latencies.push(row.receivedMs - row.ts);
    offsets.push(row.ts - row.receivedMs);
  }
  latencies.sort((a, b) => a - b);
  const ahead = offsets.filter((o) => o > CLOCK_AHEAD_TOLERANCE_MS);

  // Spacing of readings.
  const spacings: number[] = [];
  for (let i = 1; i < uniqueTimes.length; i++) spacings.push(uniqueTimes[i]! - uniqueTimes[i - 1]!);
  const medianSpacing = median(spacings);

  // Battery and signal.
  const batteryPoints = byTime.filter((r) => r.battery !== undefined).map((r) => [r.ts, r.battery!] as [number, number]);
  const rssi = byTime.filter((r) => r.rssi !== undefined).map((r) => r.rssi!);

  // Coverage per bucket, for the chart: at most MAX_SERIES_POINTS buckets, each a whole number of intervals.
  const span = period.toMs - period.fromMs;
  const intervalsPerBucket = Math.max(1, Math.ceil(span / intervalMs / MAX_SERIES_POINTS));
  const bucketMs = intervalsPerBucket * intervalMs;
  const buckets = Math.max(1, Math.ceil(span / bucketMs));
  const counts = new Array<number>(buckets).fill(0);
  for (const t of uniqueTimes) {
    const b = Math.floor((t - period.fromMs) / bucketMs);
    if (b >= 0 && b < buckets) counts[b]! += 1;
  }
  const coverage = counts.map((c, b) => {
    const width = Math.min(bucketMs, period.toMs - (period.fromMs + b * bucketMs));
    const expectedHere = Math.max(1, Math.floor(width / intervalMs));
    return round(Math.min(100, (c / expectedHere) * 100), 1);
  });
  const batteryStep = Math.max(1, Math.ceil(batteryPoints.length / MAX_SERIES_POINTS));

  return {
    stored,
    unique,
    expected,
    completenessPct: round(Math.min(100, (unique / expected) * 100)),
    uptimePct: round(coveragePercent(uniqueTimes, period)),
    medianIntervalSeconds: medianSpacing === undefined ? undefined : round(medianSpacing / 1000),
    gaps: {
      method,
      count: allGaps.length,
      missing: allGaps.reduce((sum, g) => sum + g.missing, 0),
      longest,
      list,
      truncated,
    },
    duplicates: { count: duplicateSeqs.length, seqs: duplicateSeqs.slice(0, 50) },
    outOfOrder: { count: outOfOrder, method },
    latency: { samples: latencies.length, p50Ms: percentile(latencies, 50), p95Ms: percentile(latencies, 95), maxMs: latencies[latencies.length - 1] },
    clockSkew: {
      aheadReadings: ahead.length,
      maxAheadMs: ahead.length > 0 ? ahead.reduce((a, b) => Math.max(a, b)) : undefined,
      medianOffsetMs: median(offsets),
    },
    battery: batteryTrend(batteryPoints),
    signal: rssi.length > 0 ? { samples: rssi.length, medianDbm: median(rssi)!, minDbm: rssi.reduce((a, b) => Math.min(a, b)), maxDbm: rssi.reduce((a, b) => Math.max(a, b)) } : undefined,
    series: { bucketMs, coveragePct: coverage, battery: batteryPoints.filter((_, i) => i % batteryStep === 0) },
  };
}
