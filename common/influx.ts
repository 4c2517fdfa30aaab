/**
 * The one InfluxDB client of StreetLab: line-protocol writes and InfluxQL queries over the
 * HTTP transport of @influxdata/influxdb-client, so one code path serves InfluxDB 1.x
 * (v1 `/write`, `/query`), 2.7+ (v2 write API, v1-compatible `/query` through DBRP) and 3.x.
 *
 * Streamed queries (`queryChunks`: exports, windows) are asked in MessagePack, which InfluxDB
 * 1.x encodes with about half the CPU per row of JSON (README "Exports"); a server that refuses
 * it is asked in JSON instead, and one that ignores the Accept header is read in JSON.
 *
 * Every query takes bound parameters (`$name` in the text, values in `params`): InfluxQL
 * injection through concatenated strings is real (docs/measurements.md). Identifiers cannot be
 * bound, so callers allow-list them; `quoteIdentifier` exists for the allow-listed ones.
 */
import { HttpError, InfluxDB } from '@influxdata/influxdb-client';
import { decodeMultiStream } from '@msgpack/msgpack';
import { AppError, RETRY_TABLES } from './errors.ts';

export interface InfluxSettings {
  url: string;
  database: string;
  token?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  org?: string | undefined;
  /** `auto`: v2 write API when a token is set (2.x, 3.x), v1 `/write` otherwise (1.x). */
  writeApi?: 'auto' | 'v1' | 'v2' | undefined;
  timeoutMs?: number | undefined;
}

/** One series of an InfluxQL result, as InfluxDB returns it. */
export interface InfluxSeries {
  name: string;
  tags?: Record<string, string>;
  columns: string[];
  values: unknown[][];
}

export interface InfluxStatementResult {
  statement_id: number;
  series?: InfluxSeries[];
  error?: string;
  partial?: boolean;
}

export type QueryParams = Record<string, string | number | boolean>;

export interface InfluxClient {
  readonly settings: Readonly<InfluxSettings>;
  /**
   * Writes line-protocol lines (ns precision). Throws AppError STORE_UNAVAILABLE / STORE_REJECTED.
   * `retentionPolicy`: 1.x writes with `rp=`; 2.x/3.x write to the bucket `{database}/{rp}`
   * (the name a DBRP mapping of database + retention policy gets).
   */
  write(lines: readonly string[], options?: { retentionPolicy?: string | undefined }): Promise<void>;
  /** Runs one or more InfluxQL statements; returns one result per statement. */
  query(influxql: string, params?: QueryParams): Promise<InfluxStatementResult[]>;
  /** Runs one statement and returns its rows as objects (tags merged in), times as epoch ms. */
  queryRows(influxql: string, params?: QueryParams): Promise<Record<string, unknown>[]>;
  /** Streams a query with `chunked=true`: yields each chunk's statement results as they arrive. */
  queryChunks(influxql: string, params?: QueryParams, chunkSize?: number): AsyncIterable<InfluxStatementResult[]>;
  ping(): Promise<boolean>;
  /** Creates the database if missing (1.x; on 2.x/3.x the bucket must exist). */
  ensureDatabase(): Promise<void>;
}

