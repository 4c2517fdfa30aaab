/**
 * Streamed queries (`queryChunks`) ask InfluxDB for MessagePack, which costs it about half the
 * CPU of JSON per row (README "Exports"). Checked here against a real InfluxDB: the documents
 * are the same as the JSON answer's, value by value, for every field type and across many
 * chunks and socket reads; errors read as text; and a server that refuses MessagePack (406) or
 * ignores the Accept header is read in JSON, through proxies in front of the same InfluxDB.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createInfluxClient, type InfluxClient, type InfluxStatementResult } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { AppError } from '../../common/errors.ts';

const T0 = Date.UTC(2026, 2, 10, 0, 0, 0);
const FLOATS = [1e21, 1e-7, -12.5, 0.30000000000000004, 5e-324, 1.7976931348623157e308, 42, 0.1, -0];
const INTEGERS = [0, -1, 9_007_199_254_740_991, -9_007_199_254_740_991, 1_700_000_000_000];
const TEXTS = ['plain', 'Nørrebro, "the lab"', '=HYPERLINK("x")', '🚲 ünïcode', ''];
const ROWS = 3_000;

let server: InfluxServer;
let influx: InfluxClient;

/** Line-protocol tag escaping: commas, spaces and equals signs. */
const tag = (value: string) => value.replace(/[,= ]/g, (c) => `\\${c}`);
/** Line-protocol string field. */
const text = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

async function collect(client: InfluxClient, influxql: string, chunkSize?: number): Promise<InfluxStatementResult[][]> {
  const documents: InfluxStatementResult[][] = [];
  for await (const results of client.queryChunks(influxql, {}, chunkSize)) documents.push(results);
  return documents;
}

/** Every row of every series of a streamed answer, by statement, with its series' name and tags. */
function rowsOf(documents: InfluxStatementResult[][]): Map<number, unknown[]> {
  const rows = new Map<number, unknown[]>();
  for (const results of documents) {
    for (const result of results) {
      const list = rows.get(result.statement_id) ?? [];
      for (const series of result.series ?? []) {
        for (const values of series.values) list.push({ name: series.name, tags: series.tags ?? {}, columns: series.columns, values });
      }
      rows.set(result.statement_id, list);
    }
  }
  return rows;
}

interface Proxy {
  url: string;
  accepts: string[];
  /** Content types of InfluxDB's answers that went through. */
  answered: string[];
  close(): Promise<void>;
}

