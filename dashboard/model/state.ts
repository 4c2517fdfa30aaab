/**
 * The dashboard's state and the reducer that changes it. Pure: every change is an action,
 * `reduce(state, action)` returns a new state and leaves the old one untouched, and entries
 * that did not change keep their identity so views redraw only what moved (`prev !== next`).
 *
 * Live events arrive in batches (one per animation frame, see batcher.ts), so a batch of
 * 1,000 readings costs one copy of the device map, not 1,000.
 */
import type { DeviceRecordView } from '../../contracts/open-data.ts';
import type { Alert, DeviceStatus, LiveReading } from '../../contracts/live.ts';
import type { Rejection } from '../../contracts/rejections.ts';
import { DEFAULT_INTERVAL_S, addTrafficSample, trafficSampleOf, type DeviceInfo, type DeviceView } from './device-status.ts';
import { eaqiOf, type EaqiLevel } from './eaqi-colours.ts';

/** How many rejections and alerts the live feed keeps. */
export const FEED_MAX = 200;
const HOUR_MS = 3_600_000;

export type ConnectionState = 'connecting' | 'connected' | 'disconnected';

/** One event from the live connection (socket.io), as the batcher queues it. */
export type LiveEvent =
  | { type: 'reading'; reading: LiveReading }
  | { type: 'rejected'; rejection: Rejection }
  | { type: 'alert'; alert: Alert }
  | { type: 'device'; status: DeviceStatus };

export interface FeedItem {
  /** Stable identity, so the same rejection from REST and from the live feed shows once. */
  id: string;
  type: 'rejection' | 'alert';
  atMs: number;
  deviceId?: string | undefined;
  rejection?: Rejection;
  alert?: Alert;
}

export interface ConnectionInfo {
  state: ConnectionState;
  sinceMs: number;
  /** True once the first connection succeeded: later connects are reconnects. */
  everConnected: boolean;
  reconnects: number;
  lastBackfill?: { atMs: number; readings: number } | undefined;
}

export interface DashboardState {
  devices: ReadonlyMap<string, DeviceView>;
  /** Whether device metadata came from the registry or only from readings seen. */
  registry: 'loading' | 'loaded' | 'unavailable';
  /** Rejections and alerts, newest first, at most FEED_MAX. */
  feed: readonly FeedItem[];
  connection: ConnectionInfo;
  /** Local midnight of the day the "today" figures cover. */
  dayStartMs: number;
  /** Worst EAQI level per air device and hour of the day (key: start of the hour, ms). */
  hourlyEaqi: ReadonlyMap<string, ReadonlyMap<number, EaqiLevel>>;
  /** Live readings received since the page opened (for the rate meter). */
  liveReadings: number;
}

export type Action =
  | { type: 'registry-loaded'; devices: readonly DeviceRecordView[] }
  | { type: 'registry-unavailable' }
  /** Readings from the live feed (`live`) or from the API (initial load, back-fill). */
  | { type: 'readings'; readings: readonly LiveReading[]; live: boolean }
  | { type: 'rejections'; rejections: readonly Rejection[] }
  | { type: 'alerts'; alerts: readonly Alert[] }
  | { type: 'device-statuses'; statuses: readonly DeviceStatus[] }
  | { type: 'connection'; state: ConnectionState; atMs: number }
  | { type: 'backfilled'; atMs: number; readings: number }
  | { type: 'day-started'; dayStartMs: number };

export function createInitialState(nowMs: number, dayStartMs = startOfLocalDay(nowMs)): DashboardState {
  return {
    devices: new Map(),
    registry: 'loading',
    feed: [],
    connection: { state: 'connecting', sinceMs: nowMs, everConnected: false, reconnects: 0 },
    dayStartMs,
    hourlyEaqi: new Map(),
    liveReadings: 0,
  };
}

export function startOfLocalDay(ms: number): number {
  const day = new Date(ms);
  day.setHours(0, 0, 0, 0);
  return day.getTime();
}

export function startOfLocalHour(ms: number): number {
  const hour = new Date(ms);
  hour.setMinutes(0, 0, 0);
  return hour.getTime();
}

