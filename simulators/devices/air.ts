/**
 * An air-quality node on a lamppost: gases, particles, weather and sound.
 *
 * NO2, CO and part of the particles come from the traffic passing right now (the same
 * expected flow the traffic counters sample), diluted by wind and trapped by street
 * canyons; on top sits a regional background that follows the weather and the season
 * (winter wood-stove smoke in the evening, long-range particle episodes). Ozone is eaten
 * by fresh NO2 and made by sunlight. Slow local variation is an AR(1) process per device,
 * so two sensors on the same street agree on the trend but not on every wiggle.
 */
import type { AirReading } from '../../contracts/readings.ts';
import { clamp, round, stepAr1, type Random } from '../random.ts';
import { copenhagenTime } from '../local-time.ts';
import { emissionIndex, expectedFlowPerHour, type StreetSite } from '../street.ts';
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

/** The air kind's fields (contracts/kinds.ts), as this model names them. */
const AIR_METRICS = ['pm1', 'pm25', 'pm10', 'no2', 'o3', 'so2', 'co', 'temperature', 'humidity', 'pressure', 'noise'] as const;
export type AirMetric = (typeof AIR_METRICS)[number];

/** What each kind of node measures. */
export const AIR_MODELS = {
  /** A reference-grade station: gases and particles, no microphone. */
  reference: ['pm25', 'pm10', 'no2', 'o3', 'so2', 'co', 'temperature', 'humidity', 'pressure'],
  /** A low-cost street node, the usual test-bed device. */
  lowcost: ['pm1', 'pm25', 'pm10', 'no2', 'temperature', 'humidity', 'pressure', 'noise'],
  /** A sound-level meter with a climate sensor. */
  acoustic: ['noise', 'temperature', 'humidity'],
} as const satisfies Record<string, readonly AirMetric[]>;
export type AirModel = keyof typeof AIR_MODELS;

export interface AirDeviceConfig extends BaseDeviceConfig {
  kind: 'air';
  model: AirModel;
  metrics: readonly AirMetric[];
  /** How close to the traffic the inlet is (1 = at the kerb). */
  exposure: number;
  /** Multiplicative calibration error of gas and particle readings. */
  gain: number;
  /** Offset of the pressure sensor, hPa. */
  pressureOffset: number;
}

export interface AirState {
  health: HealthState;
  /** Local traffic-pollution variation (hours). */
  local: number;
  /** Local particle variation (hours to a day). */
  particles: number;
  /** Sensor wander (tens of minutes). */
  sensor: number;
}

const HOUR_MS = 3_600_000;

export function createAirConfig(id: string, site: StreetSite, weatherSeed: number, random: Random, overrides: Partial<AirDeviceConfig> = {}): AirDeviceConfig {
  const base = createBaseConfig(id, site, weatherSeed, random);
  const model: AirModel = overrides.model ?? (random.chance(0.2) ? 'reference' : random.chance(0.15) ? 'acoustic' : 'lowcost');
  return {
    ...base,
    kind: 'air',
    model,
    metrics: AIR_MODELS[model],
    exposure: random.range(0.7, 1.15),
    gain: model === 'reference' ? random.range(0.98, 1.02) : random.range(0.85, 1.15),
    pressureOffset: random.range(-1.5, 1.5),
    // Reference stations are mains-powered.
    ...(model === 'reference' ? { power: 'mains' as const } : {}),
    ...overrides,
  };
}

export function initialAirState(random: Random): AirState {
  return { health: initialHealth(random), local: random.gaussian(), particles: random.gaussian(), sensor: random.gaussian() };
}

