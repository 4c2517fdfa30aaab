/**
 * A million-row CSV export over a real socket from a real InfluxDB, with the process's memory
 * watched while it streams: the export must not hold the result. Memory is sampled after a
 * forced garbage collection every 100,000 rows (what is still reachable then is what the
 * export holds), next to RSS. The same million rows as Parquet must go out a row group at a
 * time (the file is written to disk as it arrives and read back with hyparquet afterwards).
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parquetMetadata, parquetRead, type AsyncBuffer } from 'hyparquet';
import type { FastifyInstance } from 'fastify';
import { createInfluxClient, type InfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { buildApp } from '../../api/app.ts';
import { DEFAULT_QUERY_LIMITS } from '../../api/query/limits.ts';
import { createReadingStore } from '../../api/store.ts';
import { ROW_GROUP_ROWS } from '../../api/query/parquet.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const DEVICES = 100;
const MINUTES = 10_000;
const ROWS = DEVICES * MINUTES;
const T0 = Date.UTC(2026, 0, 5);
const MIN = 60_000;
/** The generated value of device d at minute i: exact in decimal, so the CSV sum can be checked. */
const value = (d: number, i: number) => ((i * 7 + d * 13) % 1000) / 10;

let server: InfluxServer;
let influx: InfluxClient;
let app: FastifyInstance;
let baseUrl: string;

beforeAll(async () => {
  server = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: server.url, database: 'streetlab', timeoutMs: 60_000 });
  // Raw line protocol in batches of 50,000 lines, two writers: a few seconds for a million rows.
  const batches: number[] = [];
  for (let start = 0; start < MINUTES; start += 500) batches.push(start);
  const writer = async () => {
    for (let start = batches.shift(); start !== undefined; start = batches.shift()) {
      const lines: string[] = [];
      for (let i = start; i < start + 500; i++) {
        for (let d = 0; d < DEVICES; d++) lines.push(`air,device=dev-${String(d).padStart(3, '0')},site=s${d % 4} pm25=${value(d, i)} ${T0 + i * MIN}000000`);
      }
      await influx.write(lines);
    }
  };
  await Promise.all([writer(), writer()]);
  app = await buildApp({ store: createReadingStore(influx), now: () => T0 + 8 * 86_400_000, research: { limits: { ...DEFAULT_QUERY_LIMITS, rollupsEnabled: false } } });
  await app.listen({ host: '127.0.0.1', port: 0 });
  baseUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}, 180_000);

afterAll(async () => {
  await app?.close();
  await server?.stop();
});

it('streams a million-row CSV export without holding it in memory', async () => {
  const url = `${baseUrl}/api/v1/readings?kind=air&metric=pm25&from=${new Date(T0).toISOString()}&to=${new Date(T0 + MINUTES * MIN).toISOString()}&format=csv`;
  // Warm up once (route compilation, JIT, the HTTP agents) so the baseline holds what any request needs.
  expect((await (await fetch(`${url}&limit=20000`)).text()).length).toBeGreaterThan(0);
  gc();
  const before = process.memoryUsage();
  let peakHeap = 0;
  let peakRss = 0;
  /** RSS after the first 100,000 rows, and its growth over the other 900,000. */
  let firstRss: number | undefined;
  let rssGrowthDuring = 0;
  let rows = -1; // the header
  let sum = 0;
  let bytes = 0;
  let carry = '';
  let nextSample = 100_000;
  const mb = (n: number) => Math.round(n / 1024 / 1024);
  const started = Date.now();
  const status = await new Promise<number>((resolve, reject) => {
    httpGet(url, (response) => {
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        bytes += chunk.length;
        const text = carry + chunk;
        let start = 0;
        for (let end = text.indexOf('\r\n', start); end >= 0; end = text.indexOf('\r\n', start)) {
          if (rows >= 0) {
            const comma = text.lastIndexOf(',', end);
            sum += Number(text.slice(comma + 1, end));
          }
          rows += 1;
          start = end + 2;
        }
        carry = text.slice(start);
        if (rows >= nextSample) {
          nextSample += 100_000;
          gc();
          const now = process.memoryUsage();
          peakHeap = Math.max(peakHeap, now.heapUsed - before.heapUsed);
          peakRss = Math.max(peakRss, now.rss - before.rss);
          firstRss ??= now.rss;
          rssGrowthDuring = Math.max(rssGrowthDuring, now.rss - firstRss);
        }
      });
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', reject);
    }).on('error', reject);
  });
  const seconds = (Date.now() - started) / 1000;
  console.log(`export: ${rows} rows, ${mb(bytes)} MB in ${seconds.toFixed(1)} s; live heap growth ≤ ${mb(peakHeap)} MB, RSS growth ≤ ${mb(peakRss)} MB (≤ ${mb(rssGrowthDuring)} MB after the first 100,000 rows)`);

  expect(status).toBe(200);
  expect(rows).toBe(ROWS);
  let expectedSum = 0;
  for (let i = 0; i < MINUTES; i++) for (let d = 0; d < DEVICES; d++) expectedSum += value(d, i);
  expect(sum).toBeCloseTo(expectedSum, 3);
  // The CSV is ~60 MB: holding it (or its rows) would grow the heap by far more than this.
  expect(peakHeap).toBeLessThan(6 * 1024 * 1024);
  // RSS also counts V8's young generation and socket buffers; it must not climb with the rows.
  expect(peakRss).toBeLessThan(64 * 1024 * 1024);
  expect(rssGrowthDuring).toBeLessThan(32 * 1024 * 1024);
}, 120_000);

