/**
 * Bin collection analytics from a bin's fill series (the Nordsense question: are we emptying
 * bins that are nearly empty?). Pure functions over readings `{ atMs, fill, lidOpen? }` in
 * time order, so the answers are exact and testable with series of known answers.
 *
 * An emptying is a drop of at least `dropPercent` (default 15 points) that stays: the fill
 * after the drop must hold (the median of the next `confirmReadings` readings stays below
 * the level before minus the drop). That makes it robust to
 * - sensor noise (a few points either way never reaches the drop);
 * - lid-open spikes: ultrasonic sensors read nonsense while the lid is open, so those readings
 *   are left out altogether;
 * - a single outlier low reading (the next readings climb straight back: not confirmed).
 * The fill "at emptying" is the highest trusted reading of the last `lookbackReadings` before
 * the drop (the bin was that full when the crew came).
 */

export interface FillReading {
  atMs: number;
  fill: number;
  lidOpen?: boolean | undefined;
}

export interface Emptying {
  atMs: number;
  /** How full the bin was when it was emptied (%). */
  fillBefore: number;
  /** The level right after (%). */
  fillAfter: number;
}

export interface CollectionOptions {
  dropPercent?: number;
  confirmReadings?: number;
  lookbackReadings?: number;
}

const DAY_MS = 86_400_000;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The readings a fill sensor can be trusted for: not taken with the lid open, within 0–100 (+ overflow). */
function trusted(readings: readonly FillReading[]): FillReading[] {
  return readings.filter((r) => r.lidOpen !== true && Number.isFinite(r.fill));
}

export function detectEmptyings(readings: readonly FillReading[], options: CollectionOptions = {}): Emptying[] {
  const drop = options.dropPercent ?? 15;
  const confirm = options.confirmReadings ?? 3;
  const lookback = options.lookbackReadings ?? 3;
  const series = trusted(readings);
  const emptyings: Emptying[] = [];
  // Readings before this index belong to an emptying already counted.
  let from = 0;
  for (let i = 1; i < series.length; i += 1) {
    if (i - from < 1) continue;
    const before = Math.max(...series.slice(Math.max(from, i - lookback), i).map((r) => r.fill));
    const after = series[i]!;
    if (before - after.fill < drop) continue;
    const following = series.slice(i, i + confirm).map((r) => r.fill);
    if (following.length < Math.min(confirm, series.length - i)) continue;
    if (median(following) > before - drop) continue; // it climbed straight back: an outlier
    // The rest of the fall belongs to this emptying: the next one needs the bin to fill first.
    while (i + 1 < series.length && series[i + 1]!.fill <= series[i]!.fill) i += 1;
    emptyings.push({ atMs: after.atMs, fillBefore: before, fillAfter: series[i]!.fill });
    from = i;
  }
  return emptyings;
}

export interface BinForecast {
  /** %/day since the last emptying (least squares over the trusted readings); undefined with fewer than 2. */
  fillRatePerDay: number | undefined;
  /** The latest trusted level. */
  fill: number | undefined;
  /** When the bin reaches `targetPercent` at that rate; now if it is already there; undefined when it does not fill. */
  fullAtMs: number | undefined;
}

export function forecastBin(readings: readonly FillReading[], nowMs: number, options: CollectionOptions & { targetPercent?: number } = {}): BinForecast {
  const target = options.targetPercent ?? 80;
  const series = trusted(readings);
  const last = detectEmptyings(series, options).at(-1);
  const since = last ? series.filter((r) => r.atMs >= last.atMs) : series;
  const latest = series.at(-1)?.fill;
  if (since.length < 2) return { fillRatePerDay: undefined, fill: latest, fullAtMs: latest !== undefined && latest >= target ? nowMs : undefined };
  // Least squares slope of fill over days.
  const t0 = since[0]!.atMs;
  const xs = since.map((r) => (r.atMs - t0) / DAY_MS);
  const ys = since.map((r) => r.fill);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let k = 0; k < xs.length; k += 1) {
    num += (xs[k]! - mx) * (ys[k]! - my);
    den += (xs[k]! - mx) ** 2;
  }
  const rate = den === 0 ? undefined : num / den;
  const fill = latest!;
  let fullAtMs: number | undefined;
  if (fill >= target) fullAtMs = nowMs;
  else if (rate !== undefined && rate > 0) fullAtMs = since.at(-1)!.atMs + ((target - fill) / rate) * DAY_MS;
  return { fillRatePerDay: rate, fill, fullAtMs };
}

export interface CollectionKpi {
  emptyings: number;
  /** Share of emptyings done below `lowPercent` (default 25 %): collections that were not needed. */
  lowFillShare: number | undefined;
  medianFillAtEmptying: number | undefined;
  /** Time spent at or over 100 %, in hours (between consecutive trusted readings, the earlier one's level counts). */
  overflowHours: number;
}

export function collectionKpi(readings: readonly FillReading[], fromMs: number, toMs: number, options: CollectionOptions & { lowPercent?: number } = {}): CollectionKpi {
  const low = options.lowPercent ?? 25;
  const series = trusted(readings);
  const emptyings = detectEmptyings(series, options).filter((e) => e.atMs >= fromMs && e.atMs < toMs);
  let overflowMs = 0;
  for (let k = 0; k + 1 < series.length; k += 1) {
    const a = series[k]!;
    if (a.fill < 100) continue;
    const start = Math.max(a.atMs, fromMs);
    const end = Math.min(series[k + 1]!.atMs, toMs);
    if (end > start) overflowMs += end - start;
  }
  const fills = emptyings.map((e) => e.fillBefore);
  return {
    emptyings: emptyings.length,
    lowFillShare: emptyings.length === 0 ? undefined : emptyings.filter((e) => e.fillBefore < low).length / emptyings.length,
    medianFillAtEmptying: fills.length === 0 ? undefined : median(fills),
    overflowHours: overflowMs / 3_600_000,
  };
}