export function reduce(state: DashboardState, action: Action): DashboardState {
  switch (action.type) {
    case 'registry-loaded':
      return applyRegistry(state, action.devices);
    case 'registry-unavailable':
      return state.registry === 'unavailable' ? state : { ...state, registry: 'unavailable' };
    case 'readings':
      return applyReadings(state, action.readings, action.live);
    case 'rejections':
      return applyFeed(state, action.rejections.map(rejectionItem));
    case 'alerts':
      return applyFeed(state, action.alerts.map(alertItem));
    case 'device-statuses':
      return applyStatuses(state, action.statuses);
    case 'connection':
      return applyConnection(state, action.state, action.atMs);
    case 'backfilled':
      return { ...state, connection: { ...state.connection, lastBackfill: { atMs: action.atMs, readings: action.readings } } };
    case 'day-started':
      return applyDayStart(state, action.dayStartMs);
  }
}

/**
 * Turns a frame's live events into at most four actions (one per event type), keeping the
 * order within each type, so a batch of any size is one pass over the device map.
 */
export function actionsFromEvents(events: readonly LiveEvent[]): Action[] {
  const readings: LiveReading[] = [];
  const rejections: Rejection[] = [];
  const alerts: Alert[] = [];
  const statuses: DeviceStatus[] = [];
  for (const event of events) {
    if (event.type === 'reading') readings.push(event.reading);
    else if (event.type === 'rejected') rejections.push(event.rejection);
    else if (event.type === 'alert') alerts.push(event.alert);
    else statuses.push(event.status);
  }
  const actions: Action[] = [];
  if (statuses.length > 0) actions.push({ type: 'device-statuses', statuses });
  if (readings.length > 0) actions.push({ type: 'readings', readings, live: true });
  if (rejections.length > 0) actions.push({ type: 'rejections', rejections });
  if (alerts.length > 0) actions.push({ type: 'alerts', alerts });
  return actions;
}

/** Applies a list of actions in order (a frame's worth of live events). */
export function reduceAll(state: DashboardState, actions: readonly Action[]): DashboardState {
  let next = state;
  for (const action of actions) next = reduce(next, action);
  return next;
}

export function infoFromRecord(record: DeviceRecordView): DeviceInfo {
  return {
    id: record.id,
    kind: record.kind,
    name: record.name,
    owner: record.owner,
    site: record.site,
    lat: record.lat,
    lon: record.lon,
    intervalSeconds: record.intervalSeconds,
    enabled: record.enabled,
    source: record.source,
    registered: true,
  };
}

/** What we know of a device the registry does not list: only what its readings say. */
export function infoFromReading(reading: Pick<LiveReading, 'deviceId' | 'kind'>): DeviceInfo {
  return {
    id: reading.deviceId,
    kind: reading.kind,
    name: reading.deviceId,
    intervalSeconds: DEFAULT_INTERVAL_S,
    enabled: true,
    registered: false,
  };
}

function applyRegistry(state: DashboardState, records: readonly DeviceRecordView[]): DashboardState {
  const devices = new Map(state.devices);
  const listed = new Set<string>();
  for (const record of records) {
    listed.add(record.id);
    const previous = devices.get(record.id);
    devices.set(record.id, { ...previous, info: infoFromRecord(record) });
  }
  // A device dropped from the registry but still reporting stays visible as unregistered.
  for (const [id, device] of devices) {
    if (device.info.registered && !listed.has(id)) devices.set(id, { ...device, info: { ...device.info, registered: false } });
  }
  return { ...state, devices, registry: 'loaded' };
}

/** When the lab last heard from a device through this reading. */
export function heardAtMs(reading: LiveReading): number {
  return Date.parse(reading.receivedAt ?? reading.ts);
}

