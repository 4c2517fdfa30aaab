/**
 * Comparing a device with the lab's reference station, the way low-cost air sensors are
 * evaluated against a certified one (Copenhagen did it against the H.C. Andersens Boulevard
 * station): on paired hourly means, the bias, RMSE, R² and a least-squares line
 * device = slope × reference + intercept, and the drift of the error over the trial.
 * Pure: report.ts queries the hourly means.
 */
import { linearFit, mean } from './stats.ts';

export const MAX_PAIRS_LISTED = 2_000;
const DAY_MS = 86_400_000;
const DRIFT_WINDOW_MS = 7 * DAY_MS;

export interface Comparison {
  pairedHours: number;
  meanDevice: number | undefined;
  meanReference: number | undefined;
  bias: number | undefined;
  rmse: number | undefined;
  r2: number | undefined;
  slope: number | undefined;
  intercept: number | undefined;
  drift: { perDay: number | undefined; windowDays: number; earlyBias: number | undefined; lateBias: number | undefined };
  /** [hour start ms, device, reference], ascending by time. */
  pairs: [number, number, number][];
}

/** Pairs two hourly series (hour start ms → mean) on the hours both have. */
export function pairHours(device: ReadonlyMap<number, number>, reference: ReadonlyMap<number, number>): [number, number, number][] {
  const pairs: [number, number, number][] = [];
  for (const [hour, value] of device) {
    const ref = reference.get(hour);
    if (ref !== undefined && Number.isFinite(value) && Number.isFinite(ref)) pairs.push([hour, value, ref]);
  }
  return pairs.sort((a, b) => a[0] - b[0]);
}

const round = (value: number | undefined, digits = 4): number | undefined => {
  if (value === undefined || !Number.isFinite(value)) return undefined;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
};

export function compareWithReference(pairs: readonly [number, number, number][]): Comparison {
  const n = pairs.length;
  const errors = pairs.map(([, d, r]) => d - r);
  const fit = linearFit(
    pairs.map(([, , r]) => r),
    pairs.map(([, d]) => d),
  );
  const rmse = n > 0 ? Math.sqrt(errors.reduce((sum, e) => sum + e * e, 0) / n) : undefined;
  const drift = linearFit(
    pairs.map(([t]) => t / DAY_MS),
    errors,
  );
  // Early and late bias over a week each (half the span when the pairs cover less than two weeks).
  const spanMs = n > 1 ? pairs[n - 1]![0] - pairs[0]![0] + 3_600_000 : 0;
  const windowMs = Math.min(DRIFT_WINDOW_MS, spanMs / 2);
  const early = n > 1 ? pairs.filter(([t]) => t < pairs[0]![0] + windowMs).map(([, d, r]) => d - r) : [];
  const late = n > 1 ? pairs.filter(([t]) => t + 3_600_000 > pairs[n - 1]![0] + 3_600_000 - windowMs).map(([, d, r]) => d - r) : [];
  const step = Math.max(1, Math.ceil(n / MAX_PAIRS_LISTED));
  return {
    pairedHours: n,
    meanDevice: round(mean(pairs.map(([, d]) => d))),
    meanReference: round(mean(pairs.map(([, , r]) => r))),
    bias: round(mean(errors)),
    rmse: round(rmse),
    r2: round(n >= 3 ? fit?.r2 : undefined),
    slope: round(n >= 3 ? fit?.slope : undefined),
    intercept: round(n >= 3 ? fit?.intercept : undefined),
    drift: {
      perDay: round(n >= 3 && spanMs >= DAY_MS ? drift?.slope : undefined),
      windowDays: round(windowMs / DAY_MS, 3) ?? 0,
      earlyBias: round(mean(early)),
      lateBias: round(mean(late)),
    },
    pairs: pairs.filter((_, i) => i % step === 0).map(([t, d, r]) => [t, round(d, 3)!, round(r, 3)!]),
  };
}
