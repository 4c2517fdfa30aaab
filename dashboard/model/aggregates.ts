/**
 * Lab-wide figures for the overview panels, computed from the state: filters, the EAQI now
 * and today, traffic now by mode, bins by fill. Pure: no DOM.
 */
import type { ReadingKind } from '../../contracts/readings.ts';
import { readingKinds } from '../../contracts/kinds-table.ts';
import {
  BIN_FULL_PERCENT,
  TRAFFIC_MODES,
  healthOf,
  isFireRisk,
  trafficRatesOf,
  type DeviceView,
  type TrafficMode,
} from './device-status.ts';
import { EAQI_POLLUTANTS, EAQI_POLLUTANT_LABELS, bandOf, eaqiLevelOf, eaqiOf, type EaqiLevel, type EaqiPollutant } from './eaqi-colours.ts';
import type { DashboardState } from './state.ts';

export interface Filter {
  kind?: ReadingKind | undefined;
  owner?: string | undefined;
  site?: string | undefined;
}

export function matchesFilter(device: DeviceView, filter: Filter): boolean {
  const { info } = device;
  if (filter.kind && info.kind !== filter.kind) return false;
  if (filter.owner && info.owner !== filter.owner) return false;
  if (filter.site && info.site !== filter.site) return false;
  return true;
}

/** Natural order of ids (air-2 before air-10). One collator: `localeCompare` with options builds one per call. */
const ID_COLLATOR = new Intl.Collator('en', { numeric: true });
export const compareIds = (a: string, b: string): number => ID_COLLATOR.compare(a, b);

/** Per device map (a state), the filtered lists already computed: panels ask for the same ones every frame. */
const filteredCache = new WeakMap<ReadonlyMap<string, DeviceView>, Map<string, readonly DeviceView[]>>();

/** Devices that pass the filter, sorted by kind then id. Memoised per state: do not mutate. */
export function filteredDevices(devices: ReadonlyMap<string, DeviceView>, filter: Filter, kind?: ReadingKind): readonly DeviceView[] {
  const key = `${filter.kind ?? ''}\u0000${filter.owner ?? ''}\u0000${filter.site ?? ''}\u0000${kind ?? ''}`;
  let perState = filteredCache.get(devices);
  if (!perState) filteredCache.set(devices, (perState = new Map()));
  const cached = perState.get(key);
  if (cached) return cached;
  const result: DeviceView[] = [];
  for (const device of devices.values()) {
    if (kind && device.info.kind !== kind) continue;
    if (matchesFilter(device, filter)) result.push(device);
  }
  result.sort(compareDevices);
  perState.set(key, result);
  return result;
}

/** Devices by kind (in the catalogue's order: built-in kinds first), then by id. */
export function compareDevices(a: DeviceView, b: DeviceView): number {
  return kindRank(a.info.kind) - kindRank(b.info.kind) || compareIds(a.info.id, b.info.id);
}

function kindRank(kind: ReadingKind): number {
  const rank = readingKinds().indexOf(kind);
  return rank < 0 ? Number.MAX_SAFE_INTEGER : rank;
}

/** The owners and sites the filter menus offer (from the registry; empty without it). */
export function filterOptions(devices: ReadonlyMap<string, DeviceView>): { owners: string[]; sites: string[] } {
  const owners = new Set<string>();
  const sites = new Set<string>();
  for (const { info } of devices.values()) {
    if (info.owner) owners.add(info.owner);
    if (info.site) sites.add(info.site);
  }
  const sort = (values: Set<string>) => [...values].sort(compareIds);
  return { owners: sort(owners), sites: sort(sites) };
}

export interface PollutantNow {
  pollutant: EaqiPollutant;
  level: EaqiLevel;
  /** The highest concentration among reporting devices, µg/m³. */
  value: number;
  deviceId: string;
}

export interface EaqiNow {
  /** Worst level over online air devices; undefined when none reports an EAQI pollutant. */
  level?: EaqiLevel | undefined;
  dominant?: EaqiPollutant | undefined;
  /** Devices counted (online, reporting at least one EAQI pollutant). */
  reporting: number;
  /** Air devices in the filter that are offline or have no data. */
  silent: number;
  /** Devices per level (index 0 = level 1). */
  distribution: [number, number, number, number, number, number];
  byPollutant: PollutantNow[];
}

