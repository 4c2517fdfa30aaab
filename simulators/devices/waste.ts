/**
 * A smart street bin: an ultrasonic fill sensor under the lid, a thermometer, a lid switch,
 * a tilt sensor and, on some, a load cell.
 *
 * Bins fill with the street's foot traffic at a site- and bin-specific rate (faster on
 * nightlife streets on Friday and Saturday nights), are emptied by collection rounds at a
 * fixed local hour every n hours, and get an extra pickup some hours after they report
 * full. Rarely, something smoulders inside (a disposable barbecue, a battery): the
 * temperature climbs past 60 °C — the fire-risk alarm threshold — and cools again. Now and
 * then a bin is knocked over and lies tilted until the crew rights it.
 */
import type { WasteReading } from '../../contracts/readings.ts';
import { clamp, round, stepAr1, type Random } from '../random.ts';
import { copenhagenTime, type LocalTime } from '../local-time.ts';
import { expectedFlowPerHour, type StreetSite } from '../street.ts';
import { weatherAt } from '../weather.ts';
import {
  createBaseConfig,
  initialHealth,
  nextHealth,
  withinContract,
  type BaseDeviceConfig,
  type Generated,
  type HealthState,
} from './common.ts';

/** At or above this, a bin's temperature means fire risk. */
export const FIRE_RISK_TEMPERATURE_C = 60;

export interface WasteDeviceConfig extends BaseDeviceConfig {
  kind: 'waste';
  capacityL: number;
  /** % per hour at average daytime use. */
  fillPerHour: number;
  /** A collection round every this many hours… */
  collectionEveryH: number;
  /** …at this local hour… */
  collectionHour: number;
  /** …shifted by this many hours so a street's bins are not all emptied on the same day. */
  collectionPhaseH: number;
  /** Hours from reporting full (≥ 95 %) to an extra pickup. */
  overflowResponseH: number;
  /** Rate of smouldering events, per day. */
  heatSpikesPerDay: number;
  /** Rate of being knocked over, per day. */
  knockOversPerDay: number;
  hasScale: boolean;
  densityKgPerL: number;
  /** Tilt of the bin standing upright, °. */
  tiltBaseDeg: number;
}

export interface HeatSpike {
  startMs: number;
  peakC: number;
  riseMs: number;
  holdMs: number;
  decayMs: number;
}

