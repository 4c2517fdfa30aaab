import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { analyseReadings, batteryTrend, coveragePercent, linearFit, median, percentile, type ReadingRow } from '../../../api/trials/stats.ts';
import { compareWithReference, pairHours } from '../../../api/trials/reference.ts';
import { judgeGoals } from '../../../api/trials/verdicts.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 4, 1);
const period = { fromMs: T0, toMs: T0 + 60 * MIN, intervalMs: MIN };
const at = (k: number, extra: Partial<ReadingRow> = {}): ReadingRow => ({ ts: T0 + k * MIN, receivedMs: T0 + k * MIN + 1_000, seq: k, ...extra });
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('small statistics', () => {
  it('percentile is nearest-rank, median averages the middle pair', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 95)).toBe(4);
    expect(percentile([], 50)).toBeUndefined();
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([5, 1, 3])).toBe(3);
  });

  it('linearFit recovers an exact line, and refuses a constant x', () => {
    const fit = linearFit([1, 2, 3, 4], [3, 5, 7, 9])!;
    expect(fit.slope).toBeCloseTo(2, 12);
    expect(fit.intercept).toBeCloseTo(1, 12);
    expect(fit.r2).toBeCloseTo(1, 12);
    expect(linearFit([1, 1, 1], [1, 2, 3])).toBeUndefined();
  });

  it('coverage is the union of [t, t + interval) inside the period', () => {
    expect(coveragePercent([T0, T0 + 30_000, T0 + 59 * MIN + 30_000], period)).toBeCloseTo((90_000 + 30_000) / (60 * MIN) * 100, 9);
  });

  it('battery trend restarts after a swap and projects the days left', () => {
    const trend = batteryTrend([[0, 20], [86_400_000, 10], [2 * 86_400_000, 100], [3 * 86_400_000, 98]])!;
    expect(trend.drainPerDay).toBeCloseTo(2, 6);
    expect(trend.projectedDaysLeft).toBe(49);
    expect(trend.replacedAtMs).toBe(2 * 86_400_000);
  });
});

describe('analyseReadings', () => {
  it('a perfect device: 100 %, no gaps', () => {
    const figures = analyseReadings(range(0, 60).map((k) => at(k)), period);
    expect(figures).toMatchObject({ stored: 60, unique: 60, expected: 60, completenessPct: 100, uptimePct: 100, medianIntervalSeconds: 60 });
    expect(figures.gaps.count).toBe(0);
    expect(figures.latency).toEqual({ samples: 60, p50Ms: 1_000, p95Ms: 1_000, maxMs: 1_000 });
  });

  it('a counter restart is not a gap nor a duplicate', () => {
    const rows = [...range(0, 30).map((k) => at(k, { seq: 5_000 + k })), ...range(30, 60).map((k) => at(k, { seq: k - 30 }))];
    const figures = analyseReadings(rows, period);
    expect(figures.gaps.count).toBe(0);
    expect(figures.duplicates.count).toBe(0);
    expect(figures.outOfOrder.count).toBe(0);
  });

  it('silence for the whole period is one gap of every expected reading', () => {
    const figures = analyseReadings([], period);
    expect(figures.gaps).toMatchObject({ count: 1, missing: 60 });
    expect(figures.completenessPct).toBe(0);
    expect(figures.latency.p50Ms).toBeUndefined();
  });

  it('property: for readings on their slots, unique + missing = expected, and completeness = uptime', () => {
    fc.assert(
      fc.property(fc.subarray(range(0, 60), { minLength: 1 }), fc.boolean(), (slots, withSeq) => {
        const rows = slots.map((k) => (withSeq ? at(k) : { ts: T0 + k * MIN }));
        const figures = analyseReadings(rows, period);
        expect(figures.unique + figures.gaps.missing).toBe(60);
        expect(figures.completenessPct).toBeCloseTo(figures.uptimePct, 2);
        expect(figures.duplicates.count).toBe(0);
      }),
      { seed: 8, numRuns: 200 },
    );
  });
});

describe('reference comparison', () => {
  it('exact relation: slope, intercept, bias, RMSE, R²', () => {
    const device = new Map<number, number>();
    const reference = new Map<number, number>();
    for (let h = 0; h < 48; h++) {
      reference.set(h * 3_600_000, 10 + (h % 12));
      device.set(h * 3_600_000, 2 * (10 + (h % 12)) + 1);
    }
    device.set(999 * 3_600_000, 5); // no reference that hour: not paired
    const c = compareWithReference(pairHours(device, reference));
    expect(c.pairedHours).toBe(48);
    expect(c.slope).toBe(2);
    expect(c.intercept).toBe(1);
    expect(c.r2).toBe(1);
    expect(c.bias).toBe(15.5 + 1);
    expect(c.drift.windowDays).toBe(1);
  });

  it('too few pairs: nulls, not NaN', () => {
    const c = compareWithReference([[0, 1, 1]]);
    expect(c.pairedHours).toBe(1);
    expect(c.slope).toBeUndefined();
    expect(c.rmse).toBe(0);
  });
});

describe('verdicts', () => {
  it('met or not, with the margin in the goal unit', () => {
    const verdicts = judgeGoals({ intervalSeconds: 60, completenessPct: 95, maxRejectRatePct: 5, maxLatencyP95Ms: 2_000 }, { completenessPct: 96, rejectRatePct: 7.5, latencyP95Ms: 2_500, medianIntervalSeconds: 65 });
    expect(verdicts.map((v) => [v.goal, v.met, v.margin])).toEqual([
      ['completenessPct', true, 1],
      ['maxRejectRatePct', false, -2.5],
      ['maxLatencyP95Ms', false, -500],
      ['intervalSeconds', true, -5],
    ]);
    expect(verdicts[1]!.text).toBe('Reject rate 7.5 % against at most 5 %: NOT MET, by 2.5 points');
  });
});
