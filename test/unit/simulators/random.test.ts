import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRandom, deriveRandom, hashSeed, stepAr1, valueNoise } from '../../../simulators/random.ts';

const take = (seed: number | string, n: number) => {
  const random = createRandom(seed);
  return Array.from({ length: n }, () => random.uint32());
};

describe('createRandom', () => {
  it('gives the same series for the same seed and different series for neighbouring seeds', () => {
    expect(take(42, 100)).toEqual(take(42, 100));
    expect(take('air-001', 50)).toEqual(take('air-001', 50));
    expect(take(1, 20)).not.toEqual(take(2, 20));
    // splitmix seeding: neighbouring seeds share no leading outputs.
    const a = new Set(take(1, 1_000));
    expect(take(2, 1_000).filter((v) => a.has(v)).length).toBeLessThan(3);
  });

  it('keeps every draw inside its range', () => {
    fc.assert(
      fc.property(fc.integer(), fc.integer({ min: -1_000, max: 1_000 }), fc.integer({ min: 0, max: 1_000 }), (seed, min, width) => {
        const random = createRandom(seed);
        for (let i = 0; i < 50; i += 1) {
          const u = random.next();
          expect(u).toBeGreaterThanOrEqual(0);
          expect(u).toBeLessThan(1);
          const k = random.int(min, min + width);
          expect(Number.isInteger(k)).toBe(true);
          expect(k).toBeGreaterThanOrEqual(min);
          expect(k).toBeLessThanOrEqual(min + width);
          expect(random.poisson(width / 10)).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('draws distributions with the right mean and spread', () => {
    const random = createRandom(7);
    const n = 40_000;
    const mean = (f: () => number) => {
      let sum = 0;
      let sq = 0;
      for (let i = 0; i < n; i += 1) {
        const v = f();
        sum += v;
        sq += v * v;
      }
      return { mean: sum / n, sd: Math.sqrt(sq / n - (sum / n) ** 2) };
    };
    const g = mean(() => random.gaussian(10, 2));
    expect(g.mean).toBeCloseTo(10, 1);
    expect(g.sd).toBeCloseTo(2, 1);
    expect(mean(() => random.poisson(3.5)).mean).toBeCloseTo(3.5, 1);
    const big = mean(() => random.poisson(400));
    expect(big.mean).toBeGreaterThan(398);
    expect(big.mean).toBeLessThan(402);
    expect(big.sd).toBeCloseTo(20, 0);
    expect(mean(() => random.exponential(5)).mean).toBeCloseTo(5, 0);
    expect(mean(() => (random.chance(0.3) ? 1 : 0)).mean).toBeCloseTo(0.3, 1);
    expect(random.chance(0)).toBe(false);
    expect(random.chance(1)).toBe(true);
  });

  it('derives independent, stable streams per device and purpose', () => {
    const a = deriveRandom(1, 'air-001', 'signal').uint32();
    expect(deriveRandom(1, 'air-001', 'signal').uint32()).toBe(a);
    expect(deriveRandom(1, 'air-001', 'faults').uint32()).not.toBe(a);
    expect(deriveRandom(1, 'air-002', 'signal').uint32()).not.toBe(a);
    expect(hashSeed('ab', 'c')).not.toBe(hashSeed('a', 'bc'));
  });
});

describe('valueNoise and stepAr1', () => {
  it('is smooth, bounded and a pure function of its inputs', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.double({ min: -1e6, max: 1e6, noNaN: true }), (seed, x) => {
        const v = valueNoise(seed, 'temperature', x);
        expect(Math.abs(v)).toBeLessThanOrEqual(1);
        expect(valueNoise(seed, 'temperature', x)).toBe(v);
        expect(Math.abs(valueNoise(seed, 'temperature', x + 1e-4) - v)).toBeLessThan(1e-3);
      }),
    );
  });

  it('keeps an AR(1) process at unit variance and remembers on the time scale given', () => {
    const random = createRandom(3);
    let x = 0;
    const values: number[] = [];
    for (let i = 0; i < 20_000; i += 1) {
      x = stepAr1(x, 60_000, 3_600_000, random);
      values.push(x);
    }
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;
    expect(variance).toBeGreaterThan(0.8);
    expect(variance).toBeLessThan(1.2);
    // Lag-1 autocorrelation at 1 min steps with a 1 h time constant: exp(-1/60) ≈ 0.98.
    let lag = 0;
    for (let i = 1; i < values.length; i += 1) lag += (values[i]! - mean) * (values[i - 1]! - mean);
    expect(lag / values.length / variance).toBeGreaterThan(0.95);
  });
});
