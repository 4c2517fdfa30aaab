/**
 * The export fast path in isolation: raw rows kept as InfluxDB's value arrays, the CSV writer
 * that caches what repeats, and Parquet written a row group at a time. Each is checked against
 * the plain formulation it replaces (csvCell/csvLine per cell, one sort per millisecond, one
 * file at once), so a faster path can never mean a different answer.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parquetMetadata, parquetReadObjects } from 'hyparquet';
import type { InfluxSeries, InfluxStatementResult } from '../../../common/influx.ts';
import { csvCell, csvLine, rawCsvHeader, rawCsvWriter } from '../../../api/query/output.ts';
import { parquetFile } from '../../../api/query/parquet.ts';
import { keyOf, layoutOf, readRaw, type RawRow } from '../../../api/query/raw.ts';

const T = Date.UTC(2026, 0, 1);

/** An InfluxDB stand-in answering one chunked statement with the given chunks (and `query` with nothing). */
function fakeInflux(chunks: InfluxSeries[][]) {
  return {
    query: async (): Promise<InfluxStatementResult[]> => [{ statement_id: 0, series: [] }],
    async *queryChunks(): AsyncIterable<InfluxStatementResult[]> {
      for (const series of chunks) yield [{ statement_id: 0, series }];
    },
  };
}

async function collect(rows: AsyncIterable<RawRow[]>): Promise<RawRow[]> {
  const out: RawRow[] = [];
  for await (const batch of rows) out.push(...batch);
  return out;
}

describe('readRaw', () => {
  const columns = ['time', 'device', 'owner', 'pm25', 'site'];

  it('orders the rows of one millisecond by device, site, owner, across chunk borders', async () => {
    const influx = fakeInflux([
      [{ name: 'air', columns, values: [[T, 'b', 'o', 1, 's'], [T, 'a', 'o', 2, 's'], [T, 'a', 'o', 3, 'r']] }],
      [{ name: 'air', columns, values: [[T, 'a', '', 4, 'r'], [T + 1, 'z', 'o', 5, 's'], [T + 1, 'c', 'o', 6, 's']] }],
    ]);
    const rows = await collect(readRaw(influx, { kind: 'air', filter: {}, fromMs: T, toMs: T + 10, metrics: undefined, order: 'asc', max: 100 }));
    expect(rows.map((r) => [r.time, ...keyOf(r)])).toEqual([
      [T, 'a', 'r', ''],
      [T, 'a', 'r', 'o'],
      [T, 'a', 's', 'o'],
      [T, 'b', 's', 'o'],
      [T + 1, 'c', 's', 'o'],
      [T + 1, 'z', 's', 'o'],
    ]);
  });

  it('resumes after a position: the rest of its millisecond, then later times', async () => {
    const influx = {
      // The re-read of the cursor's millisecond.
      query: async (): Promise<InfluxStatementResult[]> => [{ statement_id: 0, series: [{ name: 'air', columns, values: [[T, 'c', 'o', 1, 's'], [T, 'a', 'o', 2, 's'], [T, 'b', 'o', 3, 's']] }] }],
      async *queryChunks(): AsyncIterable<InfluxStatementResult[]> {
        yield [{ statement_id: 0, series: [{ name: 'air', columns, values: [[T + 5, 'a', 'o', 4, 's']] }] }];
      },
    };
    const rows = await collect(
      readRaw(influx, { kind: 'air', filter: {}, fromMs: T, toMs: T + 10, metrics: undefined, order: 'asc', max: 100, after: { t: T, k: 0, s: ['a', 's', 'o'] } }),
    );
    expect(rows.map((r) => `${r.time - T}:${r.values[1]}`)).toEqual(['0:b', '0:c', '5:a']);
  });
});

