/**
 * A fleet of simulated street devices talking MQTT to a real broker.
 *
 * Each device has its own MQTT connection by default — client id and (with credentials)
 * username = device id, as the contract asks of real devices. For load beyond what one
 * process can hold as separate sockets, `multiplex: n` puts n devices on one connection
 * (client id `<clientIdPrefix>-0001`…); each device still publishes on its own topic.
 * A broker enforcing the per-device ACL refuses that, so multiplexing is for load tests on
 * an open broker or with a gateway account that may publish for its devices (the
 * credentials provider is asked for the connection's client id).
 *
 * Time: a simulated clock starts at `startTimeMs` (default: now) and runs `timeScale`
 * times faster than the wall clock. Each device reports every `intervalMs` of wall time
 * with a seeded jitter; its reading is taken at the simulated instant it was scheduled
 * for, so for a given seed and start time the series of every device is the same run
 * after run, whenever the sockets happen to be slow.
 *
 * Sending: readings go to a per-device outbox (store-and-forward, bounded by
 * `outboxLimit`) that drains while the device is online, its connection is up and the
 * connection has fewer than `maxInflight` unacknowledged publishes. A device in a
 * dropout, or whose connection is down, keeps measuring and forwards its backlog with the
 * original timestamps once it is back.
 *
 * Why ~600 lines: one device's whole lifecycle (registration, connection or multiplexing, schedule, faults, reconnects) for fleets of up to 20,000; the signal models are in simulators/devices/.
 */
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { buildReadingTopic, type ReadingKind } from '../contracts/index.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { deriveRandom, type Random } from './random.ts';
import { createDeviceModel, type DeviceModel } from './devices/index.ts';
import { formatTimestamp } from './devices/common.ts';
import {
  createDeviceFaults,
  createFaultCounts,
  type DeviceFaults,
  type FaultCounts,
  type FaultOptions,
  type OutgoingMessage,
} from './faults.ts';
import { planDevices, type DeviceCounts, type FleetDeviceInput } from './plan.ts';

export type { DeviceCounts, FleetDeviceInput } from './plan.ts';

export interface Credentials {
  username?: string;
  password: string;
}

/**
 * Supplies a device's MQTT password (its secret from the registry). Called with the device
 * id, or with the connection's client id in multiplex mode. `undefined` = connect anonymously.
 */
export type CredentialsProvider = (clientId: string) => Credentials | undefined | Promise<Credentials | undefined>;

/** Which clock a payload's `ts` comes from. */
export type TimestampMode = 'sim' | 'wall' | 'none';

export interface FleetOptions {
  mqttUrl: string;
  /** Counts per kind (`{ air: 4, traffic: 3, waste: 5 }`) or an explicit device list. */
  devices: DeviceCounts | readonly FleetDeviceInput[];
  /** Wall-clock ms between two readings of one device (default 10,000). */
  intervalMs?: number;
  /** Spread of each interval, as a share of it (default 0.1 = ±5 %). */
  jitter?: number;
  qos?: 0 | 1;
  seed?: number;
  faults?: FaultOptions;
  /** Simulated time at start, epoch ms (default: the wall clock at start()). */
  startTimeMs?: number;
  /** Simulated ms per wall ms (default 1; 60 = an hour a minute). */
  timeScale?: number;
  /**
   * `sim`: ts is the simulated instant; `wall`: the wall clock (ingest accepts it even when
   * simulated time runs fast or in the past); `none`: no ts (ingest uses its receive time).
   * Default: `sim` while the simulated clock is the real one, `wall` otherwise.
   */
  timestamps?: TimestampMode;
  credentials?: CredentialsProvider;
  /** Devices per MQTT connection (default 1: one connection each). */
  multiplex?: number;
  /** Connections opened at once while starting (default 100). */
  connectConcurrency?: number;
  /** Readings a device stores while it cannot send; the oldest go first (default 1,000). */
  outboxLimit?: number;
  /** Unacknowledged QoS 1 publishes per connection before devices hold back (default 1,000). */
  maxInflight?: number;
  /** Client id prefix of multiplexed connections (default `streetlab-sim-<seed>`). */
  clientIdPrefix?: string;
  keepaliveS?: number;
  /** Base reconnect delay, ms; each client waits 1–2× this so reconnects do not come in waves. */
  reconnectMs?: number;
  /** How long stop() waits for outstanding acknowledgements before cutting connections. */
  closeTimeoutMs?: number;
  logger?: Logger;
  /** Called for every message handed to MQTT (trial reports, tests). */
  onSent?: (event: SentEvent) => void;
}

