import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EAQI_CURRENT_TABLE,
  EAQI_POLLUTANTS,
  computeEaqi,
  eaqiBand,
  eaqiIndication,
  eaqiPollutant,
  runningMean24h,
  whoExceedances,
  type EaqiPollutant,
} from '../../../contracts/aqi.ts';

const LIMITS: Record<EaqiPollutant, number[]> = {
  pm25: [10, 20, 25, 50, 75, 800],
  pm10: [20, 40, 50, 100, 150, 1200],
  no2: [40, 90, 120, 230, 340, 1000],
  o3: [50, 100, 130, 240, 380, 800],
  so2: [100, 200, 350, 500, 750, 1250],
};

/** 24 hourly means all equal to `value` (the running mean is then exactly `value`). */
const flat = (value: number, hours = 24): (number | null)[] => Array.from({ length: 24 }, (_, i) => (i >= 24 - hours ? value : null));

describe('EAQI band table', () => {
  it('is the EEA six-band table, versioned', () => {
    expect(EAQI_CURRENT_TABLE.upperLimits).toEqual(LIMITS);
    expect(EAQI_CURRENT_TABLE.version).toMatch(/^eea-/);
  });

  const edges = EAQI_POLLUTANTS.flatMap((p) => LIMITS[p].map((limit, i) => [p, limit, i + 1] as const));
  it.each(edges)('puts %s exactly at %d µg/m³ in band %d, and just above it in the next', (pollutant, limit, level) => {
    expect(eaqiBand(pollutant, limit)).toBe(level);
    expect(eaqiBand(pollutant, limit + 1e-9)).toBe(Math.min(6, level + 1));
    expect(eaqiBand(pollutant, limit - 1e-9)).toBe(level);
  });

  it('keeps values above the last limit in band 6 and refuses impossible values', () => {
    expect(eaqiBand('pm25', 5_000)).toBe(6);
    expect(eaqiBand('pm25', 0)).toBe(1);
    for (const bad of [-0.1, Number.NaN, Number.POSITIVE_INFINITY, null, undefined]) expect(eaqiBand('pm25', bad)).toBeUndefined();
  });

  it('never decreases as the concentration rises', () => {
    fc.assert(
      fc.property(fc.constantFrom(...EAQI_POLLUTANTS), fc.double({ min: 0, max: 3_000, noNaN: true }), fc.double({ min: 0, max: 3_000, noNaN: true }), (p, a, b) => {
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        expect(eaqiBand(p, lo)!).toBeLessThanOrEqual(eaqiBand(p, hi)!);
      }),
    );
  });
});

describe('the 24-hour running mean of PM', () => {
  it('needs 18 of the 24 hourly means', () => {
    expect(runningMean24h(flat(12, 17))).toEqual({ value: undefined, hoursWithData: 17, sufficient: false });
    expect(runningMean24h(flat(12, 18))).toEqual({ value: 12, hoursWithData: 18, sufficient: true });
  });

  it('averages the hourly means present, each hour weighing the same', () => {
    const full = Array.from({ length: 24 }, (_, i) => (i < 6 ? null : i < 15 ? 10 : 40));
    expect(runningMean24h(full)).toMatchObject({ value: (9 * 10 + 9 * 40) / 18, hoursWithData: 18, sufficient: true });
  });

  it('uses only the last 24 hours of a longer series', () => {
    const series = [...Array.from({ length: 10 }, () => 500), ...flat(8)];
    expect(runningMean24h(series).value).toBe(8);
  });

  it('is ok with 18 hours and insufficient with 17 in the index', () => {
    expect(eaqiPollutant('pm25', flat(12, 18))).toMatchObject({ status: 'ok', value: 12, level: 2, hoursWithData: 18, hoursRequired: 18, coverage: 0.75 });
    expect(eaqiPollutant('pm25', flat(12, 17))).toMatchObject({ status: 'insufficient_data', hoursWithData: 17 });
  });
});