/** An HTTP proxy to the test InfluxDB that can rewrite a request's headers or answer it itself. */
async function startProxy(handle: (headers: IncomingHttpHeaders) => { status?: number; headers?: IncomingHttpHeaders }): Promise<Proxy> {
  const target = new URL(server.url);
  const accepts: string[] = [];
  const answered: string[] = [];
  const proxy: Server = createServer((req, res) => {
    accepts.push(String(req.headers.accept ?? ''));
    const decision = handle(req.headers);
    if (decision.status) {
      res.writeHead(decision.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'not acceptable' }));
      req.resume();
      return;
    }
    const upstream = request(
      { host: target.hostname, port: target.port, path: req.url, method: req.method, headers: decision.headers ?? req.headers },
      (answer) => {
        answered.push(String(answer.headers['content-type'] ?? ''));
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    accepts,
    answered,
    close: () => new Promise((resolve) => proxy.close(() => resolve())),
  };
}

beforeAll(async () => {
  server = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: server.url, database: 'streetlab' });
  const lines: string[] = [];
  for (let i = 0; i < ROWS; i++) {
    const site = TEXTS[i % TEXTS.length]!;
    const fields = [
      `value=${Object.is(FLOATS[i % FLOATS.length], -0) ? '-0' : FLOATS[i % FLOATS.length]}`,
      `count=${INTEGERS[i % INTEGERS.length]}i`,
      `flag=${i % 2 === 0}`,
      `note=${text(TEXTS[(i + 1) % TEXTS.length]!)}`,
    ];
    // Every seventh row leaves `value` out: the column is null in that row.
    if (i % 7 === 3) fields.shift();
    lines.push(`probe,device=dev-${i % 4}${site ? `,site=${tag(site)}` : ''} ${fields.join(',')} ${(T0 + i * 1000) * 1e6}`);
  }
  // A reading before 1970: a negative time.
  lines.push(`probe,device=dev-old value=1 ${-86_400_000 * 1e6}`);
  await influx.write(lines);
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

describe('streamed queries in MessagePack', () => {
  const statements = [
    'SELECT * FROM probe WHERE time >= 0 ORDER BY time ASC',
    'SELECT * FROM probe WHERE time < 0',
    'SELECT "value", "count", "flag", "note" FROM probe WHERE time >= 0 GROUP BY "device", "site"',
    'SELECT mean("count") AS m, count("value") AS n, last("note") AS l FROM probe WHERE time >= 0 GROUP BY time(10m), "device" fill(none)',
    'SELECT * FROM nothing_here',
  ];

  it.each(statements)('gives the same rows as the JSON answer: %s', async (statement) => {
    const [json] = await influx.query(statement);
    const expected = rowsOf([[json!]]).get(0) ?? [];
    for (const chunkSize of [7, 10_000]) {
      const streamed = rowsOf(await collect(influx, statement, chunkSize)).get(0) ?? [];
      expect(streamed).toEqual(expected);
      // toEqual holds 0 and -0 apart; a count makes sure there was something to compare.
      if (!statement.includes('nothing_here')) expect(streamed.length).toBeGreaterThan(0);
    }
  });

  it('is answered in MessagePack by InfluxDB 1.x', async () => {
    const proxy = await startProxy(() => ({}));
    try {
      const client = createInfluxClient({ url: proxy.url, database: 'streetlab' });
      expect(rowsOf(await collect(client, 'SELECT count("flag") FROM probe')).get(0)).toHaveLength(1);
      expect(proxy.accepts).toEqual(['application/x-msgpack']);
      expect(proxy.answered).toEqual(['application/x-msgpack']);
    } finally {
      await proxy.close();
    }
  });

  it('keeps the value types: doubles exact, integers as numbers, booleans, strings, nulls, negative times', async () => {
    const rows = rowsOf(await collect(influx, 'SELECT "value", "count", "flag", "note" FROM probe ORDER BY time ASC', 50)).get(0)!;
    expect(rows).toHaveLength(ROWS + 1);
    const values = rows.map((row) => (row as { values: unknown[] }).values);
    expect(values[0]).toEqual([-86_400_000, 1, null, null, null]);
    for (let i = 0; i < ROWS; i++) {
      const [time, value, count, flag, note] = values[i + 1]!;
      expect(time).toBe(T0 + i * 1000);
      expect([i, value]).toEqual([i, i % 7 === 3 ? null : FLOATS[i % FLOATS.length]]);
      expect(count).toBe(INTEGERS[i % INTEGERS.length]);
      expect(flag).toBe(i % 2 === 0);
      expect(note).toBe(TEXTS[(i + 1) % TEXTS.length]);
    }
  });

  it('answers several statements in one request, each with its own id', async () => {
    const rows = rowsOf(await collect(influx, 'SELECT count("flag") FROM probe; SELECT count("note") FROM probe WHERE "device" = \'dev-1\''));
    expect(rows.get(0)).toEqual([{ name: 'probe', tags: {}, columns: ['time', 'count'], values: [0, ROWS] }]);
    expect(rows.get(1)).toEqual([{ name: 'probe', tags: {}, columns: ['time', 'count'], values: [0, ROWS / 4] }]);
  });

  it('names InfluxDB errors in text: a bad statement, a missing parameter, a missing database', async () => {
    await expect(collect(influx, 'SELEC x')).rejects.toMatchObject({ code: 'STORE_REJECTED', message: expect.stringMatching(/HTTP 400: error parsing query: found SELEC/) });
    await expect(collect(influx, 'SELECT * FROM probe WHERE time > $t')).rejects.toMatchObject({ message: expect.stringMatching(/HTTP 400: error parsing query: missing parameter: t$/) });
    const elsewhere = createInfluxClient({ url: server.url, database: 'no_such_db' });
    const failure = await collect(elsewhere, 'SELECT * FROM probe').catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(AppError);
    expect(failure).toMatchObject({ code: 'STORE_QUERY_FAILED', message: 'InfluxDB query failed: database not found: no_such_db' });
  });
});

describe('servers without MessagePack', () => {
  it('asks again in JSON when the server refuses MessagePack (406), and asks JSON from then on', async () => {
    const proxy = await startProxy((headers) => (headers.accept === 'application/x-msgpack' ? { status: 406 } : {}));
    try {
      const client = createInfluxClient({ url: proxy.url, database: 'streetlab' });
      const statement = 'SELECT * FROM probe WHERE time >= 0 ORDER BY time ASC';
      const expected = rowsOf(await collect(influx, statement, 500)).get(0);
      expect(rowsOf(await collect(client, statement, 500)).get(0)).toEqual(expected);
      expect(rowsOf(await collect(client, statement, 500)).get(0)).toEqual(expected);
      expect(proxy.accepts).toEqual(['application/x-msgpack', 'application/json', 'application/json']);
    } finally {
      await proxy.close();
    }
  });

  it('reads a JSON answer to a MessagePack request (a server that ignores Accept)', async () => {
    const proxy = await startProxy((headers) => ({ headers: { ...headers, accept: 'application/json' } }));
    try {
      const client = createInfluxClient({ url: proxy.url, database: 'streetlab' });
      const statement = 'SELECT "value", "note" FROM probe WHERE time >= 0 GROUP BY "device"';
      const expected = rowsOf(await collect(influx, statement, 100)).get(0);
      expect(rowsOf(await collect(client, statement, 100)).get(0)).toEqual(expected);
      expect(proxy.accepts.every((accept) => accept === 'application/x-msgpack')).toBe(true);
    } finally {
      await proxy.close();
    }
  });
});
