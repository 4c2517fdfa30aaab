/**
 * Is a device keeping its promise? Gaps from its message counter (`seq`) and from time
 * against the declared interval, and its reading rate. Input is readings sorted oldest
 * first (as series.ts keeps them). Pure: no DOM.
 */

export interface Sample {
  /** Measurement time, ms. */
  t: number;
  seq?: number | undefined;
}

export interface SeqGap {
  /** Last seq before the gap and first seq after it. */
  afterSeq: number;
  beforeSeq: number;
  /** Messages the device sent that never arrived. */
  missing: number;
  /** Time of the first reading after the gap, ms. */
  atMs: number;
}

export interface SeqAnalysis {
  gaps: SeqGap[];
  missing: number;
  /** The counter went backwards: the device restarted (not a loss). */
  resets: number;
  /** Same seq seen again: redelivery (QoS 1) or a stuck counter. */
  duplicates: number;
  /** Readings that carried a seq. */
  counted: number;
}

export function analyseSeq(samples: readonly Sample[]): SeqAnalysis {
  const result: SeqAnalysis = { gaps: [], missing: 0, resets: 0, duplicates: 0, counted: 0 };
  let previous: number | undefined;
  for (const sample of samples) {
    if (sample.seq === undefined) continue;
    result.counted += 1;
    if (previous !== undefined) {
      const step = sample.seq - previous;
      if (step === 0) result.duplicates += 1;
      else if (step < 0) result.resets += 1;
      else if (step > 1) {
        const missing = step - 1;
        result.gaps.push({ afterSeq: previous, beforeSeq: sample.seq, missing, atMs: sample.t });
        result.missing += missing;
      }
    }
    previous = sample.seq;
  }
  return result;
}

export interface TimeGap {
  fromMs: number;
  toMs: number;
  durationMs: number;
  /** Readings the declared interval promised in that time. */
  expectedMissing: number;
}

/** A silence longer than this many declared intervals is a gap (jitter below it is not). */
export const TIME_GAP_INTERVALS = 2;

/**
 * Silences longer than TIME_GAP_INTERVALS × the declared interval, between readings and,
 * when `untilMs` is given, from the last reading until then (a device that went quiet).
 */
export function findTimeGaps(samples: readonly Sample[], intervalSeconds: number, untilMs?: number): TimeGap[] {
  const intervalMs = intervalSeconds * 1000;
  const limit = TIME_GAP_INTERVALS * intervalMs;
  const gaps: TimeGap[] = [];
  const push = (fromMs: number, toMs: number) => {
    const durationMs = toMs - fromMs;
    if (durationMs > limit) gaps.push({ fromMs, toMs, durationMs, expectedMissing: Math.max(0, Math.round(durationMs / intervalMs) - 1) });
  };
  for (let i = 1; i < samples.length; i++) push(samples[i - 1]!.t, samples[i]!.t);
  const last = samples[samples.length - 1];
  if (last && untilMs !== undefined) push(last.t, untilMs);
  return gaps;
}

export interface RateAnalysis {
  /** Readings per minute over the window. */
  perMinute: number;
  /** What the declared interval promises. */
  expectedPerMinute: number;
  /** perMinute ÷ expectedPerMinute. */
  ratio: number;
  verdict: 'ok' | 'slow' | 'fast' | 'silent';
  windowMs: number;
}

/**
 * Readings per minute over the last `windowMs` before `nowMs` against the declared interval.
 * Within ±20 % is "ok"; a device sending much more than declared is as worth a look as one
 * sending less (a reboot loop, a misconfigured firmware).
 */
export function readingRate(samples: readonly Sample[], intervalSeconds: number, nowMs: number, windowMs: number): RateAnalysis {
  const fromMs = nowMs - windowMs;
  let count = 0;
  for (let i = samples.length - 1; i >= 0; i--) {
    const t = samples[i]!.t;
    if (t <= fromMs) break;
    if (t <= nowMs) count += 1;
  }
  const perMinute = count / (windowMs / 60_000);
  const expectedPerMinute = 60 / intervalSeconds;
  const ratio = expectedPerMinute > 0 ? perMinute / expectedPerMinute : 0;
  const verdict = count === 0 ? 'silent' : ratio < 0.8 ? 'slow' : ratio > 1.2 ? 'fast' : 'ok';
  return { perMinute, expectedPerMinute, ratio, verdict, windowMs };
}

/** Readings per minute bucketed over time, for a rate sparkline. */
export function rateBuckets(samples: readonly Sample[], fromMs: number, toMs: number, buckets: number): number[] {
  const counts = new Array<number>(buckets).fill(0);
  const span = toMs - fromMs;
  if (span <= 0 || buckets <= 0) return counts;
  for (const { t } of samples) {
    if (t < fromMs || t >= toMs) continue;
    counts[Math.min(buckets - 1, Math.floor(((t - fromMs) / span) * buckets))]! += 1;
  }
  const minutesPerBucket = span / buckets / 60_000;
  return counts.map((c) => c / minutesPerBucket);
}
