/**
 * Seeded randomness for the simulators: the same seed gives the same street, run after run.
 *
 * The generator is sfc32 (Chris Doty-Humphrey's Small Fast Chaotic PRNG, 128-bit state,
 * passes PractRand to 2^40+) seeded through splitmix32, so even neighbouring seeds
 * (1, 2, 3…) start from unrelated states. Every device gets its own stream derived from
 * (fleet seed, device id, purpose): adding a device or switching a fault on never changes
 * what another device, or the same device's signal, would have produced.
 */

/** A stream of seeded random numbers with the distributions the device models need. */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform 32-bit unsigned integer. */
  uint32(): number;
  /** Uniform integer in [min, max] (both inclusive). */
  int(min: number, max: number): number;
  /** Uniform float in [min, max). */
  range(min: number, max: number): number;
  /** true with probability `p` (p ≤ 0 never, p ≥ 1 always). */
  chance(p: number): boolean;
  /** Normal distribution (Box–Muller). */
  gaussian(mean?: number, sd?: number): number;
  /** Exponential distribution with the given mean (waiting times, durations). */
  exponential(mean: number): number;
  /** Poisson-distributed count with mean `lambda` (vehicles passing in a period). */
  poisson(lambda: number): number;
  /** Log-normal with the given median and log-space sigma (rates that vary by site). */
  lognormal(median: number, sigma: number): number;
  /** One element of a non-empty list. */
  pick<T>(items: readonly T[]): T;
}

export type Seed = number | string;

/** 32-bit FNV-1a over the parts, finished with a murmur3 avalanche: a stable seed from labels. */
export function hashSeed(...parts: readonly Seed[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    const text = typeof part === 'number' ? `n${part}` : `s${part}`;
    for (let i = 0; i < text.length; i += 1) {
      h ^= text.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    // Separator, so ('ab','c') and ('a','bc') differ.
    h ^= 0xff;
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Creates a stream from a seed (a number, or a string hashed into one). */
export function createRandom(seed: Seed): Random {
  const init = splitmix32(typeof seed === 'number' && Number.isInteger(seed) ? seed : hashSeed(seed));
  let a = init();
  let b = init();
  let c = init();
  let d = init();
  const uint32 = (): number => {
    // sfc32
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) >>> 0;
    return t;
  };
  // Let the chaotic state mix before the first output.
  for (let i = 0; i < 12; i += 1) uint32();

  const next = (): number => uint32() / 4_294_967_296;
  let spare: number | undefined;

  const random: Random = {
    next,
    uint32,
    int(min, max) {
      return min + Math.floor(next() * (max - min + 1));
    },
    range(min, max) {
      return min + next() * (max - min);
    },
    chance(p) {
      if (p <= 0) return false;
      if (p >= 1) return true;
      return next() < p;
    },
    gaussian(mean = 0, sd = 1) {
      if (spare !== undefined) {
        const value = spare;
        spare = undefined;
        return mean + sd * value;
      }
      let u = 0;
      while (u === 0) u = next();
      const v = next();
      const radius = Math.sqrt(-2 * Math.log(u));
      spare = radius * Math.sin(2 * Math.PI * v);
      return mean + sd * radius * Math.cos(2 * Math.PI * v);
    },
    exponential(mean) {
      return -Math.log(1 - next()) * mean;
    },
    poisson(lambda) {
      if (!(lambda > 0)) return 0;
      if (lambda < 30) {
        // Knuth: exact and cheap for the small counts of a short counting period.
        const limit = Math.exp(-lambda);
        let k = 0;
        let p = next();
        while (p > limit) {
          k += 1;
          p *= next();
        }
        return k;
      }
      // Normal approximation with continuity correction: good to well under 1 % here.
      return Math.max(0, Math.round(random.gaussian(lambda, Math.sqrt(lambda))));
    },
    lognormal(median, sigma) {
      return median * Math.exp(random.gaussian(0, sigma));
    },
    pick(items) {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[Math.floor(next() * items.length)]!;
    },
  };
  return random;
}

/** A stream for one purpose of one device: `deriveRandom(seed, 'air-001', 'signal')`. */
export function deriveRandom(seed: Seed, ...labels: readonly Seed[]): Random {
  return createRandom(hashSeed(seed, ...labels));
}

/**
 * Smooth value noise in [-1, 1] as a pure function of (seed, channel, x): a random value at
 * each integer x, joined by smoothstep. Used for city-wide weather, which every device of a
 * fleet must see alike without sharing state.
 */
export function valueNoise(seed: number, channel: string, x: number): number {
  const i = Math.floor(x);
  const f = x - i;
  const v0 = latticeValue(seed, channel, i);
  const v1 = latticeValue(seed, channel, i + 1);
  const s = f * f * (3 - 2 * f);
  return v0 + (v1 - v0) * s;
}

function latticeValue(seed: number, channel: string, i: number): number {
  return (hashSeed(seed, channel, i) / 4_294_967_295) * 2 - 1;
}

/**
 * One step of a unit-variance AR(1) (Ornstein–Uhlenbeck sampled at irregular times):
 * memory decays with time constant `tauMs`, so a slow local drift stays slow whatever the
 * reporting interval.
 */
export function stepAr1(value: number, dtMs: number, tauMs: number, random: Random): number {
  const phi = Math.exp(-Math.max(0, dtMs) / tauMs);
  return phi * value + Math.sqrt(1 - phi * phi) * random.gaussian();
}

export function clamp(value: number, min: number, max: number): number {
  return value < min ? min : value > max ? max : value;
}

/** Rounds to `digits` decimals (what a device firmware would print). */
export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  const rounded = Math.round(value * f) / f;
  // -0 serialises as 0 anyway, but keep comparisons in tests simple.
  return rounded === 0 ? 0 : rounded;
}
