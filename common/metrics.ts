/**
 * Prometheus metrics on prom-client: counters, gauges and histograms with labels, in a
 * registry each service owns (never prom-client's global one: the lab and the tests build
 * several services in one process), exposed in text format 0.0.4.
 *
 * The API stays the project's own so call sites do not depend on prom-client's:
 * - label names need not be declared: a metric learns them from the label sets it is given
 *   (`labelNames` declares them up front, which also leaves out the unlabelled series);
 * - counters and gauges keep their values in plain cells and hand them to prom-client at
 *   scrape time. The edge counts every reading (tens of thousands a second), and a
 *   prom-client child's `inc()` hashes its label set on every call (~130 ns here, against
 *   ~3 ns for a cell): a child bound once with `counter.labels({ reason })` stays a field add;
 * - histograms are prom-client's own (observed per batch or request, not per reading);
 * - gauges that mirror state elsewhere, and counters kept elsewhere, take a `collect`
 *   callback, read at scrape time.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter as PromCounter, Gauge as PromGauge, Histogram as PromHistogram, Registry, collectDefaultMetrics } from 'prom-client';

export type Labels = Record<string, string>;

export interface CounterChild {
  inc(by?: number): void;
  get(): number;
}

export interface Counter extends CounterChild {
  labels(labels: Labels): CounterChild;
}

export interface CounterOptions extends MetricOptions {
  /**
   * For a count kept elsewhere (a component's own statistics): read at scrape time, one value
   * or several by labels, and never smaller than the last read while the process runs.
   */
  collect?: () => Samples | Promise<Samples>;
}

export interface GaugeChild {
  set(value: number): void;
  inc(by?: number): void;
  dec(by?: number): void;
  get(): number;
}

export interface Gauge extends GaugeChild {
  labels(labels: Labels): GaugeChild;
}

export interface HistogramChild {
  observe(value: number): void;
  /** Starts a timer; the returned function observes the elapsed seconds. */
  startTimer(): () => number;
}

export interface Histogram extends HistogramChild {
  labels(labels: Labels): HistogramChild;
}

export interface MetricOptions {
  name: string;
  help: string;
  /** Label names, declared up front; optional (a metric learns the names it is given). */
  labelNames?: readonly string[];
}

/** What a `collect` callback reads: one value, or several values by labels. */
export type Samples = number | { labels: Labels; value: number }[];

export interface GaugeOptions extends MetricOptions {
  /** Read at scrape time: a value, or several values by labels. */
  collect?: () => Samples | Promise<Samples>;
}

export interface HistogramOptions extends MetricOptions {
  /** Upper bounds, ascending; +Inf is added. Default: latency buckets in seconds. */
  buckets?: readonly number[];
}

/** Latency buckets from 0.5 ms to 30 s. */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

export interface MetricsRegistry {
  counter(options: CounterOptions): Counter;
  gauge(options: GaugeOptions): Gauge;
  histogram(options: HistogramOptions): Histogram;
  /** The whole registry in Prometheus text format. */
  render(): Promise<string>;
  readonly contentType: string;
  /** The prom-client registry underneath, for prom-client's own collectors. */
  readonly client: Registry;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** One label set's value of a counter or gauge. */
interface Cell {
  readonly labels: Labels;
  value: number;
  /** Set by a gauge's set/inc/dec: an unlabelled gauge cell is shown only once used, or when it is the only one. */
  touched: boolean;
}

/** The label sets of one counter or gauge; the unlabelled one (key '') always exists. */
class Cells {
  readonly byKey = new Map<string, Cell>();
  readonly root: Cell = { labels: {}, value: 0, touched: false };

  constructor() {
    this.byKey.set('', this.root);
  }

  of(labels: Labels): Cell {
    const key = labelKey(labels);
    let cell = this.byKey.get(key);
    if (!cell) {
      cell = { labels: { ...labels }, value: 0, touched: false };
      this.byKey.set(key, cell);
    }
    return cell;
  }

