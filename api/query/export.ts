/**
 * The bodies of streamed exports: CSV, NDJSON and Parquet from the rows of a raw or windowed
 * export (api/query/readings.ts reads them, honouring `limit` and the cursor). Text is sent in
 * pieces of about FLUSH_BYTES: big enough that the per-piece costs (an async step, a socket
 * write) vanish beside the rows, small enough that memory stays flat. Parquet goes out a row
 * group at a time (api/query/parquet.ts).
 */
import type { ReadingKind, ReadingsFormat } from '../../contracts/index.ts';
import { TAG_DEVICE } from '../../common/influx-schema.ts';
import { isBooleanMetric } from './params.ts';
import {
  countColumn,
  rawCsvHeader,
  rawCsvWriter,
  rawIdColumns,
  rawItem,
  windowCsvHeader,
  windowCsvRow,
  windowItem,
  type RowShape,
} from './output.ts';
import { PARQUET_CONTENT_TYPE, parquetFile, typedCell, type ParquetColumn } from './parquet.ts';
import { rawCell, type RawRow } from './raw.ts';
import type { WindowRow } from './windows.ts';

/** Text is handed to the socket in pieces of about this size. */
export const FLUSH_BYTES = 256 * 1024;

export type ExportFormat = Exclude<ReadingsFormat, 'json'>;

export const EXPORT_CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
  parquet: PARQUET_CONTENT_TYPE,
};

/** A window with its completeness, as an export writes it. */
export interface WindowExportRow {
  row: WindowRow;
  completeness: number | undefined;
}

/** Key-value metadata a Parquet footer carries (the JSON answer's `meta`, the next cursor). */
export type FooterMetadata = () => Record<string, string>;

/** Joins text rows into pieces of about FLUSH_BYTES. */
async function* textPieces<Row>(header: string, rows: AsyncIterable<readonly Row[]>, line: (row: Row) => string): AsyncGenerator<string> {
  let out = header;
  for await (const batch of rows) {
    for (const row of batch) {
      out += line(row);
      if (out.length >= FLUSH_BYTES) {
        yield out;
        out = '';
      }
    }
  }
  if (out.length > 0) yield out;
}

/** The type of a metric's column: BOOLEAN for true/false metrics (unless counted), DOUBLE otherwise. */
function metricType(kind: ReadingKind, metric: string, counted = false): 'boolean' | 'double' {
  return !counted && isBooleanMetric(kind, metric) ? 'boolean' : 'double';
}

export function rawParquetColumns(kind: ReadingKind, metrics: readonly string[], shape: RowShape): ParquetColumn[] {
  return [
    { name: 'time', type: 'timestamp', required: true },
    ...rawIdColumns(shape).map((name): ParquetColumn => ({ name, type: 'string', required: name === TAG_DEVICE })),
    ...metrics.map((name): ParquetColumn => ({ name, type: metricType(kind, name) })),
  ];
}

export function windowParquetColumns(kind: ReadingKind, metrics: readonly string[], counted: boolean): ParquetColumn[] {
  return [
    { name: 'time', type: 'timestamp', required: true },
    { name: 'device', type: 'string', required: true },
    ...metrics.map((name): ParquetColumn => ({ name, type: metricType(kind, name, counted) })),
    ...metrics.map((name): ParquetColumn => ({ name: countColumn(name), type: 'int32', required: true })),
    { name: 'completeness', type: 'double' },
  ];
}

export interface RawExportOptions {
  format: ExportFormat;
  kind: ReadingKind;
  /** Metric columns (CSV, Parquet); NDJSON items carry what each reading has. */
  metrics: readonly string[];
  shape: RowShape;
  rows: AsyncIterable<readonly RawRow[]>;
  metadata: FooterMetadata;
}

export function rawExportBody(options: RawExportOptions): AsyncIterable<string | Uint8Array> {
  const { kind, metrics, shape, rows } = options;
  if (options.format === 'csv') return textPieces(rawCsvHeader(metrics, shape), rows, rawCsvWriter(metrics, shape));
  if (options.format === 'ndjson') return textPieces('', rows, (row) => `${JSON.stringify(rawItem(row, shape))}\n`);
  const columns = rawParquetColumns(kind, metrics, shape);
  return parquetFile({
    columns,
    rows,
    metadata: options.metadata,
    cells(row, data) {
      data[0]!.push(row.time);
      for (let i = 1; i < columns.length; i++) data[i]!.push(typedCell(columns[i]!.type, rawCell(row, columns[i]!.name)));
    },
  });
}

export interface WindowExportOptions {
  format: ExportFormat;
  kind: ReadingKind;
  metrics: readonly string[];
  /** agg=count: every metric's windows are numbers, true/false ones too. */
  counted: boolean;
  rows: AsyncIterable<readonly WindowExportRow[]>;
  metadata: FooterMetadata;
}

export function windowExportBody(options: WindowExportOptions): AsyncIterable<string | Uint8Array> {
  const { kind, metrics, rows } = options;
  if (options.format === 'csv') return textPieces(windowCsvHeader(metrics), rows, (w) => windowCsvRow(w.row, metrics, w.completeness));
  if (options.format === 'ndjson') return textPieces('', rows, (w) => `${JSON.stringify(windowItem(kind, w.row, w.completeness))}\n`);
  const columns = windowParquetColumns(kind, metrics, options.counted);
  return parquetFile({
    columns,
    rows,
    metadata: options.metadata,
    cells({ row, completeness }, data) {
      data[0]!.push(row.time);
      data[1]!.push(row.group);
      let c = 2;
      for (const m of metrics) data[c]!.push(typedCell(columns[c++]!.type, row.values[m]));
      for (const m of metrics) data[c++]!.push(row.counts[m] ?? 0);
      data[c]!.push(completeness ?? null);
    },
  });
}
