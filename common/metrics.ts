/**
 * A small Prometheus text-format exposition (format 0.0.4): counters, gauges and histograms
 * with labels, in a registry each service owns. No dependency: prom-client's defaults
 * (process collectors, cluster aggregation) are more than a service here needs, and the
 * format is a page of text.
 *
 * Hot paths (thousands of readings per second) call `inc()`/`observe()` on a child bound to
 * its label values once (`counter.labels({ reason })`), so no label string is built per call.
 * Gauges that mirror state elsewhere take a `collect` callback, read at scrape time.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Labels = Record<string, string>;

interface MetricBase {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  render(): Promise<string[]> | string[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return '';
  for (const key of keys) if (!LABEL.test(key)) throw new Error(`bad label name ${key}`);
  return `{${keys.map((k) => `${k}="${escapeLabelValue(labels[k]!)}"`).join(',')}}`;
}

function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

export interface CounterChild {
  inc(by?: number): void;
  get(): number;
}

export interface Counter extends CounterChild {
  labels(labels: Labels): CounterChild;
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
}

export interface GaugeOptions extends MetricOptions {
  /** Read at scrape time: a value, or several values by labels. */
  collect?: () => number | { labels: Labels; value: number }[] | Promise<number | { labels: Labels; value: number }[]>;
}

export interface HistogramOptions extends MetricOptions {
  /** Upper bounds, ascending; +Inf is added. Default: latency buckets in seconds. */
  buckets?: readonly number[];
}

/** Latency buckets from 0.5 ms to 30 s. */
export const LATENCY_BUCKETS_S = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

