/**
 * The edge: where a reading enters the platform, inside the broker process.
 *
 *   device ──PUBLISH──▶ auth + ACL + throttle ─▶ validate (zod) ─▶ log (group commit, fsync) ─▶ PUBACK
 *                                                   │                 └─▶ ingest drains it into InfluxDB
 *                                                   ├─▶ live feed: one `$lab/live/v1/batch` per turn ─▶ API
 *                                                   └─▶ a rejection: straight to the device's own `/rejected`
 *
 * The one rule: nothing is acknowledged that is not in the durable log. `take` calls back only
 * when the line (the reading, or its rejection) is fsynced with its group; the policy holds the
 * Aedes `authorizePublish` callback until then, and Aedes sends the PUBACK after it. A write the
 * disk refused fails the callback: Aedes closes the connection without a PUBACK and the device
 * sends the message again. Whatever else is up or down — ingest, InfluxDB, the API — does not
 * matter to the device.
 *
 * Aedes handles all packets of one socket read together and reads the next chunk only when
 * all of them called back, so holding callbacks is also backpressure: a device cannot run
 * ahead of the disk, and thousands of readings share one fsync.
 *
 * At its bound (`maxLogBytes`: ingest or InfluxDB away for long) the edge holds new readings
 * until the drainer frees space; devices are slowed down through TCP, nothing is refused.
 *
 * Readings that arrive another way — HTTP devices, network-server webhooks and MQTT bridges
 * (broker/ingest-http.ts, broker/adapters/) — go through `submit`, the same path as `take`: it
 * resolves when the line is durable, so their HTTP 2xx or upstream PUBACK means what ours does.
 *
 * The log holds line protocol (common/influx-schema.ts), so ingest only batches and posts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Aedes, PublishPacket } from 'aedes';
import { buildRejectedTopic, type LiveReading, type Rejection, type RejectionReason } from '../contracts/index.ts';
import { readingLineFrom, readingLinePrefix, rejectionToLine, type RegistryTags } from '../common/influx-schema.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { createMetricsRegistry, type MetricsRegistry } from '../common/metrics.ts';
import { readConsumerCheckpoints } from '../common/spool/log-reader.ts';
import { openSegmentLog, type SegmentLog } from '../common/spool/segment-log.ts';
import { createLiveFeed } from './live-feed.ts';
import { DEFAULT_PARSE_LIMITS, parseMessage, type ParseLimits } from './parse-message.ts';

export interface EdgeOptions {
  /**
   * The log directory (DATA_DIR/log), shared with the ingest worker. Omitted: a fresh
   * temporary directory, removed on close — only for tests that drain it in-process.
   */
  logDir?: string;
  /** fdatasync each group before acknowledging it (default true). */
  fsync?: boolean;
  /** Segment size (default 16 MiB). */
  segmentBytes?: number;
  /** The log's bound on disk (default 1 GiB): at it, new readings wait for space. */
  maxLogBytes?: number;
  limits?: Partial<ParseLimits>;
  /** Registry tags (site, owner) for a device; undefined when unknown. */
  lookupTags?: (deviceId: string) => RegistryTags | undefined;
  /** Told after each commit (a drainer in the same process stops waiting). */
  onCommit?: () => void;
  logger?: Logger;
  metrics?: MetricsRegistry;
  /** Receive clock, for tests. */
  now?: () => number;
}

/** What became of one submitted message: stored as a reading, or as its rejection. */
export type SubmitOutcome = { accepted: LiveReading; rejection?: undefined } | { rejection: Rejection; accepted?: undefined };

export interface EdgeCounters {
  received: number;
  accepted: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectionReason, number>>;
  /** Messages not acknowledged because the disk refused their group (the device resends). */
  logFailures: number;
}

export interface Edge {
  readonly logDir: string;
  /** Called by createBroker once Aedes exists: the live feed and device notices go through it. */
  attach(aedes: Aedes): void;
  /**
   * A message on a reading topic: validated, logged (reading or rejection), fanned out to the
   * live feed; `done` once the line is durable, or with the error that kept it out.
   */
  take(topic: string, payload: Uint8Array, done: (error?: Error | null) => void): void;
  /**
   * The same path as `take` for readings that arrive another way (HTTP, network servers):
   * resolves with the outcome once its line is durable — the moment `take` would let the
   * PUBACK go — and rejects when the log refused it (nothing was stored; the sender retries).
   */
  submit(topic: string, payload: Uint8Array): Promise<SubmitOutcome>;
  /** A rejection the broker decided before parsing (foreign topic, oversized payload). */
  refuse(rejection: Rejection, done?: (error?: Error | null) => void): void;
  counters(): EdgeCounters;
  /** Bytes of the log on disk, and whether new readings are waiting for space. */
  depth(): { bytes: number; full: boolean };
  /** Makes what is pending durable. */
  commit(): Promise<void>;
  close(): Promise<void>;
}

