/**
 * The simulated street behaves like a Copenhagen street: the shapes a test-bed user would
 * check first. Seeded, so each threshold is met by a wide margin, not by luck.
 */
import { describe, expect, it } from 'vitest';
import type { AirReading, ReadingPayload, TrafficReading, WasteReading } from '../../../contracts/index.ts';
import { createDeviceModel, generateSeries } from '../../../simulators/devices/index.ts';
import { FIRE_RISK_TEMPERATURE_C, type WasteState } from '../../../simulators/devices/waste.ts';
import { copenhagenTime } from '../../../simulators/local-time.ts';
import { planDevices } from '../../../simulators/plan.ts';
import type { DeviceSpec } from '../../../simulators/devices/common.ts';

const SEEDS = [1, 2, 3, 4, 5];
const device = (kind: DeviceSpec['kind'], id: string, site: string): DeviceSpec => ({ id, kind, site, lat: 55.68, lon: 12.57 });
const tsOf = (p: ReadingPayload) => (typeof p.ts === 'number' ? p.ts : Date.parse(p.ts!));
const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function correlation(a: readonly number[], b: readonly number[]): number {
  const ma = mean(a);
  const mb = mean(b);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i += 1) {
    ab += (a[i]! - ma) * (b[i]! - mb);
    aa += (a[i]! - ma) ** 2;
    bb += (b[i]! - mb) ** 2;
  }
  return ab / Math.sqrt(aa * bb);
}

/** Mean of a field over the readings whose local time matches. */
function meanWhere<P extends ReadingPayload>(series: readonly P[], when: (hour: number, weekend: boolean) => boolean, value: (p: P) => number | undefined): number {
  const xs: number[] = [];
  for (const p of series) {
    const local = copenhagenTime(tsOf(p));
    const v = value(p);
    if (when(local.hour, local.weekend) && v !== undefined) xs.push(v);
  }
  return mean(xs);
}

const weekdayAt = (from: number, to: number) => (h: number, weekend: boolean) => !weekend && h >= from && h < to;
const weekendAt = (from: number, to: number) => (h: number, weekend: boolean) => weekend && h >= from && h < to;

// Four weeks of 5-minute counts from Monday 6 April 2026.
const FOUR_WEEKS = { startMs: Date.parse('2026-04-06T00:00:00+02:00'), intervalMs: 300_000, count: 28 * 288, periodS: 300 };

describe('traffic counters', () => {
  const nørrebrogade = SEEDS.map((seed) => generateSeries(device('traffic', 'traffic-001', 'Nørrebrogade'), { seed, ...FOUR_WEEKS }) as TrafficReading[]);
  const boulevard = SEEDS.map((seed) => generateSeries(device('traffic', 'traffic-002', 'H.C. Andersens Boulevard'), { seed, ...FOUR_WEEKS }) as TrafficReading[]);

  it('count far more cars in the weekday rush hours than at night', () => {
    for (const series of [...nørrebrogade, ...boulevard]) {
      const morning = meanWhere(series, weekdayAt(7, 9), (p) => p.cars);
      const afternoon = meanWhere(series, weekdayAt(15, 18), (p) => p.cars);
      const night = meanWhere(series, weekdayAt(2, 4), (p) => p.cars);
      const midday = meanWhere(series, weekdayAt(11, 13), (p) => p.cars);
      expect(morning).toBeGreaterThan(6 * night);
      expect(afternoon).toBeGreaterThan(6 * night);
      expect(morning).toBeGreaterThan(midday);
      expect(afternoon).toBeGreaterThan(midday);
    }
  });

  it('have commuter peaks on weekdays and a late midday hump at weekends', () => {
    for (const series of nørrebrogade) {
      const weekdayMorning = meanWhere(series, weekdayAt(7.5, 8.5), (p) => p.bicycles);
      const weekendMorning = meanWhere(series, weekendAt(7.5, 8.5), (p) => p.bicycles);
      const weekendMidday = meanWhere(series, weekendAt(12, 15), (p) => p.bicycles);
      const weekdayMidday = meanWhere(series, weekdayAt(12, 15), (p) => p.bicycles);
      expect(weekdayMorning).toBeGreaterThan(3 * weekendMorning);
      expect(weekendMidday).toBeGreaterThan(2 * weekendMorning);
      // Weekend traffic has no rush: its midday is its busiest time.
      expect(weekdayMorning).toBeGreaterThan(weekdayMidday);
      const weekdayTotal = meanWhere(series, (_h, weekend) => !weekend, (p) => p.bicycles);
      const weekendTotal = meanWhere(series, (_h, weekend) => weekend, (p) => p.bicycles);
      expect(weekdayTotal).toBeGreaterThan(weekendTotal);
    }
  });

  it('see bicycles outnumber cars on the cycling streets and across the test bed', () => {
    for (const series of nørrebrogade) {
      const bikes = series.reduce((a, p) => a + p.bicycles!, 0);
      const cars = series.reduce((a, p) => a + p.cars!, 0);
      expect(bikes).toBeGreaterThan(2 * cars);
    }
    for (const seed of SEEDS) {
      let bikes = 0;
      let cars = 0;
      for (const counter of planDevices({ traffic: 5 }, seed)) {
        const series = generateSeries(counter, { seed, ...FOUR_WEEKS, count: 7 * 288 }) as TrafficReading[];
        for (const p of series) {
          bikes += p.bicycles!;
          cars += p.cars!;
        }
      }
      expect(bikes / (bikes + cars)).toBeGreaterThan(0.5);
    }
  });

  it('slow down in the rush hour on the boulevard', () => {
    for (const series of boulevard) {
      const rush = meanWhere(series, weekdayAt(7.5, 8.5), (p) => p.speed);
      const night = meanWhere(series, weekdayAt(2, 4), (p) => p.speed);
      expect(rush).toBeLessThan(night - 4);
      expect(night).toBeLessThanOrEqual(50);
    }
  });

  it('report counts over the configured period', () => {
    const series = generateSeries(device('traffic', 't', 'Jagtvej'), { seed: 1, startMs: 0, intervalMs: 60_000, count: 10, periodS: 60 }) as TrafficReading[];
    expect(series.every((p) => p.period === 60)).toBe(true);
  });
});