export interface SentEvent {
  deviceId: string;
  kind: ReadingKind;
  topic: string;
  message: OutgoingMessage;
}

export interface FleetDevice {
  id: string;
  kind: ReadingKind;
  site: string;
  lat: number;
  lon: number;
  topic: string;
  /** The MQTT client id this device's messages travel on. */
  clientId: string;
}

export interface FleetStats {
  devices: number;
  connections: number;
  connectionsUp: number;
  /** Devices that can send now: connection up and not in a dropout. */
  connected: number;
  /** Readings taken. */
  readings: number;
  /** Messages handed to MQTT. */
  sent: number;
  /** QoS 1: PUBACK received; QoS 0: written to the socket. */
  acked: number;
  /** Publishes that failed plus connection errors. */
  errors: number;
  connectErrors: number;
  /** Messages waiting in device outboxes. */
  buffered: number;
  /** Messages lost because an outbox overflowed. */
  dropped: number;
  /** Faults injected so far, by kind. */
  injected: FaultCounts;
  /** How far the scheduler runs behind the wall clock, ms. */
  lagMs: number;
  /** Simulated time now, ISO 8601. */
  simTime: string;
  elapsedMs: number;
  running: boolean;
}

export interface Fleet {
  readonly devices: readonly FleetDevice[];
  /** Connects every device (a bounded number at a time) and starts reporting. */
  start(): Promise<void>;
  /** Stops reporting, waits for outstanding acknowledgements, closes every connection. */
  stop(): Promise<void>;
  /** Same as stop(). */
  close(): Promise<void>;
  stats(): FleetStats;
  /** Simulated time now, epoch ms. */
  simTime(): number;
}

/** Longest wait between two reconnect attempts of one device. */
const MAX_RECONNECT_MS = 60_000;

interface Connection {
  clientId: string;
  dedicated: boolean;
  devices: DeviceRuntime[];
  credentials: Credentials | undefined;
  client: MqttClient | undefined;
  connected: boolean;
  inflight: number;
  pending: Set<DeviceRuntime>;
  /** Open and close run one after another on this chain. */
  chain: Promise<void>;
  reconnectMs: number;
}

interface DeviceRuntime {
  info: FleetDevice;
  model: DeviceModel;
  faults: DeviceFaults;
  schedule: Random;
  password: string | undefined;
  username: string | undefined;
  conn: Connection;
  outbox: OutgoingMessage[];
  outboxHead: number;
  online: boolean;
  dueSimMs: number;
}

