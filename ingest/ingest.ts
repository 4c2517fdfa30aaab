/**
 * The ingest worker: an MQTT client subscribed to every device reading topic. Each message
 * is parsed and validated (parse-message), turned into one line-protocol line (the reading,
 * or its rejection), appended to a durable local spool, and only then acknowledged:
 *
 *   broker ──PUBLISH──▶ validate ─▶ spool (group commit + fsync) ─▶ PUBACK ─▶ broker forgets it
 *                                      └─▶ drainer ──batches, retry──▶ InfluxDB ─▶ checkpoint
 *
 * So a reading the broker handed over is either in the spool (and will reach InfluxDB, across
 * InfluxDB outages and ingest crashes: the drainer replays from its checkpoint, and writes are
 * idempotent on measurement + tags + timestamp) or still the broker's (no PUBACK yet: it is
 * redelivered on reconnect, the session being persistent).
 *
 * Throughput: mqtt.js handles incoming packets one at a time and sends a PUBACK only when
 * `handleMessage` calls back (FIELD-NOTES). Waiting for an fsync per message would cap a
 * connection at a few hundred messages/s, so ingest lets mqtt.js go on at once and holds the
 * PUBACK packet itself until the message's group is durable: thousands of messages share one
 * fsync, and the PUBACKs go out in receive order [MQTT-4.6.0-2]. Held PUBACKs belong to the
 * connection they came on; after a reconnect they are dropped, never sent on the new one
 * (the broker redelivers those messages and the spool absorbs the repeat).
 *
 * The live feed (validated readings, rejections) is published at once, best effort (QoS 0):
 * it is for eyes, not records; a client that missed some back-fills from REST.
 *
 * The handler never throws: whatever arrives ends up counted, stored or explained.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import {
  READING_SUBSCRIPTIONS,
  RejectionSchema,
  buildLiveTopic,
  buildRejectedTopic,
  isBrokerRejectionTopic,
  parseTopic,
  type LiveReading,
  type Rejection,
  type RejectionReason,
} from '../contracts/index.ts';
import type { InfluxClient } from '../common/influx.ts';
import { REJECTED_MEASUREMENT, deadLetterToLine, readingToLine, rejectionToLine, type RegistryTags } from '../common/influx-schema.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { createMetricsRegistry, type MetricsRegistry } from '../common/metrics.ts';
import { openDurableQueue, type DurableQueue, type QueueDepth } from '../common/spool/durable-queue.ts';
import type { CommitGroup } from '../common/spool/segment-log.ts';
import { createBatchWriter, type DeadLetter } from './influx-writer.ts';
import { DEFAULT_PARSE_LIMITS, parseMessage, type ParseLimits } from './parse-message.ts';

export interface IngestOptions {
  mqttUrl: string;
  mqttUsername?: string | undefined;
  mqttPassword?: string | undefined;
  /** Stable client id: with a persistent session the broker queues QoS 1 readings while ingest is down. */
  clientId?: string;
  influx: Pick<InfluxClient, 'write'> & Partial<Pick<InfluxClient, 'ensureDatabase' | 'ping'>>;
  limits?: Partial<ParseLimits>;
  /** Lines per InfluxDB write (default 5,000). */
  batchSize?: number;
  /** Longest a lightly loaded drainer waits to fill a batch (default 100 ms). */
  flushIntervalMs?: number;
  /**
   * Records appended but not yet durable beyond which ingest stops reading from the broker
   * until the fsync catches up (default 100,000): the memory bound of the receive path.
   */
  maxBufferLines?: number;
  /**
   * Spool directory. Omitted: a fresh temporary directory, removed on a clean close. That
   * still rides out InfluxDB outages, but a crash loses what it held — give a real directory
   * (DATA_DIR/spool) wherever the guarantee matters.
   */
  spoolDir?: string;
  /** The spool's bound on disk (default 1 GiB); at the bound ingest stops acknowledging. */
  spoolMaxBytes?: number;
  spoolSegmentBytes?: number;
  /** fdatasync each group (default true). */
  spoolFsync?: boolean;
  retryMaxMs?: number;
  /** On close, how long to keep draining the spool into InfluxDB (default 5 s); the rest waits in the spool. */
  closeDrainTimeoutMs?: number;
  /** Registry tags (site, owner) for a device; undefined when unknown. */
  lookupTags?: (deviceId: string) => RegistryTags | undefined;
  logger?: Logger;
  /** Where the metrics go (a fresh registry when omitted). */
  metrics?: MetricsRegistry;
  /** Clock, for tests. */
  now?: () => number;
}