export interface WasteState {
  health: HealthState;
  /** The true fill level, %. */
  fill: number;
  /** When the bin first reported ≥ 95 % since its last emptying. */
  fullSinceMs: number | undefined;
  heat: HeatSpike | undefined;
  knockedOverUntilMs: number | undefined;
  knockedOverTiltDeg: number;
  /** Slow local temperature variation (sun, shade, contents). */
  thermal: number;
  /** Collections so far (rounds and extra pickups): lets tests and reports see emptying. */
  collections: number;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const CAPACITIES_L = [120, 240, 240, 240, 660, 3_000] as const;
const COLLECTION_EVERY_H: Record<(typeof CAPACITIES_L)[number], readonly number[]> = {
  120: [24],
  240: [24, 24, 48],
  660: [48],
  3_000: [168],
};

export function createWasteConfig(
  id: string,
  site: StreetSite,
  weatherSeed: number,
  random: Random,
  overrides: Partial<WasteDeviceConfig> = {},
): WasteDeviceConfig {
  const base = createBaseConfig(id, site, weatherSeed, random, {
    // Bins report rarely in the field and live for years on a pack.
    batteryDrainPerHour: random.range(0.02, 0.08),
  });
  const capacityL = overrides.capacityL ?? random.pick(CAPACITIES_L);
  const everyOptions = COLLECTION_EVERY_H[capacityL as keyof typeof COLLECTION_EVERY_H] ?? [24];
  const collectionEveryH = overrides.collectionEveryH ?? random.pick(everyOptions);
  return {
    ...base,
    kind: 'waste',
    capacityL,
    // Site-specific rate, scaled to this bin's size, with a bin-to-bin spread (a bus stop's
    // bin fills faster than one by a wall).
    fillPerHour: site.binFillPerHour * (240 / capacityL) * random.lognormal(1, 0.35),
    collectionEveryH,
    collectionHour: random.range(5.5, 9),
    collectionPhaseH: 24 * random.int(0, Math.max(0, Math.round(collectionEveryH / 24) - 1)),
    overflowResponseH: random.range(2, 8),
    heatSpikesPerDay: 0.01,
    knockOversPerDay: 0.01,
    hasScale: random.chance(0.4),
    densityKgPerL: random.range(0.07, 0.15),
    tiltBaseDeg: random.range(0.5, 4),
    ...overrides,
  };
}

export function initialWasteState(config: WasteDeviceConfig, random: Random): WasteState {
  return {
    health: initialHealth(random),
    fill: random.range(0, 60),
    fullSinceMs: undefined,
    heat: undefined,
    knockedOverUntilMs: undefined,
    knockedOverTiltDeg: 0,
    thermal: random.gaussian(),
    collections: 0,
  };
}

/** Which collection round `utcMs` falls after (rounds are numbered from the epoch). */
export function collectionRound(config: WasteDeviceConfig, local: LocalTime): number {
  const sinceAnchor = local.localMs - (config.collectionHour + config.collectionPhaseH) * HOUR_MS;
  return Math.floor(sinceAnchor / (config.collectionEveryH * HOUR_MS));
}

/** How busy the bin is relative to its daytime average: foot traffic plus night life. */
function usage(config: WasteDeviceConfig, utcMs: number, local: LocalTime): number {
  const pedestrians = expectedFlowPerHour(config.site, utcMs, local).pedestrians;
  const daytime = pedestrians / (config.site.daily.pedestrians / 17);
  // Friday and Saturday nights (22–03) on nightlife streets: take-away boxes and bottles.
  const partyNight =
    (local.weekday === 5 || local.weekday === 6) && local.hour >= 21
      ? 1
      : (local.weekday === 6 || local.weekday === 7) && local.hour < 3
        ? 1
        : 0;
  return daytime + 1.5 * config.site.nightlife * partyNight;
}

/** The next message of a street bin at sim time `tMs`. */
export function nextWasteReading(
  config: WasteDeviceConfig,
  tMs: number,
  state: WasteState | undefined,
  random: Random,
): Generated<WasteReading, WasteState> {
  const previous = state ?? initialWasteState(config, random);
  const { fields, state: health } = nextHealth(config, previous.health, tMs, random);
  const lastMs = previous.health.lastTMs ?? tMs;
  const dtMs = Math.max(0, tMs - lastMs);

  let fill = previous.fill;
  let fullSinceMs = previous.fullSinceMs;
  let collections = previous.collections;
  let heat = previous.heat;
  let knockedOverUntilMs = previous.knockedOverUntilMs;
  let knockedOverTiltDeg = previous.knockedOverTiltDeg;

  // Integrate in steps of at most 30 min so a round or an event inside a long gap lands
  // where it belongs.
  const steps = Math.max(1, Math.ceil(dtMs / (HOUR_MS / 2)));
  const stepMs = dtMs / steps;
  let round_ = collectionRound(config, copenhagenTime(lastMs));
  for (let i = 1; i <= (dtMs > 0 ? steps : 0); i += 1) {
    const at = lastMs + i * stepMs;
    const local = copenhagenTime(at - stepMs / 2);
    const use = usage(config, at, local);
    fill = Math.min(100, fill + config.fillPerHour * use * (stepMs / HOUR_MS) * random.lognormal(1, 0.3));
    if (fill >= 95 && fullSinceMs === undefined) fullSinceMs = at;

    const roundNow = collectionRound(config, copenhagenTime(at));
    const overflowPickup = fullSinceMs !== undefined && at - fullSinceMs >= config.overflowResponseH * HOUR_MS;
    if (roundNow !== round_ || overflowPickup) {
      fill = random.range(0, 3);
      fullSinceMs = undefined;
      collections += 1;
      // The crew rights a fallen bin.
      knockedOverUntilMs = undefined;
    }
    round_ = roundNow;

    const stepDays = stepMs / DAY_MS;
    if (heat === undefined && fill > 10 && random.chance(1 - Math.exp(-config.heatSpikesPerDay * stepDays))) {
      heat = {
        startMs: at - random.range(0, stepMs),
        peakC: random.range(62, 110),
        riseMs: random.range(5, 20) * 60_000,
        holdMs: random.range(10, 60) * 60_000,
        decayMs: random.range(20, 45) * 60_000,
      };
    }
    if (knockedOverUntilMs !== undefined && at >= knockedOverUntilMs) knockedOverUntilMs = undefined;
    const knockRate = config.knockOversPerDay * (1 + 3 * config.site.nightlife * (local.hour < 4 || local.hour >= 22 ? 1 : 0));
    if (knockedOverUntilMs === undefined && random.chance(1 - Math.exp(-knockRate * stepDays))) {
      knockedOverUntilMs = at + random.exponential(8 * HOUR_MS);
      knockedOverTiltDeg = random.range(60, 95);
    }
  }
  if (knockedOverUntilMs !== undefined && tMs >= knockedOverUntilMs) knockedOverUntilMs = undefined;

  const local = copenhagenTime(tMs);
  const weather = weatherAt(config.weatherSeed, tMs, local);
  const thermal = stepAr1(previous.thermal, dtMs, 2 * HOUR_MS, random);
  const ambient = weather.temperature + 3 * weather.sunlight + 1.5 * (fill / 100) + 0.6 * thermal;
  let extraHeat = 0;
  if (heat) {
    const since = tMs - heat.startMs;
    const excess = Math.max(0, heat.peakC - ambient);
    if (since < heat.riseMs) extraHeat = (excess * Math.max(0, since)) / heat.riseMs;
    else if (since < heat.riseMs + heat.holdMs) extraHeat = excess + random.gaussian(0, 2);
    else extraHeat = excess * Math.exp(-(since - heat.riseMs - heat.holdMs) / heat.decayMs);
    if (since > heat.riseMs + heat.holdMs && extraHeat < 0.5) heat = undefined;
  }

  const upright = knockedOverUntilMs === undefined;
  const use = usage(config, tMs, local);
  const lidOpenChance = clamp(0.015 * use, 0, 0.3) + (fill >= 97 ? 0.7 : 0) + (upright ? 0 : 0.5);

  const payload: WasteReading = {
    ts: fields.ts,
    seq: fields.seq,
    fill: withinContract('waste', 'fill', round(fill + random.gaussian(0, 1.2), 1)),
    temperature: withinContract('waste', 'temperature', round(ambient + extraHeat + random.gaussian(0, 0.2), 1)),
    lidOpen: random.chance(lidOpenChance),
    tilt: withinContract('waste', 'tilt', round((upright ? config.tiltBaseDeg : knockedOverTiltDeg) + random.gaussian(0, 0.3), 1)),
  };
  if (config.hasScale) {
    payload.weight = withinContract('waste', 'weight', round((fill / 100) * config.capacityL * config.densityKgPerL + random.gaussian(0, 0.3), 1));
  }
  if (fields.battery !== undefined) payload.battery = fields.battery;
  payload.rssi = fields.rssi;
  return {
    payload,
    state: { health, fill, fullSinceMs, heat, knockedOverUntilMs, knockedOverTiltDeg, thermal, collections },
  };
}