export function createFleet(options: FleetOptions): Fleet {
  const log = options.logger ?? createSilentLogger();
  const seed = options.seed ?? 1;
  const intervalMs = options.intervalMs ?? 10_000;
  if (!(intervalMs > 0)) throw new RangeError('intervalMs must be > 0');
  const timeScale = options.timeScale ?? 1;
  if (!(timeScale > 0)) throw new RangeError('timeScale must be > 0');
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.1));
  const qos = options.qos ?? 1;
  const multiplex = Math.max(1, Math.floor(options.multiplex ?? 1));
  const outboxLimit = Math.max(1, options.outboxLimit ?? 1_000);
  const maxInflight = Math.max(1, options.maxInflight ?? 1_000);
  const closeTimeoutMs = options.closeTimeoutMs ?? 5_000;
  const timestamps: TimestampMode = options.timestamps ?? (timeScale === 1 && options.startTimeMs === undefined ? 'sim' : 'wall');
  const clientIdPrefix = options.clientIdPrefix ?? `streetlab-sim-${seed}`;
  const intervalSimMs = intervalMs * timeScale;
  const periodS = Math.min(86_400, Math.max(1, Math.round(intervalSimMs / 1_000)));

  const planned = planDevices(options.devices, seed);
  const counts = createFaultCounts();
  const stats = { readings: 0, sent: 0, acked: 0, publishErrors: 0, connectErrors: 0, dropped: 0, lagMs: 0 };

  const connections: Connection[] = [];
  const runtimes: DeviceRuntime[] = [];
  const width = Math.max(4, String(Math.ceil(planned.length / multiplex)).length);
  planned.forEach((spec, index) => {
    const dedicated = multiplex === 1;
    let conn = connections[Math.floor(index / multiplex)];
    if (!conn) {
      const reconnectRandom = deriveRandom(seed, dedicated ? spec.id : `conn-${connections.length}`, 'reconnect');
      conn = {
        clientId: dedicated ? spec.id : `${clientIdPrefix}-${String(connections.length + 1).padStart(width, '0')}`,
        dedicated,
        devices: [],
        credentials: undefined,
        client: undefined,
        connected: false,
        inflight: 0,
        pending: new Set(),
        chain: Promise.resolve(),
        reconnectMs: Math.round((options.reconnectMs ?? 2_000) * (1 + reconnectRandom.next())),
      };
      connections.push(conn);
    }
    const info: FleetDevice = {
      id: spec.id,
      kind: spec.kind,
      site: spec.site,
      lat: spec.lat,
      lon: spec.lon,
      topic: buildReadingTopic(spec.kind, spec.id),
      clientId: conn.clientId,
    };
    const runtime: DeviceRuntime = {
      info,
      model: createDeviceModel(spec, { seed, periodS }),
      faults: createDeviceFaults(spec.kind, options.faults ?? {}, deriveRandom(seed, spec.id, 'faults'), counts),
      schedule: deriveRandom(seed, spec.id, 'schedule'),
      password: spec.password,
      username: spec.username,
      conn,
      outbox: [],
      outboxHead: 0,
      online: true,
      dueSimMs: 0,
    };
    conn.devices.push(runtime);
    runtimes.push(runtime);
  });

  // The scheduler: one timer over a min-heap of due times, not one timer per device.
  const heap: DeviceRuntime[] = [];
  let running = false;
  let stopped = false;
  let stopping: Promise<void> | undefined;
  let starting: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  let simStartMs = 0;
  let wallStartMs = 0;
  let wallStopMs: number | undefined;
  let loggedConnectError = false;

  const wallOf = (simMs: number) => wallStartMs + (simMs - simStartMs) / timeScale;
  const simNow = () =>
    wallStartMs > 0 ? simStartMs + ((wallStopMs ?? Date.now()) - wallStartMs) * timeScale : (options.startTimeMs ?? Date.now());

  function heapPush(device: DeviceRuntime): void {
    heap.push(device);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent]!.dueSimMs <= heap[i]!.dueSimMs) break;
      [heap[parent], heap[i]] = [heap[i]!, heap[parent]!];
      i = parent;
    }
  }

  function heapPop(): DeviceRuntime | undefined {
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && heap[l]!.dueSimMs < heap[m]!.dueSimMs) m = l;
        if (r < heap.length && heap[r]!.dueSimMs < heap[m]!.dueSimMs) m = r;
        if (m === i) break;
        [heap[m], heap[i]] = [heap[i]!, heap[m]!];
        i = m;
      }
    }
    return top;
  }

  function arm(): void {
    if (!running || timer || immediate) return;
    const next = heap[0];
    if (!next) return;
    const delay = wallOf(next.dueSimMs) - Date.now();
    if (delay <= 0) immediate = setImmediate(pump);
    else timer = setTimeout(pump, Math.min(delay, 2_147_483_647));
  }

  /** Ticks every device that is due, a bounded batch at a time so sockets get their turn. */
  function pump(): void {
    timer = undefined;
    immediate = undefined;
    if (!running) return;
    const now = Date.now();
    for (let n = 0; n < 2_000; n += 1) {
      const next = heap[0];
      if (!next || wallOf(next.dueSimMs) > now) break;
      heapPop();
      stats.lagMs = Math.max(0, now - wallOf(next.dueSimMs));
      tick(next, next.dueSimMs, now);
      next.dueSimMs += intervalSimMs * (1 + jitter * (next.schedule.next() - 0.5));
      heapPush(next);
    }
    arm();
  }

  function tick(device: DeviceRuntime, tSimMs: number, nowMs: number): void {
    const payload = device.model.next(tSimMs);
    if (timestamps === 'wall') payload.ts = formatTimestamp(nowMs, device.model.config.tsFormat);
    else if (timestamps === 'none') delete payload.ts;
    stats.readings += 1;
    const step = device.faults.apply(payload, tSimMs, nowMs);
    for (const message of step.messages) enqueue(device, message);
    if (step.wentOffline) goOffline(device);
    if (step.cameBack) comeBack(device);
    drain(device.conn);
  }

  function enqueue(device: DeviceRuntime, message: OutgoingMessage): void {
    device.outbox.push(message);
    if (device.outbox.length - device.outboxHead > outboxLimit) {
      device.outboxHead += 1;
      stats.dropped += 1;
    }
    compact(device);
    device.conn.pending.add(device);
  }

  function compact(device: DeviceRuntime): void {
    // A head index instead of shift(): a 1,000-message backlog drains in linear time.
    if (device.outboxHead > 64 && device.outboxHead * 2 > device.outbox.length) {
      device.outbox = device.outbox.slice(device.outboxHead);
      device.outboxHead = 0;
    }
  }

  function drain(conn: Connection): void {
    const client = conn.client;
    if (!conn.connected || !client) return;
    for (const device of conn.pending) {
      if (!device.online) continue;
      while (device.outboxHead < device.outbox.length) {
        if (conn.inflight >= maxInflight) return;
        const message = device.outbox[device.outboxHead]!;
        device.outboxHead += 1;
        publish(conn, client, device, message);
      }
      device.outbox.length = 0;
      device.outboxHead = 0;
      conn.pending.delete(device);
    }
  }

  function publish(conn: Connection, client: MqttClient, device: DeviceRuntime, message: OutgoingMessage): void {
    conn.inflight += 1;
    stats.sent += 1;
    options.onSent?.({ deviceId: device.info.id, kind: device.info.kind, topic: device.info.topic, message });
    client.publish(device.info.topic, message.payload, { qos: message.qos ?? qos }, (error) => {
      conn.inflight -= 1;
      if (error) {
        stats.publishErrors += 1;
        log.debug({ deviceId: device.info.id, err: error.message }, 'publish failed');
      } else {
        stats.acked += 1;
      }
      if (conn.pending.size > 0 && conn.inflight < maxInflight) drain(conn);
    });
  }

  function goOffline(device: DeviceRuntime): void {
    device.online = false;
    log.debug({ deviceId: device.info.id }, 'device dropout');
    if (device.conn.dedicated) {
      const conn = device.conn;
      conn.chain = conn.chain.then(() => closeConnection(conn));
    }
  }

  function comeBack(device: DeviceRuntime): void {
    device.online = true;
    log.debug({ deviceId: device.info.id, backlog: device.outbox.length - device.outboxHead }, 'device back online');
    const conn = device.conn;
    if (conn.dedicated) conn.chain = conn.chain.then(() => (running ? openConnection(conn) : undefined));
    else drain(conn);
  }

  async function credentialsFor(conn: Connection): Promise<Credentials | undefined> {
    if (conn.dedicated) {
      const device = conn.devices[0]!;
      if (device.password !== undefined) return { username: device.username ?? device.info.id, password: device.password };
    }
    const given = await options.credentials?.(conn.clientId);
    return given ? { username: given.username ?? conn.clientId, password: given.password } : undefined;
  }

  /** Opens a connection; resolves once it is up or has failed once (mqtt.js keeps retrying). */
  async function openConnection(conn: Connection): Promise<void> {
    if (conn.client) return;
    conn.credentials ??= await credentialsFor(conn);
    const clientOptions: IClientOptions = {
      clientId: conn.clientId,
      protocolVersion: 4,
      clean: true,
      keepalive: options.keepaliveS ?? 60,
      reconnectPeriod: conn.reconnectMs,
      // A refused device retries like a real one (its secret may be registered later), backing off below.
      reconnectOnConnackError: true,
      connectTimeout: 30_000,
      resubscribe: false,
      ...(conn.credentials ? { username: conn.credentials.username ?? conn.clientId, password: conn.credentials.password } : {}),
    };
    // mqtt.connect rather than connectAsync: a device whose first attempt fails keeps
    // retrying in the background like a real one, instead of the client being ended.
    const client = mqtt.connect(options.mqttUrl, clientOptions);
    conn.client = client;
    client.on('connect', () => {
      if (conn.client !== client) return;
      conn.connected = true;
      client.options.reconnectPeriod = conn.reconnectMs;
      drain(conn);
    });
    client.on('close', () => {
      if (conn.client === client) conn.connected = false;
    });
    client.on('error', (error) => {
      stats.connectErrors += 1;
      // Exponential backoff while the broker keeps refusing or is unreachable: 20,000
      // refused devices must not retry in lockstep every two seconds. mqtt.js reads the
      // period each time it schedules a reconnect.
      client.options.reconnectPeriod = Math.min(MAX_RECONNECT_MS, (client.options.reconnectPeriod ?? conn.reconnectMs) * 2);
      if (!loggedConnectError) {
        loggedConnectError = true;
        log.warn({ clientId: conn.clientId, err: error.message }, 'device connection error (further ones at debug level)');
      } else {
        log.debug({ clientId: conn.clientId, err: error.message }, 'device connection error');
      }
    });
    await new Promise<void>((resolve) => {
      const settle = () => {
        client.off('connect', settle);
        client.off('error', settle);
        client.off('close', settle);
        resolve();
      };
      client.on('connect', settle);
      client.on('error', settle);
      client.on('close', settle);
    });
  }

  /** Ends a connection cleanly: outstanding QoS 1 acknowledgements first, then DISCONNECT. */
  async function closeConnection(conn: Connection): Promise<void> {
    const client = conn.client;
    if (!client) return;
    conn.client = undefined;
    conn.connected = false;
    if (!client.connected) {
      // Down or still reconnecting: no acknowledgement can arrive, so do not wait for one.
      await client.endAsync(true).catch(() => undefined);
      return;
    }
    let timeout: NodeJS.Timeout | undefined;
    const ended = await Promise.race([
      client.endAsync(false).then(() => true, () => true),
      new Promise<boolean>((resolve) => {
        timeout = setTimeout(() => resolve(false), closeTimeoutMs);
      }),
    ]);
    clearTimeout(timeout);
    if (!ended) {
      // The broker stopped answering: cut the socket rather than hang.
      client.stream?.destroy();
      log.debug({ clientId: conn.clientId }, 'connection cut after close timeout');
    }
  }

  async function start(): Promise<void> {
    if (stopped) throw new Error('a stopped fleet cannot be started again');
    if (starting) return starting;
    starting = (async () => {
      wallStartMs = Date.now();
      simStartMs = options.startTimeMs ?? wallStartMs;
      running = true;
      // Spread first readings evenly over one interval: no thundering herd at second 0.
      for (const device of runtimes) {
        device.dueSimMs = simStartMs + device.schedule.next() * intervalSimMs;
        heapPush(device);
      }
      arm();
      log.info(
        { devices: runtimes.length, connections: connections.length, multiplex, intervalMs, qos, seed, timeScale, timestamps, mqttUrl: options.mqttUrl },
        'fleet starting',
      );
      // Staggered connects: at most `connectConcurrency` handshakes in flight.
      const concurrency = Math.max(1, options.connectConcurrency ?? 100);
      let nextIndex = 0;
      const worker = async () => {
        while (running && nextIndex < connections.length) {
          const conn = connections[nextIndex]!;
          nextIndex += 1;
          const opened = conn.chain.then(() => (running ? openConnection(conn) : undefined));
          conn.chain = opened.catch((error: unknown) => {
            stats.connectErrors += 1;
            log.warn({ clientId: conn.clientId, err: error instanceof Error ? error.message : String(error) }, 'could not open device connection');
          });
          await conn.chain;
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, connections.length) }, worker));
      const up = connections.filter((c) => c.connected).length;
      log.info({ connections: connections.length, connected: up }, 'fleet started');
    })();
    return starting;
  }

  function stop(): Promise<void> {
    stopping ??= (async () => {
      const wasRunning = running;
      running = false;
      stopped = true;
      wallStopMs = Date.now();
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
      timer = undefined;
      immediate = undefined;
      // Out-of-order messages still held back go out now rather than never.
      for (const device of runtimes) for (const message of device.faults.flush()) enqueue(device, message);
      for (const conn of connections) drain(conn);
      await Promise.all(
        connections.map((conn) => {
          conn.chain = conn.chain.then(() => closeConnection(conn));
          return conn.chain;
        }),
      );
      if (wasRunning) log.info({ stats: statsNow() }, 'fleet stopped');
    })();
    return stopping;
  }

  function statsNow(): FleetStats {
    let connected = 0;
    let buffered = 0;
    for (const device of runtimes) {
      if (device.online && device.conn.connected) connected += 1;
      buffered += device.outbox.length - device.outboxHead;
    }
    return {
      devices: runtimes.length,
      connections: connections.length,
      connectionsUp: connections.filter((c) => c.connected).length,
      connected,
      readings: stats.readings,
      sent: stats.sent,
      acked: stats.acked,
      errors: stats.publishErrors + stats.connectErrors,
      connectErrors: stats.connectErrors,
      buffered,
      dropped: stats.dropped,
      injected: { ...counts },
      lagMs: Math.round(stats.lagMs),
      simTime: new Date(simNow()).toISOString(),
      elapsedMs: wallStartMs > 0 ? (wallStopMs ?? Date.now()) - wallStartMs : 0,
      running,
    };
  }

  return {
    devices: runtimes.map((r) => r.info),
    start,
    stop,
    close: stop,
    stats: statsNow,
    simTime: simNow,
  };
}
