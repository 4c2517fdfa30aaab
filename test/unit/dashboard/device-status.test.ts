import { describe, expect, it } from 'vitest';
import { attentionItems, binsByFill, eaqiNow, eaqiToday, filterOptions, filteredDevices, trafficNow } from '../../../dashboard/model/aggregates.ts';
import {
  FILL_BANDS,
  OFFLINE_COLOUR,
  addTrafficSample,
  flowBandOf,
  flowPerHour,
  healthOf,
  markerStyleOf,
  trafficRatesOf,
  trafficSampleOf,
  type TrafficSample,
} from '../../../dashboard/model/device-status.ts';
import { EAQI_BANDS, type EaqiLevel } from '../../../dashboard/model/eaqi-colours.ts';
import { T0, device, reading } from './helpers.ts';

describe('device health', () => {
  const heard = device('air-1', 'air', reading('air-1', 'air', T0, { pm25: 5 }), { intervalSeconds: 60, lastHeardMs: T0 });

  it('is online until silent for more than three declared intervals', () => {
    expect(healthOf(heard, T0 + 180_000)).toBe('online');
    expect(healthOf(heard, T0 + 180_001)).toBe('offline');
  });

  it('uses the declared interval of the device', () => {
    const slow = device('bin-1', 'waste', reading('bin-1', 'waste', T0, { fill: 5 }), { intervalSeconds: 900, lastHeardMs: T0 });
    expect(healthOf(slow, T0 + 40 * 60_000)).toBe('online');
    expect(healthOf(slow, T0 + 46 * 60_000)).toBe('offline');
  });

  it('knows devices never heard from and disabled ones', () => {
    expect(healthOf(device('x', 'air'), T0)).toBe('nodata');
    expect(healthOf(device('x', 'air', undefined, { enabled: false }), T0)).toBe('disabled');
  });
});

describe('marker colours', () => {
  it('colours air sensors by their EAQI band', () => {
    const style = markerStyleOf(device('a', 'air', reading('a', 'air', T0, { pm25: 22, no2: 30 })), T0);
    expect(style).toMatchObject({ fill: EAQI_BANDS[2]!.colour, eaqiLevel: 3, summary: 'Moderate', health: 'online' });
  });

  it('colours bins by fill and warns when over 80 %', () => {
    const atLimit = markerStyleOf(device('b', 'waste', reading('b', 'waste', T0, { fill: 80 })), T0);
    expect(atLimit.fill).toBe(FILL_BANDS[1]!.colour);
    expect(atLimit.warning).toBeUndefined();
    expect(markerStyleOf(device('b', 'waste', reading('b', 'waste', T0, { fill: 80.5 })), T0)).toMatchObject({ fill: FILL_BANDS[2]!.colour, warning: 'full' });
  });

  it('warns of fire risk from 60 °C in a bin, above a full warning', () => {
    expect(markerStyleOf(device('b', 'waste', reading('b', 'waste', T0, { fill: 95, temperature: 60 })), T0).warning).toBe('fire');
    expect(markerStyleOf(device('b', 'waste', reading('b', 'waste', T0, { fill: 10, temperature: 59.9 })), T0).warning).toBeUndefined();
  });

  it('colours traffic counters by flow per hour', () => {
    const r = reading('t', 'traffic', T0, { period: 60, cars: 10, bicycles: 15, pedestrians: 5 });
    expect(flowPerHour(r)).toBe(1_800);
    expect(markerStyleOf(device('t', 'traffic', r), T0).fill).toBe(flowBandOf(1_800).colour);
    expect(flowBandOf(300).label).toMatch(/Light/);
    expect(flowBandOf(301).label).toMatch(/Moderate/);
  });

  it('greys offline devices but keeps a fire warning', () => {
    const r = reading('b', 'waste', T0, { fill: 30, temperature: 70 });
    const style = markerStyleOf(device('b', 'waste', r), T0 + 3_600_000);
    expect(style).toMatchObject({ fill: OFFLINE_COLOUR, health: 'offline', warning: 'fire' });
  });
});

