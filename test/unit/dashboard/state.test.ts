import { describe, expect, it } from 'vitest';
import type { DeviceRecord } from '../../../contracts/devices.ts';
import type { Rejection } from '../../../contracts/rejections.ts';
import {
  FEED_MAX,
  actionsFromEvents,
  createInitialState,
  reduce,
  reduceAll,
  type DashboardState,
  type LiveEvent,
} from '../../../dashboard/model/state.ts';
import { createStateStore } from '../../../dashboard/model/state-store.ts';
import { T0, reading } from './helpers.ts';

const DAY_START = Date.parse('2026-11-22T00:00:00Z');
const initial = (): DashboardState => createInitialState(T0, DAY_START);

function record(id: string, extra: Partial<DeviceRecord> = {}): DeviceRecord {
  return {
    id,
    kind: 'air',
    name: `Sensor ${id}`,
    owner: 'AirCo',
    lat: 55.68,
    lon: 12.57,
    site: 'H.C. Andersens Boulevard',
    intervalSeconds: 30,
    enabled: true,
    createdAt: '2026-11-01T00:00:00.000Z',
    updatedAt: '2026-11-01T00:00:00.000Z',
    meta: {},
    ...extra,
  };
}

function rejection(at: number, deviceId = 'air-1'): Rejection {
  return {
    reason: 'FIELD_TYPE',
    message: 'pm25: expected number',
    issues: [{ path: 'pm25', code: 'FIELD_TYPE', message: 'expected number' }],
    kind: 'air',
    deviceId,
    topic: `lab/v1/air/${deviceId}`,
    receivedAt: new Date(at).toISOString(),
    excerpt: '{"pm25":"high"}',
    size: 15,
  };
}

