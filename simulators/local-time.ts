/**
 * Copenhagen wall-clock time for the device models: rush hours, weekends and collection
 * rounds happen in local time, not UTC.
 *
 * Europe/Copenhagen is CET (UTC+1) with EU summer time (UTC+2) from 01:00 UTC on the last
 * Sunday of March to 01:00 UTC on the last Sunday of October (Directive 2000/84/EC). The
 * rule is computed here rather than through `Intl`, which costs microseconds per call — too
 * much for 20,000 devices reporting every second.
 */

const HOUR_MS = 3_600_000;
export const DAY_MS = 24 * HOUR_MS;

const dstCache = new Map<number, { start: number; end: number }>();

function lastSundayUtc(year: number, month: number): number {
  // Day 0 of the next month is the last day of this one.
  const last = new Date(Date.UTC(year, month + 1, 0));
  return Date.UTC(year, month, last.getUTCDate() - last.getUTCDay());
}

function summerTime(year: number): { start: number; end: number } {
  let bounds = dstCache.get(year);
  if (!bounds) {
    bounds = { start: lastSundayUtc(year, 2) + HOUR_MS, end: lastSundayUtc(year, 9) + HOUR_MS };
    dstCache.set(year, bounds);
  }
  return bounds;
}

/** Offset of Copenhagen local time from UTC at the instant `utcMs`, in ms (1 h or 2 h). */
export function copenhagenOffsetMs(utcMs: number): number {
  const year = new Date(utcMs).getUTCFullYear();
  const { start, end } = summerTime(year);
  return utcMs >= start && utcMs < end ? 2 * HOUR_MS : HOUR_MS;
}

export interface LocalTime {
  /** Local hour of day with fraction, in [0, 24). */
  hour: number;
  /** ISO weekday: 1 = Monday … 7 = Sunday. */
  weekday: number;
  /** Saturday or Sunday. */
  weekend: boolean;
  /** Day of the year, 0-based, with fraction (for seasons). */
  dayOfYear: number;
  /** Days since 1970-01-01 in local time (for schedules that repeat every n days). */
  dayNumber: number;
  /** The local wall clock as if it were UTC, in ms. */
  localMs: number;
  offsetMs: number;
}

/** Copenhagen local calendar facts for a UTC instant. */
export function copenhagenTime(utcMs: number): LocalTime {
  const offsetMs = copenhagenOffsetMs(utcMs);
  const localMs = utcMs + offsetMs;
  const date = new Date(localMs);
  const dayNumber = Math.floor(localMs / DAY_MS);
  const hour = (localMs - dayNumber * DAY_MS) / HOUR_MS;
  const weekday = ((date.getUTCDay() + 6) % 7) + 1;
  const yearStart = Date.UTC(date.getUTCFullYear(), 0, 1);
  return {
    hour,
    weekday,
    weekend: weekday >= 6,
    dayOfYear: (localMs - yearStart) / DAY_MS,
    dayNumber,
    localMs,
    offsetMs,
  };
}

/** ISO 8601 with Copenhagen's offset, as some device firmwares print it: `2026-11-22T13:00:00.000+01:00`. */
export function formatCopenhagenIso(utcMs: number): string {
  const offsetMs = copenhagenOffsetMs(utcMs);
  const local = new Date(utcMs + offsetMs).toISOString().slice(0, -1);
  return `${local}+0${offsetMs / HOUR_MS}:00`;
}