function applyReadings(state: DashboardState, readings: readonly LiveReading[], live: boolean): DashboardState {
  if (readings.length === 0) return state;
  const devices = new Map(state.devices);
  let hourly: Map<string, ReadonlyMap<number, EaqiLevel>> | undefined;
  for (const reading of readings) {
    const tsMs = Date.parse(reading.ts);
    if (!Number.isFinite(tsMs)) continue;
    const heard = heardAtMs(reading);
    const current = devices.get(reading.deviceId) ?? { info: infoFromReading(reading) };
    const newer = current.latestTsMs === undefined || tsMs >= current.latestTsMs;
    const heardLater = Number.isFinite(heard) && (current.lastHeardMs === undefined || heard > current.lastHeardMs);
    const sample = trafficSampleOf(reading);
    if (newer || heardLater || sample) {
      devices.set(reading.deviceId, {
        ...current,
        ...(newer ? { latest: reading, latestTsMs: tsMs } : {}),
        ...(heardLater ? { lastHeardMs: heard } : {}),
        ...(sample ? { trafficWindow: addTrafficSample(current.trafficWindow, sample) } : {}),
      });
    }
    if (reading.kind === 'air' && tsMs >= state.dayStartMs) {
      const level = eaqiOf(reading.values)?.level;
      if (level !== undefined) {
        hourly ??= new Map(state.hourlyEaqi);
        const hour = startOfLocalHour(tsMs);
        const byHour = hourly.get(reading.deviceId);
        const worst = byHour?.get(hour);
        if (worst === undefined || level > worst) hourly.set(reading.deviceId, new Map(byHour ?? []).set(hour, level));
      }
    }
  }
  return {
    ...state,
    devices,
    ...(hourly ? { hourlyEaqi: hourly } : {}),
    liveReadings: live ? state.liveReadings + readings.length : state.liveReadings,
  };
}

export function rejectionId(rejection: Rejection): string {
  return `r|${rejection.receivedAt}|${rejection.topic}|${rejection.size}`;
}

function rejectionItem(rejection: Rejection): FeedItem {
  return {
    id: rejectionId(rejection),
    type: 'rejection',
    atMs: Date.parse(rejection.receivedAt),
    deviceId: rejection.deviceId,
    rejection,
  };
}

function alertItem(alert: Alert): FeedItem {
  return { id: `a|${alert.id}|${alert.state}|${alert.at}`, type: 'alert', atMs: Date.parse(alert.at), deviceId: alert.deviceId, alert };
}

function applyFeed(state: DashboardState, items: readonly FeedItem[]): DashboardState {
  if (items.length === 0) return state;
  const seen = new Set(state.feed.map((item) => item.id));
  const fresh = items.filter((item) => {
    if (seen.has(item.id)) return false;
    seen.add(item.id);
    return true;
  });
  if (fresh.length === 0) return state;
  const feed = [...fresh, ...state.feed].sort((a, b) => b.atMs - a.atMs).slice(0, FEED_MAX);
  return { ...state, feed };
}

function applyStatuses(state: DashboardState, statuses: readonly DeviceStatus[]): DashboardState {
  if (statuses.length === 0) return state;
  const devices = new Map(state.devices);
  for (const status of statuses) {
    const current = devices.get(status.deviceId);
    if (status.status === 'removed') {
      devices.delete(status.deviceId);
      continue;
    }
    if (!current) {
      if (!status.kind) continue;
      devices.set(status.deviceId, { info: { ...infoFromReading({ deviceId: status.deviceId, kind: status.kind }), enabled: status.status !== 'disabled' } });
      continue;
    }
    const enabled = status.status !== 'disabled';
    if (current.info.enabled !== enabled) devices.set(status.deviceId, { ...current, info: { ...current.info, enabled } });
  }
  return { ...state, devices };
}

function applyConnection(state: DashboardState, connection: ConnectionState, atMs: number): DashboardState {
  const previous = state.connection;
  if (previous.state === connection) return state;
  const reconnect = connection === 'connected' && previous.everConnected;
  return {
    ...state,
    connection: {
      ...previous,
      state: connection,
      sinceMs: atMs,
      everConnected: previous.everConnected || connection === 'connected',
      reconnects: previous.reconnects + (reconnect ? 1 : 0),
    },
  };
}

function applyDayStart(state: DashboardState, dayStartMs: number): DashboardState {
  if (dayStartMs === state.dayStartMs) return state;
  const hourlyEaqi = new Map<string, ReadonlyMap<number, EaqiLevel>>();
  for (const [deviceId, byHour] of state.hourlyEaqi) {
    const kept = new Map([...byHour].filter(([hour]) => hour >= dayStartMs));
    if (kept.size > 0) hourlyEaqi.set(deviceId, kept);
  }
  return { ...state, dayStartMs, hourlyEaqi };
}