export interface IngestCounters {
  received: number;
  accepted: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectionReason, number>>;
  /** Messages not taken because the spool was full or failing: not acknowledged, so the broker keeps them (QoS 0: lost). */
  storeFailures: number;
  /** Lines stored in InfluxDB (readings and rejections). */
  stored: number;
  /** Lines InfluxDB refused, kept as dead letters. */
  deadLettered: number;
}

export interface WriterStats {
  /** Records in the spool not yet stored. */
  queuedLines: number;
  writtenLines: number;
  batches: number;
  retries: number;
  failedBatches: number;
  refusedLines: number;
  /** true while InfluxDB is failing and the drainer is retrying */
  outage: boolean;
  lastWriteMs: number | undefined;
}

export interface Ingest {
  /** Resolves once the spool is open and the client connected and subscribed. */
  ready: Promise<void>;
  /** Handles one message as if it came from the broker (no acknowledgement to track). */
  handleMessage(topic: string, payload: Uint8Array): void;
  counters(): IngestCounters;
  writer(): WriterStats;
  spool(): QueueDepth & { full: boolean; dir: string | undefined };
  connected(): boolean;
  /** InfluxDB and the broker both reachable, as far as ingest knows. */
  health(): Promise<{ ok: boolean; checks: Record<string, { ok: boolean; detail?: string }> }>;
  readonly metrics: MetricsRegistry;
  /** Resolves once everything received so far is stored in InfluxDB. */
  flush(): Promise<void>;
  /** Stops taking messages, acknowledges what is durable, drains within the bound, closes. */
  close(): Promise<void>;
}

interface HeldAck {
  group: CommitGroup | undefined;
  epoch: number;
}

/** mqtt.js internals the acknowledgement path relies on (checked at start). */
interface MqttInternals {
  _sendPacket(packet: { cmd: string; messageId?: number }, cb?: (error?: Error) => void, ...rest: unknown[]): void;
  _writePacket(packet: { cmd: string; messageId?: number }, cb?: (error?: Error) => void): void;
  handleMessage(packet: IPublishPacket, callback: (error?: Error) => void): void;
}

function parseJson(payload: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    return undefined;
  }
}

function isFeedbackTopic(topic: string): boolean {
  return topic.endsWith('/rejected') && parseTopic(topic)?.type === 'rejected';
}

const REJECTED_PREFIX = `${REJECTED_MEASUREMENT},`;
/** Bytes waiting in the socket to the broker beyond which live-feed messages are dropped. */
const LIVE_FEED_MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