describe('the index', () => {
  it('is the worst band, and names its pollutant as dominant', () => {
    const result = computeEaqi({ pm25: flat(22), pm10: flat(30), no2: flat(95), o3: flat(40), so2: flat(10) });
    // pm25 22 → 3 (moderate), pm10 30 → 2, no2 95 → 3, o3 → 1, so2 → 1: tie at 3, pm25 first
    expect(result).toMatchObject({ status: 'ok', level: 3, label: 'Moderate', dominant: 'pm25' });
    const worse = computeEaqi({ pm25: flat(8), no2: flat(229) });
    expect(worse).toMatchObject({ status: 'ok', level: 4, label: 'Poor', dominant: 'no2' });
  });

  it('reads NO2, O3 and SO2 from the latest hour only', () => {
    const no2 = [...Array.from({ length: 23 }, () => 500), 35];
    expect(computeEaqi({ pm25: flat(5), no2 })).toMatchObject({ status: 'ok', level: 1, dominant: 'pm25' });
    const missingLatest = [...Array.from({ length: 23 }, () => 35), null];
    expect(computeEaqi({ pm25: flat(5), no2: missingLatest })).toMatchObject({ status: 'insufficient_data', missing: ['no2'] });
  });

  it('answers insufficient data instead of guessing from what happens to be there', () => {
    expect(computeEaqi({ pm25: flat(500) })).toMatchObject({ status: 'insufficient_data', missing: ['no2'] });
    expect(computeEaqi({ no2: flat(20), pm25: flat(10, 17) })).toMatchObject({ status: 'insufficient_data', missing: ['pm25|pm10'] });
    expect(computeEaqi({})).toMatchObject({ status: 'insufficient_data', missing: ['no2', 'pm25|pm10'] });
    // A background station also needs O3.
    expect(computeEaqi({ no2: flat(20), pm10: flat(10) }, { station: 'background' })).toMatchObject({ status: 'insufficient_data', missing: ['o3'] });
    expect(computeEaqi({ no2: flat(20), pm10: flat(10), o3: flat(60) }, { station: 'background' })).toMatchObject({ status: 'ok', level: 2, dominant: 'o3' });
  });

  it('takes PM10 when PM2.5 lacks hours', () => {
    const result = computeEaqi({ pm25: flat(90, 10), pm10: flat(45), no2: flat(10) });
    expect(result).toMatchObject({ status: 'ok', level: 3, dominant: 'pm10' });
    expect(result.pollutants.find((p) => p.pollutant === 'pm25')).toMatchObject({ status: 'insufficient_data', hoursWithData: 10 });
  });

  it('always equals the worst pollutant band among valid ones (property)', () => {
    const hourly = fc.array(fc.option(fc.double({ min: 0, max: 1_500, noNaN: true }), { nil: null }), { minLength: 24, maxLength: 24 });
    fc.assert(
      fc.property(hourly, hourly, hourly, (pm25, pm10, no2) => {
        const result = computeEaqi({ pm25, pm10, no2 });
        const valid = result.pollutants.filter((p) => p.status === 'ok');
        if (result.status === 'ok') {
          expect(result.level).toBe(Math.max(...valid.map((p) => p.level!)));
          expect(valid.find((p) => p.pollutant === result.dominant)?.level).toBe(result.level);
        } else {
          expect(valid.some((p) => p.pollutant === 'no2') && valid.some((p) => p.pollutant === 'pm25' || p.pollutant === 'pm10')).toBe(false);
        }
      }),
    );
  });
});

