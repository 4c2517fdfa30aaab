/**
 * A small, believable street for the browser tests: four air-quality sensors, three traffic
 * counters and six waste bins with an hour of history (deterministic, seeded), including a
 * sensor with a ten-minute gap, two nearly full bins and one with a fire-risk temperature.
 */
import type { ReadingKind } from '../../contracts/readings.ts';

export interface FleetDevice {
  id: string;
  kind: ReadingKind;
}

export const FLEET: readonly FleetDevice[] = [
  ...['air-01', 'air-02', 'air-03', 'air-04'].map((id) => ({ id, kind: 'air' as const })),
  ...['traffic-01', 'traffic-02', 'traffic-03'].map((id) => ({ id, kind: 'traffic' as const })),
  ...['bin-01', 'bin-02', 'bin-03', 'bin-04', 'bin-05', 'bin-06'].map((id) => ({ id, kind: 'waste' as const })),
];

/** air-04 is silent for these minutes-ago (a gap the device page must show). */
export const GAP_MINUTES_AGO = { from: 31, to: 39 } as const;

/** Park–Miller PRNG: the same street every run. */
export function createRandom(seed = 7): () => number {
  let state = seed;
  return () => (state = (state * 16_807) % 2_147_483_647) / 2_147_483_647;
}

/** One plausible payload for a device at `tsMs` (step `i` of its history). */
export function payloadFor(device: FleetDevice, i: number, tsMs: number, seq: number, random: () => number): Record<string, unknown> {
  const k = Number(device.id.slice(-1));
  const date = new Date(tsMs);
  const hour = date.getUTCHours() + date.getUTCMinutes() / 60;
  const rush = Math.exp(-((hour - 8) ** 2) / 3) + Math.exp(-((hour - 16.5) ** 2) / 3);
  const base = { ts: tsMs, seq, battery: round(Math.max(5, 92 - k * 9 - i * 0.02), 1), rssi: round(-62 - k * 8 - random() * 6, 0) };
  if (device.kind === 'air') {
    return {
      ...base,
      pm25: round(6 + k * 5 + rush * 8 + random() * 4, 1),
      pm10: round(12 + k * 7 + rush * 10 + random() * 6, 1),
      no2: round(18 + k * 14 + rush * 30 + random() * 8, 1),
      o3: round(45 + random() * 15, 1),
      temperature: round(11 + random(), 1),
      humidity: round(68 + random() * 5, 0),
      noise: round(58 + rush * 8 + random() * 4, 1),
    };
  }
  if (device.kind === 'traffic') {
    const flow = (1 + rush) * (k === 2 ? 1.8 : 1);
    return {
      ...base,
      period: 60,
      cars: Math.round((8 + random() * 6) * flow),
      buses: Math.round(random() * 2),
      trucks: Math.round(random() * 2 * flow),
      bicycles: Math.round((14 + random() * 10) * flow),
      pedestrians: Math.round((6 + random() * 8) * flow),
      speed: round(28 + random() * 10, 1),
      occupancy: round(8 + random() * 10 * flow, 1),
    };
  }
  const fills = [22, 48, 67, 84, 93, 55];
  return {
    ...base,
    fill: Math.min(100, round(fills[k - 1]! - 10 + i * 0.15, 1)),
    temperature: k === 6 ? 64 : round(14 + random() * 3, 1),
    lidOpen: false,
    weight: round(10 + k * 8, 1),
  };
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