export interface MetricsRegistry {
  counter(options: MetricOptions): Counter;
  gauge(options: GaugeOptions): Gauge;
  histogram(options: HistogramOptions): Histogram;
  /** The whole registry in Prometheus text format. */
  render(): Promise<string>;
  readonly contentType: string;
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export function createMetricsRegistry(options: { prefix?: string; defaultLabels?: Labels } = {}): MetricsRegistry {
  const metrics = new Map<string, MetricBase>();
  const prefix = options.prefix ?? '';
  const defaults = options.defaultLabels ?? {};

  function register<M extends MetricBase>(metric: M): M {
    if (!NAME.test(metric.name)) throw new Error(`bad metric name ${metric.name}`);
    if (metrics.has(metric.name)) throw new Error(`metric ${metric.name} registered twice`);
    metrics.set(metric.name, metric);
    return metric;
  }

  const withDefaults = (labels?: Labels): Labels => ({ ...defaults, ...(labels ?? {}) });

  /** The value cell of one label set of a counter or gauge, created at 0. */
  function cellOf(children: Map<string, { value: number }>, labels?: Labels): { value: number } {
    const key = labelKey(withDefaults(labels));
    let cell = children.get(key);
    if (!cell) {
      cell = { value: 0 };
      children.set(key, cell);
    }
    return cell;
  }

  function counter(opts: MetricOptions): Counter {
    const name = prefix + opts.name;
    const children = new Map<string, { value: number }>();
    const child = (labels?: Labels): CounterChild => {
      const c = cellOf(children, labels);
      return {
        inc(by = 1) {
          if (by < 0) throw new Error(`counter ${name} cannot decrease`);
          c.value += by;
        },
        get: () => c.value,
      };
    };
    const root = child();
    return register({
      name,
      help: opts.help,
      type: 'counter' as const,
      render: () => [...children].map(([key, cell]) => `${name}${key} ${formatNumber(cell.value)}`),
      inc: root.inc,
      get: root.get,
      labels: (labels: Labels) => child(labels),
    });
  }

  function gauge(opts: GaugeOptions): Gauge {
    const name = prefix + opts.name;
    const children = new Map<string, { value: number }>();
    const child = (labels?: Labels): GaugeChild => {
      const c = cellOf(children, labels);
      return {
        set(value) {
          c.value = value;
        },
        inc(by = 1) {
          c.value += by;
        },
        dec(by = 1) {
          c.value -= by;
        },
        get: () => c.value,
      };
    };
    // A collected gauge has no stored root cell until it is set; a plain one starts at 0.
    const root = opts.collect ? undefined : child();
    return register({
      name,
      help: opts.help,
      type: 'gauge' as const,
      async render() {
        if (opts.collect) {
          const collected = await opts.collect();
          if (typeof collected === 'number') children.set(labelKey(withDefaults()), { value: collected });
          else for (const { labels, value } of collected) children.set(labelKey(withDefaults(labels)), { value });
        }
        return [...children].map(([key, cell]) => `${name}${key} ${formatNumber(cell.value)}`);
      },
      set: (value: number) => (root ?? child()).set(value),
      inc: (by?: number) => (root ?? child()).inc(by),
      dec: (by?: number) => (root ?? child()).dec(by),
      get: () => (root ?? child()).get(),
      labels: (labels: Labels) => child(labels),
    });
  }

  function histogram(opts: HistogramOptions): Histogram {
    const name = prefix + opts.name;
    const bounds = [...(opts.buckets ?? LATENCY_BUCKETS_S)];
    for (let i = 1; i < bounds.length; i += 1) if (bounds[i]! <= bounds[i - 1]!) throw new Error(`buckets of ${name} must ascend`);
    const children = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
    const child = (labels?: Labels): HistogramChild => {
      const all = withDefaults(labels);
      const key = labelKey(all);
      let cell = children.get(key);
      if (!cell) {
        cell = { labels: all, counts: bounds.map(() => 0), sum: 0, count: 0 };
        children.set(key, cell);
      }
      const c = cell;
      const observe = (value: number) => {
        c.sum += value;
        c.count += 1;
        // Cumulative buckets are summed at render time; here each value lands in one.
        for (let i = 0; i < bounds.length; i += 1) {
          if (value <= bounds[i]!) {
            c.counts[i]! += 1;
            return;
          }
        }
      };
      return {
        observe,
        startTimer() {
          const started = process.hrtime.bigint();
          return () => {
            const seconds = Number(process.hrtime.bigint() - started) / 1e9;
            observe(seconds);
            return seconds;
          };
        },
      };
    };
    const root = child();
    return register({
      name,
      help: opts.help,
      type: 'histogram' as const,
      render() {
        const lines: string[] = [];
        for (const cell of children.values()) {
          let cumulative = 0;
          bounds.forEach((bound, i) => {
            cumulative += cell.counts[i]!;
            lines.push(`${name}_bucket${labelKey({ ...cell.labels, le: formatNumber(bound) })} ${cumulative}`);
          });
          lines.push(`${name}_bucket${labelKey({ ...cell.labels, le: '+Inf' })} ${cell.count}`);
          lines.push(`${name}_sum${labelKey(cell.labels)} ${formatNumber(cell.sum)}`);
          lines.push(`${name}_count${labelKey(cell.labels)} ${cell.count}`);
        }
        return lines;
      },
      observe: root.observe,
      startTimer: root.startTimer,
      labels: (labels: Labels) => child(labels),
    });
  }

  async function render(): Promise<string> {
    const out: string[] = [];
    for (const metric of metrics.values()) {
      out.push(`# HELP ${metric.name} ${metric.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
      out.push(`# TYPE ${metric.name} ${metric.type}`);
      out.push(...(await metric.render()));
    }
    return `${out.join('\n')}\n`;
  }

  return { counter, gauge, histogram, render, contentType: PROMETHEUS_CONTENT_TYPE };
}

/** Adds the process gauges every service shows: resident memory, heap, CPU seconds, uptime. */
export function registerProcessMetrics(registry: MetricsRegistry): void {
  const started = Date.now();
  registry.gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.', collect: () => process.memoryUsage.rss() });
  registry.gauge({ name: 'nodejs_heap_used_bytes', help: 'V8 heap in use, bytes.', collect: () => process.memoryUsage().heapUsed });
  registry.gauge({
    name: 'process_cpu_seconds',
    help: 'User and system CPU time spent, seconds (a gauge mirroring a counter, read at scrape time).',
    collect: () => {
      const usage = process.cpuUsage();
      return (usage.user + usage.system) / 1e6;
    },
  });
  registry.gauge({ name: 'process_uptime_seconds', help: 'Seconds since the service started.', collect: () => (Date.now() - started) / 1000 });
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
