/**
 * Bin collection analytics on fill series with known answers: emptyings found through noise,
 * lid-open spikes and outliers; the fill rate and the time to 80 %; the KPIs.
 */
import { describe, expect, it } from 'vitest';
import { collectionKpi, detectEmptyings, forecastBin, type FillReading } from '../../../api/waste/collections.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.UTC(2026, 10, 2);

/** Hourly readings: rising `ratePerDay` from `start`, emptied to `after` at each of `emptyAtHours`. */
function sawtooth(hours: number, ratePerDay: number, emptyAtHours: number[], options: { start?: number; after?: number; noise?: (h: number) => number } = {}): FillReading[] {
  const readings: FillReading[] = [];
  let level = options.start ?? 0;
  for (let h = 0; h < hours; h += 1) {
    if (emptyAtHours.includes(h)) level = options.after ?? 2;
    readings.push({ atMs: T0 + h * HOUR, fill: Math.max(0, Math.min(100, level + (options.noise?.(h) ?? 0))) });
    level = Math.min(100, level + ratePerDay / 24);
  }
  return readings;
}

describe('detecting emptyings', () => {
  it('finds each emptying of a sawtooth, with how full the bin was', () => {
    const series = sawtooth(9 * 24, 30, [72, 144]);
    const found = detectEmptyings(series);
    expect(found.map((e) => (e.atMs - T0) / HOUR)).toEqual([72, 144]);
    // 0 + 71 h × 1.25 %/h, then 2 + 71 h × 1.25 %/h.
    expect(found.map((e) => e.fillBefore)).toEqual([88.75, 90.75]);
    expect(found.every((e) => e.fillAfter === 2)).toBe(true);
  });

  it('is not fooled by sensor noise of a few points either way', () => {
    const noise = (h: number) => ((h * 7919) % 7) - 3;
    expect(detectEmptyings(sawtooth(9 * 24, 30, [72, 144], { noise })).map((e) => (e.atMs - T0) / HOUR)).toEqual([72, 144]);
  });

  it('leaves out readings taken with the lid open, and a single low outlier the next readings contradict', () => {
    const series = sawtooth(4 * 24, 30, []);
    series[50] = { ...series[50]!, fill: 3, lidOpen: true };
    series[60] = { ...series[60]!, fill: 1 };
    expect(detectEmptyings(series)).toEqual([]);
  });

  it('counts a fall over several readings as one emptying', () => {
    const series: FillReading[] = [80, 82, 85, 50, 10, 4, 6, 8].map((fill, i) => ({ atMs: T0 + i * HOUR, fill }));
    const found = detectEmptyings(series);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ fillBefore: 85, fillAfter: 4 });
  });
});

describe('forecasting', () => {
  it('measures the fill rate since the last emptying and when the bin reaches 80 %', () => {
    const series = sawtooth(4 * 24, 30, [48]);
    const now = series.at(-1)!.atMs;
    const forecast = forecastBin(series, now);
    expect(forecast.fillRatePerDay).toBeCloseTo(30, 5);
    // From 2 % at hour 48, 30 %/day: 80 % at 2.6 days later.
    expect((forecast.fullAtMs! - (T0 + 48 * HOUR)) / DAY).toBeCloseTo(78 / 30, 5);
  });

  it('says now for a bin already over the target, and never for one that does not fill', () => {
    const full = sawtooth(48, 50, [], { start: 70 });
    expect(forecastBin(full, full.at(-1)!.atMs).fullAtMs).toBe(full.at(-1)!.atMs);
    const idle: FillReading[] = [0, 1, 2].map((h) => ({ atMs: T0 + h * HOUR, fill: 10 }));
    expect(forecastBin(idle, T0 + 3 * HOUR).fullAtMs).toBeUndefined();
  });
});

describe('KPIs', () => {
  it('counts emptyings, the share done nearly empty, the median fill at emptying and the time overflowing', () => {
    // 30 %/day (1.25 %/h) from 0, emptied to 2 % at hours 72, 88, 136 and 230: at 88.75 %,
    // 20.75 % (a collection that was not needed), 60.75 % and 100 % — full since hour 215.
    const series = sawtooth(240, 30, [72, 88, 136, 230]);
    const kpi = collectionKpi(series, T0, T0 + 240 * HOUR);
    expect(kpi.emptyings).toBe(4);
    expect(kpi.lowFillShare).toBe(1 / 4);
    expect(kpi.medianFillAtEmptying).toBe((60.75 + 88.75) / 2);
    expect(kpi.overflowHours).toBe(15);
    // A window that holds only the last emptying.
    expect(collectionKpi(series, T0 + 200 * HOUR, T0 + 240 * HOUR)).toMatchObject({ emptyings: 1, lowFillShare: 0, medianFillAtEmptying: 100 });
  });
});