/** The next message of an air-quality node at sim time `tMs`. */
export function nextAirReading(config: AirDeviceConfig, tMs: number, state: AirState | undefined, random: Random): Generated<AirReading, AirState> {
  const previous = state ?? initialAirState(random);
  const { fields, state: health } = nextHealth(config, previous.health, tMs, random);
  const dtMs = previous.health.lastTMs === undefined ? 0 : tMs - previous.health.lastTMs;
  const next: AirState = {
    health,
    local: stepAr1(previous.local, dtMs, 3 * HOUR_MS, random),
    particles: stepAr1(previous.particles, dtMs, 12 * HOUR_MS, random),
    sensor: stepAr1(previous.sensor, dtMs, 0.5 * HOUR_MS, random),
  };

  const local = copenhagenTime(tMs);
  const weather = weatherAt(config.weatherSeed, tMs, local);
  const flow = expectedFlowPerHour(config.site, tMs, local);
  const emission = emissionIndex(flow) / 1_000;
  // Wind dilutes, canyons trap: ~0.8 at a 4 m/s breeze on an open boulevard.
  const dispersion = (config.site.canyon * config.exposure * 2.2) / (1 + 0.45 * weather.windSpeed);
  const trafficShare = emission * dispersion * Math.exp(0.15 * next.local);
  const winter = 1 - weather.season;

  const no2Traffic = 16 * trafficShare;
  const no2 = 7 + 7 * winter + 2.5 * weather.airMass + no2Traffic;
  const woodSmoke = 5 * winter * Math.exp(-((local.hour - 20) ** 2) / 8);
  const pm25 = 6.5 * Math.exp(0.5 * weather.airMass + 0.25 * next.particles) * (1 - 0.35 * weather.rain) + woodSmoke + 0.5 * trafficShare;
  const pm10 = 1.35 * pm25 + 2.5 * trafficShare * (1 - 0.6 * weather.rain) + 0.4 * Math.max(0, weather.windSpeed - 6);
  const o3 = Math.max(2, 32 + 22 * weather.season + 35 * weather.sunlight + 8 * weather.airMass - 0.5 * no2Traffic);
  const co = 0.18 + 0.055 * trafficShare;
  const so2 = 0.8 + 0.6 * (1 + weather.airMass);
  const sourcesPerHour = flow.cars + 6 * flow.buses + 8 * flow.trucks + 0.03 * flow.bicycles + 0.02 * flow.pedestrians;
  const noise = 34 + 10 * Math.log10(1 + sourcesPerHour) + 2 * (config.site.canyon - 1) + 0.25 * weather.windSpeed + 2 * weather.rain;
  // A street sensor runs a little warm (the city, and the sun on its housing).
  const temperature = weather.temperature + 0.8 + 1.5 * weather.sunlight + 0.3 * next.sensor;
  const humidity = weather.humidity - 3 * weather.sunlight;

  const gain = config.gain * (1 + 0.03 * next.sensor);
  const values: Record<AirMetric, number> = {
    pm1: round(0.72 * pm25 * gain + random.gaussian(0, 0.4), 1),
    pm25: round(pm25 * gain + random.gaussian(0, 0.8), 1),
    pm10: round(pm10 * gain + random.gaussian(0, 1.5), 1),
    no2: round(no2 * gain + random.gaussian(0, config.model === 'reference' ? 1 : 3), 1),
    o3: round(o3 * gain + random.gaussian(0, 2), 1),
    so2: round(so2 + random.gaussian(0, 0.3), 1),
    co: round(co * gain + random.gaussian(0, 0.02), 2),
    temperature: round(temperature + random.gaussian(0, 0.15), 1),
    humidity: round(humidity + random.gaussian(0, 0.8), 1),
    pressure: round(weather.pressure + config.pressureOffset + random.gaussian(0, 0.2), 1),
    noise: round(noise + 0.8 * next.sensor + random.gaussian(0, 1.2), 1),
  };

  const payload: AirReading = { ts: fields.ts, seq: fields.seq };
  for (const metric of config.metrics) payload[metric] = withinContract('air', metric, values[metric]);
  // Gas and particle sensors never report below zero; tiny negatives are noise around zero.
  for (const metric of ['pm1', 'pm25', 'pm10', 'no2', 'o3', 'so2', 'co'] as const) {
    const value = payload[metric];
    if (value !== undefined) payload[metric] = clamp(value, metric === 'co' ? 0.01 : 0.1, Number.MAX_VALUE);
  }
  if (fields.battery !== undefined) payload.battery = fields.battery;
  payload.rssi = fields.rssi;
  return { payload, state: next };
}