export function createInfluxClient(settings: InfluxSettings): InfluxClient {
  const influx = new InfluxDB({
    url: settings.url,
    timeout: settings.timeoutMs ?? 10_000,
    ...(settings.token ? { token: settings.token } : {}),
  });
  const transport = influx.transport;
  const authHeaders: Record<string, string> =
    !settings.token && settings.username
      ? { authorization: `Basic ${Buffer.from(`${settings.username}:${settings.password ?? ''}`).toString('base64')}` }
      : {};
  const useV2Write = settings.writeApi === 'v2' || ((settings.writeApi ?? 'auto') === 'auto' && Boolean(settings.token));

  function writePath(retentionPolicy?: string): string {
    if (useV2Write) {
      const bucket = retentionPolicy ? `${settings.database}/${retentionPolicy}` : settings.database;
      const search = new URLSearchParams({ bucket, precision: 'ns', org: settings.org ?? 'streetlab' });
      return `/api/v2/write?${search}`;
    }
    return `/write?${new URLSearchParams({ db: settings.database, precision: 'ns', ...(retentionPolicy ? { rp: retentionPolicy } : {}) })}`;
  }

  async function write(lines: readonly string[], options: { retentionPolicy?: string | undefined } = {}): Promise<void> {
    if (lines.length === 0) return;
    try {
      await transport.request(writePath(options.retentionPolicy), lines.join('\n'), {
        method: 'POST',
        headers: { 'content-type': 'text/plain; charset=utf-8', ...authHeaders },
      });
    } catch (error) {
      throw toStoreError(error, 'write');
    }
  }

  async function query(influxql: string, params: QueryParams = {}): Promise<InfluxStatementResult[]> {
    const form = new URLSearchParams({ db: settings.database, q: influxql, epoch: 'ms' });
    if (Object.keys(params).length > 0) form.set('params', JSON.stringify(params));
    let body: unknown;
    try {
      body = await transport.request('/query', form.toString(), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json', ...authHeaders },
      });
    } catch (error) {
      throw toStoreError(error, 'query');
    }
    const results = parseQueryBody(body);
    const failed = results.find((r) => r.error !== undefined);
    if (failed) throw new AppError('STORE_QUERY_FAILED', `InfluxDB query failed: ${failed.error}`, { details: { influxql } });
    return results;
  }

  async function queryRows(influxql: string, params: QueryParams = {}): Promise<Record<string, unknown>[]> {
    const [first] = await query(influxql, params);
    return seriesToRows(first?.series ?? []);
  }

  /** Chunked answers are asked as MessagePack until a server refuses it (then JSON, for good). */
  let chunkAccept = MSGPACK;

  async function* queryChunks(influxql: string, params: QueryParams = {}, chunkSize = 10_000): AsyncIterable<InfluxStatementResult[]> {
    const form = new URLSearchParams({ db: settings.database, q: influxql, epoch: 'ms', chunked: 'true', chunk_size: String(chunkSize) });
    if (Object.keys(params).length > 0) form.set('params', JSON.stringify(params));
    const open = (accept: string) =>
      transport
        .iterate('/query', form.toString(), {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', accept, ...authHeaders },
        })
        [Symbol.asyncIterator]();
    try {
      let body = open(chunkAccept);
      let first: IteratorResult<Uint8Array>;
      try {
        first = await firstBytes(body);
      } catch (error) {
        // A server that cannot speak MessagePack (406/415) is asked again, in JSON, from then on.
        if (chunkAccept !== MSGPACK || !(error instanceof HttpError) || (error.statusCode !== 406 && error.statusCode !== 415)) throw error;
        chunkAccept = 'application/json';
        body = open(chunkAccept);
        first = await firstBytes(body);
      }
      if (first.done) return;
      const head = asBuffer(first.value);
      const rest = withHead(head, body);
      // The answer's own first byte says how it is encoded: a JSON document starts with `{`, a
      // MessagePack one with a map header (0x80–0x8f, 0xde, 0xdf), never with 0x7b. Servers
      // that ignore the Accept header (some InfluxDB 3 versions) answer JSON and are read as such.
      const documents = head[0] === 0x7b ? jsonDocuments(rest) : decodeMultiStream(rest);
      for await (const document of documents) yield checkedResults(document, influxql);
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw toStoreError(error, 'query');
    }
  }

  async function ping(): Promise<boolean> {
    try {
      const response = await fetch(new URL('/ping', settings.url), { signal: AbortSignal.timeout(2_000) });
      return response.status === 204 || response.ok;
    } catch {
      return false;
    }
  }

  async function ensureDatabase(): Promise<void> {
    if (settings.token) return; // 2.x/3.x: buckets are provisioned by the server's own tooling.
    await query(`CREATE DATABASE ${quoteIdentifier(settings.database)}`);
  }

  return { settings, write, query, queryRows, queryChunks, ping, ensureDatabase };
}

function parseQueryBody(body: unknown): InfluxStatementResult[] {
  const parsed = typeof body === 'string' ? (JSON.parse(body) as unknown) : body;
  const results = (parsed as { results?: InfluxStatementResult[] } | null)?.results;
  if (!Array.isArray(results)) {
    const error = (parsed as { error?: string } | null)?.error;
    throw new AppError('STORE_QUERY_FAILED', `InfluxDB query failed: ${error ?? 'unexpected response'}`);
  }
  return results;
}