export function eaqiNow(devices: readonly DeviceView[], nowMs: number): EaqiNow {
  const result: EaqiNow = { reporting: 0, silent: 0, distribution: [0, 0, 0, 0, 0, 0], byPollutant: [] };
  const worst = new Map<EaqiPollutant, PollutantNow>();
  for (const device of devices) {
    if (device.info.kind !== 'air') continue;
    if (healthOf(device, nowMs) !== 'online' || !device.latest) {
      result.silent += 1;
      continue;
    }
    const eaqi = eaqiOf(device.latest.values);
    if (!eaqi) continue;
    result.reporting += 1;
    result.distribution[eaqi.level - 1]! += 1;
    if (result.level === undefined || eaqi.level > result.level) {
      result.level = eaqi.level;
      result.dominant = eaqi.dominant;
    }
    for (const pollutant of EAQI_POLLUTANTS) {
      const value = device.latest.values[pollutant];
      const level = eaqiLevelOf(pollutant, value);
      if (level === undefined || typeof value !== 'number') continue;
      const current = worst.get(pollutant);
      if (!current || value > current.value) worst.set(pollutant, { pollutant, level, value, deviceId: device.info.id });
    }
  }
  result.byPollutant = EAQI_POLLUTANTS.flatMap((p) => (worst.has(p) ? [worst.get(p)!] : []));
  return result;
}

/** Worst level per hour of today (24 slots from local midnight), across the given devices. */
export function eaqiToday(state: Pick<DashboardState, 'dayStartMs' | 'hourlyEaqi'>, deviceIds: Iterable<string>): (EaqiLevel | undefined)[] {
  const hours: (EaqiLevel | undefined)[] = new Array(24).fill(undefined);
  for (const id of deviceIds) {
    const byHour = state.hourlyEaqi.get(id);
    if (!byHour) continue;
    for (const [hourStart, level] of byHour) {
      // Hours from midnight; a DST day has 23 or 25, the 25th folds into the last slot.
      const slot = Math.min(23, Math.floor((hourStart - state.dayStartMs) / 3_600_000));
      if (slot < 0) continue;
      const current = hours[slot];
      if (current === undefined || level > current) hours[slot] = level;
    }
  }
  return hours;
}

export interface TrafficNow {
  /** Road users per hour by mode, summed over online counters (count ÷ period). */
  perHour: Record<TrafficMode, number>;
  total: number;
  /** Mean speed over counters that report one, weighted by their vehicle counts, km/h. */
  meanSpeed?: number | undefined;
  reporting: number;
  silent: number;
}

export function trafficNow(devices: readonly DeviceView[], nowMs: number): TrafficNow {
  const perHour = Object.fromEntries(TRAFFIC_MODES.map((m) => [m, 0])) as Record<TrafficMode, number>;
  let reporting = 0;
  let silent = 0;
  let speedSum = 0;
  let speedWeight = 0;
  for (const device of devices) {
    if (device.info.kind !== 'traffic') continue;
    // Rates over the counter's rolling window, not its last few-second count (device-status.ts).
    const rates = healthOf(device, nowMs) === 'online' ? trafficRatesOf(device) : undefined;
    if (!rates) {
      silent += 1;
      continue;
    }
    reporting += 1;
    for (const mode of TRAFFIC_MODES) perHour[mode] += rates[mode] ?? 0;
    // Speed is the latest period's, weighted by the vehicles counted in that period.
    const speed = device.latest?.values.speed;
    if (typeof speed === 'number') {
      let vehicles = 0;
      for (const mode of TRAFFIC_MODES) {
        const count = device.latest?.values[mode];
        if (mode !== 'pedestrians' && typeof count === 'number') vehicles += count;
      }
      const weight = Math.max(1, vehicles);
      speedSum += speed * weight;
      speedWeight += weight;
    }
  }
  const total = TRAFFIC_MODES.reduce((sum, m) => sum + perHour[m], 0);
  return { perHour, total, meanSpeed: speedWeight > 0 ? speedSum / speedWeight : undefined, reporting, silent };
}