describe('air-quality nodes', () => {
  const TWO_WEEKS = { startMs: Date.parse('2026-03-02T00:00:00+01:00'), intervalMs: 15 * 60_000, count: 14 * 96 };

  it('see NO2 and noise follow the traffic of their street', () => {
    for (const seed of SEEDS) {
      const air = generateSeries(device('air', 'air-001', 'H.C. Andersens Boulevard'), { seed, ...TWO_WEEKS, overrides: { model: 'lowcost' } }) as AirReading[];
      const traffic = generateSeries(device('traffic', 'traffic-001', 'H.C. Andersens Boulevard'), { seed, ...TWO_WEEKS, periodS: 900 }) as TrafficReading[];
      const cars = traffic.map((p) => p.cars!);
      expect(correlation(air.map((p) => p.no2!), cars)).toBeGreaterThan(0.6);
      expect(correlation(air.map((p) => p.noise!), cars)).toBeGreaterThan(0.7);
      expect(meanWhere(air, weekdayAt(7, 9), (p) => p.no2)).toBeGreaterThan(1.5 * meanWhere(air, weekdayAt(2, 4), (p) => p.no2));
      // Busy street by day ~70 dB(A), quieter at night.
      expect(meanWhere(air, weekdayAt(8, 18), (p) => p.noise)).toBeGreaterThan(65);
      expect(meanWhere(air, weekdayAt(2, 4), (p) => p.noise)).toBeLessThan(meanWhere(air, weekdayAt(8, 18), (p) => p.noise) - 5);
    }
  });

  it('keep PM1 ≤ PM2.5 ≤ PM10 in nearly every reading and vary slowly like the weather', () => {
    for (const seed of SEEDS) {
      const air = generateSeries(device('air', 'air-002', 'Nørrebrogade'), { seed, ...TWO_WEEKS, overrides: { model: 'lowcost' } }) as AirReading[];
      const ordered = air.filter((p) => p.pm1! <= p.pm25! && p.pm25! <= p.pm10!).length;
      expect(ordered / air.length).toBeGreaterThan(0.9);
      // Slow variation: neighbouring 15-minute PM2.5 readings are strongly related.
      const pm = air.map((p) => p.pm25!);
      expect(correlation(pm.slice(1), pm.slice(0, -1))).toBeGreaterThan(0.6);
    }
  });

  it('measure a Copenhagen climate: cold winters, mild summers, humid, around 1013 hPa', () => {
    for (const seed of SEEDS) {
      const month = (start: string) =>
        generateSeries(device('air', 'air-003', 'Jagtvej'), { seed, startMs: Date.parse(start), intervalMs: 3_600_000, count: 31 * 24, overrides: { model: 'reference' } }) as AirReading[];
      const january = month('2026-01-01T00:00:00+01:00');
      const july = month('2026-07-01T00:00:00+02:00');
      expect(mean(january.map((p) => p.temperature!))).toBeGreaterThan(-5);
      expect(mean(january.map((p) => p.temperature!))).toBeLessThan(7);
      expect(mean(july.map((p) => p.temperature!))).toBeGreaterThan(13);
      expect(mean(july.map((p) => p.temperature!))).toBeLessThan(25);
      for (const p of [...january, ...july]) {
        expect(p.temperature!).toBeGreaterThan(-25);
        expect(p.temperature!).toBeLessThan(38);
        expect(p.humidity!).toBeGreaterThanOrEqual(20);
        expect(p.pressure!).toBeGreaterThan(960);
        expect(p.pressure!).toBeLessThan(1050);
      }
      // Afternoons are warmer than the small hours.
      expect(meanWhere(july, (h) => h >= 14 && h < 17, (p) => p.temperature)).toBeGreaterThan(meanWhere(july, (h) => h >= 3 && h < 6, (p) => p.temperature) + 2);
    }
  });

  it('measure only what their model has', () => {
    const acoustic = generateSeries(device('air', 'a', 'Jagtvej'), { seed: 1, startMs: 0, intervalMs: 60_000, count: 5, overrides: { model: 'acoustic' } }) as AirReading[];
    for (const p of acoustic) expect(Object.keys(p).sort()).toEqual(['battery', 'humidity', 'noise', 'rssi', 'seq', 'temperature', 'ts']);
  });
});

