/**
 * The streets of the simulated test bed and what moves along them.
 *
 * Daily volumes are of the order Copenhagen's own counts give for these streets (two
 * directions, weekday): H.C. Andersens Boulevard is a car artery, while Nørrebrogade,
 * Dronning Louises Bro and Vesterbrogade carry more bicycles than cars. Hourly shapes have
 * the weekday double peak (07–09, 15–18) — sharper for bicycles, whose commuters keep
 * tighter hours — and a late, broad midday hump at weekends.
 */
import type { ReadingKind } from '../contracts/readings.ts';
import { copenhagenTime, type LocalTime } from './local-time.ts';

export const VEHICLE_CLASSES = ['cars', 'buses', 'trucks', 'bicycles', 'pedestrians'] as const;
export type VehicleClass = (typeof VEHICLE_CLASSES)[number];
export type Flow = Record<VehicleClass, number>;

export interface StreetSite {
  name: string;
  /** The street's centre line, [lat, lon] in WGS84, from one end to the other. */
  path: readonly (readonly [number, number])[];
  /** Weekday totals, both directions. */
  daily: Flow;
  speedLimitKmh: number;
  /** Car lanes, both directions (capacity and occupancy). */
  lanes: number;
  /** How much a street canyon traps exhaust and sound (1 = open boulevard-like). */
  canyon: number;
  /** Evening and weekend-night life: bins fill faster when it is high (0–1). */
  nightlife: number;
  /** Typical fill rate of a 240 L street bin here, % per hour of daytime use. */
  binFillPerHour: number;
}

/** Sites along the test-bed streets; devices are spread over them in this order. */
export const STREET_SITES: readonly StreetSite[] = [
  {
    name: 'H.C. Andersens Boulevard',
    path: [
      [55.6763, 12.5672],
      [55.6737, 12.5707],
      [55.6712, 12.5743],
      [55.669, 12.5773],
    ],
    daily: { cars: 48_000, buses: 900, trucks: 2_200, bicycles: 30_000, pedestrians: 9_000 },
    speedLimitKmh: 50,
    lanes: 6,
    canyon: 0.85,
    nightlife: 0.5,
    binFillPerHour: 1.6,
  },
  {
    name: 'Nørrebrogade',
    path: [
      [55.688, 12.562],
      [55.6912, 12.5555],
      [55.694, 12.549],
      [55.6975, 12.543],
      [55.7005, 12.5385],
    ],
    daily: { cars: 8_500, buses: 1_100, trucks: 350, bicycles: 32_000, pedestrians: 16_000 },
    speedLimitKmh: 40,
    lanes: 2,
    canyon: 1.3,
    nightlife: 0.9,
    binFillPerHour: 2.2,
  },
  {
    name: 'Jagtvej',
    path: [
      [55.6878, 12.5414],
      [55.694, 12.549],
      [55.6985, 12.5572],
      [55.7035, 12.57],
    ],
    daily: { cars: 17_000, buses: 450, trucks: 900, bicycles: 16_000, pedestrians: 6_500 },
    speedLimitKmh: 50,
    lanes: 2,
    canyon: 1.2,
    nightlife: 0.6,
    binFillPerHour: 1.3,
  },
  {
    name: 'Dronning Louises Bro',
    path: [
      [55.6861, 12.5663],
      [55.6876, 12.5629],
    ],
    daily: { cars: 5_000, buses: 800, trucks: 150, bicycles: 40_000, pedestrians: 12_000 },
    speedLimitKmh: 40,
    lanes: 2,
    canyon: 0.6,
    nightlife: 0.8,
    binFillPerHour: 1.9,
  },
  {
    name: 'Vesterbrogade',
    path: [
      [55.6754, 12.566],
      [55.6738, 12.559],
      [55.6722, 12.551],
      [55.6706, 12.544],
    ],
    daily: { cars: 15_000, buses: 700, trucks: 700, bicycles: 19_000, pedestrians: 13_000 },
    speedLimitKmh: 40,
    lanes: 2,
    canyon: 1.25,
    nightlife: 0.85,
    binFillPerHour: 1.8,
  },
];