export function createIngest(options: IngestOptions): Ingest {
  const log = options.logger ?? createSilentLogger();
  const now = options.now ?? Date.now;
  const limits: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...options.limits };
  const batchSize = options.batchSize ?? 5_000;
  const flushIntervalMs = options.flushIntervalMs ?? 100;
  const maxPendingChars = (options.maxBufferLines ?? 100_000) * 256;
  const spoolMaxBytes = options.spoolMaxBytes ?? 1024 * 1024 * 1024;
  const closeDrainTimeoutMs = options.closeDrainTimeoutMs ?? 5_000;
  const counters: IngestCounters = { received: 0, accepted: 0, rejected: 0, rejectedByReason: {}, storeFailures: 0, stored: 0, deadLettered: 0 };
  const stats = { batches: 0, retries: 0, failedBatches: 0, lastWriteMs: undefined as number | undefined };

  const temporarySpool = options.spoolDir === undefined;
  const spoolDir = options.spoolDir ?? mkdtempSync(join(tmpdir(), 'streetlab-spool-'));
  let spool: DurableQueue | undefined;

  // --- metrics
  const metrics = options.metrics ?? createMetricsRegistry();
  const m = {
    received: metrics.counter({ name: 'streetlab_ingest_messages_received_total', help: 'MQTT messages received on reading topics.' }),
    accepted: metrics.counter({ name: 'streetlab_ingest_readings_accepted_total', help: 'Valid readings spooled for storage.' }),
    rejected: metrics.counter({ name: 'streetlab_ingest_readings_rejected_total', help: 'Messages rejected by validation, by reason code.' }),
    stored: metrics.counter({ name: 'streetlab_ingest_lines_stored_total', help: 'Lines stored in InfluxDB, by type (reading, rejection).' }),
    deadLetters: metrics.counter({ name: 'streetlab_ingest_dead_letters_total', help: 'Lines InfluxDB refused (kept as dead letters), by reason.' }),
    refused: metrics.counter({ name: 'streetlab_ingest_spool_refused_total', help: 'Messages not taken (spool full or failing): not acknowledged, the broker keeps them.' }),
    commits: metrics.counter({ name: 'streetlab_ingest_spool_commits_total', help: 'Group commits (one write + fsync each).' }),
    commitSeconds: metrics.histogram({ name: 'streetlab_ingest_spool_commit_seconds', help: 'Time to write and fsync one group.' }),
    commitRecords: metrics.histogram({ name: 'streetlab_ingest_spool_commit_records', help: 'Records per group commit.', buckets: [1, 10, 100, 1_000, 10_000, 100_000] }),
    batches: metrics.counter({ name: 'streetlab_ingest_write_batches_total', help: 'Successful InfluxDB writes.' }),
    writeSeconds: metrics.histogram({ name: 'streetlab_ingest_write_seconds', help: 'InfluxDB write latency (successful writes).' }),
    retries: metrics.counter({ name: 'streetlab_ingest_write_retries_total', help: 'InfluxDB writes retried after a failure.' }),
    acksDropped: metrics.counter({ name: 'streetlab_ingest_acks_dropped_total', help: 'PUBACKs not sent (connection changed, spool refused or failed): the broker redelivers.' }),
    liveDropped: metrics.counter({ name: 'streetlab_ingest_live_dropped_total', help: 'Live-feed messages dropped because the broker was not reading fast enough (best effort).' }),
    outages: metrics.counter({ name: 'streetlab_ingest_store_outages_total', help: 'InfluxDB outages (periods of failing writes).' }),
  };
  const rejectedCounters = new Map<string, ReturnType<typeof m.rejected.labels>>();
  const storedReadings = m.stored.labels({ type: 'reading' });
  const storedRejections = m.stored.labels({ type: 'rejection' });
  metrics.gauge({ name: 'streetlab_ingest_spool_records', help: 'Records in the spool not yet stored in InfluxDB.', collect: () => spool?.depth().records ?? 0 });
  metrics.gauge({ name: 'streetlab_ingest_spool_bytes', help: 'Bytes of spool segments on disk.', collect: () => spool?.depth().bytes ?? 0 });
  metrics.gauge({ name: 'streetlab_ingest_spool_max_bytes', help: 'The spool bound: at it ingest stops acknowledging.', collect: () => spoolMaxBytes });
  metrics.gauge({
    name: 'streetlab_ingest_spool_oldest_age_seconds',
    help: 'Age of the oldest record not yet stored (0 when the spool is empty).',
    collect: () => {
      const oldest = spool?.depth().oldestAtMs;
      return oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000);
    },
  });
  metrics.gauge({ name: 'streetlab_ingest_spool_full', help: '1 while the spool is at its bound and ingest is not taking messages.', collect: () => (pausedForSpace ? 1 : 0) });
  metrics.gauge({ name: 'streetlab_ingest_acks_held', help: 'PUBACKs waiting for their group to be durable.', collect: () => acksPending });
  metrics.gauge({ name: 'streetlab_ingest_store_outage', help: '1 while InfluxDB writes are failing.', collect: () => (writer.inOutage() ? 1 : 0) });
  metrics.gauge({ name: 'streetlab_ingest_mqtt_connected', help: '1 while connected to the broker.', collect: () => (client?.connected ? 1 : 0) });

  const depthForLogs = () => {
    const depth = spool?.depth();
    return { spooledRecords: depth?.records ?? 0, spooledBytes: depth?.bytes ?? 0, oldestSeconds: depth?.oldestAtMs ? Math.round((Date.now() - depth.oldestAtMs) / 1000) : 0 };
  };

  const writer = createBatchWriter({
    client: options.influx,
    logger: log,
    retryMaxMs: options.retryMaxMs ?? 5_000,
    onWrite(lines, seconds) {
      m.batches.inc();
      m.writeSeconds.observe(seconds);
      stats.batches += 1;
      stats.lastWriteMs = Math.round(seconds * 1000);
      void lines;
    },
    onRetry() {
      m.retries.inc();
      stats.retries += 1;
    },
    onOutage(state) {
      if (state === 'start') m.outages.inc();
    },
    buffered: depthForLogs,
  });

  // --- receiving
  let client: MqttClient | undefined;
  let epoch = 0;
  const held = new Map<number, HeldAck>();
  let acksPending = 0;
  let closing = false;
  let pausedForSpace = false;
  let resumeTimer: NodeJS.Timeout | undefined;

  /** Validates, spools and publishes one message; the group it was spooled in, or undefined if not taken. */
  function take(topic: string, payload: Uint8Array): CommitGroup | undefined {
    counters.received += 1;
    m.received.inc();
    if (closing || !spool) return undefined;
    try {
      const result = parseMessage(topic, payload, now(), limits);
      if (result.ok) return accept(result.reading);
      return reject(result.rejection);
    } catch (error) {
      // parseMessage is total; this is a last line of defence so one message never kills ingest.
      log.error({ err: error, topic }, 'unexpected error handling a message');
      return undefined;
    }
  }

  function append(line: string): CommitGroup | undefined {
    const group = spool!.append(line);
    if (!group) {
      counters.storeFailures += 1;
      m.refused.inc();
      pauseForSpace();
    }
    return group;
  }

  function accept(reading: LiveReading): CommitGroup | undefined {
    const group = append(readingToLine(reading, options.lookupTags?.(reading.deviceId)));
    if (!group) return undefined;
    counters.accepted += 1;
    m.accepted.inc();
    publishQuietly(buildLiveTopic('reading', reading.kind, reading.deviceId), JSON.stringify(reading), 0);
    return group;
  }

  function reject(rejection: Rejection): CommitGroup | undefined {
    const group = append(rejectionToLine(rejection));
    if (!group) return undefined;
    counters.rejected += 1;
    counters.rejectedByReason[rejection.reason] = (counters.rejectedByReason[rejection.reason] ?? 0) + 1;
    let counter = rejectedCounters.get(rejection.reason);
    if (!counter) {
      counter = m.rejected.labels({ reason: rejection.reason });
      rejectedCounters.set(rejection.reason, counter);
    }
    counter.inc();
    log.info({ deviceId: rejection.deviceId, topic: rejection.topic, reason: rejection.reason }, 'reading rejected');
    const body = JSON.stringify(rejection);
    if (rejection.kind && rejection.deviceId) {
      publishQuietly(buildRejectedTopic(rejection.kind, rejection.deviceId), body, 1);
      publishQuietly(buildLiveTopic('rejected', rejection.kind, rejection.deviceId), body, 0);
    }
    return group;
  }

  function publishQuietly(topic: string, body: string, qos: 0 | 1): void {
    if (!client?.connected) return;
    // The live feed is best effort: when the broker reads slower than ingest writes, drop it
    // rather than buffer without bound (the PUBACKs queue behind these bytes too).
    if (qos === 0 && (client.stream?.writableLength ?? 0) > LIVE_FEED_MAX_BUFFERED_BYTES) {
      m.liveDropped.inc();
      return;
    }
    client.publish(topic, body, { qos }, (error) => {
      if (error) log.debug({ err: error.message, topic }, 'publish failed');
    });
  }

  /**
   * At the spool's bound ingest stops acknowledging and disconnects: the broker keeps the
   * session's messages (and devices their own, once the broker pushes back) until the
   * drainer has freed a tenth of the spool. Chosen over silently dropping or growing.
   */
  function pauseForSpace(): void {
    if (pausedForSpace || closing) return;
    pausedForSpace = true;
    log.warn({ ...depthForLogs(), spoolMaxBytes }, 'spool full; no longer acknowledging — disconnecting from the broker until it drains');
    epoch += 1;
    client?.end(true);
    const check = () => {
      resumeTimer = undefined;
      if (closing) return;
      if ((spool?.depth().bytes ?? 0) < spoolMaxBytes * 0.9) {
        pausedForSpace = false;
        log.info(depthForLogs(), 'spool has room again; reconnecting to the broker');
        client?.reconnect();
      } else {
        resumeTimer = setTimeout(check, 500);
      }
    };
    resumeTimer = setTimeout(check, 500);
  }

  function connect(): MqttClient {
    const c = mqtt.connect(options.mqttUrl, {
      clientId: options.clientId ?? `streetlab-ingest-${process.pid}`,
      clean: options.clientId === undefined,
      reconnectPeriod: 1_000,
      connectTimeout: 10_000,
      ...(options.mqttUsername ? { username: options.mqttUsername, password: options.mqttPassword ?? '' } : {}),
    });
    const internals = c as unknown as MqttInternals;
    if (typeof internals._sendPacket !== 'function' || typeof internals._writePacket !== 'function') {
      throw new Error('this mqtt.js has no _sendPacket/_writePacket: the deferred PUBACK path needs updating');
    }
    const send = internals._sendPacket.bind(c);
    const write = internals._writePacket.bind(c);

    // Everything ingest writes while handling one TCP chunk of messages (live-feed publishes,
    // PUBACKs) leaves in one writev: mqtt.js handles a chunk's packets in nextTick steps,
    // all before setImmediate runs.
    let corked = false;
    const uncork = () => {
      corked = false;
      c.stream?.uncork();
    };
    internals.handleMessage = (packet, callback) => {
      if (!corked && c.stream) {
        corked = true;
        c.stream.cork();
        setImmediate(uncork);
      }
      if (isBrokerRejectionTopic(packet.topic)) {
        // A message the broker refused (rate limit, size, foreign topic): stored and reported
        // like ingest's own rejections. Only the broker can publish here (broker/auth.ts).
        const parsed = RejectionSchema.safeParse(parseJson(packet.payload as Uint8Array));
        if (!parsed.success) {
          log.warn({ topic: packet.topic }, 'skipped a malformed broker rejection');
          callback();
          return;
        }
        const group = closing || !spool ? undefined : reject(parsed.data);
        if (packet.qos > 0 && packet.messageId !== undefined) held.set(packet.messageId, { group, epoch });
        callback();
        return;
      }
      if (isFeedbackTopic(packet.topic)) {
        // Our own feedback to devices comes back through `lab/v1/#`: acknowledge and skip.
        callback();
        return;
      }
      const group = take(packet.topic, packet.payload as Uint8Array);
      if (packet.qos > 0 && packet.messageId !== undefined) held.set(packet.messageId, { group, epoch });
      callback();
    };

    // mqtt.js sends the PUBACK through _sendPacket right after handleMessage calls back; hold
    // it here until the message's group is durable.
    internals._sendPacket = (packet, cb, ...rest) => {
      if (packet.cmd !== 'puback' || packet.messageId === undefined) return send(packet, cb, ...rest);
      const hold = held.get(packet.messageId);
      if (!hold) return send(packet, cb, ...rest);
      held.delete(packet.messageId);
      const next = () => cb?.();
      if (!hold.group) {
        // Not taken (spool full, or closing): never acknowledged, so the broker keeps it.
        m.acksDropped.inc();
        next();
        return;
      }
      acksPending += 1;
      const release = (error?: Error) => {
        acksPending -= 1;
        if (error || hold.epoch !== epoch || !c.connected) {
          m.acksDropped.inc();
          if (error) failedCommit(error);
          return;
        }
        queueAck(packet);
      };
      if (spool && spool.pendingChars() > maxPendingChars) {
        // Backpressure: stop reading from the broker until this group is durable.
        hold.group.onSettled((error) => {
          release(error);
          next();
        });
      } else {
        hold.group.onSettled(release);
        next();
      }
    };

    // A group's PUBACKs leave as one socket write, not one syscall each: a PUBACK is four
    // bytes (MQTT 3.1.1 §3.4), and thousands of them per second were most of ingest's
    // syscall time. MQTT 5 PUBACKs (reason codes, properties) go through mqtt.js one by one.
    let ackQueue: number[] = [];
    let ackEpoch = -1;
    const flushAcks = () => {
      const ids = ackQueue;
      ackQueue = [];
      if (ids.length === 0 || ackEpoch !== epoch || !c.connected || !c.stream) {
        if (ids.length > 0) m.acksDropped.inc(ids.length);
        return;
      }
      const buffer = Buffer.allocUnsafe(ids.length * 4);
      ids.forEach((id, i) => {
        buffer[i * 4] = 0x40;
        buffer[i * 4 + 1] = 0x02;
        buffer.writeUInt16BE(id, i * 4 + 2);
      });
      c.stream.write(buffer);
    };
    const queueAck = (packet: { cmd: string; messageId?: number }) => {
      if (c.options.protocolVersion === 5) {
        write(packet);
        return;
      }
      if (ackQueue.length === 0) {
        ackEpoch = epoch;
        queueMicrotask(flushAcks);
      } else if (ackEpoch !== epoch) {
        flushAcks();
        ackEpoch = epoch;
        queueMicrotask(flushAcks);
      }
      ackQueue.push(packet.messageId!);
    };

    c.on('connect', (connack) => {
      epoch += 1;
      // A group commit releases many PUBACKs at once; mqtt.js gives each one written into a
      // full socket its own once('drain') listener, all released at the next drain. Their
      // number is bounded by the messages held for the spool, so lift the listener warning.
      c.stream.setMaxListeners(0);
      log.info({ sessionPresent: connack.sessionPresent, ...depthForLogs() }, 'ingest connected to the broker');
    });
    c.on('close', () => {
      epoch += 1;
      held.clear();
    });
    c.on('error', (error) => log.warn({ err: error.message }, 'ingest MQTT error'));
    c.on('offline', () => {
      if (!closing && !pausedForSpace) log.warn(depthForLogs(), 'ingest lost the broker; reconnecting');
    });
    return c;
  }

  let lastCommitFailureLog = 0;
  function failedCommit(error: Error): void {
    // The disk refused a group: its messages were not acknowledged; reconnecting makes the
    // broker send them again.
    if (Date.now() - lastCommitFailureLog > 5_000) {
      lastCommitFailureLog = Date.now();
      log.error({ err: error.message }, 'spool write failed; messages stay unacknowledged and will be redelivered');
    }
  }

  // --- draining
  let drainStop = false;
  let drainWake: (() => void) | undefined;
  let flushRequested = 0;
  let deadLetterFile = '';

  async function drainLoop(): Promise<void> {
    let lastWriteAt = 0;
    while (!drainStop) {
      const queue = spool!;
      // Lightly loaded: wait up to flushIntervalMs to make a batch worth a request.
      const due = lastWriteAt + flushIntervalMs;
      if (queue.depth().records < batchSize && Date.now() < due && flushRequested === 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, due - Date.now());
          drainWake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        drainWake = undefined;
        continue;
      }
      const batch = await queue.nextBatch(batchSize, batchSize * 512, 200);
      if (!batch) continue;
      lastWriteAt = Date.now();
      let result;
      try {
        result = await writer.write(batch.records, () => drainStop);
      } catch (error) {
        log.info({ err: error instanceof Error ? error.message : String(error), ...depthForLogs() }, 'drain stopped with records left in the spool; they are written on the next start');
        return;
      }
      counters.stored += result.stored;
      if (result.deadLetters.length > 0) {
        stats.failedBatches += 1;
        await keepDeadLetters(result.deadLetters);
      }
      let rejections = 0;
      const refused = new Set(result.deadLetters.map((d) => d.line));
      for (const line of batch.records) if (line.startsWith(REJECTED_PREFIX) && !refused.has(line)) rejections += 1;
      storedRejections.inc(rejections);
      storedReadings.inc(result.stored - rejections);
      await queue.acknowledge(batch);
    }
  }

  async function keepDeadLetters(letters: DeadLetter[]): Promise<void> {
    counters.deadLettered += letters.length;
    const at = Date.now();
    const text = letters.map((l) => JSON.stringify({ at: new Date(at).toISOString(), ...l })).join('\n');
    try {
      await appendFile(deadLetterFile, `${text}\n`);
    } catch (error) {
      log.error({ err: String(error), file: deadLetterFile }, 'could not append to the dead-letter file');
    }
    for (const letter of letters) m.deadLetters.labels({ reason: letter.reason }).inc();
    try {
      const result = await writer.write(letters.map((l) => deadLetterToLine(l, at)), () => drainStop);
      if (result.deadLetters.length > 0) log.error({ count: result.deadLetters.length }, 'InfluxDB refused dead-letter records too; they are in the dead-letter file');
    } catch {
      // shutting down: the file has them
    }
  }

  // --- start
  let draining: Promise<void> | undefined;
  const ready = (async () => {
    spool = await openDurableQueue({
      dir: spoolDir,
      maxBytes: spoolMaxBytes,
      ...(options.spoolSegmentBytes ? { segmentBytes: options.spoolSegmentBytes } : {}),
      fsync: options.spoolFsync ?? true,
      onCommit(info) {
        m.commits.inc();
        m.commitSeconds.observe(info.seconds);
        m.commitRecords.observe(info.records);
        if (drainWake && spool && spool.depth().records >= batchSize) drainWake();
      },
      onCorruptFrame(info) {
        log.warn(info, 'spool: skipped a damaged frame (a write cut short by a crash)');
      },
    });
    deadLetterFile = join(spoolDir, 'dead-letters.ndjson');
    const depth = spool.depth();
    if (depth.records > 0) log.info({ spooledRecords: depth.records, spooledBytes: depth.bytes, dir: spoolDir }, 'spool has records from before; replaying them into InfluxDB');
    draining = drainLoop().catch((error: unknown) => log.error({ err: error }, 'drain loop failed'));
    if (closing) return;
    client = connect();
    const c = client;
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => {
        c.subscribe([...READING_SUBSCRIPTIONS], { qos: 1 }, (error, granted) => {
          const refused = granted?.filter((g) => g.qos === 128) ?? [];
          if (error || refused.length > 0) {
            reject(error ?? new Error(`subscription refused: ${refused.map((g) => g.topic).join(', ')}`));
            return;
          }
          log.info({ subscriptions: READING_SUBSCRIPTIONS, spool: spoolDir }, 'ingest subscribed');
          resolve();
        });
      });
      c.once('error', reject);
    });
  })();
  // Before `ready` settles a failure rejects it; afterwards errors are logged, and mqtt.js reconnects.
  ready.catch(() => {});

  let closingPromise: Promise<void> | undefined;
  async function doClose(): Promise<void> {
    closing = true;
    if (resumeTimer) clearTimeout(resumeTimer);
    await ready.catch(() => {});
    // 1. What is spooled becomes durable and is acknowledged; nothing new is taken.
    await spool?.commit();
    await new Promise((resolve) => setImmediate(resolve));
    // 2. Leave the broker: unacknowledged messages stay in the session for the next start.
    if (client) {
      const c = client;
      await Promise.race([c.endAsync(false), new Promise((resolve) => setTimeout(resolve, 1_000))]);
      if (!c.disconnected) await c.endAsync(true).catch(() => {});
    }
    // 3. Drain into InfluxDB within the bound; what is left stays in the spool.
    if (spool) {
      const drainedInTime = await Promise.race([spool.drained().then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), closeDrainTimeoutMs))]);
      drainStop = true;
      writer.interrupt();
      drainWake?.();
      // A write already on the wire gets a moment to finish (its batch is then acknowledged).
      await Promise.race([draining, new Promise((resolve) => setTimeout(resolve, 2_000))]);
      await spool.close();
      const left = spool.depth();
      if (!drainedInTime || left.records > 0) {
        log.warn({ spooledRecords: left.records, dir: spoolDir }, 'closed with records still in the spool; the next start writes them');
      } else if (temporarySpool) {
        rmSync(spoolDir, { recursive: true, force: true });
      }
    }
    log.info(counters, 'ingest closed');
  }

  return {
    ready,
    handleMessage(topic, payload) {
      take(topic, payload);
    },
    counters: () => ({ ...counters, rejectedByReason: { ...counters.rejectedByReason } }),
    writer: () => ({
      queuedLines: spool?.depth().records ?? 0,
      writtenLines: counters.stored,
      batches: stats.batches,
      retries: stats.retries,
      failedBatches: stats.failedBatches,
      refusedLines: counters.deadLettered,
      outage: writer.inOutage(),
      lastWriteMs: stats.lastWriteMs,
    }),
    spool: () => ({ ...(spool?.depth() ?? { records: 0, bytes: 0, oldestAtMs: undefined }), full: pausedForSpace, dir: spoolDir }),
    connected: () => client?.connected ?? false,
    async health() {
      const brokerOk = client?.connected ?? false;
      const influxOk = options.influx.ping ? await options.influx.ping() : !writer.inOutage();
      const checks: Record<string, { ok: boolean; detail?: string }> = {
        broker: brokerOk ? { ok: true } : { ok: false, detail: pausedForSpace ? 'disconnected: spool full' : 'not connected' },
        influxdb: influxOk && !writer.inOutage() ? { ok: true } : { ok: false, detail: 'writes failing; spooling' },
      };
      return { ok: brokerOk && influxOk && !writer.inOutage(), checks };
    },
    metrics,
    async flush() {
      await ready.catch(() => {});
      if (!spool) return;
      flushRequested += 1;
      drainWake?.();
      try {
        await spool.drained();
      } finally {
        flushRequested -= 1;
      }
    },
    close() {
      closingPromise ??= doClose();
      return closingPromise;
    },
  };
}
