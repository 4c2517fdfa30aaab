/**
 * The read interface of api/store.ts as one lab sees it: every question that could reach
 * another lab's devices is narrowed to the scope's visible devices before it goes to
 * InfluxDB (a device filter, so limits, pages and aggregates stay right), or — for answers
 * that are one row per device anyway (latest) — filtered after. Routes that read call
 * `readingsWithin(store, request.scope)` (or `wasteWithin`) instead of using the store directly.
 */
import type { ReadingQueries, WasteQueries } from '../store.ts';
import type { LabScope } from './scope.ts';

export type ScopedReadingQueries = Omit<ReadingQueries, 'hasReadings'>;

export function readingsWithin(store: ReadingQueries, scope: LabScope): ScopedReadingQueries {
  // The platform view sees everything: nothing to narrow.
  if (scope.lab === undefined) return store;
  return {
    async readings(plan, settings) {
      return store.readings({ ...plan, filter: { ...plan.filter, ...(await scope.narrowDevices(plan.filter.devices)) } }, settings);
    },
    async latest(kinds, nowMs, windowMs) {
      return (await store.latest(kinds, nowMs, windowMs)).filter((reading) => scope.seesDevice(reading.deviceId));
    },
    async latestPerMetric(kinds, nowMs, windowMs) {
      const all = await store.latestPerMetric(kinds, nowMs, windowMs);
      // Keys are `kind/device`; device ids contain no `/`.
      return new Map([...all].filter(([key]) => scope.seesDevice(key.slice(key.indexOf('/') + 1))));
    },
    async rejections(filter) {
      return store.rejections({ ...filter, within: await scope.narrowDevices(filter.device ? [filter.device] : undefined) });
    },
    async aqi(input, nowMs, limits) {
      return store.aqi({ ...input, within: await scope.narrowDevices(input.device ? [input.device] : undefined) }, nowMs, limits);
    },
    async who(input, nowMs, limits) {
      return store.who({ ...input, filter: { ...input.filter, ...(await scope.narrowDevices(input.filter.devices)) } }, nowMs, limits);
    },
  };
}

export function wasteWithin(store: WasteQueries, scope: LabScope): WasteQueries {
  if (scope.lab === undefined) return store;
  return {
    async binSeries(filter, range, maxRows) {
      return store.binSeries({ ...filter, ...(await scope.narrowDevices(filter.devices)) }, range, maxRows);
    },
  };
}
