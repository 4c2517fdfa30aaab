/**
 * Entry point of a load-generator process: many MQTT publisher connections (raw wire
 * protocol, precomputed packets), pipelined QoS 1 publishes with a bounded in-flight window
 * per connection, or QoS 0 publishes paced by socket backpressure; optionally a global rate.
 * It can also hold subscriber connections that count (and acknowledge) what they receive.
 *
 * Payload modes:
 * - `fixed`: the same body every time (broker pub/sub throughput);
 * - `counter`: `ts` = tsBaseMs + n and `seq` = 10^15 + n for the n-th reading of each
 *   device, so (device, ts) is unique and readings can be counted exactly in InfluxDB;
 * - `clock`: `seq` = the publish time in epoch µs (and `ts` its millisecond), so whoever
 *   receives the reading knows when it was published (publish → browser latency).
 *
 * Why ~450 lines in one file: it is one worker process's whole hot path (precomputed wire packets, in-flight windows, pacing); splitting it would add calls where the bench measures.
 */
import { performance } from 'node:perf_hooks';
import { serveWorker } from '../runtime.ts';
import {
  PACKET,
  buildPublishTemplate,
  openConnection,
  publishPacketId,
  writeDigits,
  writePuback,
  type PublishTemplate,
  type WireConnection,
} from './mqtt-wire.ts';

export type PayloadMode = 'fixed' | 'counter' | 'clock';

export interface DeviceConnectionSpec {
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  topic: string;
  /** The JSON members after `ts` and `seq`, without braces: `"pm25":12.5,"no2":40`. */
  body: string;
  /** This device's broker, when not the setup's (devices split over broker nodes). */
  host?: string | undefined;
  port?: number | undefined;
}

export interface PublisherSetup {
  host: string;
  port: number;
  qos: 0 | 1;
  /** QoS 1: unacknowledged publishes allowed per connection. */
  window: number;
  payloadMode: PayloadMode;
  /** counter mode: the `ts` of each device's first reading (epoch ms). */
  tsBaseMs?: number;
  devices: DeviceConnectionSpec[];
  connectConcurrency?: number;
  keepaliveS?: number;
}

export interface RunRequest {
  durationMs: number;
  /** Total publishes per second across connections; 0 = as fast as the window / socket allow. */
  ratePerS: number;
  /** The steady-state window starts after this (rates exclude ramp-up). */
  warmupMs: number;
  /** Pacing tick: 10 ms for throughput, 1 ms where burstiness would distort latency. */
  tickMs?: number;
  /** How long to wait for outstanding QoS 1 acknowledgements at the end. */
  drainTimeoutMs?: number;
  /** counter mode: restart every device's counter at this `ts` base (a new, separately countable series of readings). */
  tsBaseMs?: number;
  /**
   * QoS 1 with a rate: stop early when fewer than `fraction` of the offered publishes were
   * acknowledged in each of `seconds` consecutive whole seconds (the system under test
   * cannot hold the rate; running on only measures how far it falls). Seconds before
   * `fromSecond` (the warm-up: fresh processes still compiling their hot paths) are not judged.
   */
  abortBelow?: { fraction: number; seconds: number; fromSecond?: number };
}

export interface RunResult {
  /** Publishes handed to the sockets. */
  issued: number;
  /** QoS 1: PUBACKs received (for QoS 0 equal to issued). */
  acked: number;
  /** QoS 1 publishes still unacknowledged when the drain wait ended. */
  unacked: number;
  durationMs: number;
  /** Acknowledged (QoS 0: issued) per second after warm-up. */
  steadyRatePerS: number;
  /** Acknowledged (QoS 0: issued) in each whole second of the run. */
  perSecond: number[];
  drainMs: number;
  /** Epoch µs when the steady window began, and publishes issued from then on. */
  steadyFromUs: number;
  issuedSteady: number;
  /** Epoch µs when publishing stopped. */
  endedAtUs: number;
  /** Stopped early (by `abortBelow` or `abort`) after this many seconds, and why. */
  abortedAfterS: number | undefined;
  abortReason: string | undefined;
  errors: string[];
}

