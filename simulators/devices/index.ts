/**
 * One door to the three device models: build a device's configuration from its spec and a
 * seed, and step it through time. The pure generators live in air.ts, traffic.ts and
 * waste.ts; this wrapper only keeps each device's state and random streams together.
 */
import type { ReadingKind, ReadingPayload } from '../../contracts/readings.ts';
import { createGenericConfig, nextGenericReading, type GenericDeviceConfig, type GenericState } from './generic.ts';
import { deriveRandom, hashSeed, type Random, type Seed } from '../random.ts';
import { findSite } from '../street.ts';
import { createAirConfig, nextAirReading, type AirDeviceConfig, type AirState } from './air.ts';
import { createTrafficConfig, nextTrafficReading, type TrafficDeviceConfig, type TrafficState } from './traffic.ts';
import { createWasteConfig, nextWasteReading, type WasteDeviceConfig, type WasteState } from './waste.ts';
import type { DeviceSpec } from './common.ts';

export type DeviceConfig = AirDeviceConfig | TrafficDeviceConfig | WasteDeviceConfig | GenericDeviceConfig;

export interface DeviceModelOptions {
  /** The fleet seed: the same seed and spec give the same series. */
  seed: Seed;
  /** Traffic counters: the interval each message covers, s (default 60). */
  periodS?: number;
  /** Settings to force instead of drawing them (tests: a bin that smoulders daily…). */
  overrides?: Partial<AirDeviceConfig> | Partial<TrafficDeviceConfig> | Partial<WasteDeviceConfig>;
}

/** The seed of the weather every device of a fleet with this seed shares. */
export function weatherSeedOf(seed: Seed): number {
  return hashSeed(seed, 'weather');
}

/** Draws a device's configuration from its spec (site, model, rates) reproducibly. */
export function createDeviceConfig(spec: DeviceSpec, options: DeviceModelOptions): DeviceConfig {
  const random = deriveRandom(options.seed, spec.id, 'config');
  const site = findSite(spec.site);
  const weatherSeed = weatherSeedOf(options.seed);
  switch (spec.kind) {
    case 'air':
      return createAirConfig(spec.id, site, weatherSeed, random, options.overrides as Partial<AirDeviceConfig>);
    case 'traffic':
      return createTrafficConfig(spec.id, site, weatherSeed, random, {
        ...(options.periodS === undefined ? {} : { periodS: options.periodS }),
        ...(options.overrides as Partial<TrafficDeviceConfig>),
      });
    case 'waste':
      return createWasteConfig(spec.id, site, weatherSeed, random, options.overrides as Partial<WasteDeviceConfig>);
    default:
      // The street models are about the built-in kinds; a kind added at run time follows its definition.
      return createGenericConfig(spec.kind, spec.id, site, weatherSeed, random);
  }
}

type AnyState = AirState | TrafficState | WasteState | GenericState;

/** A device stepping through simulated time; `next` is called with non-decreasing times. */
export interface DeviceModel {
  readonly spec: DeviceSpec;
  readonly kind: ReadingKind;
  readonly config: DeviceConfig;
  /** The reading the device takes at sim time `tMs`. */
  next(tMs: number): ReadingPayload;
  /** The generator state after the last reading (for tests and reports). */
  state(): AnyState | undefined;
}

export function createDeviceModel(spec: DeviceSpec, options: DeviceModelOptions): DeviceModel {
  const config = createDeviceConfig(spec, options);
  const random: Random = deriveRandom(options.seed, spec.id, 'signal');
  let state: AnyState | undefined;
  return {
    spec,
    kind: spec.kind,
    config,
    next(tMs) {
      switch (config.kind) {
        case 'air': {
          const out = nextAirReading(config as AirDeviceConfig, tMs, state as AirState | undefined, random);
          state = out.state;
          return out.payload;
        }
        case 'traffic': {
          const out = nextTrafficReading(config as TrafficDeviceConfig, tMs, state as TrafficState | undefined, random);
          state = out.state;
          return out.payload;
        }
        case 'waste': {
          const out = nextWasteReading(config as WasteDeviceConfig, tMs, state as WasteState | undefined, random);
          state = out.state;
          return out.payload;
        }
        default: {
          const out = nextGenericReading(config as GenericDeviceConfig, tMs, state as GenericState | undefined, random);
          state = out.state;
          return out.payload;
        }
      }
    },
    state: () => state,
  };
}

/** `count` readings of one device every `intervalMs` from `startMs` (history, backfills, tests). */
export function generateSeries(spec: DeviceSpec, options: DeviceModelOptions & { startMs: number; intervalMs: number; count: number }): ReadingPayload[] {
  const model = createDeviceModel(spec, options);
  const out: ReadingPayload[] = [];
  for (let i = 0; i < options.count; i += 1) out.push(model.next(options.startMs + i * options.intervalMs));
  return out;
}

export type { DeviceSpec } from './common.ts';
export type { AirDeviceConfig, AirState } from './air.ts';
export type { TrafficDeviceConfig, TrafficState } from './traffic.ts';
export type { WasteDeviceConfig, WasteState } from './waste.ts';