export interface BinRow {
  device: DeviceView;
  fill: number;
  full: boolean;
  fireRisk: boolean;
  temperature?: number | undefined;
}

/** Bins with a fill reading, fullest first; fire risks first of all. */
export function binsByFill(devices: readonly DeviceView[]): BinRow[] {
  const rows: BinRow[] = [];
  for (const device of devices) {
    if (device.info.kind !== 'waste') continue;
    const fill = device.latest?.values.fill;
    if (typeof fill !== 'number') continue;
    const temperature = device.latest?.values.temperature;
    rows.push({
      device,
      fill,
      full: fill > BIN_FULL_PERCENT,
      fireRisk: isFireRisk(device.latest),
      temperature: typeof temperature === 'number' ? temperature : undefined,
    });
  }
  return rows.sort((a, b) => Number(b.fireRisk) - Number(a.fireRisk) || b.fill - a.fill || compareIds(a.device.info.id, b.device.info.id));
}

/** Online / offline / no-data counts for the header. */
export function healthCounts(devices: readonly DeviceView[], nowMs: number): Record<'online' | 'offline' | 'nodata' | 'disabled', number> {
  const counts = { online: 0, offline: 0, nodata: 0, disabled: 0 };
  for (const device of devices) counts[healthOf(device, nowMs)] += 1;
  return counts;
}

export interface AttentionItem {
  device: DeviceView;
  severity: 'critical' | 'warning' | 'info';
  /** Short machine-readable reason (tests, CSS). */
  reason: 'fire-risk' | 'offline' | 'bin-full' | 'air-poor' | 'battery-low' | 'no-data';
  text: string;
}

/** Battery (%) below which a device needs a visit soon. */
export const BATTERY_LOW_PERCENT = 15;

/** What needs a person's attention, most urgent first: the map page's side list. */
export function attentionItems(devices: readonly DeviceView[], nowMs: number): AttentionItem[] {
  const items: AttentionItem[] = [];
  const rank = { critical: 0, warning: 1, info: 2 } as const;
  for (const device of devices) {
    const health = healthOf(device, nowMs);
    const reading = device.latest;
    if (isFireRisk(reading)) {
      items.push({ device, severity: 'critical', reason: 'fire-risk', text: `Fire risk: ${Math.round(Number(reading?.values.temperature))} °C inside the bin` });
    }
    if (health === 'offline') {
      const silentMin = device.lastHeardMs === undefined ? 0 : Math.round((nowMs - device.lastHeardMs) / 60_000);
      items.push({ device, severity: 'warning', reason: 'offline', text: `Offline: silent for ${silentMin} min (reports every ${device.info.intervalSeconds} s)` });
      continue;
    }
    if (health === 'nodata') {
      items.push({ device, severity: 'info', reason: 'no-data', text: 'Registered but has not reported yet' });
      continue;
    }
    const fill = reading?.values.fill;
    if (typeof fill === 'number' && fill > BIN_FULL_PERCENT) {
      items.push({ device, severity: 'warning', reason: 'bin-full', text: `Bin ${Math.round(fill)} % full: empty soon` });
    }
    if (device.info.kind === 'air' && reading) {
      const eaqi = eaqiOf(reading.values);
      if (eaqi && eaqi.level >= 4) {
        items.push({ device, severity: eaqi.level >= 5 ? 'critical' : 'warning', reason: 'air-poor', text: `Air quality ${bandOf(eaqi.level).label.toLowerCase()} (${EAQI_POLLUTANT_LABELS[eaqi.dominant]})` });
      }
    }
    if (reading?.battery !== undefined && reading.battery < BATTERY_LOW_PERCENT) {
      items.push({ device, severity: 'info', reason: 'battery-low', text: `Battery low: ${Math.round(reading.battery)} %` });
    }
  }
  return items.sort((a, b) => rank[a.severity] - rank[b.severity] || compareIds(a.device.info.id, b.device.info.id));
}
