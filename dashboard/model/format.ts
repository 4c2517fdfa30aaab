/**
 * Formatting of numbers, units, times and ages for display. Pure (no DOM) and locale-stable
 * (en-GB digits) so what a test asserts is what a person reads.
 */
import type { ReadingKind } from '../../contracts/readings.ts';
import { kindDisplayOf, unitsOf } from '../../contracts/kinds-table.ts';

/** Human names of contract fields (the contract names stay visible in tooltips and links). */
export const METRIC_LABELS: Readonly<Record<string, string>> = {
  pm1: 'PM1',
  pm25: 'PM2.5',
  pm10: 'PM10',
  no2: 'NO₂',
  o3: 'O₃',
  so2: 'SO₂',
  co: 'CO',
  temperature: 'Temperature',
  humidity: 'Humidity',
  pressure: 'Pressure',
  noise: 'Noise',
  period: 'Count period',
  cars: 'Cars',
  buses: 'Buses',
  trucks: 'Trucks',
  bicycles: 'Bicycles',
  pedestrians: 'Pedestrians',
  speed: 'Mean speed',
  occupancy: 'Occupancy',
  fill: 'Fill level',
  lidOpen: 'Lid',
  tilt: 'Tilt',
  weight: 'Weight',
  seq: 'Sequence',
  battery: 'Battery',
  rssi: 'Signal',
};

/** The built-in kinds' labels; kindLabel() answers for every kind. */
export const KIND_LABELS: Readonly<Record<ReadingKind, string>> = {
  air: 'Air quality',
  traffic: 'Traffic',
  waste: 'Waste bins',
};

/** Singular noun for one device of a kind. */
export const KIND_NOUNS: Readonly<Record<ReadingKind, string>> = {
  air: 'air sensor',
  traffic: 'traffic counter',
  waste: 'waste bin',
};

/** A kind's display name: its definition's (GET /api/v1/kinds), else its id. */
export function kindLabel(kind: ReadingKind): string {
  return KIND_LABELS[kind] ?? kindDisplayOf(kind)?.name ?? kind;
}

/** Singular noun for one device of a kind ("soil sensor" for a kind named "Soil"). */
export function kindNoun(kind: ReadingKind): string {
  return KIND_NOUNS[kind] ?? `${kindLabel(kind).toLowerCase()} sensor`;
}

export function metricLabel(metric: string): string {
  return METRIC_LABELS[metric] ?? metric;
}

/** The contract unit of a metric, '' when it has none (counts, booleans are unitless). */
export function unitOf(kind: ReadingKind, metric: string): string {
  // seq's description is prose ("device's message counter"), not a unit.
  if (metric === 'seq') return '';
  const unit = unitsOf(kind)[metric];
  if (unit === undefined || unit === 'count' || unit === 'bool') return '';
  return unit;
}

/** Axis label: "PM2.5 (µg/m³)", or just the name for unitless metrics. */
export function axisLabel(kind: ReadingKind, metric: string): string {
  const unit = unitOf(kind, metric);
  return unit ? `${metricLabel(metric)} (${unit})` : metricLabel(metric);
}

const numberFormats = new Map<number, Intl.NumberFormat>();
function numberFormat(fractionDigits: number): Intl.NumberFormat {
  let format = numberFormats.get(fractionDigits);
  if (!format) {
    format = new Intl.NumberFormat('en-GB', { minimumFractionDigits: fractionDigits, maximumFractionDigits: fractionDigits });
    numberFormats.set(fractionDigits, format);
  }
  return format;
}

/**
 * A number with precision that suits its size: 0.042 → "0.042", 3.14159 → "3.1",
 * 1234.5 → "1,235". Missing values are an en dash.
 */
export function formatNumber(value: number | undefined | null, fractionDigits?: number): string {
  if (value === undefined || value === null || !Number.isFinite(value)) return '–';
  if (fractionDigits !== undefined) return numberFormat(fractionDigits).format(value);
  const magnitude = Math.abs(value);
  const digits = magnitude === 0 || Number.isInteger(value) ? 0 : magnitude < 1 ? 3 : magnitude < 100 ? 1 : 0;
  return numberFormat(digits).format(value);
}

