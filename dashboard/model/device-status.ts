/**
 * What state a device is in and how the map and lists show it: online/offline from the
 * declared reporting interval, marker colour by kind (EAQI for air, fill for bins, flow for
 * traffic counters), and the warnings that need a person (full bin, fire risk).
 * Pure: no DOM.
 */
import type { LiveReading } from '../../contracts/live.ts';
import type { ReadingKind } from '../../contracts/readings.ts';
import type { DeviceSource } from '../../contracts/device-sources.ts';
import { bandOf, eaqiOf, type EaqiLevel } from './eaqi-colours.ts';

/** Reporting interval assumed for devices the registry does not know. */
export const DEFAULT_INTERVAL_S = 60;
/** A device is offline when not heard for more than this many declared intervals. */
export const OFFLINE_INTERVALS = 3;
/** Bin fill (%) above which a bin needs emptying. */
export const BIN_FULL_PERCENT = 80;
/** Bin temperature (°C) at or above which there is a fire risk. */
export const FIRE_RISK_CELSIUS = 60;

export type Health = 'online' | 'offline' | 'nodata' | 'disabled';

const SOURCE_LABELS: Record<DeviceSource, string> = { mqtt: 'MQTT', http: 'HTTP', ttn: 'The Things Stack', chirpstack: 'ChirpStack', airrohr: 'Sensor.Community' };

/** How a device sends, for people: "via The Things Stack"; a device without a source sends MQTT. */
export function sourceLabel(source: DeviceSource | undefined): string {
  return `via ${SOURCE_LABELS[source ?? 'mqtt']}`;
}

export interface DeviceInfo {
  id: string;
  kind: ReadingKind;
  name: string;
  owner?: string | undefined;
  site?: string | undefined;
  lat?: number | undefined;
  lon?: number | undefined;
  /** How it sends (contracts/device-sources.ts); undefined = MQTT. */
  source?: DeviceSource | undefined;
  /** Declared reporting interval in s (DEFAULT_INTERVAL_S when unknown). */
  intervalSeconds: number;
  enabled: boolean;
  /** False for devices only seen in readings (the registry does not list them). */
  registered: boolean;
}

/** One traffic count kept for the rolling window: when, over how long, and what. */
export interface TrafficSample {
  tsMs: number;
  periodS: number;
  counts: Partial<Record<TrafficMode, number>>;
}

/**
 * How far back "traffic now" looks. Counters that report every few seconds count 0 or 1
 * vehicles per period, so one reading alone jumps between 0 and 1,800/h; five minutes of
 * counts give a rate a person can read, and still follow the rush hour.
 */
export const TRAFFIC_WINDOW_MS = 5 * 60_000;
/** Most samples kept per counter (a counter reporting every second fills 5 minutes with 300). */
export const TRAFFIC_WINDOW_MAX_SAMPLES = 300;

export interface DeviceView {
  info: DeviceInfo;
  /** Traffic counters: the counts of the last TRAFFIC_WINDOW_MS, oldest first. */
  trafficWindow?: readonly TrafficSample[] | undefined;
  /** The newest reading by measurement time. */
  latest?: LiveReading | undefined;
  latestTsMs?: number | undefined;
  /** When the lab last heard from the device (receive time of its newest message), ms. */
  lastHeardMs?: number | undefined;
}

export function offlineAfterMs(info: Pick<DeviceInfo, 'intervalSeconds'>): number {
  return OFFLINE_INTERVALS * (info.intervalSeconds > 0 ? info.intervalSeconds : DEFAULT_INTERVAL_S) * 1000;
}

export function healthOf(device: DeviceView, nowMs: number): Health {
  if (!device.info.enabled) return 'disabled';
  if (device.lastHeardMs === undefined) return 'nodata';
  return nowMs - device.lastHeardMs > offlineAfterMs(device.info) ? 'offline' : 'online';
}

