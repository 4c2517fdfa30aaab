/**
 * A fixed-bucket latency histogram (HdrHistogram in spirit, without the dependency): 10 µs
 * buckets up to 100 ms, 1 ms buckets up to 60 s. Percentiles are exact to the bucket, min
 * and max exact. Histograms from several processes merge by adding counts, and travel
 * over IPC as one Float64Array.
 */
const FINE_US = 10;
const FINE_LIMIT_US = 100_000;
const COARSE_US = 1_000;
const COARSE_LIMIT_US = 60_000_000;
const FINE_BUCKETS = FINE_LIMIT_US / FINE_US;
const BUCKETS = FINE_BUCKETS + (COARSE_LIMIT_US - FINE_LIMIT_US) / COARSE_US + 1;

export interface Histogram {
  counts: Float64Array;
  count: number;
  minUs: number;
  maxUs: number;
  sumUs: number;
}

export function createHistogram(): Histogram {
  return { counts: new Float64Array(BUCKETS), count: 0, minUs: Number.POSITIVE_INFINITY, maxUs: 0, sumUs: 0 };
}

function bucketOf(us: number): number {
  if (us < FINE_LIMIT_US) return Math.max(0, Math.floor(us / FINE_US));
  if (us < COARSE_LIMIT_US) return FINE_BUCKETS + Math.floor((us - FINE_LIMIT_US) / COARSE_US);
  return BUCKETS - 1;
}

/** Upper edge of a bucket: a percentile never understates latency. */
function upperEdgeUs(bucket: number): number {
  if (bucket < FINE_BUCKETS) return (bucket + 1) * FINE_US;
  return FINE_LIMIT_US + (bucket - FINE_BUCKETS + 1) * COARSE_US;
}

export function recordValue(h: Histogram, us: number): void {
  const value = Math.max(0, us);
  h.counts[bucketOf(value)]! += 1;
  h.count += 1;
  h.sumUs += value;
  if (value < h.minUs) h.minUs = value;
  if (value > h.maxUs) h.maxUs = value;
}

export function mergeInto(target: Histogram, source: Histogram): void {
  for (let i = 0; i < BUCKETS; i += 1) target.counts[i]! += source.counts[i]!;
  target.count += source.count;
  target.sumUs += source.sumUs;
  target.minUs = Math.min(target.minUs, source.minUs);
  target.maxUs = Math.max(target.maxUs, source.maxUs);
}

/** The value at or below which `p` % of samples fall (upper bucket edge, capped by max). */
export function percentileUs(h: Histogram, p: number): number {
  if (h.count === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil((p / 100) * h.count));
  let seen = 0;
  for (let i = 0; i < BUCKETS; i += 1) {
    seen += h.counts[i]!;
    if (seen >= rank) return Math.min(upperEdgeUs(i), h.maxUs);
  }
  return h.maxUs;
}

/** Percentile of a plain list of numbers (small samples: query timings). */
export function percentileOf(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}
