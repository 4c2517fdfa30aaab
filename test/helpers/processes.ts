/**
 * The services as separate processes, as they are deployed: `node --import tsx broker/main.ts`
 * and so on, configured through the environment on free ports with their own temporary data
 * directories. For fault-injection tests: kill one (SIGKILL) or stop it (SIGTERM), start it
 * again on the same port and data directory, read its structured logs and its /metrics.
 *
 * Also a steady QoS 1 load of known, unique readings (one MQTT connection per device,
 * `ts` and `seq` unique per device) and the count in InfluxDB that decides what was lost
 * or duplicated.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { buildReadingTopic } from '../../contracts/index.ts';
import type { InfluxClient } from '../../common/influx.ts';
import { findFreePort } from '../../common/net.ts';

const ROOT = join(import.meta.dirname, '..', '..');

export type ServiceName = 'broker' | 'ingest' | 'api';

/** The log line each service writes once it is up. */
const READY_MESSAGES: Record<ServiceName, string> = {
  broker: 'broker listening',
  ingest: 'ingest running',
  api: 'api listening',
};

export interface LogRecord {
  level: number;
  msg: string;
  time: number;
  [key: string]: unknown;
}

export interface ServiceProcess {
  readonly name: ServiceName;
  readonly pid: number | undefined;
  readonly env: Record<string, string>;
  /** Every structured log line so far. */
  readonly logs: LogRecord[];
  /** Resolves with how the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The first log record (past or future) that matches. */
  waitForLog(match: (record: LogRecord) => boolean, timeoutMs?: number, what?: string): Promise<LogRecord>;
  /** SIGKILL, as a crash. */
  kill(): Promise<void>;
  /** SIGTERM, then waits for the exit; SIGKILL after `timeoutMs`. */
  stop(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }>;
  /** GET on the service's ops or API port (metrics, health). */
  opsUrl: string | undefined;
}

export async function startService(name: ServiceName, env: Record<string, string>, options: { readyTimeoutMs?: number } = {}): Promise<ServiceProcess> {
  const fullEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? tmpdir(),
    LOG_LEVEL: 'info',
    ...env,
  };
  // NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=…`) go to node itself, for profiling a run.
  const nodeArgs = (env.NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(ROOT, name, 'main.ts')], {
    cwd: ROOT,
    env: fullEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: LogRecord[] = [];
  const waiters: { match: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];
  let stderr = '';
  let pending = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
      let record: LogRecord;
      try {
        record = JSON.parse(line) as LogRecord;
      } catch {
        continue;
      }
      logs.push(record);
      for (const waiter of [...waiters]) {
        if (waiter.match(record)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(record);
        }
      }
    }
  });
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });

  function waitForLog(match: (record: LogRecord) => boolean, timeoutMs = 30_000, what = 'a log line'): Promise<LogRecord> {
    const found = logs.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = { match, resolve: (r: LogRecord) => (clearTimeout(timer), resolve(r)) };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`${name}: no ${what} within ${timeoutMs} ms; stderr: ${stderr.slice(-2_000)}`));
      }, timeoutMs);
      waiters.push(waiter);
      void exited.then(({ code, signal }) => {
        if (waiters.includes(waiter)) {
          clearTimeout(timer);
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`${name} exited (code ${code}, signal ${signal}) before ${what}; stderr: ${stderr.slice(-2_000)}`));
        }
      });
    });
  }

  const service: ServiceProcess = {
    name,
    pid: child.pid,
    env: fullEnv,
    logs,
    exited,
    waitForLog,
    opsUrl: undefined,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop(timeoutMs = 20_000) {
      const started = Date.now();
      if (child.exitCode !== null || child.signalCode !== null) return { ...(await exited), ms: 0 };
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const result = await exited;
      clearTimeout(timer);
      return { ...result, ms: Date.now() - started };
    },
  };
  try {
    await waitForLog((r) => r.msg === READY_MESSAGES[name], options.readyTimeoutMs ?? 30_000, `"${READY_MESSAGES[name]}"`);
  } catch (error) {
    await service.kill();
    throw error;
  }
  const ops = logs.find((r) => typeof r.url === 'string' && /metrics and health listening|api listening/.test(r.msg));
  service.opsUrl = ops?.url as string | undefined;
  return service;
}

/** A temporary directory removed by the returned cleanup. */
export async function tempDir(prefix: string): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), `streetlab-${prefix}-`));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** Reads a service's /metrics and returns the value of one sample (sum over label sets when `labels` is omitted). */
export async function readMetric(opsUrl: string, name: string, labels?: Record<string, string>): Promise<number | undefined> {
  const response = await fetch(`${opsUrl}/metrics`, { signal: AbortSignal.timeout(2_000) });
  return readMetricText(await response.text(), name, labels);
}

/** One sample's value in Prometheus text (summed over label sets matching `labels`). */
export function readMetricText(text: string, name: string, labels?: Record<string, string>): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    if (labels && !Object.entries(labels).every(([k, v]) => match[2]?.includes(`${k}="${v}"`))) continue;
    total = (total ?? 0) + Number(match[3]);
  }
  return total;
}