export const HEALTH_LABELS: Readonly<Record<Health, string>> = {
  online: 'Online',
  offline: 'Offline',
  nodata: 'No data yet',
  disabled: 'Disabled',
};

/** A traffic reading as a window sample, or undefined when it has no usable period. */
export function trafficSampleOf(reading: LiveReading): TrafficSample | undefined {
  if (reading.kind !== 'traffic') return undefined;
  const period = reading.values.period;
  const tsMs = Date.parse(reading.ts);
  if (typeof period !== 'number' || period <= 0 || !Number.isFinite(tsMs)) return undefined;
  const counts: Partial<Record<TrafficMode, number>> = {};
  for (const mode of TRAFFIC_MODES) {
    const count = reading.values[mode];
    if (typeof count === 'number') counts[mode] = count;
  }
  return { tsMs, periodS: period, counts };
}

/** The window with `sample` added: within TRAFFIC_WINDOW_MS of the newest sample, oldest first, capped. */
export function addTrafficSample(window: readonly TrafficSample[] | undefined, sample: TrafficSample): TrafficSample[] {
  const all = [...(window ?? [])];
  // Readings arrive in time order almost always: insert from the end instead of sorting.
  let at = all.length;
  while (at > 0 && all[at - 1]!.tsMs > sample.tsMs) at -= 1;
  all.splice(at, 0, sample);
  const newest = all[all.length - 1]!.tsMs;
  let first = Math.max(0, all.length - TRAFFIC_WINDOW_MAX_SAMPLES);
  while (first < all.length && all[first]!.tsMs <= newest - TRAFFIC_WINDOW_MS) first += 1;
  return first === 0 ? all : all.slice(first);
}

/**
 * Road users per hour by mode: the counts of the device's rolling window over the time they
 * cover (the latest reading alone when there is no window), or undefined without counts.
 */
export function trafficRatesOf(device: Pick<DeviceView, 'latest' | 'trafficWindow'>): Partial<Record<TrafficMode, number>> | undefined {
  const latest = device.latest ? trafficSampleOf(device.latest) : undefined;
  const samples = device.trafficWindow && device.trafficWindow.length > 0 ? device.trafficWindow : latest ? [latest] : [];
  let seconds = 0;
  const totals: Partial<Record<TrafficMode, number>> = {};
  for (const sample of samples) {
    seconds += sample.periodS;
    for (const mode of TRAFFIC_MODES) {
      const count = sample.counts[mode];
      if (count !== undefined) totals[mode] = (totals[mode] ?? 0) + count;
    }
  }
  if (seconds <= 0 || Object.keys(totals).length === 0) return undefined;
  const rates: Partial<Record<TrafficMode, number>> = {};
  for (const mode of TRAFFIC_MODES) if (totals[mode] !== undefined) rates[mode] = (totals[mode]! * 3600) / seconds;
  return rates;
}

/** Road users per hour of a traffic counter (all modes, rolling window), or undefined. */
export function flowPerHour(device: Pick<DeviceView, 'latest' | 'trafficWindow'> | LiveReading | undefined): number | undefined {
  if (!device) return undefined;
  const view = 'kind' in device ? { latest: device } : device;
  if (view.latest?.kind !== 'traffic') return undefined;
  const rates = trafficRatesOf(view);
  return rates ? Object.values(rates).reduce((sum, r) => sum + r, 0) : undefined;
}

export const TRAFFIC_MODES = ['cars', 'buses', 'trucks', 'bicycles', 'pedestrians'] as const;
export type TrafficMode = (typeof TRAFFIC_MODES)[number];

export interface FlowBand { max: number; label: string; colour: string; ink: string }
/** Traffic flow classes (road users per hour), a sequential blue scale distinct from the EAQI colours. */
export const FLOW_BANDS: readonly FlowBand[] = [
  { max: 300, label: 'Light (< 300/h)', colour: '#C6DBEF', ink: '#0B2530' },
  { max: 900, label: 'Moderate (300–900/h)', colour: '#6BAED6', ink: '#0B2530' },
  { max: 1800, label: 'Busy (900–1,800/h)', colour: '#2171B5', ink: '#FFFFFF' },
  { max: Number.POSITIVE_INFINITY, label: 'Heavy (> 1,800/h)', colour: '#08306B', ink: '#FFFFFF' },
];