/** The site a device with an unknown site name is modelled as: a middling Copenhagen street. */
export const GENERIC_SITE: StreetSite = {
  name: 'Copenhagen street',
  path: [
    [55.6761, 12.5683],
    [55.6761, 12.5683],
  ],
  daily: { cars: 12_000, buses: 500, trucks: 600, bicycles: 14_000, pedestrians: 8_000 },
  speedLimitKmh: 50,
  lanes: 2,
  canyon: 1,
  nightlife: 0.5,
  binFillPerHour: 1.5,
};

export function findSite(name: string | undefined): StreetSite {
  return STREET_SITES.find((site) => site.name === name) ?? { ...GENERIC_SITE, ...(name ? { name } : {}) };
}

/** A point `fraction` (0–1) of the way along the site's centre line. */
export function pointAlong(site: StreetSite, fraction: number): { lat: number; lon: number } {
  const path = site.path;
  if (path.length === 1) return { lat: path[0]![0], lon: path[0]![1] };
  const lengths: number[] = [];
  let total = 0;
  for (let i = 1; i < path.length; i += 1) {
    const d = Math.hypot(path[i]![0] - path[i - 1]![0], (path[i]![1] - path[i - 1]![1]) * Math.cos((55.68 * Math.PI) / 180));
    lengths.push(d);
    total += d;
  }
  let remaining = Math.min(1, Math.max(0, fraction)) * total;
  for (let i = 0; i < lengths.length; i += 1) {
    const segment = lengths[i]!;
    if (remaining <= segment || i === lengths.length - 1) {
      const f = segment === 0 ? 0 : Math.min(1, remaining / segment);
      const [lat0, lon0] = path[i]!;
      const [lat1, lon1] = path[i + 1]!;
      return { lat: round6(lat0 + (lat1 - lat0) * f), lon: round6(lon0 + (lon1 - lon0) * f) };
    }
    remaining -= segment;
  }
  return { lat: path[0]![0], lon: path[0]![1] };
}

function round6(value: number): number {
  return Math.round(value * 1e6) / 1e6;
}

// Relative volume per local hour (index = hour, value at the middle of the hour).
const WEEKDAY_PROFILE: Record<VehicleClass, readonly number[]> = {
  cars: [0.8, 0.5, 0.4, 0.4, 0.7, 1.8, 4.0, 6.8, 7.2, 5.6, 5.0, 5.1, 5.3, 5.4, 5.8, 6.8, 7.3, 7.0, 5.6, 4.3, 3.5, 2.9, 2.2, 1.4],
  buses: [0.6, 0.4, 0.4, 0.4, 0.8, 2.8, 5.2, 6.4, 6.4, 5.4, 5.0, 5.0, 5.0, 5.0, 5.2, 6.0, 6.4, 6.2, 5.4, 4.4, 3.6, 3.0, 2.6, 1.6],
  trucks: [0.7, 0.5, 0.5, 0.7, 1.5, 3.5, 6.0, 7.5, 7.8, 7.6, 7.3, 7.0, 6.8, 6.6, 6.3, 5.8, 5.0, 4.0, 3.0, 2.2, 1.6, 1.2, 1.0, 0.8],
  bicycles: [0.4, 0.2, 0.1, 0.1, 0.2, 0.9, 3.5, 10.5, 11.0, 5.5, 3.6, 3.6, 3.9, 4.0, 4.7, 7.0, 9.8, 9.5, 6.0, 3.8, 2.8, 2.0, 1.4, 0.8],
  pedestrians: [0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 2.2, 5.6, 6.4, 5.0, 5.0, 5.8, 6.6, 6.6, 6.2, 6.6, 7.4, 7.2, 6.0, 4.8, 3.9, 3.2, 2.2, 1.2],
};