describe('waste bins', () => {
  const WEEK = { startMs: Date.parse('2026-06-01T00:00:00+02:00'), intervalMs: 600_000, count: 7 * 144 };

  it('fill up between collection rounds and are emptied by them', () => {
    for (const seed of SEEDS) {
      const model = createDeviceModel(device('waste', 'bin-001', 'Nørrebrogade'), {
        seed,
        overrides: { capacityL: 240, collectionEveryH: 24, collectionHour: 6, collectionPhaseH: 0, fillPerHour: 2.5 },
      });
      const series = Array.from({ length: WEEK.count }, (_, i) => model.next(WEEK.startMs + i * WEEK.intervalMs)) as WasteReading[];
      const fills = series.map((p) => p.fill);
      let drops = 0;
      let rises = 0;
      for (let i = 1; i < fills.length; i += 1) {
        if (fills[i - 1]! - fills[i]! > 15) drops += 1;
        if (fills[i]! > fills[i - 1]!) rises += 1;
      }
      // One round a day for a week (and perhaps an extra pickup of an overflowing bin).
      expect(drops).toBeGreaterThanOrEqual(6);
      expect((model.state() as WasteState).collections).toBeGreaterThanOrEqual(7);
      expect(rises).toBeGreaterThan(fills.length / 3);
      expect(Math.max(...fills)).toBeGreaterThan(40);
      // Right after the 06:00 round the bin is nearly empty.
      expect(meanWhere(series, (h) => h >= 6.2 && h < 6.5, (p) => p.fill)).toBeLessThan(10);
    }
  });

  it('fill faster on busy nightlife streets than on quiet ones', () => {
    const rate = (site: string) =>
      mean(
        Array.from({ length: 40 }, (_, i) => {
          const model = createDeviceModel(device('waste', `bin-${i}`, site), { seed: 3, overrides: { capacityL: 240 } });
          return (model.config as { fillPerHour: number }).fillPerHour;
        }),
      );
    expect(rate('Nørrebrogade')).toBeGreaterThan(1.3 * rate('Jagtvej'));
  });

  it('rarely reach the fire-risk temperature, and cool down after a heat spike', () => {
    let hot = 0;
    let total = 0;
    for (const bin of planDevices({ waste: 40 }, 2)) {
      for (const p of generateSeries(bin, { seed: 2, ...WEEK }) as WasteReading[]) {
        total += 1;
        if (p.temperature! >= FIRE_RISK_TEMPERATURE_C) hot += 1;
      }
    }
    expect(hot / total).toBeLessThan(0.005);

    const smouldering = generateSeries(device('waste', 'bin-hot', 'Nørrebrogade'), { seed: 4, ...WEEK, overrides: { heatSpikesPerDay: 2 } }) as WasteReading[];
    const temperatures = smouldering.map((p) => p.temperature!);
    const hotIndex = temperatures.findIndex((t) => t >= FIRE_RISK_TEMPERATURE_C);
    expect(hotIndex).toBeGreaterThanOrEqual(0);
    expect(Math.max(...temperatures)).toBeLessThanOrEqual(150);
    // Within a few hours of a spike the bin is back near ambient.
    expect(temperatures.slice(hotIndex, hotIndex + 30).some((t) => t < 40)).toBe(true);
  });

  it('open their lids now and then, and lie tilted when knocked over', () => {
    const series = planDevices({ waste: 20 }, 5).flatMap((bin) => generateSeries(bin, { seed: 5, ...WEEK }) as WasteReading[]);
    const open = series.filter((p) => p.lidOpen).length / series.length;
    expect(open).toBeGreaterThan(0.001);
    expect(open).toBeLessThan(0.2);
    expect(series.filter((p) => p.tilt! < 10).length / series.length).toBeGreaterThan(0.95);
    const knocked = generateSeries(device('waste', 'bin-x', 'Nørrebrogade'), { seed: 5, ...WEEK, overrides: { knockOversPerDay: 3 } }) as WasteReading[];
    expect(knocked.some((p) => p.tilt! > 45)).toBe(true);
  });
});

describe('device health', () => {
  it('drains batteries slowly', () => {
    for (const spec of planDevices({ air: 5, traffic: 5, waste: 5 }, 8)) {
      const series = generateSeries(spec, { seed: 8, startMs: Date.parse('2026-05-01T00:00:00Z'), intervalMs: 600_000, count: 3 * 144 });
      const levels = series.map((p) => p.battery).filter((b): b is number => b !== undefined);
      if (levels.length === 0) continue; // mains-powered
      const first = levels[0]!;
      const last = levels.at(-1)!;
      expect(last).toBeLessThan(first);
      // Days, not hours: at most ~20 % over three days.
      expect(first - last).toBeLessThan(20);
      for (let i = 1; i < levels.length; i += 1) expect(levels[i]!).toBeLessThanOrEqual(levels[i - 1]!);
    }
  });
});
