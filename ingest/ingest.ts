/**
 * The ingest worker: an MQTT client subscribed to every device reading topic. Each message
 * is parsed and validated (parse-message), then either
 *   - written to InfluxDB (batched) and published on the internal live feed, or
 *   - stored as a rejection, published to the device's `/rejected` topic, and pushed live.
 * The handler never throws: whatever arrives ends up counted, stored or explained.
 */
import mqtt, { type MqttClient } from 'mqtt';
import {
  READING_SUBSCRIPTIONS,
  buildLiveTopic,
  buildRejectedTopic,
  parseTopic,
  type LiveReading,
  type Rejection,
  type RejectionReason,
} from '../contracts/index.ts';
import type { InfluxClient } from '../common/influx.ts';
import { readingToLine, rejectionToLine, type RegistryTags } from '../common/influx-schema.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { createInfluxWriter, type InfluxWriter, type WriterStats } from './influx-writer.ts';
import { DEFAULT_PARSE_LIMITS, parseMessage, type ParseLimits } from './parse-message.ts';

export interface IngestOptions {
  mqttUrl: string;
  mqttUsername?: string | undefined;
  mqttPassword?: string | undefined;
  /** Stable client id: with a persistent session the broker queues QoS 1 readings while ingest is down. */
  clientId?: string;
  influx: Pick<InfluxClient, 'write'>;
  limits?: Partial<ParseLimits>;
  batchSize?: number;
  flushIntervalMs?: number;
  maxBufferLines?: number;
  /** Registry tags (site, owner) for a device; undefined when unknown. */
  lookupTags?: (deviceId: string) => RegistryTags | undefined;
  logger?: Logger;
  /** Clock, for tests. */
  now?: () => number;
}

export interface IngestCounters {
  received: number;
  accepted: number;
  rejected: number;
  rejectedByReason: Partial<Record<RejectionReason, number>>;
  storeFailures: number;
}

export interface Ingest {
  /** Resolves once connected and subscribed. */
  ready: Promise<void>;
  /** Handles one message as if it came from the broker (the MQTT path calls this too). */
  handleMessage(topic: string, payload: Uint8Array): void;
  counters(): IngestCounters;
  writer(): WriterStats;
  connected(): boolean;
  flush(): Promise<void>;
  close(): Promise<void>;
}

function isFeedbackTopic(topic: string): boolean {
  return topic.endsWith('/rejected') && parseTopic(topic)?.type === 'rejected';
}

export function createIngest(options: IngestOptions): Ingest {
  const log = options.logger ?? createSilentLogger();
  const now = options.now ?? Date.now;
  const limits: ParseLimits = { ...DEFAULT_PARSE_LIMITS, ...options.limits };
  const counters: IngestCounters = { received: 0, accepted: 0, rejected: 0, rejectedByReason: {}, storeFailures: 0 };

  const writer: InfluxWriter = createInfluxWriter({
    client: options.influx,
    logger: log,
    ...(options.batchSize ? { batchSize: options.batchSize } : {}),
    ...(options.flushIntervalMs ? { flushIntervalMs: options.flushIntervalMs } : {}),
    ...(options.maxBufferLines ? { maxBufferLines: options.maxBufferLines } : {}),
  });

  const client: MqttClient = mqtt.connect(options.mqttUrl, {
    clientId: options.clientId ?? `streetlab-ingest-${process.pid}`,
    clean: options.clientId === undefined,
    reconnectPeriod: 1_000,
    connectTimeout: 10_000,
    ...(options.mqttUsername ? { username: options.mqttUsername, password: options.mqttPassword ?? '' } : {}),
  });

  const ready = new Promise<void>((resolve, reject) => {
    client.once('connect', () => {
      client.subscribe([...READING_SUBSCRIPTIONS], { qos: 1 }, (error, granted) => {
        const refused = granted?.filter((g) => g.qos === 128) ?? [];
        if (error || refused.length > 0) {
          reject(error ?? new Error(`subscription refused: ${refused.map((g) => g.topic).join(', ')}`));
          return;
        }
        log.info({ subscriptions: READING_SUBSCRIPTIONS }, 'ingest subscribed');
        resolve();
      });
    });
    client.once('error', reject);
  });
  // Before `ready` settles a failure rejects it; afterwards errors are logged, and mqtt.js reconnects.
  ready.catch(() => {});
  client.on('error', (error) => log.warn({ err: error.message }, 'ingest MQTT error'));
  client.on('offline', () => log.warn('ingest lost the broker; reconnecting'));
  client.on('reconnect', () => log.debug('ingest reconnecting'));
  client.on('message', (topic, payload) => {
    // Our own feedback to devices comes back through the `lab/v1/#` subscription.
    if (isFeedbackTopic(topic)) return;
    handleMessage(topic, payload);
  });

  function handleMessage(topic: string, payload: Uint8Array): void {
    counters.received += 1;
    try {
      const result = parseMessage(topic, payload, now(), limits);
      if (result.ok) accept(result.reading);
      else reject(result.rejection);
    } catch (error) {
      // parseMessage is total; this is a last line of defence so one message never kills ingest.
      log.error({ err: error, topic }, 'unexpected error handling a message');
    }
  }

  function accept(reading: LiveReading): void {
    const line = readingToLine(reading, options.lookupTags?.(reading.deviceId));
    if (!writer.offer(line)) {
      counters.storeFailures += 1;
      log.error({ deviceId: reading.deviceId }, 'write buffer full; reading not stored');
      return;
    }
    counters.accepted += 1;
    publishQuietly(buildLiveTopic('reading', reading.kind, reading.deviceId), JSON.stringify(reading), 0);
  }

  function reject(rejection: Rejection): void {
    counters.rejected += 1;
    counters.rejectedByReason[rejection.reason] = (counters.rejectedByReason[rejection.reason] ?? 0) + 1;
    log.info({ deviceId: rejection.deviceId, topic: rejection.topic, reason: rejection.reason }, 'reading rejected');
    writer.offer(rejectionToLine(rejection));
    const body = JSON.stringify(rejection);
    if (rejection.kind && rejection.deviceId) {
      publishQuietly(buildRejectedTopic(rejection.kind, rejection.deviceId), body, 1);
      publishQuietly(buildLiveTopic('rejected', rejection.kind, rejection.deviceId), body, 0);
    }
  }

  function publishQuietly(topic: string, body: string, qos: 0 | 1): void {
    if (!client.connected) return;
    client.publish(topic, body, { qos }, (error) => {
      if (error) log.debug({ err: error.message, topic }, 'publish failed');
    });
  }

  return {
    ready,
    handleMessage,
    counters: () => ({ ...counters, rejectedByReason: { ...counters.rejectedByReason } }),
    writer: () => writer.stats(),
    connected: () => client.connected,
    flush: () => writer.flush(),
    async close() {
      await client.endAsync();
      await writer.close();
      log.info(counters, 'ingest closed');
    },
  };
}
