/**
 * Entry point of an InfluxDB writer process: line protocol straight to `/write` over one
 * keep-alive HTTP connection, one batch in flight at a time (a bench runs two of these).
 *
 * - `raw`: the write ceiling. One 5,000-line body is laid out once (one line per series of
 *   this writer); each batch only patches the 19-digit timestamp, so the writer's own CPU
 *   stays near zero and every batch stores new points.
 * - `seed`: the query stage's data set, written in time order: every device of this writer
 *   at each step, with values that vary by time of day so means mean something.
 */
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import { serveWorker } from '../runtime.ts';

export interface RawWriteRequest {
  url: string;
  database: string;
  writer: number;
  batchLines: number;
  durationMs: number;
  warmupMs: number;
}

export interface RawWriteResult {
  lines: number;
  batches: number;
  durationMs: number;
  steadyLinesPerS: number;
  perSecond: number[];
  errors: string[];
}

export interface SeedRequest {
  url: string;
  database: string;
  measurement: string;
  devices: string[];
  /** Epoch ms of the first point; points every `intervalMs` for `steps` steps. */
  startMs: number;
  intervalMs: number;
  steps: number;
  batchLines: number;
}

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

function post(url: string, database: string, body: Buffer | string): Promise<void> {
  const target = new URL(`/write?db=${encodeURIComponent(database)}&precision=ns`, url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(target, { method: 'POST', agent, headers: { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode === 204) resolve();
        else reject(new Error(`HTTP ${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}`));
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const TS_DIGITS = 19;
const FIELDS = 'pm25=12.5,no2=40.1,temperature=14.2,humidity=61.5,noise=55.1';

/** Time-of-day shaped field sets, one per 5-minute slot of the day. */
function fieldVariants(): string[] {
  return Array.from({ length: 288 }, (_, slot) => {
    const day = (slot / 288) * 2 * Math.PI;
    const rush = Math.max(0, Math.sin(day * 2 - 1.2));
    const pm25 = 8 + 6 * rush + 2 * Math.sin(day * 5);
    const no2 = 20 + 35 * rush + 5 * Math.sin(day * 3);
    const temperature = 12 + 6 * Math.sin(day - 1.8);
    const humidity = 70 - 15 * Math.sin(day - 1.8);
    const noise = 48 + 18 * rush;
    return `pm25=${pm25.toFixed(1)},no2=${no2.toFixed(1)},temperature=${temperature.toFixed(1)},humidity=${humidity.toFixed(1)},noise=${noise.toFixed(1)}`;
  });
}

const api = {
  async raw(request: RawWriteRequest): Promise<RawWriteResult> {
    const lines: string[] = [];
    for (let i = 0; i < request.batchLines; i += 1) lines.push(`air,device=w${request.writer}-d${String(i).padStart(5, '0')},site=bench ${FIELDS} ${'0'.repeat(TS_DIGITS)}\n`);
    const template = Buffer.from(lines.join(''));
    const offsets: number[] = [];
    let at = 0;
    for (const line of lines) {
      at += Buffer.byteLength(line);
      offsets.push(at - 1 - TS_DIGITS);
    }
    // One batch is in flight at a time, so one body is patched in place between batches.
    const body = template;
    const stamp = Buffer.alloc(TS_DIGITS);
    // Points start an hour ago, one millisecond apart per batch: never in the future.
    const baseNs = BigInt(Date.now() - 3_600_000) * 1_000_000n;

    const errors: string[] = [];
    const perSecond: number[] = [];
    let written = 0;
    let batches = 0;
    let steady: { t: number; lines: number } | undefined;
    const started = performance.now();
    const deadline = started + request.durationMs;
    while (performance.now() < deadline) {
      const ts = baseNs + BigInt(batches) * 1_000_000n;
      stamp.write(ts.toString().padStart(TS_DIGITS, '0'));
      for (const offset of offsets) stamp.copy(body, offset);
      try {
        await post(request.url, request.database, body);
        written += request.batchLines;
        const second = Math.floor((performance.now() - started) / 1000);
        perSecond[second] = (perSecond[second] ?? 0) + request.batchLines;
      } catch (error) {
        if (errors.length < 10) errors.push(error instanceof Error ? error.message : String(error));
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      batches += 1;
      if (!steady && performance.now() - started >= request.warmupMs) steady = { t: performance.now(), lines: written };
    }
    const ended = performance.now();
    const s = steady ?? { t: started, lines: 0 };
    return {
      lines: written,
      batches,
      durationMs: Math.round(ended - started),
      steadyLinesPerS: Math.round(((written - s.lines) / Math.max(1, ended - s.t)) * 1000),
      perSecond: Array.from({ length: Math.floor((ended - started) / 1000) }, (_, i) => perSecond[i] ?? 0),
      errors,
    };
  },

  async seed(request: SeedRequest) {
    const variants = fieldVariants();
    const slotMs = 300_000;
    const prefixes = request.devices.map((id, i) => `${request.measurement},device=${id},site=site-${i % 20} `);
    const phases = request.devices.map((_, i) => (i * 7) % 288);
    const started = performance.now();
    let written = 0;
    let inFlight: Promise<void> | undefined;
    let batch: string[] = [];
    const flush = async () => {
      const body = batch.join('');
      batch = [];
      if (inFlight) await inFlight;
      inFlight = post(request.url, request.database, body);
    };
    for (let step = 0; step < request.steps; step += 1) {
      const ms = request.startMs + step * request.intervalMs;
      const slot = Math.floor(ms / slotMs) % 288;
      const suffix = ` ${ms}000000\n`;
      for (let d = 0; d < prefixes.length; d += 1) {
        batch.push(prefixes[d]! + variants[(slot + phases[d]!) % 288]! + suffix);
        if (batch.length >= request.batchLines) {
          written += batch.length;
          await flush();
        }
      }
    }
    if (batch.length > 0) {
      written += batch.length;
      await flush();
    }
    if (inFlight) await inFlight;
    return { lines: written, ms: Math.round(performance.now() - started) };
  },
};

export type InfluxWriterApi = typeof api;

serveWorker(api, { pid: process.pid });