const WEEKEND_PROFILE: Record<VehicleClass, readonly number[]> = {
  cars: [1.6, 1.2, 1.0, 0.8, 0.6, 0.8, 1.3, 2.2, 3.4, 4.6, 5.8, 6.6, 7.0, 7.1, 7.0, 6.8, 6.6, 6.2, 5.5, 4.6, 3.8, 3.2, 2.6, 2.1],
  buses: [1.2, 1.0, 0.8, 0.8, 0.8, 1.2, 2.0, 3.0, 4.2, 5.0, 5.6, 6.0, 6.2, 6.2, 6.2, 6.0, 5.8, 5.6, 5.2, 4.6, 4.0, 3.4, 2.8, 2.0],
  trucks: [1.0, 0.8, 0.8, 0.8, 1.0, 1.6, 2.6, 3.8, 5.0, 6.0, 6.6, 6.8, 6.8, 6.6, 6.2, 5.8, 5.2, 4.6, 3.8, 3.0, 2.4, 1.8, 1.4, 1.2],
  bicycles: [1.5, 1.2, 0.9, 0.6, 0.4, 0.4, 0.6, 1.3, 2.5, 4.3, 6.3, 7.8, 8.5, 8.8, 8.7, 8.4, 7.8, 6.9, 5.6, 4.3, 3.3, 2.6, 2.1, 1.7],
  pedestrians: [2.0, 1.6, 1.2, 0.8, 0.4, 0.3, 0.5, 1.0, 2.0, 3.6, 5.6, 7.2, 8.2, 8.6, 8.6, 8.4, 8.0, 7.4, 6.4, 5.4, 4.6, 3.8, 3.2, 2.6],
};

/** Volume of each weekday relative to Monday–Thursday (index = ISO weekday − 1). */
const DAY_FACTOR: Record<VehicleClass, readonly number[]> = {
  cars: [1, 1, 1, 1, 1.02, 0.78, 0.66],
  buses: [1, 1, 1, 1, 1, 0.75, 0.6],
  trucks: [1, 1, 1, 1, 0.95, 0.35, 0.2],
  bicycles: [1, 1, 1, 1, 0.94, 0.62, 0.55],
  pedestrians: [1, 1, 1, 1, 1.08, 1.15, 0.9],
};

/** Share of the daily volume in each hour, per class (sums to 1 over the day). */
function normalise(profile: Record<VehicleClass, readonly number[]>): Record<VehicleClass, readonly number[]> {
  const out = {} as Record<VehicleClass, readonly number[]>;
  for (const vehicle of VEHICLE_CLASSES) {
    const sum = profile[vehicle].reduce((a, b) => a + b, 0);
    out[vehicle] = profile[vehicle].map((v) => v / sum);
  }
  return out;
}

const WEEKDAY_SHARE = normalise(WEEKDAY_PROFILE);
const WEEKEND_SHARE = normalise(WEEKEND_PROFILE);

function hourlyShare(share: readonly number[], hour: number): number {
  // Values sit at the middle of each hour; interpolate linearly, wrapping at midnight.
  const x = hour - 0.5;
  const i = Math.floor(x);
  const f = x - i;
  const a = share[((i % 24) + 24) % 24]!;
  const b = share[(((i + 1) % 24) + 24) % 24]!;
  return a + (b - a) * f;
}

/** 0 in late January, 1 in late July: Copenhagen's seasonal cycle. */
export function seasonOf(local: LocalTime): number {
  return 0.5 - 0.5 * Math.cos((2 * Math.PI * (local.dayOfYear - 20)) / 365.25);
}

/**
 * Expected passages per hour at a site at a given instant (before weather and chance):
 * the mean the traffic counters sample from and the emission the air sensors breathe.
 */
export function expectedFlowPerHour(site: StreetSite, utcMs: number, local: LocalTime = copenhagenTime(utcMs)): Flow {
  const shares = local.weekend ? WEEKEND_SHARE : WEEKDAY_SHARE;
  const season = seasonOf(local);
  const seasonal: Flow = {
    cars: 0.97 + 0.03 * season,
    buses: 1,
    trucks: 1,
    bicycles: 0.72 + 0.28 * season,
    pedestrians: 0.85 + 0.15 * season,
  };
  const flow = {} as Flow;
  for (const vehicle of VEHICLE_CLASSES) {
    flow[vehicle] =
      site.daily[vehicle] * DAY_FACTOR[vehicle][local.weekday - 1]! * hourlyShare(shares[vehicle], local.hour) * seasonal[vehicle];
  }
  return flow;
}

/** Motor-traffic emission index: passenger-car equivalents per hour (a bus ≈ 8 cars, a truck ≈ 10). */
export function emissionIndex(flow: Flow): number {
  return flow.cars + 8 * flow.buses + 10 * flow.trucks;
}

/** The device id prefix per kind: `air-001`, `traffic-001`, `bin-001`. */
export const DEVICE_ID_PREFIX: Record<ReadingKind, string> = { air: 'air', traffic: 'traffic', waste: 'bin' };
