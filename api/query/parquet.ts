/**
 * Parquet exports, streamed one row group at a time: a Parquet file ends with its footer (the
 * schema and where every row group is), but the row groups before it are final once written.
 * So the file goes out in row groups of ROW_GROUP_ROWS as the rows arrive — an export holds
 * one row group's columns, never the file — and the footer follows the last one. The footer
 * also carries the answer's metadata (kind, units, source, and the next cursor when `limit`
 * cut the export short), which a reader such as pandas keeps where an HTTP trailer is lost.
 *
 * Columns: `time` as TIMESTAMP(MILLIS, UTC); device, site, owner as UTF-8 strings; one DOUBLE
 * (BOOLEAN for true/false metrics) per metric, null where a reading lacks it; windows add an
 * INT32 count per metric and a DOUBLE completeness.
 */
import { ByteWriter, ParquetWriter, type KeyValue, type SchemaElement } from 'hyparquet-writer';

/** Rows per row group: what an export holds at a time (about 10 MB of columns at 16 columns). */
export const ROW_GROUP_ROWS = 65_536;

export const PARQUET_CONTENT_TYPE = 'application/vnd.apache.parquet';

export type ParquetColumnType = 'timestamp' | 'string' | 'double' | 'boolean' | 'int32';

export interface ParquetColumn {
  name: string;
  type: ParquetColumnType;
  /** Never null (time, device, counts). */
  required?: boolean;
}

function schemaElement(column: ParquetColumn): SchemaElement {
  const repetition_type = column.required ? 'REQUIRED' : 'OPTIONAL';
  switch (column.type) {
    case 'timestamp':
      return {
        name: column.name,
        type: 'INT64',
        repetition_type,
        converted_type: 'TIMESTAMP_MILLIS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MILLIS' },
      };
    case 'string':
      return { name: column.name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type };
    case 'double':
      return { name: column.name, type: 'DOUBLE', repetition_type };
    case 'boolean':
      return { name: column.name, type: 'BOOLEAN', repetition_type };
    case 'int32':
      return { name: column.name, type: 'INT32', repetition_type };
  }
}

/** A cell as its column's type takes it: anything else (a field of another type) is null. */
export function typedCell(type: ParquetColumnType, value: unknown): unknown {
  switch (type) {
    case 'double':
    case 'timestamp':
    case 'int32':
      return typeof value === 'number' && Number.isFinite(value) ? value : null;
    case 'boolean':
      return typeof value === 'boolean' ? value : null;
    case 'string':
      return typeof value === 'string' && value !== '' ? value : null;
  }
}

export interface ParquetFileOptions<Row> {
  columns: readonly ParquetColumn[];
  /** The rows, in batches of any size. */
  rows: AsyncIterable<readonly Row[]>;
  /** Appends a row's cells to the column arrays (one per column, in order, typed with typedCell). */
  cells(row: Row, columns: unknown[][]): void;
  /** Key-value metadata for the footer, asked for once the rows are done. */
  metadata?: () => Record<string, string>;
  rowGroupRows?: number;
}

/** The file's bytes, as each row group is written; the first comes only with the first row group (or the footer). */
export async function* parquetFile<Row>(options: ParquetFileOptions<Row>): AsyncGenerator<Uint8Array> {
  const { columns } = options;
  const groupRows = options.rowGroupRows ?? ROW_GROUP_ROWS;
  const writer = new ByteWriter(1 << 20);
  const schema: SchemaElement[] = [{ name: 'root', num_children: columns.length }, ...columns.map(schemaElement)];
  const parquet = new ParquetWriter({ writer, schema, codec: 'SNAPPY', createdBy: 'StreetLab research API' });
  /** What the writer holds since the last take: handed out, then its buffer is reused. */
  const take = (): Uint8Array => {
    const bytes = Buffer.from(writer.getBytes());
    writer.index = 0;
    return bytes;
  };
  let data: unknown[][] = columns.map(() => []);
  let rows = 0;
  const writeGroup = () => {
    void parquet.write({ columnData: columns.map((c, i) => ({ name: c.name, data: data[i]! })), rowGroupSize: rows });
    data = columns.map(() => []);
    rows = 0;
  };
  for await (const batch of options.rows) {
    for (const row of batch) {
      options.cells(row, data);
      rows += 1;
      if (rows === groupRows) {
        writeGroup();
        yield take();
      }
    }
  }
  if (rows > 0) writeGroup();
  const metadata = options.metadata?.() ?? {};
  parquet.kvMetadata = Object.entries(metadata).map(([key, value]): KeyValue => ({ key, value }));
  void parquet.finish();
  yield take();
}