export interface Pipeline {
  mqttPort: number;
  mqttUrl: string;
  influxUrl: string;
  /** DATA_DIR of every service (the log is DATA_DIR/log). */
  dataDir: string;
  broker: ServiceProcess | undefined;
  ingest: ServiceProcess | undefined;
  api: ServiceProcess | undefined;
  apiPort: number;
  startBroker(extraEnv?: Record<string, string>): Promise<ServiceProcess>;
  startIngest(extraEnv?: Record<string, string>): Promise<ServiceProcess>;
  startApi(extraEnv?: Record<string, string>): Promise<ServiceProcess>;
  close(): Promise<void>;
}

/**
 * Broker, ingest and (on demand) API as separate processes against `influxUrl`, each with
 * a fixed port chosen once (free at the start) so a restart comes back where clients look.
 */
export async function createPipeline(influxUrl: string, options: { database?: string; brokerPersistence?: 'file' | 'memory'; env?: Record<string, string> } = {}): Promise<Pipeline> {
  // One data directory, as on one host: the broker's edge writes DATA_DIR/log, ingest drains it.
  const dataDir = await tempDir('data');
  const mqttPort = await findFreePort();
  const apiPort = await findFreePort();
  const common = {
    INFLUX_URL: influxUrl,
    INFLUX_DB: options.database ?? 'streetlab',
    SHUTDOWN_GRACE_MS: '15000',
    ...options.env,
  };
  const mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;
  const pipeline: Pipeline = {
    mqttPort,
    mqttUrl,
    influxUrl,
    dataDir: dataDir.path,
    broker: undefined,
    ingest: undefined,
    api: undefined,
    apiPort,
    async startBroker(extraEnv = {}) {
      pipeline.broker = await startService('broker', {
        ...common,
        MQTT_PORT: String(mqttPort),
        MQTT_WS_ENABLED: 'false',
        BROKER_PERSISTENCE: options.brokerPersistence ?? 'file',
        DATA_DIR: dataDir.path,
        BROKER_HTTP_PORT: '0',
        EDGE_HTTP_PORT: '0',
        // Durability, not security, is under test here: an open broker without per-device rate limits.
        MQTT_ALLOW_ANONYMOUS: 'true',
        MQTT_DEVICE_RATE_PER_S: '0',
        ...extraEnv,
      });
      return pipeline.broker;
    },
    async startIngest(extraEnv = {}) {
      pipeline.ingest = await startService('ingest', {
        ...common,
        DATA_DIR: dataDir.path,
        INGEST_HTTP_PORT: '0',
        FLUSH_INTERVAL_MS: '50',
        ...extraEnv,
      });
      return pipeline.ingest;
    },
    async startApi(extraEnv = {}) {
      pipeline.api = await startService('api', { ...common, MQTT_URL: mqttUrl, DATA_DIR: dataDir.path, HTTP_PORT: String(apiPort), ...extraEnv });
      return pipeline.api;
    },
    async close() {
      await Promise.all([pipeline.api?.kill(), pipeline.ingest?.kill(), pipeline.broker?.kill()]);
      await dataDir.remove();
    },
  };
  return pipeline;
}

export interface LoadOptions {
  mqttUrl: string;
  /** Device ids are `${prefix}-${i}`. */
  prefix: string;
  devices: number;
  /** Readings per second over all devices. */
  ratePerS: number;
  /** Device secrets (secured broker): username = device id. */
  secrets?: Map<string, string>;
  /** Other brokers a device fails over to when its connection drops (cluster mode), tried in turn. */
  failoverUrls?: string[];
  /** Wait until every device is connected before publishing (default true). false: publish from the start; mqtt.js holds QoS 1 messages until its connection is up. */
  waitForConnect?: boolean;
}

export interface LoadResult {
  /** Publishes the broker acknowledged, per device: their seq numbers. */
  acked: Map<string, Set<number>>;
  ackedCount: number;
  attempted: number;
  /** Publishes never acknowledged (the client gave up at stop). */
  unacked: number;
}

export interface Load {
  /** Acknowledged so far. */
  acked(): number;
  /** A copy of what is acknowledged so far (to ask later whether all of it is stored). */
  snapshot(): LoadResult;
  attempted(): number;
  /** Stops publishing, waits up to `settleMs` for outstanding acknowledgements, disconnects. */
  stop(settleMs?: number): Promise<LoadResult>;
}

/**
 * A steady QoS 1 load: each device publishes air readings at ratePerS / devices, every one
 * with a unique (device, ts) and `seq`. Devices reconnect by themselves (as real ones do)
 * and mqtt.js resends what the broker had not acknowledged.
 */