describe('state reducer', () => {
  it('adds a device first seen in a reading as unregistered with the default interval', () => {
    const state = reduce(initial(), { type: 'readings', readings: [reading('air-1', 'air', T0, { pm25: 12 })], live: true });
    const device = state.devices.get('air-1');
    expect(device?.info).toMatchObject({ id: 'air-1', kind: 'air', registered: false, intervalSeconds: 60 });
    expect(device?.latest?.values.pm25).toBe(12);
    expect(device?.lastHeardMs).toBe(T0 + 50);
    expect(state.liveReadings).toBe(1);
  });

  it('keeps the newest reading as latest when a back-fill brings older ones', () => {
    let state = reduce(initial(), { type: 'readings', readings: [reading('air-1', 'air', T0, { pm25: 12 })], live: true });
    state = reduce(state, { type: 'readings', readings: [reading('air-1', 'air', T0 - 60_000, { pm25: 99 })], live: false });
    expect(state.devices.get('air-1')?.latest?.values.pm25).toBe(12);
    expect(state.liveReadings).toBe(1);
  });

  it('replaces the latest reading with a newer one', () => {
    let state = reduce(initial(), { type: 'readings', readings: [reading('air-1', 'air', T0, { pm25: 12 })], live: true });
    state = reduce(state, { type: 'readings', readings: [reading('air-1', 'air', T0 + 1_000, { pm25: 13 })], live: true });
    expect(state.devices.get('air-1')?.latest?.values.pm25).toBe(13);
  });

  it('leaves the previous state untouched and keeps unchanged devices identical', () => {
    const before = reduce(initial(), {
      type: 'readings',
      readings: [reading('air-1', 'air', T0, { pm25: 12 }), reading('air-2', 'air', T0, { pm25: 5 })],
      live: true,
    });
    const air2 = before.devices.get('air-2');
    const after = reduce(before, { type: 'readings', readings: [reading('air-1', 'air', T0 + 1_000, { pm25: 30 })], live: true });
    expect(before.devices.get('air-1')?.latest?.values.pm25).toBe(12);
    expect(after.devices.get('air-2')).toBe(air2);
    expect(after.devices.get('air-1')).not.toBe(before.devices.get('air-1'));
  });

  it('takes names, positions and intervals from the registry and keeps readings seen before', () => {
    let state = reduce(initial(), { type: 'readings', readings: [reading('air-1', 'air', T0, { pm25: 12 })], live: true });
    state = reduce(state, { type: 'registry-loaded', devices: [record('air-1'), record('air-9')] });
    expect(state.registry).toBe('loaded');
    expect(state.devices.get('air-1')?.info).toMatchObject({ name: 'Sensor air-1', registered: true, intervalSeconds: 30, lat: 55.68 });
    expect(state.devices.get('air-1')?.latest?.values.pm25).toBe(12);
    expect(state.devices.get('air-9')?.latest).toBeUndefined();
  });

  it('marks a device dropped from the registry as unregistered but keeps it visible', () => {
    let state = reduce(initial(), { type: 'registry-loaded', devices: [record('air-1')] });
    state = reduce(state, { type: 'registry-loaded', devices: [] });
    expect(state.devices.get('air-1')?.info.registered).toBe(false);
  });

  it('records that the registry is unavailable (fallback to devices seen)', () => {
    expect(reduce(initial(), { type: 'registry-unavailable' }).registry).toBe('unavailable');
  });

  it('shows each rejection once, newest first, whether it came live or from the API', () => {
    let state = reduce(initial(), { type: 'rejections', rejections: [rejection(T0), rejection(T0 + 2_000)] });
    state = reduce(state, { type: 'rejections', rejections: [rejection(T0 + 2_000), rejection(T0 + 1_000)] });
    expect(state.feed.map((item) => item.atMs)).toEqual([T0 + 2_000, T0 + 1_000, T0]);
  });

  it(`keeps at most ${FEED_MAX} feed items`, () => {
    const many = Array.from({ length: FEED_MAX + 50 }, (_, i) => rejection(T0 + i * 1_000));
    const state = reduce(initial(), { type: 'rejections', rejections: many });
    expect(state.feed).toHaveLength(FEED_MAX);
    expect(state.feed[0]?.atMs).toBe(T0 + (FEED_MAX + 49) * 1_000);
  });

  it('adds alerts to the feed', () => {
    const state = reduce(initial(), {
      type: 'alerts',
      alerts: [{ id: 'a1', rule: 'bin-fire', ruleName: 'Fire risk', ruleType: 'threshold', severity: 'critical', state: 'open', deviceId: 'bin-1', message: 'Fire risk', at: new Date(T0).toISOString(), openedAt: new Date(T0).toISOString(), repeats: 0 }],
    });
    expect(state.feed[0]).toMatchObject({ type: 'alert', deviceId: 'bin-1' });
  });

  it('counts reconnects, not the first connect', () => {
    const state = reduceAll(initial(), [
      { type: 'connection', state: 'connected', atMs: T0 },
      { type: 'connection', state: 'disconnected', atMs: T0 + 1 },
      { type: 'connection', state: 'connected', atMs: T0 + 2 },
    ]);
    expect(state.connection).toMatchObject({ state: 'connected', everConnected: true, reconnects: 1, sinceMs: T0 + 2 });
  });

  it('tracks the worst EAQI level per device and hour of today', () => {
    const hour10 = Date.parse('2026-11-22T10:00:00Z');
    const state = reduce(initial(), {
      type: 'readings',
      readings: [
        reading('air-1', 'air', hour10 + 60_000, { pm25: 5 }),
        reading('air-1', 'air', hour10 + 120_000, { pm25: 40 }),
        reading('air-1', 'air', hour10 + 180_000, { pm25: 15 }),
        reading('air-1', 'air', DAY_START - 60_000, { pm25: 900 }),
      ],
      live: false,
    });
    const byHour = state.hourlyEaqi.get('air-1');
    expect([...(byHour ?? [])]).toEqual([[new Date(hour10).setMinutes(0, 0, 0), 4]]);
  });

  it('drops hourly levels from before the new day', () => {
    const hour10 = Date.parse('2026-11-22T10:00:00Z');
    let state = reduce(initial(), { type: 'readings', readings: [reading('air-1', 'air', hour10, { pm25: 60 })], live: false });
    state = reduce(state, { type: 'day-started', dayStartMs: DAY_START + 86_400_000 });
    expect(state.hourlyEaqi.size).toBe(0);
    expect(state.dayStartMs).toBe(DAY_START + 86_400_000);
  });

  it('disables and removes devices on status events', () => {
    let state = reduce(initial(), { type: 'registry-loaded', devices: [record('air-1'), record('air-2')] });
    state = reduce(state, {
      type: 'device-statuses',
      statuses: [
        { deviceId: 'air-1', status: 'disabled', at: new Date(T0).toISOString() },
        { deviceId: 'air-2', status: 'removed', at: new Date(T0).toISOString() },
      ],
    });
    expect(state.devices.get('air-1')?.info.enabled).toBe(false);
    expect(state.devices.has('air-2')).toBe(false);
  });
});

describe('batched live events', () => {
  it('turns a frame of any size into one action per event type', () => {
    const events: LiveEvent[] = [];
    for (let i = 0; i < 1_000; i++) events.push({ type: 'reading', reading: reading(`dev-${i % 500}`, 'traffic', T0 + i, { period: 60, cars: i % 7 }) });
    events.push({ type: 'rejected', rejection: rejection(T0) });
    const actions = actionsFromEvents(events);
    expect(actions.map((a) => a.type)).toEqual(['readings', 'rejections']);
    const state = reduceAll(initial(), actions);
    expect(state.devices.size).toBe(500);
    expect(state.liveReadings).toBe(1_000);
    // The last reading of each device wins.
    expect(state.devices.get('dev-7')?.latest?.ts).toBe(new Date(T0 + 507).toISOString());
  });

  it('notifies store listeners once per dispatched batch', () => {
    const store = createStateStore(initial());
    let calls = 0;
    store.subscribe(() => (calls += 1));
    store.dispatch(...actionsFromEvents([
      { type: 'reading', reading: reading('a', 'air', T0, { pm25: 1 }) },
      { type: 'reading', reading: reading('b', 'air', T0, { pm25: 2 }) },
      { type: 'rejected', rejection: rejection(T0) },
    ]));
    expect(calls).toBe(1);
    store.dispatch({ type: 'registry-unavailable' }, { type: 'registry-unavailable' });
    expect(calls).toBe(2);
    store.dispatch({ type: 'registry-unavailable' });
    expect(calls).toBe(2);
  });
});