describe('overview figures', () => {
  const now = T0 + 10_000;
  const devices = [
    device('air-1', 'air', reading('air-1', 'air', T0, { pm25: 8, no2: 100 }), { site: 'North', owner: 'AirCo' }),
    device('air-2', 'air', reading('air-2', 'air', T0, { pm25: 30 }), { site: 'South', owner: 'AirCo' }),
    device('air-3', 'air', reading('air-3', 'air', T0 - 3_600_000, { pm25: 700 })),
    device('t-1', 'traffic', reading('t-1', 'traffic', T0, { period: 60, cars: 10, buses: 1, bicycles: 20, speed: 30 })),
    device('t-2', 'traffic', reading('t-2', 'traffic', T0, { period: 300, cars: 50, bicycles: 50, pedestrians: 25, speed: 40 })),
    device('bin-1', 'waste', reading('bin-1', 'waste', T0, { fill: 40 })),
    device('bin-2', 'waste', reading('bin-2', 'waste', T0, { fill: 90 })),
    device('bin-3', 'waste', reading('bin-3', 'waste', T0, { fill: 20, temperature: 65 })),
  ];

  it('takes the lab EAQI as the worst online sensor and ignores silent ones', () => {
    const result = eaqiNow(devices, now);
    expect(result.level).toBe(4);
    expect(result.dominant).toBe('pm25');
    expect(result.reporting).toBe(2);
    expect(result.silent).toBe(1);
    expect(result.distribution).toEqual([0, 0, 1, 1, 0, 0]);
    expect(result.byPollutant.find((p) => p.pollutant === 'no2')).toMatchObject({ value: 100, level: 3, deviceId: 'air-1' });
  });

  it('sums traffic per hour by mode across counters', () => {
    const result = trafficNow(devices, now);
    expect(result.perHour).toEqual({ cars: 600 + 600, buses: 60, trucks: 0, bicycles: 1_200 + 600, pedestrians: 300 });
    expect(result.reporting).toBe(2);
    expect(result.meanSpeed).toBeCloseTo((30 * 31 + 40 * 100) / 131);
  });

  it('lists bins fullest first with fire risks on top', () => {
    const rows = binsByFill(devices);
    expect(rows.map((r) => r.device.info.id)).toEqual(['bin-3', 'bin-2', 'bin-1']);
    expect(rows.map((r) => [r.full, r.fireRisk])).toEqual([[false, true], [true, false], [false, false]]);
  });

  it('filters by kind, owner and site, and offers the registered values', () => {
    const map = new Map(devices.map((d) => [d.info.id, d]));
    expect(filteredDevices(map, { kind: 'waste' }).map((d) => d.info.id)).toEqual(['bin-1', 'bin-2', 'bin-3']);
    expect(filteredDevices(map, { owner: 'AirCo', site: 'South' }).map((d) => d.info.id)).toEqual(['air-2']);
    expect(filterOptions(map)).toEqual({ owners: ['AirCo'], sites: ['North', 'South'] });
  });

  it('puts fire risks first in the attention list', () => {
    const items = attentionItems(devices, now);
    expect(items[0]).toMatchObject({ reason: 'fire-risk', severity: 'critical' });
    expect(items.map((i) => i.reason)).toEqual(expect.arrayContaining(['offline', 'bin-full', 'air-poor']));
  });

  it('builds the hourly strip for today from the devices asked for', () => {
    const day = Date.parse('2026-11-22T00:00:00Z');
    const state = {
      dayStartMs: day,
      hourlyEaqi: new Map<string, Map<number, EaqiLevel>>([
        ['air-1', new Map([[day + 3_600_000, 2]])],
        ['air-2', new Map([[day + 3_600_000, 4], [day + 5 * 3_600_000, 1]])],
      ]),
    };
    const hours = eaqiToday(state, ['air-1', 'air-2']);
    expect(hours[1]).toBe(4);
    expect(hours[5]).toBe(1);
    expect(hours[0]).toBeUndefined();
    expect(eaqiToday(state, ['air-1'])[1]).toBe(2);
  });
});

describe('traffic over a rolling window', () => {
  const counter = (id: string) => device(id, 'traffic', undefined);
  it('rates a counter by the counts of its last five minutes, not its last few seconds', () => {
    let view = counter('t-1');
    // Every 2 s one car or none: one reading alone says 0 or 1,800 cars/h.
    for (let i = 0; i < 150; i++) {
      const r = reading('t-1', 'traffic', T0 - (150 - i) * 2_000, { period: 2, cars: i % 3 === 0 ? 1 : 0 });
      view = { ...view, latest: r, trafficWindow: addTrafficSample(view.trafficWindow, trafficSampleOf(r)!) };
    }
    // One car every third reading: one per 6 s = 600 cars/h.
    expect(trafficRatesOf(view)?.cars).toBeCloseTo(600, 6);
    expect(flowPerHour(view)).toBeCloseTo(600, 6);
    expect(flowPerHour(view.latest)).toBe(0); // the last reading alone: i = 149, no car
  });

  it('keeps only five minutes and at most 300 samples, whatever order readings arrive in', () => {
    let window: TrafficSample[] | undefined;
    for (const offset of [0, 400_000, 150_000, 350_000]) {
      window = addTrafficSample(window, { tsMs: T0 + offset, periodS: 60, counts: { cars: 1 } });
    }
    expect(window!.map((s) => s.tsMs - T0)).toEqual([150_000, 350_000, 400_000]);
    let many: TrafficSample[] | undefined;
    for (let i = 0; i < 400; i++) many = addTrafficSample(many, { tsMs: T0 + i * 100, periodS: 0.1, counts: { cars: 1 } });
    expect(many).toHaveLength(300);
  });

  it('falls back to the latest reading when there is no window', () => {
    const r = reading('t-2', 'traffic', T0, { period: 60, cars: 30 });
    expect(trafficRatesOf({ latest: r })).toEqual({ cars: 1_800 });
  });
});