function checkedResults(parsed: unknown, influxql: string): InfluxStatementResult[] {
  const results = parseQueryBody(parsed);
  const failed = results.find((r) => r.error !== undefined);
  if (failed) throw new AppError('STORE_QUERY_FAILED', `InfluxDB query failed: ${failed.error}`, { details: { influxql } });
  return results;
}

const MSGPACK = 'application/x-msgpack';

function asBuffer(chunk: Uint8Array): Buffer {
  return Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

/** The first non-empty piece of a body (or its end). */
async function firstBytes(body: AsyncIterator<Uint8Array>): Promise<IteratorResult<Uint8Array>> {
  for (;;) {
    const next = await body.next();
    if (next.done || next.value.length > 0) return next;
  }
}

/**
 * The body again, `head` first. Leaving early (an export cut short by its client) returns the
 * body's iterator, which aborts the InfluxDB request.
 */
async function* withHead(head: Buffer, body: AsyncIterator<Uint8Array>): AsyncGenerator<Buffer> {
  let done = false;
  try {
    yield head;
    for (;;) {
      const next = await body.next();
      if (next.done) {
        done = true;
        return;
      }
      yield asBuffer(next.value);
    }
  } finally {
    if (!done) await body.return?.();
  }
}

/**
 * The documents of a chunked JSON answer: one per line, often larger than one socket read, so
 * the bytes of a line are kept as they come and joined and decoded once, when its newline
 * arrives (re-scanning and re-concatenating a growing string would cost a copy per read).
 */
async function* jsonDocuments(body: AsyncIterable<Buffer>): AsyncGenerator<unknown> {
  let pieces: Buffer[] = [];
  const line = (tail: Buffer): string => {
    const bytes = pieces.length === 0 ? tail : Buffer.concat([...pieces, tail]);
    pieces = [];
    return bytes.toString('utf8').trim();
  };
  for await (const buffer of body) {
    let start = 0;
    for (let newline = buffer.indexOf(10); newline >= 0; newline = buffer.indexOf(10, start)) {
      const text = line(buffer.subarray(start, newline));
      start = newline + 1;
      if (text) yield JSON.parse(text);
    }
    if (start < buffer.length) pieces.push(buffer.subarray(start));
  }
  const rest = line(Buffer.alloc(0));
  if (rest) yield JSON.parse(rest);
}

/** Flattens InfluxQL series into row objects, merging each series' tags into its rows. */
export function seriesToRows(series: readonly InfluxSeries[]): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  for (const s of series) {
    for (const values of s.values) {
      const row: Record<string, unknown> = { ...(s.tags ?? {}) };
      s.columns.forEach((column, i) => {
        row[column] = values[i];
      });
      rows.push(row);
    }
  }
  return rows;
}

/** Quotes an identifier that the caller has already allow-listed. */
export function quoteIdentifier(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * Turns a failed exchange into an AppError that carries its own retry decision
 * (`canRetry()`, `retryAfterMs()`; common/errors.ts), so no caller keeps a status table:
 *
 * - the code says what happened, for the API's answer: 408, 425, 429, 5xx and network errors
 *   are STORE_UNAVAILABLE (503), any other HTTP answer STORE_REJECTED (502);
 * - the retry decision follows the operation: writes use the `influx-write` table (everything
 *   but 400 and 413, which the writer bisects/splits), queries the `transient` one;
 * - `Retry-After` (seconds or HTTP-date) travels along, and the status and body go along in
 *   `details` for partial-write handling.
 */
export function toStoreError(error: unknown, operation: 'write' | 'query'): AppError {
  if (error instanceof HttpError) {
    const status = error.statusCode;
    const header = error.headers?.['retry-after'];
    // InfluxDB 1.x names the error in a header too: a MessagePack answer's body is not text.
    const influxError = error.headers?.['x-influxdb-error'];
    const reason = (Array.isArray(influxError) ? influxError[0] : influxError) ?? error.body ?? error.message;
    return new AppError(
      RETRY_TABLES.transient(status) ? 'STORE_UNAVAILABLE' : 'STORE_REJECTED',
      `InfluxDB ${operation} failed with HTTP ${status}: ${reason.slice(0, 500)}`,
      {
        cause: error,
        status,
        retryAfter: Array.isArray(header) ? header[0] : header,
        retryTable: operation === 'write' ? 'influx-write' : 'transient',
        details: { status, body: error.body },
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new AppError('STORE_UNAVAILABLE', `InfluxDB ${operation} failed: ${message}`, { cause: error });
}
