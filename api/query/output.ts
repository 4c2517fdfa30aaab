/**
 * Shapes of a `/readings` answer: JSON items (the LiveReading shape, plus window counts), CSV
 * (RFC 4180, header row, one column per metric, ISO 8601 UTC times) and NDJSON (one JSON item
 * per line). Numbers are written with JavaScript's shortest round-trip form, so a CSV parses
 * back to exactly the numbers InfluxDB returned.
 */
import type { ReadingItem, ReadingKind } from '../../contracts/index.ts';
import { TAG_OWNER, TAG_SITE, rowToReading } from '../../common/influx-schema.ts';
import type { RawRow } from './raw.ts';
import type { WindowRow } from './windows.ts';

export function rawItem(row: RawRow): ReadingItem {
  const item: ReadingItem = rowToReading(row.kind, row.row);
  const site = row.row[TAG_SITE];
  const owner = row.row[TAG_OWNER];
  if (typeof site === 'string' && site !== '') item.site = site;
  if (typeof owner === 'string' && owner !== '') item.owner = owner;
  return item;
}

export function windowItem(kind: ReadingKind, row: WindowRow, completeness: number | undefined): ReadingItem {
  const values: Record<string, number | boolean> = {};
  let count = 0;
  for (const [metric, value] of Object.entries(row.values)) if (value !== null) values[metric] = value;
  for (const n of Object.values(row.counts)) count = Math.max(count, n);
  return {
    kind,
    deviceId: row.group,
    ts: new Date(row.time).toISOString(),
    values,
    count,
    counts: { ...row.counts },
    ...(completeness === undefined ? {} : { completeness }),
  };
}

/** One CSV cell (RFC 4180 quoting). Free text that a spreadsheet would run as a formula is defused with a leading '. */
export function csvCell(value: unknown, freeText = false): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : String(value);
  if (freeText && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvLine(cells: readonly string[]): string {
  return `${cells.join(',')}\r\n`;
}

export function rawCsvHeader(metrics: readonly string[]): string {
  return csvLine(['time', 'device', 'site', 'owner', ...metrics]);
}

export function rawCsvRow(row: RawRow, metrics: readonly string[]): string {
  const r = row.row;
  const cells = [new Date(row.time).toISOString(), csvCell(row.key[0]), csvCell(r[TAG_SITE], true), csvCell(r[TAG_OWNER], true)];
  for (const m of metrics) cells.push(csvCell(r[m]));
  return csvLine(cells);
}

export function windowCsvHeader(metrics: readonly string[]): string {
  return csvLine(['time', 'device', ...metrics, ...metrics.map((m) => `${m}_count`), 'completeness']);
}

export function windowCsvRow(row: WindowRow, metrics: readonly string[], completeness: number | undefined): string {
  const cells = [new Date(row.time).toISOString(), csvCell(row.group)];
  for (const m of metrics) cells.push(csvCell(row.values[m]));
  for (const m of metrics) cells.push(String(row.counts[m] ?? 0));
  cells.push(completeness === undefined ? '' : String(completeness));
  return csvLine(cells);
}
