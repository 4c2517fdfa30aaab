/**
 * Generated data and independent reference computations for the research API tests: a
 * seeded generator writes raw line protocol straight into InfluxDB, and the expected windows
 * are computed here from the generated values, never by asking InfluxDB.
 */
import type { Aggregate } from '../../contracts/index.ts';
import type { InfluxClient } from '../../common/influx.ts';

/** mulberry32: small, fast, seeded. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

export interface GeneratedPoint {
  device: string;
  site: string;
  /** epoch ms */
  t: number;
  values: Record<string, number>;
  receivedMs?: number;
}

export interface GenerateOptions {
  devices: readonly string[];
  siteOf: (device: string) => string;
  fromMs: number;
  /** Readings per device. */
  count: number;
  stepMs: number;
  seed: number;
  /** Share of readings left out (gaps). */
  gapProbability?: number;
  /** Share of readings that lack the second metric. */
  partialProbability?: number;
  /** Metrics and their value generator. */
  metrics: Record<string, (random: () => number, i: number) => number>;
}

export function generateSeries(options: GenerateOptions): GeneratedPoint[] {
  const random = seededRandom(options.seed);
  const points: GeneratedPoint[] = [];
  const metricNames = Object.keys(options.metrics);
  for (const device of options.devices) {
    for (let i = 0; i < options.count; i++) {
      if (random() < (options.gapProbability ?? 0)) continue;
      const values: Record<string, number> = {};
      metricNames.forEach((m, index) => {
        if (index > 0 && random() < (options.partialProbability ?? 0)) return;
        values[m] = options.metrics[m]!(random, i);
      });
      points.push({ device, site: options.siteOf(device), t: options.fromMs + i * options.stepMs, values });
    }
  }
  return points;
}

export function toLine(measurement: string, p: GeneratedPoint): string {
  const fields = Object.entries(p.values).map(([k, v]) => `${k}=${v}`);
  if (p.receivedMs !== undefined) fields.push(`received_ms=${p.receivedMs}`);
  return `${measurement},device=${p.device},site=${p.site} ${fields.join(',')} ${p.t}000000`;
}

/** Writes line protocol in big batches, two at a time. */
export async function writeLines(influx: Pick<InfluxClient, 'write'>, lines: readonly string[], batch = 50_000): Promise<void> {
  const batches: (readonly string[])[] = [];
  for (let i = 0; i < lines.length; i += batch) batches.push(lines.slice(i, i + batch));
  const next = async () => {
    for (let b = batches.shift(); b; b = batches.shift()) await influx.write(b);
  };
  await Promise.all([next(), next()]);
}

/** An aggregate computed the way InfluxDB defines it (PERCENTILE: nearest rank, MEDIAN: mean of the middle two). */
export function aggregateOf(agg: Aggregate, points: readonly { t: number; v: number }[]): number | undefined {
  if (points.length === 0) return agg === 'count' ? 0 : undefined;
  const values = points.map((p) => p.v);
  const sorted = [...values].sort((a, b) => a - b);
  switch (agg) {
    case 'mean':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'sum':
      return values.reduce((a, b) => a + b, 0);
    case 'count':
      return values.length;
    case 'min':
      return sorted[0];
    case 'max':
      return sorted[sorted.length - 1];
    case 'median': {
      const mid = Math.floor(sorted.length / 2);
      return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1]! + sorted[mid]!) / 2;
    }
    case 'p95': {
      const i = Math.floor((sorted.length * 95) / 100 + 0.5) - 1;
      return i < 0 || i >= sorted.length ? undefined : sorted[i];
    }
    case 'first':
      return [...points].sort((a, b) => a.t - b.t)[0]!.v;
    case 'last':
      return [...points].sort((a, b) => b.t - a.t)[0]!.v;
  }
}

/** Expected windows of one device and metric: window start → raw points in it. */
export function windowsOf(points: readonly GeneratedPoint[], device: string, metric: string, fromMs: number, toMs: number, everyMs: number): Map<number, { t: number; v: number }[]> {
  const windows = new Map<number, { t: number; v: number }[]>();
  for (let w = fromMs; w < toMs; w += everyMs) windows.set(w, []);
  for (const p of points) {
    if (p.device !== device || p.t < fromMs || p.t >= toMs) continue;
    const v = p.values[metric];
    if (v === undefined) continue;
    windows.get(Math.floor(p.t / everyMs) * everyMs)!.push({ t: p.t, v });
  }
  return windows;
}

/** A small RFC 4180 CSV parser (quoted cells, doubled quotes, CRLF). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  if (cell !== '' || row.length > 0) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}