describe('rawCsvWriter', () => {
  const text = fc.oneof(fc.string(), fc.constantFrom('=SUM(A1)', '+1', '-x', '@x', 'a,b', 'say "hi"', 'line\r\nbreak', ''));
  const value = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.boolean(), fc.constant(null));

  it('writes what csvCell and csvLine write, cell by cell, whatever the values (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ t: fc.integer({ min: 0, max: 3 }), device: text, site: text, owner: text, a: value, b: value }), { minLength: 1, maxLength: 30 }),
        fc.boolean(),
        (records, owner) => {
          // Metric `c` is a column of the export that this series never had (SELECT *).
          const layout = layoutOf({ columns: ['time', 'device', 'site', 'owner', 'a', 'b'] });
          const metrics = ['a', 'c', 'b'];
          const write = rawCsvWriter(metrics, { owner });
          for (const r of records) {
            const row: RawRow = { kind: 'air', k: 0, time: T + r.t, values: [T + r.t, r.device, r.site, r.owner, r.a, r.b], layout };
            const expected = csvLine([
              new Date(T + r.t).toISOString(),
              csvCell(r.device),
              csvCell(r.site, true),
              ...(owner ? [csvCell(r.owner, true)] : []),
              csvCell(r.a),
              '',
              csvCell(r.b),
            ]);
            expect(write(row)).toBe(expected);
          }
        },
      ),
    );
    expect(rawCsvHeader(['a'], { owner: false })).toBe('time,device,site,a\r\n');
  });

  it('reads tags of a series from its GROUP BY tags when they are not columns', () => {
    const layout = layoutOf({ columns: ['time', 'pm25'], tags: { device: 'dev-1', site: 'north' } });
    const row: RawRow = { kind: 'air', k: 0, time: T, values: [T, 4.5], layout };
    expect(rawCsvWriter(['pm25'])(row)).toBe(`${new Date(T).toISOString()},dev-1,north,,4.5\r\n`);
    expect(keyOf(row)).toEqual(['dev-1', 'north', '']);
  });
});

describe('parquetFile', () => {
  it('streams row groups as rows arrive and reads back exactly, nulls and all', async () => {
    const total = 2_500;
    let consumed = 0;
    async function* rows(): AsyncGenerator<number[]> {
      for (let start = 0; start < total; start += 100) {
        consumed = start + 100;
        yield Array.from({ length: 100 }, (_, i) => start + i);
      }
    }
    const pieces: Uint8Array[] = [];
    const consumedAtPiece: number[] = [];
    for await (const piece of parquetFile<number>({
      columns: [
        { name: 'time', type: 'timestamp', required: true },
        { name: 'device', type: 'string', required: true },
        { name: 'value', type: 'double' },
        { name: 'flag', type: 'boolean' },
      ],
      rows: rows(),
      rowGroupRows: 1_000,
      cells(n, data) {
        data[0]!.push(T + n * 1000);
        data[1]!.push(`dev-${n % 7}`);
        data[2]!.push(n % 5 === 0 ? null : n / 3);
        data[3]!.push(n % 3 === 0 ? null : n % 2 === 0);
      },
      metadata: () => ({ 'streetlab.meta': '{"kind":"air"}' }),
    })) {
      pieces.push(piece);
      consumedAtPiece.push(consumed);
    }
    // Two full row groups went out before the rows were done; the footer came last.
    expect(pieces.length).toBe(3);
    expect(consumedAtPiece.slice(0, 2)).toEqual([1_000, 2_000]);
    const file = Buffer.concat(pieces);
    const bytes = file.buffer.slice(file.byteOffset, file.byteOffset + file.byteLength) as ArrayBuffer;
    const metadata = parquetMetadata(bytes);
    expect(metadata.row_groups.map((g) => g.num_rows)).toEqual([1000n, 1000n, 500n]);
    expect(metadata.key_value_metadata).toEqual([{ key: 'streetlab.meta', value: '{"kind":"air"}' }]);
    const read = (await parquetReadObjects({ file: bytes })) as Record<string, unknown>[];
    expect(read.length).toBe(total);
    read.forEach((row, n) => {
      expect((row.time as Date).getTime()).toBe(T + n * 1000);
      expect(row.device).toBe(`dev-${n % 7}`);
      expect(row.value).toBe(n % 5 === 0 ? null : n / 3);
      expect(row.flag).toBe(n % 3 === 0 ? null : n % 2 === 0);
    });
  });
});