describe('WHO 2021 exceedance days', () => {
  const DAY0 = Date.UTC(2026, 2, 1);
  const H = 3_600_000;
  const hours = (values: (number | null)[], start = DAY0) => {
    const map = new Map<number, number>();
    values.forEach((v, i) => {
      if (v !== null) map.set(start + i * H, v);
    });
    return map;
  };

  it('counts days whose 24-hour mean is above the guideline, if 18 hours have data', () => {
    const day1 = Array.from({ length: 24 }, () => 16); // mean 16 > 15
    const day2 = Array.from({ length: 24 }, (_, i) => (i < 18 ? 15 : null)); // exactly 15: not above
    const day3 = Array.from({ length: 24 }, (_, i) => (i < 17 ? 100 : null)); // 17 hours: not valid
    const result = whoExceedances('pm25', hours([...day1, ...day2, ...day3]), DAY0, DAY0 + 3 * 24 * H);
    expect(result).toMatchObject({ validDays: 2, exceedanceDays: 1, limit: 15 });
    expect(result.days.map((d) => [d.date, d.valid, d.exceeded])).toEqual([
      ['2026-03-01', true, true],
      ['2026-03-02', true, false],
      ['2026-03-03', false, false],
    ]);
  });

  it('takes the maximum daily 8-hour mean of O3, each 8-hour mean belonging to the day it ends in', () => {
    // 7 hours before the day at 120, then the day at 90 except hours 10–17 at 110.
    const before = Array.from({ length: 7 }, () => 120);
    const day = Array.from({ length: 24 }, (_, i) => (i >= 10 && i < 18 ? 110 : 90));
    const result = whoExceedances('o3', hours([...before, ...day], DAY0 - 7 * H), DAY0, DAY0 + 24 * H);
    expect(result.days[0]).toMatchObject({ valid: true, exceeded: true });
    // The 8-hour mean ending at 01:00 covers 17:00–01:00 (seven hours at 120, one at 90) = 116.25.
    expect(result.days[0]!.value).toBeCloseTo((7 * 120 + 90) / 8, 10);

    const lowBefore = whoExceedances('o3', hours([...Array.from({ length: 7 }, () => 20), ...day], DAY0 - 7 * H), DAY0, DAY0 + 24 * H);
    expect(lowBefore.days[0]!.value).toBeCloseTo(110, 10);
    expect(lowBefore.exceedanceDays).toBe(1);
    const atLimit = whoExceedances('o3', hours(Array.from({ length: 31 }, () => 100), DAY0 - 7 * H), DAY0, DAY0 + 24 * H);
    expect(atLimit).toMatchObject({ validDays: 1, exceedanceDays: 0 });
  });

  it('needs 6 of 8 hours per 8-hour mean and 18 valid means per day', () => {
    // Every third hour missing: each 8-hour window has 5 or 6 hours.
    const sparse = Array.from({ length: 31 }, (_, i) => (i % 3 === 0 ? null : 150));
    const result = whoExceedances('o3', hours(sparse, DAY0 - 7 * H), DAY0, DAY0 + 24 * H);
    const validWindows = Array.from({ length: 24 }, (_, last) => {
      let n = 0;
      for (let h = last; h < last + 8; h++) if (sparse[h] !== null) n += 1;
      return n >= 6;
    }).filter(Boolean).length;
    expect(result.days[0]!.valid).toBe(validWindows >= 18);
  });
});

describe('eaqiIndication (the live, instantaneous indication)', () => {
  it('bands every EAQI pollutant of one reading and takes the worst, first in order on a tie', () => {
    expect(eaqiIndication({ pm25: 10, no2: 40.1, temperature: 30 })).toEqual({ level: 2, dominant: 'no2', value: 40.1, byPollutant: { pm25: 1, no2: 2 } });
    expect(eaqiIndication({ pm25: 20, pm10: 40 })).toMatchObject({ level: 2, dominant: 'pm25' });
    expect(eaqiIndication({ so2: 1250.5 })).toMatchObject({ level: 6, dominant: 'so2' });
  });

  it('ignores non-numbers, negatives and readings without EAQI pollutants', () => {
    expect(eaqiIndication({ temperature: 20, humidity: 50 })).toBeUndefined();
    expect(eaqiIndication({ pm25: -1, no2: Number.NaN, o3: true })).toBeUndefined();
  });

  it('agrees with eaqiBand for every pollutant at every band edge', () => {
    for (const pollutant of EAQI_POLLUTANTS) {
      for (const limit of EAQI_CURRENT_TABLE.upperLimits[pollutant]) {
        for (const value of [limit, limit + 0.1]) {
          expect(eaqiIndication({ [pollutant]: value })?.level).toBe(eaqiBand(pollutant, value));
        }
      }
    }
  });
});