export function flowBandOf(perHour: number): FlowBand {
  return FLOW_BANDS.find((band) => perHour <= band.max) ?? FLOW_BANDS[FLOW_BANDS.length - 1]!;
}

export interface FillBand { max: number; label: string; colour: string; ink: string }
/** Bin fill classes: room / filling / full (over BIN_FULL_PERCENT). */
export const FILL_BANDS: readonly FillBand[] = [
  { max: 50, label: 'Room (≤ 50 %)', colour: '#4CAF7A', ink: '#0B2530' },
  { max: BIN_FULL_PERCENT, label: 'Filling (50–80 %)', colour: '#F2B441', ink: '#0B2530' },
  { max: Number.POSITIVE_INFINITY, label: 'Full (> 80 %)', colour: '#D64545', ink: '#FFFFFF' },
];

export function fillBandOf(fillPercent: number): FillBand {
  return FILL_BANDS.find((band) => fillPercent <= band.max) ?? FILL_BANDS[FILL_BANDS.length - 1]!;
}

export function isBinFull(reading: LiveReading | undefined): boolean {
  const fill = reading?.values.fill;
  return typeof fill === 'number' && fill > BIN_FULL_PERCENT;
}

export function isFireRisk(reading: LiveReading | undefined): boolean {
  const temperature = reading?.kind === 'waste' ? reading.values.temperature : undefined;
  return typeof temperature === 'number' && temperature >= FIRE_RISK_CELSIUS;
}

export const OFFLINE_COLOUR = '#A7B0BA';
export const NODATA_COLOUR = '#E3E7EC';

export interface MarkerStyle {
  health: Health;
  fill: string;
  ink: string;
  /** Short state text for the marker's label and tooltip: "Fair", "64 % full", "820 /h". */
  summary: string;
  /** Something needs a person. */
  warning?: 'fire' | 'full' | undefined;
  eaqiLevel?: EaqiLevel | undefined;
}

/** How one device's marker looks now. */
export function markerStyleOf(device: DeviceView, nowMs: number): MarkerStyle {
  const health = healthOf(device, nowMs);
  const reading = device.latest;
  let style: MarkerStyle = { health, fill: NODATA_COLOUR, ink: '#33404D', summary: HEALTH_LABELS[health] };
  if (reading) {
    if (device.info.kind === 'air') {
      const eaqi = eaqiOf(reading.values);
      if (eaqi) {
        const band = bandOf(eaqi.level);
        style = { health, fill: band.colour, ink: band.ink, summary: band.label, eaqiLevel: eaqi.level };
      } else {
        style = { ...style, summary: 'No EAQI pollutant' };
      }
    } else if (device.info.kind === 'waste') {
      const fill = reading.values.fill;
      if (typeof fill === 'number') {
        const band = fillBandOf(fill);
        style = { health, fill: band.colour, ink: band.ink, summary: `${Math.round(fill)} % full` };
        if (isBinFull(reading)) style.warning = 'full';
      }
      if (isFireRisk(reading)) style.warning = 'fire';
    } else {
      const flow = flowPerHour(device);
      if (flow !== undefined) {
        const band = flowBandOf(flow);
        style = { health, fill: band.colour, ink: band.ink, summary: `${Math.round(flow).toLocaleString('en-GB')} /h` };
      }
    }
  }
  if (health === 'offline' || health === 'disabled') {
    // Greyed, but a fire risk stays visible: a stale alarm is still an alarm to check.
    style = { ...style, fill: OFFLINE_COLOUR, ink: '#1D2733', summary: `${HEALTH_LABELS[health]} · last: ${style.summary}` };
  }
  return style;
}
