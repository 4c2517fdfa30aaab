/**
 * A traffic counter (camera or radar over the carriageway and cycle tracks) reporting the
 * passages it counted in the last `period` seconds, the mean speed of motor vehicles and
 * the detector occupancy.
 *
 * Counts are Poisson draws around the street's expected flow (weekday/weekend, rush hours,
 * season), scaled by the share of the street the counter sees and by a slow day-to-day
 * factor, and nudged by the weather: rain keeps cyclists and walkers home and slows cars.
 */
import type { TrafficReading } from '../../contracts/readings.ts';
import { clamp, round, stepAr1, type Random } from '../random.ts';
import { copenhagenTime } from '../local-time.ts';
import { expectedFlowPerHour, type Flow, type StreetSite } from '../street.ts';
import { weatherAt } from '../weather.ts';
import { createBaseConfig, initialHealth, nextHealth, type BaseDeviceConfig, type Generated, type HealthState } from './common.ts';

export interface TrafficDeviceConfig extends BaseDeviceConfig {
  kind: 'traffic';
  /** s: the interval each message's counts cover. */
  periodS: number;
  /** Share of the street's two-way flow this counter sees (0–1). */
  coverage: number;
  /** Free-flow speed as a share of the limit (drivers, signals, parking). */
  freeFlowFactor: number;
  countsPedestrians: boolean;
}

export interface TrafficState {
  health: HealthState;
  /** Slow AR(1) variation of the day's volume around the typical one (unit variance). */
  dayFactor: number;
}

const HOUR_MS = 3_600_000;
const VEHICLE_LENGTH_M = { cars: 6.5, buses: 14, trucks: 13 } as const;
/** Vehicles per hour per lane an urban street carries before it jams. */
const LANE_CAPACITY_PER_HOUR = 1_100;

export function createTrafficConfig(
  id: string,
  site: StreetSite,
  weatherSeed: number,
  random: Random,
  overrides: Partial<TrafficDeviceConfig> = {},
): TrafficDeviceConfig {
  const base = createBaseConfig(id, site, weatherSeed, random, {
    // Most counters sit on a lamppost with power; some run on batteries.
    power: random.chance(0.5) ? 'mains' : 'battery',
  });
  return {
    ...base,
    kind: 'traffic',
    periodS: 60,
    coverage: random.range(0.45, 1),
    freeFlowFactor: random.range(0.82, 0.98),
    countsPedestrians: random.chance(0.75),
    ...overrides,
  };
}

export function initialTrafficState(random: Random): TrafficState {
  return { health: initialHealth(random), dayFactor: random.gaussian() };
}

/** The next message of a traffic counter at sim time `tMs`. */
export function nextTrafficReading(
  config: TrafficDeviceConfig,
  tMs: number,
  state: TrafficState | undefined,
  random: Random,
): Generated<TrafficReading, TrafficState> {
  const previous = state ?? initialTrafficState(random);
  const { fields, state: health } = nextHealth(config, previous.health, tMs, random);
  const dtMs = previous.health.lastTMs === undefined ? 0 : tMs - previous.health.lastTMs;
  const dayFactor = stepAr1(previous.dayFactor, dtMs, 6 * HOUR_MS, random);

  const local = copenhagenTime(tMs);
  const weather = weatherAt(config.weatherSeed, tMs, local);
  const flow = expectedFlowPerHour(config.site, tMs, local);
  const periodS = Math.round(clamp(config.periodS, 1, 86_400));
  const scale = config.coverage * Math.exp(0.08 * dayFactor) * (periodS / 3_600);
  const cold = weather.temperature < 0 ? 0.85 : 1;
  const mean: Flow = {
    cars: flow.cars * (1 + 0.05 * weather.rain),
    buses: flow.buses,
    trucks: flow.trucks,
    bicycles: flow.bicycles * (1 - 0.4 * weather.rain) * cold,
    pedestrians: flow.pedestrians * (1 - 0.3 * weather.rain),
  };
  const counts = {
    cars: random.poisson(mean.cars * scale),
    buses: random.poisson(mean.buses * scale),
    trucks: random.poisson(mean.trucks * scale),
    bicycles: random.poisson(mean.bicycles * scale),
    pedestrians: random.poisson(mean.pedestrians * scale),
  };

  const payload: TrafficReading = {
    ts: fields.ts,
    seq: fields.seq,
    period: periodS,
    cars: Math.min(counts.cars, 100_000),
    buses: Math.min(counts.buses, 10_000),
    trucks: Math.min(counts.trucks, 10_000),
    bicycles: Math.min(counts.bicycles, 100_000),
  };
  if (config.countsPedestrians) payload.pedestrians = Math.min(counts.pedestrians, 100_000);

  const motor = counts.cars + counts.buses + counts.trucks;
  const lanes = Math.max(1, config.site.lanes * config.coverage);
  // Congestion from the flow of the whole street: speed falls off as the lanes fill.
  const congestion = clamp((mean.cars + 2 * (mean.buses + mean.trucks)) / (config.site.lanes * LANE_CAPACITY_PER_HOUR), 0, 1.2);
  const meanSpeed = config.site.speedLimitKmh * config.freeFlowFactor * (1 - 0.55 * congestion * congestion) - 3 * weather.rain;
  if (motor > 0) {
    // A mean over few vehicles is noisier than one over many.
    const speed = clamp(random.gaussian(meanSpeed, 1.5 + 6 / Math.sqrt(motor)), 3, 200);
    payload.speed = round(speed, 1);
    const metresOccupied = counts.cars * VEHICLE_LENGTH_M.cars + counts.buses * VEHICLE_LENGTH_M.buses + counts.trucks * VEHICLE_LENGTH_M.trucks;
    payload.occupancy = round(clamp((100 * metresOccupied) / (periodS * lanes * (speed / 3.6)), 0, 100), 1);
  } else {
    payload.occupancy = 0;
  }
  if (fields.battery !== undefined) payload.battery = fields.battery;
  payload.rssi = fields.rssi;
  return { payload, state: { health, dayFactor } };
}
