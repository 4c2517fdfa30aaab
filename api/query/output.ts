/**
 * Shapes of a `/readings` answer: JSON items (the LiveReading shape, plus window counts), CSV
 * (RFC 4180, header row, one column per metric, ISO 8601 UTC times), NDJSON (one JSON item
 * per line) and the columns of a Parquet file (api/query/parquet.ts). Numbers are written with
 * JavaScript's shortest round-trip form, so a CSV parses back to exactly the numbers InfluxDB
 * returned.
 *
 * Which columns a row has is decided here, once, for every format: `RowShape` says whether the
 * registry's `owner` travels (open-data shaping withholds it from anonymous callers), and the
 * CSV header, CSV rows, JSON items and Parquet columns all follow it.
 */
import type { ReadingItem, ReadingKind } from '../../contracts/index.ts';
import { TAG_DEVICE, TAG_OWNER, TAG_SITE, rowToReading } from '../../common/influx-schema.ts';
import { rawCell, rowRecord, seriesTagOf, type RawLayout, type RawRow } from './raw.ts';
import type { WindowRow } from './windows.ts';

/** The identifying columns an answer carries besides time and device. */
export interface RowShape {
  /** The device owner from the registry (off for open data served anonymously). */
  owner: boolean;
}

export const FULL_ROW_SHAPE: RowShape = { owner: true };

/** Positions of the series tags in SERIES_TAGS (device, site, owner). */
const DEVICE_TAG = 0;
const SITE_TAG = 1;
const OWNER_TAG = 2;

export function rawItem(row: RawRow, shape: RowShape = FULL_ROW_SHAPE): ReadingItem {
  const item: ReadingItem = rowToReading(row.kind, rowRecord(row));
  const site = rawCell(row, TAG_SITE);
  const owner = shape.owner ? rawCell(row, TAG_OWNER) : undefined;
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

/** The identifying columns of a raw row, in order. */
export function rawIdColumns(shape: RowShape = FULL_ROW_SHAPE): string[] {
  return shape.owner ? [TAG_DEVICE, TAG_SITE, TAG_OWNER] : [TAG_DEVICE, TAG_SITE];
}

export function rawCsvHeader(metrics: readonly string[], shape: RowShape = FULL_ROW_SHAPE): string {
  return csvLine(['time', ...rawIdColumns(shape), ...metrics]);
}

/** A metric cell: numbers in shortest round-trip form, booleans as true/false, absent empty. */
function valueCell(value: unknown): string {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (value === null || value === undefined) return '';
  return typeof value === 'boolean' ? (value ? 'true' : 'false') : csvCell(value, true);
}

/** Remembers the cells of recent values: tag values and times repeat row after row. */
class CellCache {
  private readonly cells = new Map<string, string>();
  constructor(
    private readonly format: (value: string) => string,
    private readonly max = 10_000,
  ) {}

  get(value: string): string {
    let cell = this.cells.get(value);
    if (cell === undefined) {
      // Bounded: an export over many series must not grow memory with them.
      if (this.cells.size >= this.max) this.cells.clear();
      cell = this.format(value);
      this.cells.set(value, cell);
    }
    return cell;
  }
}

/**
 * A writer of raw CSV rows for one export: the same text as csvCell/csvLine cell by cell, with
 * what repeats (a millisecond's ISO time, tag cells, where each metric is in a series' row)
 * worked out once instead of per row.
 */
export function rawCsvWriter(metrics: readonly string[], shape: RowShape = FULL_ROW_SHAPE): (row: RawRow) => string {
  const ids = new CellCache((v) => csvCell(v));
  const tags = new CellCache((v) => csvCell(v, true));
  let lastTime = NaN;
  let timeCell = '';
  let layout: RawLayout | undefined;
  let metricIndexes: number[] = [];
  return (row) => {
    if (row.time !== lastTime) {
      lastTime = row.time;
      timeCell = new Date(row.time).toISOString();
    }
    if (row.layout !== layout) {
      layout = row.layout;
      metricIndexes = metrics.map((m) => layout!.index.get(m) ?? -1);
    }
    let line = `${timeCell},${ids.get(seriesTagOf(row, DEVICE_TAG))},${tags.get(seriesTagOf(row, SITE_TAG))}`;
    if (shape.owner) line += `,${tags.get(seriesTagOf(row, OWNER_TAG))}`;
    const { values } = row;
    for (let i = 0; i < metricIndexes.length; i++) {
      const at = metricIndexes[i]!;
      line += at >= 0 ? `,${valueCell(values[at])}` : `,${valueCell(row.layout.tags?.[metrics[i]!])}`;
    }
    return `${line}\r\n`;
  };
}

export function rawCsvRow(row: RawRow, metrics: readonly string[], shape: RowShape = FULL_ROW_SHAPE): string {
  return rawCsvWriter(metrics, shape)(row);
}

/** The count column beside each window aggregate. */
export function countColumn(metric: string): string {
  return `${metric}_count`;
}

export function windowCsvHeader(metrics: readonly string[]): string {
  return csvLine(['time', 'device', ...metrics, ...metrics.map(countColumn), 'completeness']);
}

export function windowCsvRow(row: WindowRow, metrics: readonly string[], completeness: number | undefined): string {
  const cells = [new Date(row.time).toISOString(), csvCell(row.group)];
  for (const m of metrics) cells.push(csvCell(row.values[m]));
  for (const m of metrics) cells.push(String(row.counts[m] ?? 0));
  cells.push(completeness === undefined ? '' : String(completeness));
  return csvLine(cells);
}