export interface SubscriberSetup {
  host: string;
  port: number;
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  topic: string;
  qos: 0 | 1;
}

interface Publisher {
  connection: WireConnection;
  template: PublishTemplate;
  packetLength: number;
  tsOffset: number;
  seqOffset: number;
  nextId: number;
  inFlight: number;
  tokens: number;
  n: number;
  waitingDrain: boolean;
}

const SEQ_BASE = 1_000_000_000_000_000;
const TS_DIGITS = 13;
const SEQ_DIGITS = 16;

let setup: PublisherSetup | undefined;
let publishers: Publisher[] = [];
const subscribers: WireConnection[] = [];
let received = 0;
let receivedPerSecond: number[] = [];
let receiveEpoch = 0;
let running = false;
let issued = 0;
let acked = 0;
let ackedPerSecond: number[] = [];
let runStarted = 0;
let errors: string[] = [];
/** Ends the current run early (set while a run is in progress). */
let stopRun: (() => void) | undefined;
let stoppedBy: string | undefined;

function payloadOf(body: string, mode: PayloadMode): { payload: Buffer; tsAt: number; seqAt: number } {
  if (mode === 'fixed') return { payload: Buffer.from(`{${body}}`), tsAt: -1, seqAt: -1 };
  const head = '{"ts":';
  const middle = ',"seq":';
  const text = `${head}${'0'.repeat(TS_DIGITS)}${middle}${'0'.repeat(SEQ_DIGITS)},${body}}`;
  return { payload: Buffer.from(text), tsAt: head.length, seqAt: head.length + TS_DIGITS + middle.length };
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  });
  await Promise.all(lanes);
  return results;
}

function epochUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

function elapsedSecond(): number {
  return Math.floor((performance.now() - runStarted) / 1000);
}

function fillBatch(p: Publisher, count: number): Buffer {
  const mode = setup!.payloadMode;
  const length = p.packetLength;
  const out = Buffer.allocUnsafe(count * length);
  const nowUs = mode === 'clock' ? epochUs() : 0;
  for (let i = 0; i < count; i += 1) {
    const base = i * length;
    p.template.packet.copy(out, base);
    if (p.template.idOffset >= 0) {
      const id = p.nextId;
      p.nextId = id === 65_535 ? 1 : id + 1;
      out[base + p.template.idOffset] = id >> 8;
      out[base + p.template.idOffset + 1] = id & 0xff;
    }
    if (mode === 'counter') {
      writeDigits(out, base + p.tsOffset, TS_DIGITS, setup!.tsBaseMs! + p.n);
      writeDigits(out, base + p.seqOffset, SEQ_DIGITS, SEQ_BASE + p.n);
    } else if (mode === 'clock') {
      writeDigits(out, base + p.tsOffset, TS_DIGITS, Math.floor(nowUs / 1000));
      writeDigits(out, base + p.seqOffset, SEQ_DIGITS, nowUs + i);
    }
    p.n += 1;
  }
  issued += count;
  return out;
}

function pumpQos1(p: Publisher): void {
  if (!running) return;
  const room = setup!.window - p.inFlight;
  const count = Math.min(room, p.tokens);
  if (count <= 0) return;
  p.tokens -= count;
  p.inFlight += count;
  p.connection.socket.write(fillBatch(p, count));
}

const QOS0_BATCH = 64;
function pumpQos0(p: Publisher): void {
  let rounds = 0;
  while (running && !p.connection.socket.writableNeedDrain && p.tokens > 0) {
    const count = Math.min(QOS0_BATCH, p.tokens);
    p.tokens -= count;
    const ok = p.connection.socket.write(fillBatch(p, count));
    const second = elapsedSecond();
    ackedPerSecond[second] = (ackedPerSecond[second] ?? 0) + count;
    acked += count;
    if (!ok) break;
    if ((rounds += 1) >= 16) {
      setImmediate(() => pumpQos0(p));
      return;
    }
  }
  if (running && p.connection.socket.writableNeedDrain && !p.waitingDrain) {
    p.waitingDrain = true;
    p.connection.socket.once('drain', () => {
      p.waitingDrain = false;
      pumpQos0(p);
    });
  }
}

