import { describe, expect, it } from 'vitest';
import { ChartedSeries, alignColumns, createSeries, mergeReadings, metricColumn, sliceRange, trimBefore } from '../../../dashboard/model/series.ts';
import { T0, reading } from './helpers.ts';

const air = (t: number, pm25: number) => reading('air-1', 'air', t, { pm25 }, { seq: Math.round((t - T0) / 60_000) });

describe('device series', () => {
  it('appends live readings in time order', () => {
    const series = createSeries('air-1');
    expect(mergeReadings(series, [air(T0, 1), air(T0 + 60_000, 2)])).toBe(2);
    expect(series.t).toEqual([T0, T0 + 60_000]);
  });

  it('inserts back-filled readings into the hole they fill', () => {
    const series = createSeries('air-1');
    mergeReadings(series, [air(T0, 1), air(T0 + 180_000, 4)]);
    mergeReadings(series, [air(T0 + 120_000, 3), air(T0 + 60_000, 2)]);
    expect(series.readings.map((r) => r.values.pm25)).toEqual([1, 2, 3, 4]);
  });

  it('counts a reading that arrived live and again from the API once', () => {
    const series = createSeries('air-1');
    mergeReadings(series, [air(T0, 1), air(T0 + 60_000, 2)]);
    expect(mergeReadings(series, [air(T0 + 60_000, 2), air(T0, 1)])).toBe(0);
    expect(series.t).toHaveLength(2);
  });

  it('ignores readings of other devices', () => {
    const series = createSeries('air-1');
    expect(mergeReadings(series, [reading('air-2', 'air', T0, { pm25: 1 })])).toBe(0);
  });

  it('keeps at most the configured number of points, dropping the oldest', () => {
    const series = createSeries('air-1');
    mergeReadings(series, Array.from({ length: 10 }, (_, i) => air(T0 + i * 1_000, i)), 5);
    expect(series.readings.map((r) => r.values.pm25)).toEqual([5, 6, 7, 8, 9]);
  });

  it('trims and slices by time', () => {
    const series = createSeries('air-1');
    mergeReadings(series, Array.from({ length: 5 }, (_, i) => air(T0 + i * 60_000, i)));
    expect(sliceRange(series, T0 + 60_000, T0 + 180_000).t).toEqual([T0 + 60_000, T0 + 120_000, T0 + 180_000]);
    trimBefore(series, T0 + 120_000);
    expect(series.t[0]).toBe(T0 + 120_000);
  });

  it('breaks the chart line where the device was silent for more than two intervals', () => {
    const series = createSeries('air-1');
    mergeReadings(series, [air(T0, 1), air(T0 + 60_000, 2), air(T0 + 600_000, 3)]);
    const column = metricColumn(series, 'pm25', T0, 60);
    expect(column.y).toEqual([1, 2, null, 3]);
    expect(column.x).toEqual([T0 / 1000, (T0 + 60_000) / 1000, (T0 + 60_001) / 1000, (T0 + 600_000) / 1000]);
  });

  it('charts health fields and skips readings without the metric', () => {
    const series = createSeries('air-1');
    mergeReadings(series, [air(T0, 1), reading('air-1', 'air', T0 + 30_000, { no2: 5 }, { battery: 80 })]);
    expect(metricColumn(series, 'pm25', T0, 60).y).toEqual([1]);
    expect(metricColumn(series, 'battery', T0, 60).y).toEqual([80]);
  });
});

describe('aligning several devices on one axis', () => {
  it('joins x values and leaves holes where a device has no point', () => {
    const data = alignColumns([
      { x: [1, 3, 5], y: [10, 30, 50] },
      { x: [2, 3, 6], y: [20, 31, 60] },
    ]);
    expect(data).toEqual([
      [1, 2, 3, 5, 6],
      [10, undefined, 30, 50, undefined],
      [undefined, 20, 31, undefined, 60],
    ]);
  });

  it('spreads a gap marker over the other devices’ points so the silence stays a hole', () => {
    const data = alignColumns([
      { x: [1, 2, 10], y: [1, null, 10] },
      { x: [1, 3, 5, 7, 10], y: [1, 3, 5, 7, 10] },
    ]);
    expect(data[1]).toEqual([1, null, null, null, null, 10]);
  });

  it('passes a single column through', () => {
    expect(alignColumns([{ x: [1, 2], y: [3, null] }])).toEqual([[1, 2], [3, null]]);
  });
});

describe('charted series', () => {
  it('feeds live readings only to tracked devices', () => {
    const store = new ChartedSeries();
    store.track('air-1');
    const changed = store.ingest([air(T0, 1), reading('air-2', 'air', T0, { pm25: 2 })]);
    expect([...changed]).toEqual(['air-1']);
    expect(store.has('air-2')).toBe(false);
    expect(store.get('air-1')?.t).toEqual([T0]);
  });

  it('remembers how far back history was loaded', () => {
    const store = new ChartedSeries();
    store.loaded('air-1', T0 - 3_600_000, [air(T0, 1)]);
    expect(store.covers('air-1', T0 - 1_000)).toBe(true);
    expect(store.covers('air-1', T0 - 86_400_000)).toBe(false);
    const version = store.version;
    store.ingest([air(T0 + 60_000, 2)]);
    expect(store.version).toBeGreaterThan(version);
  });

  it('forgets devices a view no longer shows', () => {
    const store = new ChartedSeries();
    store.loaded('air-1', T0, []);
    store.track('air-2');
    store.retainOnly(new Set(['air-2']));
    expect(store.has('air-1')).toBe(false);
    expect(store.covers('air-1', T0)).toBe(false);
    expect(store.has('air-2')).toBe(true);
  });
});