  /** What a scrape shows: every labelled set, and the unlabelled one when used or alone. */
  shown(): Cell[] {
    const labelled = this.byKey.size > 1;
    return [...this.byKey.values()].filter((cell) => cell !== this.root || !labelled || cell.touched || cell.value !== 0);
  }
}

/** Puts what a `collect` callback read into the metric's cells. */
async function collectInto(cells: Cells, metric: object, metricName: string, collect: () => Samples | Promise<Samples>): Promise<void> {
  const samples = await collect();
  if (typeof samples === 'number') {
    cells.root.value = samples;
    cells.root.touched = true;
    return;
  }
  for (const sample of samples) {
    admitLabelNames(metric, metricName, sample.labels);
    cells.of(sample.labels).value = sample.value;
  }
}

/** A stable key for a label set (names sorted); a label set with no names is ''. */
function labelKey(labels: Labels): string {
  const names = Object.keys(labels);
  if (names.length === 0) return '';
  names.sort();
  let key = '';
  for (const name of names) key += `${name}\u0000${labels[name]}\u0001`;
  return key;
}

/**
 * prom-client wants every label name at construction; this API lets a metric learn them
 * from the label sets it is given (`.labels({ reason })`), so call sites need not list them.
 * prom-client reads `labelNames`/`sortedLabelNames` on each use, so adding to them is enough.
 */
function admitLabelNames(metric: object, metricName: string, labels: Labels): void {
  const known = metric as { labelNames: string[]; sortedLabelNames: string[] };
  let added = false;
  for (const name of Object.keys(labels)) {
    if (known.labelNames.includes(name)) continue;
    if (!LABEL.test(name) || name.startsWith('__')) throw new Error(`metric ${metricName}: bad label name "${name}"`);
    // A histogram's buckets are the `le` label: a label of that name would corrupt them.
    if (name === 'le' && metric instanceof PromHistogram) throw new Error(`metric ${metricName}: a histogram cannot have a label named le`);
    if (typeof labels[name] !== 'string') throw new Error(`metric ${metricName}: label ${name} must be a string`);
    known.labelNames = [...known.labelNames, name];
    added = true;
  }
  if (added) known.sortedLabelNames = [...known.labelNames].sort();
}

export function createMetricsRegistry(options: { prefix?: string; defaultLabels?: Labels } = {}): MetricsRegistry {
  const client = new Registry();
  if (options.defaultLabels && Object.keys(options.defaultLabels).length > 0) client.setDefaultLabels(options.defaultLabels);
  const prefix = options.prefix ?? '';

  function checkName(name: string): void {
    if (client.getSingleMetric(name)) throw new Error(`metric ${name} registered twice`);
  }

  function counter(opts: CounterOptions): Counter {
    const name = prefix + opts.name;
    checkName(name);
    const cells = new Cells();
    const collect = opts.collect;
    const metric: PromCounter = new PromCounter({
      name,
      help: opts.help,
      labelNames: [...(opts.labelNames ?? [])],
      registers: [client],
      async collect() {
        if (collect) await collectInto(cells, metric, name, collect);
        metric.reset();
        for (const cell of cells.shown()) metric.inc(cell.labels, cell.value);
      },
    });
    const child = (cell: Cell): CounterChild => ({
      inc(by = 1) {
        if (!(by >= 0)) throw new Error(`counter ${name} cannot decrease (inc by ${by})`);
        cell.value += by;
      },
      get: () => cell.value,
    });
    const root = child(cells.root);
    return {
      ...root,
      labels(labels) {
        admitLabelNames(metric, name, labels);
        return child(cells.of(labels));
      },
    };
  }

  function gauge(opts: GaugeOptions): Gauge {
    const name = prefix + opts.name;
    checkName(name);
    const cells = new Cells();
    const collect = opts.collect;
    const metric: PromGauge = new PromGauge({
      name,
      help: opts.help,
      labelNames: [...(opts.labelNames ?? [])],
      registers: [client],
      async collect() {
        if (collect) await collectInto(cells, metric, name, collect);
        metric.reset();
        for (const cell of cells.shown()) metric.set(cell.labels, cell.value);
      },
    });
    const child = (cell: Cell): GaugeChild => ({
      set(value) {
        cell.value = value;
        cell.touched = true;
      },
      inc(by = 1) {
        cell.value += by;
        cell.touched = true;
      },
      dec(by = 1) {
        cell.value -= by;
        cell.touched = true;
      },
      get: () => cell.value,
    });
    const root = child(cells.root);
    return {
      ...root,
      labels(labels) {
        admitLabelNames(metric, name, labels);
        return child(cells.of(labels));
      },
    };
  }

  function histogram(opts: HistogramOptions): Histogram {
    const name = prefix + opts.name;
    checkName(name);
    const buckets = [...(opts.buckets ?? LATENCY_BUCKETS_S)];
    for (let i = 1; i < buckets.length; i += 1) if (buckets[i]! <= buckets[i - 1]!) throw new Error(`buckets of ${name} must ascend`);
    const metric = new PromHistogram({ name, help: opts.help, buckets, labelNames: [...(opts.labelNames ?? [])], registers: [client] });
    const child = (observe: (value: number) => void): HistogramChild => ({
      observe,
      startTimer() {
        const started = process.hrtime.bigint();
        return () => {
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          observe(seconds);
          return seconds;
        };
      },
    });
    const root = child((value) => metric.observe(value));
    return {
      ...root,
      labels(labels) {
        admitLabelNames(metric, name, labels);
        // prom-client's child, bound to its label set once.
        return child(metric.labels(labels).observe);
      },
    };
  }

  return { counter, gauge, histogram, render: () => client.metrics(), contentType: client.contentType, client };
}

/**
 * Adds prom-client's default process metrics (CPU seconds, resident and heap memory, event
 * loop lag and utilisation, GC durations, open handles and file descriptors, start time)
 * and the uptime gauge the hand-written registry had, which prom-client does not offer.
 */
export function registerProcessMetrics(registry: MetricsRegistry): void {
  collectDefaultMetrics({ register: registry.client });
  registry.gauge({ name: 'process_uptime_seconds', help: 'Seconds since the process started.', collect: () => process.uptime() });
}

export interface HealthStatus {
  ok: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

export interface OpsServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/**
 * The tiny HTTP endpoint a service without its own HTTP API (broker, ingest) exposes:
 * `GET /metrics` (Prometheus text), `GET /healthz` (the process answers) and `GET /readyz`
 * (200 when every check passes, else 503), each check as JSON like the API's `/readyz`.
 */
export async function startOpsServer(options: {
  host?: string;
  port: number;
  registry: MetricsRegistry;
  ready: () => Promise<HealthStatus> | HealthStatus;
}): Promise<OpsServer> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const send = (status: number, type: string, body: string) => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'text/plain', 'method not allowed\n');
    if (path === '/metrics') {
      options.registry.render().then(
        (text) => send(200, options.registry.contentType, text),
        (error: unknown) => send(500, 'text/plain', `metrics failed: ${String(error)}\n`),
      );
      return;
    }
    if (path === '/healthz') return send(200, 'application/json', JSON.stringify({ status: 'ok', checks: {} }));
    if (path === '/readyz') {
      Promise.resolve()
        .then(() => options.ready())
        .then(
          (status) => send(status.ok ? 200 : 503, 'application/json', JSON.stringify({ status: status.ok ? 'ok' : 'degraded', checks: status.checks })),
          (error: unknown) => send(503, 'application/json', JSON.stringify({ status: 'degraded', checks: { self: { ok: false, detail: String(error) } } })),
        );
      return;
    }
    send(404, 'text/plain', 'not found: try /metrics, /healthz or /readyz\n');
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * `startOpsServer`, but a port already in use is logged, not fatal: metrics and health are
 * auxiliary, and a second broker or ingest on the same machine must not fail to start over them.
 */
export async function startOpsServerOrWarn(
  options: Parameters<typeof startOpsServer>[0],
  log: { warn(obj: object, msg: string): void },
): Promise<OpsServer | undefined> {
  try {
    return await startOpsServer(options);
  } catch (error) {
    log.warn({ err: error instanceof Error ? error.message : String(error), port: options.port }, 'metrics and health endpoint not started (port in use?); the service runs without it');
    return undefined;
  }
}