it('stops the InfluxDB query when the client goes away mid-export', async () => {
  const active = async () => {
    const vars = (await (await fetch(`${server.url}/debug/vars`)).json()) as { queryExecutor?: { values?: { queriesActive?: number } } };
    return vars.queryExecutor?.values?.queriesActive ?? 0;
  };
  const url = `${baseUrl}/api/v1/readings?kind=air&from=${new Date(T0).toISOString()}&to=${new Date(T0 + MINUTES * MIN).toISOString()}&format=ndjson`;
  let whileStreaming = 0;
  await new Promise<void>((resolve, reject) => {
    const request = httpGet(url, (response) => {
      response.once('data', () => {
        // A slow client: the export waits on it, and so does InfluxDB's query.
        response.pause();
        void active().then((n) => {
          whileStreaming = n;
          request.destroy();
          resolve();
        }, reject);
      });
    });
    request.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? undefined : reject(error)));
  });
  expect(whileStreaming).toBe(1);
  let queries = await active();
  for (let i = 0; i < 40 && queries > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    queries = await active();
  }
  expect(queries).toBe(0);
}, 60_000);

it('streams a million-row Parquet export a row group at a time', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'streetlab-parquet-'));
  const path = join(dir, 'export.parquet');
  try {
    const url = `${baseUrl}/api/v1/readings?kind=air&metric=pm25&from=${new Date(T0).toISOString()}&to=${new Date(T0 + MINUTES * MIN).toISOString()}&format=parquet`;
    expect((await fetch(`${url}&limit=20000`)).status).toBe(200);
    gc();
    const before = process.memoryUsage().heapUsed;
    let peakHeap = 0;
    let pieces = 0;
    let bytes = 0;
    let nextSample = 0;
    const file = createWriteStream(path);
    const started = Date.now();
    const status = await new Promise<number>((resolve, reject) => {
      httpGet(url, (response) => {
        response.on('data', (chunk: Buffer) => {
          pieces += 1;
          bytes += chunk.length;
          file.write(chunk);
          if (bytes >= nextSample) {
            nextSample += 1024 * 1024;
            gc();
            peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed - before);
          }
        });
        response.on('end', () => file.end(() => resolve(response.statusCode ?? 0)));
        response.on('error', reject);
      }).on('error', reject);
    });
    console.log(`parquet export: ${ROWS} rows, ${Math.round(bytes / 1024 / 1024)} MB in ${((Date.now() - started) / 1000).toFixed(1)} s in ${pieces} pieces; live heap growth ≤ ${Math.round(peakHeap / 1024 / 1024)} MB`);
    expect(status).toBe(200);
    // Sent as it was written, not as one file at the end (test/unit/api/export.test.ts checks
    // that each row group leaves before the next rows are read).
    expect(pieces).toBeGreaterThan(1);
    // One row group's columns and their encoding, not the file's million rows (~50 MB as JS values).
    expect(peakHeap).toBeLessThan(24 * 1024 * 1024);

    const handle = await open(path);
    const size = (await handle.stat()).size;
    const asyncBuffer: AsyncBuffer = {
      byteLength: size,
      async slice(start, end = size) {
        const out = Buffer.alloc(end - start);
        await handle.read(out, 0, out.length, start);
        return out.buffer.slice(out.byteOffset, out.byteOffset + out.length) as ArrayBuffer;
      },
    };
    try {
      const tail = await asyncBuffer.slice(size - 1024 * 1024 > 0 ? size - 1024 * 1024 : 0);
      const metadata = parquetMetadata(tail);
      expect(Number(metadata.num_rows)).toBe(ROWS);
      expect(metadata.row_groups.length).toBe(Math.ceil(ROWS / ROW_GROUP_ROWS));
      let sum = 0;
      let rows = 0;
      let lastTime = -Infinity;
      let outOfOrder = 0;
      await parquetRead({
        file: asyncBuffer,
        columns: ['time', 'pm25'],
        onChunk: () => undefined,
        onComplete: (data) => {
          for (const [time, pm25] of data as [Date, number][]) {
            if (time.getTime() < lastTime) outOfOrder += 1;
            lastTime = time.getTime();
            sum += pm25;
            rows += 1;
          }
        },
      });
      let expectedSum = 0;
      for (let i = 0; i < MINUTES; i++) for (let d = 0; d < DEVICES; d++) expectedSum += value(d, i);
      expect(rows).toBe(ROWS);
      expect(outOfOrder).toBe(0);
      expect(sum).toBeCloseTo(expectedSum, 3);
    } finally {
      await handle.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 180_000);