export async function startLoad(options: LoadOptions): Promise<Load> {
  const clients: { id: string; client: MqttClient; seq: number; lastTs: number }[] = [];
  const acked = new Map<string, Set<number>>();
  let ackedCount = 0;
  let attempted = 0;
  let outstanding = 0;
  for (let i = 0; i < options.devices; i += 1) {
    const id = `${options.prefix}-${i}`;
    const password = options.secrets?.get(id);
    const client = mqtt.connect(options.mqttUrl, {
      clientId: id,
      clean: true,
      reconnectPeriod: 250,
      connectTimeout: 5_000,
      queueQoSZero: false,
      ...(password === undefined ? {} : { username: id, password }),
      ...(options.failoverUrls
        ? { servers: [options.mqttUrl, ...options.failoverUrls].map((u) => ({ host: new URL(u).hostname, port: Number(new URL(u).port) })) }
        : {}),
    });
    client.on('error', () => {});
    clients.push({ id, client, seq: 0, lastTs: 0 });
    acked.set(id, new Set());
  }
  if (options.waitForConnect !== false) {
    await Promise.all(clients.map(({ client }) => new Promise<void>((resolve) => (client.connected ? resolve() : client.once('connect', () => resolve())))));
  }

  const perDeviceIntervalMs = (1000 * options.devices) / options.ratePerS;
  let running = true;
  const tick = Math.max(5, Math.min(50, perDeviceIntervalMs));
  const started = Date.now();
  const timer = setInterval(() => {
    if (!running) return;
    const elapsed = Date.now() - started;
    for (const device of clients) {
      // Publish as many as this device owes by now (a steady rate, not a closed loop).
      const due = Math.floor(elapsed / perDeviceIntervalMs);
      while (device.seq < due) {
        device.seq += 1;
        const seq = device.seq;
        const ts = Math.max(device.lastTs + 1, Date.now());
        device.lastTs = ts;
        const body = JSON.stringify({ ts, seq, pm25: (seq % 500) / 10, no2: 20 + (seq % 40), temperature: 12.5 });
        attempted += 1;
        outstanding += 1;
        device.client.publish(buildReadingTopic('air', device.id), body, { qos: 1 }, (error) => {
          outstanding -= 1;
          if (!error) {
            acked.get(device.id)!.add(seq);
            ackedCount += 1;
          }
        });
      }
    }
  }, tick);

  return {
    acked: () => ackedCount,
    snapshot: () => ({
      acked: new Map([...acked].map(([device, seqs]) => [device, new Set(seqs)])),
      ackedCount,
      attempted,
      unacked: outstanding,
    }),
    attempted: () => attempted,
    async stop(settleMs = 30_000) {
      running = false;
      clearInterval(timer);
      const deadline = Date.now() + settleMs;
      while (outstanding > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      const unacked = outstanding;
      await Promise.all(clients.map(({ client }) => client.endAsync(true).catch(() => {})));
      return { acked, ackedCount, attempted, unacked };
    },
  };
}

export interface Tally {
  /** Acknowledged readings found in InfluxDB. */
  stored: number;
  /** Acknowledged readings missing from InfluxDB. */
  lost: number;
  /** Rows beyond one per reading (same device and seq stored more than once). */
  duplicated: number;
  /** Rows in InfluxDB for these devices (acknowledged or not). */
  rows: number;
  missing: string[];
}

/** Counts what InfluxDB holds for the load's devices against what the broker acknowledged. */
export async function tally(influx: InfluxClient, prefix: string, result: LoadResult): Promise<Tally> {
  const rows = await influx.queryRows(`SELECT seq, device FROM air WHERE device =~ /^${prefix.replace(/[^A-Za-z0-9_-]/g, '')}-/`);
  const seen = new Map<string, Map<number, number>>();
  for (const row of rows) {
    const device = String(row.device);
    let bySeq = seen.get(device);
    if (!bySeq) seen.set(device, (bySeq = new Map()));
    const seq = Number(row.seq);
    bySeq.set(seq, (bySeq.get(seq) ?? 0) + 1);
  }
  let stored = 0;
  let lost = 0;
  const missing: string[] = [];
  for (const [device, seqs] of result.acked) {
    const found = seen.get(device);
    for (const seq of seqs) {
      if (found?.has(seq)) stored += 1;
      else {
        lost += 1;
        if (missing.length < 10) missing.push(`${device}#${seq}`);
      }
    }
  }
  let duplicated = 0;
  for (const bySeq of seen.values()) for (const count of bySeq.values()) duplicated += count - 1;
  return { stored, lost, duplicated, rows: rows.length, missing };
}

/** Polls until `probe` returns true; returns the seconds it took. */
export async function waitUntil(probe: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  for (;;) {
    try {
      if (await probe()) return (Date.now() - started) / 1000;
    } catch {
      // not yet
    }
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Samples a metric every `everyMs` and keeps the peak (e.g. spool depth during a fault). */
export function samplePeak(read: () => Promise<number | undefined>, everyMs = 250): { peak(): number; stop(): void } {
  let peak = 0;
  let stopped = false;
  const loop = async () => {
    while (!stopped) {
      try {
        const value = await read();
        if (value !== undefined && value > peak) peak = value;
      } catch {
        // the service may be down right now
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  };
  void loop();
  return {
    peak: () => peak,
    stop() {
      stopped = true;
    },
  };
}