const api = {
  async connect(config: PublisherSetup) {
    setup = config;
    const started = performance.now();
    publishers = await mapLimit(config.devices, config.connectConcurrency ?? 50, async (device) => {
      const connection = await openConnection({
        host: device.host ?? config.host,
        port: device.port ?? config.port,
        clientId: device.clientId,
        username: device.username,
        password: device.password,
        keepaliveS: config.keepaliveS ?? 120,
      });
      const { payload, tsAt, seqAt } = payloadOf(device.body, config.payloadMode);
      const template = buildPublishTemplate(device.topic, payload, config.qos);
      const p: Publisher = {
        connection,
        template,
        packetLength: template.packet.length,
        tsOffset: template.payloadOffset + tsAt,
        seqOffset: template.payloadOffset + seqAt,
        nextId: 1,
        inFlight: 0,
        tokens: 0,
        n: 0,
        waitingDrain: false,
      };
      // Publishers subscribe to nothing: PUBACK is all a broker sends them.
      connection.setHandler((type) => {
        if (type !== PACKET.PUBACK) return;
        p.inFlight -= 1;
        acked += 1;
        const second = elapsedSecond();
        ackedPerSecond[second] = (ackedPerSecond[second] ?? 0) + 1;
      });
      if (config.qos === 1) connection.socket.on('data', () => pumpQos1(p));
      connection.socket.on('close', () => {
        if (running) errors.push(`${device.clientId}: connection closed during the run`);
      });
      return p;
    });
    return { connected: publishers.length, ms: Math.round(performance.now() - started) };
  },

  async run(request: RunRequest): Promise<RunResult> {
    if (!setup) throw new Error('connect first');
    const qos = setup.qos;
    if (request.tsBaseMs !== undefined) {
      setup.tsBaseMs = request.tsBaseMs;
      for (const p of publishers) p.n = 0;
    }
    for (const p of publishers) p.tokens = 0;
    issued = 0;
    acked = 0;
    ackedPerSecond = [];
    errors = [];
    running = true;
    runStarted = performance.now();
    const unlimited = request.ratePerS <= 0;
    const tickMs = request.tickMs ?? 10;
    let granted = 0;
    let rr = 0;
    let steadyStart: { t: number; acked: number; issued: number; us: number } | undefined;

    let abortedAfterS: number | undefined;
    let checkedSecond = request.abortBelow?.fromSecond ?? 0;
    let lowSeconds = 0;
    stoppedBy = undefined;
    const tick = () => {
      const elapsed = performance.now() - runStarted;
      if (request.abortBelow && !unlimited && qos === 1) {
        // Judge each whole second once it is over.
        const second = Math.floor(elapsed / 1000);
        while (checkedSecond < second) {
          const ackedInSecond = ackedPerSecond[checkedSecond] ?? 0;
          lowSeconds = ackedInSecond < request.ratePerS * request.abortBelow.fraction ? lowSeconds + 1 : 0;
          checkedSecond += 1;
          if (lowSeconds >= request.abortBelow.seconds && abortedAfterS === undefined) {
            stoppedBy = `fewer than ${Math.round(request.abortBelow.fraction * 100)}% of the offered publishes acknowledged for ${request.abortBelow.seconds} s`;
            stopRun?.();
            return;
          }
        }
      }
      if (!steadyStart && elapsed >= request.warmupMs) steadyStart = { t: performance.now(), acked, issued, us: epochUs() };
      if (unlimited) {
        for (const p of publishers) p.tokens = Number.MAX_SAFE_INTEGER;
      } else {
        // A global budget dealt round-robin: the total rate is exact and even across devices.
        const due = Math.floor((request.ratePerS * elapsed) / 1000) - granted;
        for (let i = 0; i < due; i += 1) {
          publishers[rr]!.tokens += 1;
          rr = (rr + 1) % publishers.length;
        }
        granted += Math.max(0, due);
      }
      for (const p of publishers) {
        if (qos === 1) pumpQos1(p);
        else pumpQos0(p);
      }
    };
    tick();
    const timer = setInterval(tick, tickMs);
    await new Promise<void>((resolve) => {
      const end = setTimeout(resolve, request.durationMs);
      stopRun = () => {
        clearTimeout(end);
        if (stoppedBy !== undefined) abortedAfterS = Math.round((performance.now() - runStarted) / 100) / 10;
        resolve();
      };
    });
    stopRun = undefined;
    clearInterval(timer);
    running = false;
    const endedAt = performance.now();
    const endedAtUs = epochUs();
    const steady = steadyStart ?? { t: runStarted, acked: 0, issued: 0, us: epochUs() };
    const steadyRatePerS = ((acked - steady.acked) / Math.max(1, endedAt - steady.t)) * 1000;

    // Drain: outstanding QoS 1 acks, or QoS 0 bytes still in user-space socket buffers.
    const drainStarted = performance.now();
    const deadline = drainStarted + (request.drainTimeoutMs ?? 15_000);
    const outstanding = () =>
      qos === 1 ? publishers.reduce((sum, p) => sum + p.inFlight, 0) : publishers.reduce((sum, p) => sum + p.connection.socket.writableLength, 0);
    while (outstanding() > 0 && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const drainMs = performance.now() - drainStarted;
    return {
      issued,
      acked,
      unacked: qos === 1 ? outstanding() : 0,
      durationMs: Math.round(endedAt - runStarted),
      steadyRatePerS: Math.round(steadyRatePerS),
      perSecond: Array.from({ length: Math.floor((endedAt - runStarted) / 1000) }, (_, i) => ackedPerSecond[i] ?? 0),
      drainMs: Math.round(drainMs),
      steadyFromUs: steady.us,
      issuedSteady: issued - steady.issued,
      endedAtUs,
      abortedAfterS,
      abortReason: stoppedBy,
      errors: errors.slice(0, 20),
    };
  },

  async subscribe(config: SubscriberSetup) {
    const connection = await openConnection({
      host: config.host,
      port: config.port,
      clientId: config.clientId,
      username: config.username,
      password: config.password,
      keepaliveS: 120,
      subscribe: { topic: config.topic, qos: config.qos },
    });
    receiveEpoch = performance.now();
    // Acknowledge everything that arrived in one chunk with one write.
    let acks: Buffer[] = [];
    connection.setHandler((type, flags, data, start) => {
      if (type !== PACKET.PUBLISH) return;
      received += 1;
      const second = Math.floor((performance.now() - receiveEpoch) / 1000);
      receivedPerSecond[second] = (receivedPerSecond[second] ?? 0) + 1;
      if (((flags >> 1) & 0x03) === 1) {
        const ack = Buffer.allocUnsafe(4);
        writePuback(ack, 0, publishPacketId(data, start));
        acks.push(ack);
      }
    });
    connection.socket.on('data', () => {
      if (acks.length === 0) return;
      connection.socket.write(acks.length === 1 ? acks[0]! : Buffer.concat(acks));
      acks = [];
    });
    subscribers.push(connection);
    return { subscribed: true };
  },

  /**
   * Publishes acknowledged (QoS 0: written) so far in the current or last run — including
   * acknowledgements that arrived after it ended — and QoS 1 publishes still unacknowledged.
   */
  progress() {
    const unacked = setup?.qos === 1 ? publishers.reduce((sum, p) => sum + p.inFlight, 0) : 0;
    return { issued, acked, unacked };
  },

  /** Ends the current run early, for `reason` (the coordinator saw the system fall behind). */
  abort(args: { reason: string }) {
    if (!stopRun) return { stopped: false };
    stoppedBy = args.reason;
    stopRun();
    return { stopped: true };
  },

  /** Messages received by this process's subscribers so far. */
  received() {
    return { received };
  },

  resetReceived() {
    received = 0;
    receivedPerSecond = [];
    receiveEpoch = performance.now();
    return { received };
  },

  async close() {
    running = false;
    await Promise.all([...publishers.map((p) => p.connection.close()), ...subscribers.map((s) => s.close())]);
    publishers = [];
    subscribers.length = 0;
  },
};

export type PublisherApi = typeof api;

serveWorker(api, { pid: process.pid });