/** A value with its unit as a person reads it: "12.3 µg/m³", "42 %", "Open". */
export function formatValue(kind: ReadingKind, metric: string, value: number | boolean | undefined): string {
  if (value === undefined) return '–';
  if (typeof value === 'boolean') {
    if (metric === 'lidOpen') return value ? 'Open' : 'Closed';
    return value ? 'Yes' : 'No';
  }
  const unit = unitOf(kind, metric);
  const text = formatNumber(value);
  return unit ? `${text} ${unit}` : text;
}

/** Compact count: 950 → "950", 12_400 → "12.4k", 3_200_000 → "3.2M". */
export function formatCompact(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const magnitude = Math.abs(value);
  if (magnitude < 1_000) return formatNumber(Math.round(value));
  if (magnitude < 1_000_000) return `${formatNumber(value / 1_000, magnitude < 10_000 ? 1 : 0)}k`;
  return `${formatNumber(value / 1_000_000, 1)}M`;
}

/** How long ago, from seconds: "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago". */
export function formatAge(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return 'never';
  const s = Math.max(0, Math.round(seconds));
  if (s < 2) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3_600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3_600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

/** A span of time: 45 s, 12 min, 3 h 20 min, 2 d 4 h. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 === 0 ? `${hours} h` : `${hours} h ${minutes % 60} min`;
  const days = Math.floor(hours / 24);
  return hours % 24 === 0 ? `${days} d` : `${days} d ${hours % 24} h`;
}

const clockFormats = new Map<string, Intl.DateTimeFormat>();
/** Wall-clock time "14:05:09" in the viewer's zone (or `timeZone`, for tests). */
export function formatClock(ms: number, timeZone?: string): string {
  const key = timeZone ?? '';
  let format = clockFormats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', ...(timeZone ? { timeZone } : {}) });
    clockFormats.set(key, format);
  }
  return format.format(ms);
}

const dateTimeFormats = new Map<string, Intl.DateTimeFormat>();
/** "12 Mar, 14:05:09" — for events that may be from another day. */
export function formatDateTime(ms: number, timeZone?: string): string {
  const key = timeZone ?? '';
  let format = dateTimeFormats.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', {
      day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
      ...(timeZone ? { timeZone } : {}),
    });
    dateTimeFormats.set(key, format);
  }
  return format.format(ms);
}

/** Signal strength in words, from RSSI in dBm (LoRa/NB-IoT/Wi-Fi rules of thumb). */
export function signalQuality(rssi: number | undefined): { bars: 0 | 1 | 2 | 3 | 4; label: string } {
  if (rssi === undefined || !Number.isFinite(rssi)) return { bars: 0, label: 'unknown' };
  if (rssi >= -70) return { bars: 4, label: 'excellent' };
  if (rssi >= -85) return { bars: 3, label: 'good' };
  if (rssi >= -100) return { bars: 2, label: 'fair' };
  if (rssi >= -115) return { bars: 1, label: 'weak' };
  return { bars: 0, label: 'very weak' };
}

/** "3 devices", "1 device". */
export function plural(count: number, noun: string, nouns = `${noun}s`): string {
  return `${formatNumber(count)} ${count === 1 ? noun : nouns}`;
}

/** Shortens a payload excerpt for one line, keeping its start (where the problem usually is). */
export function truncate(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, Math.max(0, maxChars - 1))}…`;
}

const HOUR_MINUTE = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const DAY_MONTH = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short' });

/**
 * Time axis labels in the 24-hour clock people in the lab's city read: "14:30", with the
 * date under the first tick and under each midnight; dates alone for day-sized steps.
 */
export function timeTicks(splits: readonly number[], incrementSeconds: number, timeZone?: string): string[] {
  const hourMinute = timeZone ? new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone }) : HOUR_MINUTE;
  const dayMonth = timeZone ? new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', timeZone }) : DAY_MONTH;
  let previousDay = '';
  return splits.map((seconds, i) => {
    const ms = seconds * 1000;
    const day = dayMonth.format(ms);
    if (incrementSeconds >= 86_400) return day;
    const time = hourMinute.format(ms);
    const newDay = i === 0 || day !== previousDay;
    previousDay = day;
    return newDay ? `${time}\n${day}` : time;
  });
}