/** How often the edge frees drained segments and re-checks its bound. */
const HOUSEKEEPING_MS = 1_000;

export async function createEdge(options: EdgeOptions = {}): Promise<Edge> {
  const log = options.logger ?? createSilentLogger();
  const now = options.now ?? Date.now;
  const limits: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...options.limits };
  const maxLogBytes = options.maxLogBytes ?? 1024 ** 3;
  const temporary = options.logDir === undefined;
  const logDir = options.logDir ?? mkdtempSync(join(tmpdir(), 'streetlab-log-'));
  const counters: EdgeCounters = { received: 0, accepted: 0, rejected: 0, rejectedByReason: {}, logFailures: 0 };

  const metrics = options.metrics ?? createMetricsRegistry();
  const m = {
    received: metrics.counter({ name: 'streetlab_edge_messages_received_total', help: 'Messages on reading topics taken by the edge.' }),
    accepted: metrics.counter({ name: 'streetlab_edge_readings_accepted_total', help: 'Valid readings written to the log.' }),
    rejected: metrics.counter({ name: 'streetlab_edge_readings_rejected_total', help: 'Messages rejected (by validation or the broker), by reason code.' }),
    failures: metrics.counter({ name: 'streetlab_edge_log_failures_total', help: 'Messages not acknowledged because the log write failed (the device resends).' }),
    commits: metrics.counter({ name: 'streetlab_edge_log_commits_total', help: 'Group commits (one write + fsync each).' }),
    commitSeconds: metrics.histogram({ name: 'streetlab_edge_log_commit_seconds', help: 'Time to write and fsync one group.' }),
    commitRecords: metrics.histogram({ name: 'streetlab_edge_log_commit_records', help: 'Records per group commit.', buckets: [1, 10, 100, 1_000, 10_000, 100_000] }),
  };
  const rejectedByReason = new Map<string, ReturnType<typeof m.rejected.labels>>();
  metrics.gauge({ name: 'streetlab_edge_log_bytes', help: 'Bytes of log segments on disk (not yet drained by every consumer).', collect: () => segmentLog.totalBytes() });
  metrics.gauge({ name: 'streetlab_edge_log_max_bytes', help: 'The log bound: at it new readings wait for space.', collect: () => maxLogBytes });
  metrics.gauge({ name: 'streetlab_edge_log_full', help: '1 while the log is at its bound and readings wait.', collect: () => (full || waiting.length > 0 ? 1 : 0) });

  const segmentLog: SegmentLog = await openSegmentLog({
    dir: logDir,
    fsync: options.fsync ?? true,
    ...(options.segmentBytes ? { segmentBytes: options.segmentBytes } : {}),
    onCommit(info) {
      m.commits.inc();
      m.commitSeconds.observe(info.seconds);
      m.commitRecords.observe(info.records);
      options.onCommit?.();
    },
  });

  let aedes: Aedes | undefined;
  let closed = false;

  // Measurement and tags per device, rebuilt when the registry hands out other tags.
  const prefixes = new Map<string, { tags: RegistryTags | undefined; kind: string; prefix: string }>();
  function linePrefix(reading: LiveReading): string {
    const tags = options.lookupTags?.(reading.deviceId);
    const cached = prefixes.get(reading.deviceId);
    if (cached && cached.tags === tags && cached.kind === reading.kind) return cached.prefix;
    if (prefixes.size >= 100_000) prefixes.clear();
    const prefix = readingLinePrefix(reading.kind, reading.deviceId, tags);
    prefixes.set(reading.deviceId, { tags, kind: reading.kind, prefix });
    return prefix;
  }

  // --- the bound: readings that arrive while the log is full wait here, in order.
  let waiting: (() => void)[] = [];
  let full = false;
  function checkRoom(): void {
    full = segmentLog.totalBytes() >= maxLogBytes;
    if (full || waiting.length === 0) return;
    const ready = waiting;
    waiting = [];
    log.info({ released: ready.length, logBytes: segmentLog.totalBytes() }, 'log has room again; taking readings');
    for (const run of ready) run();
  }
  function whenRoom(run: () => void): void {
    if (!full && waiting.length === 0) {
      if (segmentLog.totalBytes() < maxLogBytes) return run();
      full = true;
    }
    if (waiting.length === 0) log.warn({ logBytes: segmentLog.totalBytes(), maxLogBytes }, 'log full: holding readings until ingest drains it');
    waiting.push(run);
  }

  async function housekeeping(): Promise<void> {
    // Segments every consumer has passed are done with. No consumer yet: keep everything.
    const checkpoints = readConsumerCheckpoints(logDir);
    if (checkpoints.length > 0) {
      const oldest = Math.min(...checkpoints.map((c) => c.segment));
      await segmentLog.deleteSegmentsBefore(oldest);
    }
    checkRoom();
  }
  let housekeepingRunning = false;
  const housekeepingTimer = setInterval(() => {
    if (housekeepingRunning || closed) return;
    housekeepingRunning = true;
    housekeeping()
      .catch((error: unknown) => log.warn({ err: String(error) }, 'log housekeeping failed'))
      .finally(() => (housekeepingRunning = false));
  }, HOUSEKEEPING_MS);
  housekeepingTimer.unref();
  await housekeeping();

  // --- the live feed: what one event-loop turn validated, as one message.
  const live = createLiveFeed((topic, body) => {
    if (aedes && !aedes.closed) publish(topic, body, 0);
  });

  function publish(topic: string, body: string, qos: 0 | 1): void {
    const packet = { cmd: 'publish', topic, payload: Buffer.from(body), qos, retain: false, dup: false } as PublishPacket;
    aedes!.publish(packet, (error) => {
      if (error) log.debug({ err: error.message, topic }, 'edge publish failed');
    });
  }

  function settle(line: string, done: ((error?: Error | null) => void) | undefined): void {
    if (closed) {
      done?.(new Error('the edge is closed'));
      return;
    }
    whenRoom(() => {
      const group = segmentLog.append(line);
      group.onSettled((error) => {
        if (error) {
          counters.logFailures += 1;
          m.failures.inc();
          logCommitFailure(error);
        }
        done?.(error ?? null);
      });
    });
  }

  let lastFailureLog = 0;
  function logCommitFailure(error: Error): void {
    if (Date.now() - lastFailureLog < 5_000) return;
    lastFailureLog = Date.now();
    log.error({ err: error.message }, 'log write failed; the messages are not acknowledged and their devices resend them');
  }

  function countRejection(rejection: Rejection): void {
    counters.rejected += 1;
    counters.rejectedByReason[rejection.reason] = (counters.rejectedByReason[rejection.reason] ?? 0) + 1;
    let counter = rejectedByReason.get(rejection.reason);
    if (!counter) {
      counter = m.rejected.labels({ reason: rejection.reason });
      rejectedByReason.set(rejection.reason, counter);
    }
    counter.inc();
  }

  function rejectionFanOut(rejection: Rejection): void {
    countRejection(rejection);
    log.info({ deviceId: rejection.deviceId, topic: rejection.topic, reason: rejection.reason }, 'reading rejected');
    live.rejection(rejection);
    // Straight to the device's own session: it may subscribe to its `/rejected` topic.
    if (aedes && !aedes.closed && rejection.kind && rejection.deviceId) publish(buildRejectedTopic(rejection.kind, rejection.deviceId), JSON.stringify(rejection), 1);
  }

  function takeMessage(topic: string, payload: Uint8Array, done: (error?: Error | null) => void, report?: (outcome: SubmitOutcome) => void): void {
    counters.received += 1;
    m.received.inc();
    let line: string;
    try {
      const receivedAtMs = now();
      const result = parseMessage(topic, payload, receivedAtMs, limits);
      if (result.ok) {
        const reading = result.reading;
        line = readingLineFrom(linePrefix(reading), reading, result.tsMs, receivedAtMs);
        counters.accepted += 1;
        m.accepted.inc();
        live.reading(reading);
        report?.({ accepted: reading });
      } else {
        line = rejectionToLine(result.rejection);
        rejectionFanOut(result.rejection);
        report?.({ rejection: result.rejection });
      }
    } catch (error) {
      // parseMessage is total; this is the last line of defence so one message never kills the broker.
      log.error({ err: error, topic }, 'unexpected error validating a message');
      done(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    settle(line, done);
  }

  return {
    logDir,
    attach(instance) {
      aedes = instance;
    },
    take(topic, payload, done) {
      takeMessage(topic, payload, done);
    },
    submit(topic, payload) {
      return new Promise<SubmitOutcome>((resolve, reject) => {
        let outcome: SubmitOutcome | undefined;
        takeMessage(topic, payload, (error) => (error ? reject(error) : resolve(outcome!)), (decided) => (outcome = decided));
      });
    },
    refuse(rejection, done) {
      counters.received += 1;
      m.received.inc();
      rejectionFanOut(rejection);
      settle(rejectionToLine(rejection), done);
    },
    counters: () => ({ ...counters, rejectedByReason: { ...counters.rejectedByReason } }),
    depth: () => ({ bytes: segmentLog.totalBytes(), full: full || waiting.length > 0 }),
    commit: () => segmentLog.commit(),
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(housekeepingTimer);
      live.flush();
      for (const run of waiting) run();
      waiting = [];
      await segmentLog.close();
      if (temporary) rmSync(logDir, { recursive: true, force: true });
    },
  };
}
