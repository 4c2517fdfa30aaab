/**
 * MQTT bridges: for every enabled integration with MQTT settings, the broker subscribes to the
 * network server's own MQTT server (The Things Stack: `v3/{app}@{tenant}/devices/+/up`,
 * ChirpStack: `application/+/device/+/event/up`) at QoS 1, maps each uplink like the webhook
 * does and submits it through the edge.
 *
 * The PUBACK to the network server goes only after the reading (or its rejection) is durable:
 * mqtt.js sends a QoS 1 acknowledgement when `handleMessage` calls back, and handles one
 * message at a time meanwhile. A log write that fails is not acknowledged; the bridge drops the
 * connection so the server delivers the message again to the persistent session
 * (`clean: false`) when it reconnects. Servers that keep no sessions (TTS keeps none) lose
 * what they sent while the bridge was away; their webhooks retry instead.
 *
 * Bridges follow the integration store: added, changed, disabled or removed integrations
 * start, restart or stop their bridge within a second.
 *
 * Cluster mode (`holder`): several broker nodes share the integrations, but each bridge must
 * run on one node only. From every node it would store each uplink once per node — readings
 * are idempotent by timestamp in InfluxDB, but rejection records and counters would double —
 * and the nodes' sessions, sharing one client id, would take each other over at the network
 * server. So the bridges run on the node holding a lease in Redis (common/lease.ts, key
 * `streetlab:lease:bridges`); when that node dies another takes the lease once it runs out
 * (10 s) and reconnects with the same client id and persistent session, so a ChirpStack
 * server delivers what was queued meanwhile. Webhooks are served by every node.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { IntegrationStore, StoredIntegration } from '../../common/registry/integrations.ts';
import { createLease, type Lease } from '../../common/lease.ts';
import type { Logger } from '../../common/logger.ts';
import { createSilentLogger } from '../../common/logger.ts';
import { adaptChirpStackUp } from './chirpstack.ts';
import type { Intake, Origin } from './intake.ts';
import { adaptTtsUplink } from './ttn.ts';

export interface Bridges {
  /** Integration ids with a bridge connected right now. */
  connected(): string[];
  /** This node runs the bridges (always without `holder`; in cluster mode while it holds the lease). */
  active(): boolean;
  close(): Promise<void>;
}

/** The lease whose holder runs the bridges in cluster mode. */
export const BRIDGES_LEASE_KEY = 'streetlab:lease:bridges';

export interface BridgeOptions {
  integrations: IntegrationStore;
  intake: Intake;
  logger?: Logger;
  /** Reconnect delay (default 5 s). */
  reconnectPeriodMs?: number;
  /** Cluster mode: run the bridges only while this node holds the lease in this Redis. */
  holder?: { redisUrl: string; ttlMs?: number };
}

/** The subscription of an integration: its own topic, else the network server's uplink topic. */
export function bridgeTopic(integration: StoredIntegration): string {
  if (integration.mqtt?.topic) return integration.mqtt.topic;
  if (integration.type === 'ttn') return `v3/${integration.mqtt?.username ?? '+'}/devices/+/up`;
  return 'application/+/device/+/event/up';
}

/** Whether a topic carries an uplink (other events share wide subscriptions). */
function isUplinkTopic(type: StoredIntegration['type'], topic: string): boolean {
  return type === 'ttn' ? /^v3\/[^/]+\/devices\/[^/]+\/up$/.test(topic) : /^application\/[^/]+\/device\/[^/]+\/event\/up$/.test(topic);
}

export function startBridges(options: BridgeOptions): Bridges {
  const log = options.logger ?? createSilentLogger();
  const running = new Map<string, { settings: string; client: MqttClient }>();

  function start(integration: StoredIntegration): MqttClient {
    const settings = integration.mqtt!;
    const topic = bridgeTopic(integration);
    const adapt = integration.type === 'ttn' ? adaptTtsUplink : adaptChirpStackUp;
    const client = mqtt.connect(settings.url, {
      clientId: `streetlab-bridge-${integration.id}`,
      clean: false,
      reconnectPeriod: options.reconnectPeriodMs ?? 5_000,
      ...(settings.username !== undefined ? { username: settings.username } : {}),
      ...(settings.password !== undefined ? { password: settings.password } : {}),
    });
    client.on('connect', (connack) => {
      log.info({ integration: integration.id, url: settings.url, topic }, 'bridge connected');
      if (connack.sessionPresent) return;
      client.subscribe(topic, { qos: 1 }, (error) => {
        if (error) log.warn({ integration: integration.id, err: error.message, topic }, 'bridge subscription failed');
      });
    });
    client.on('error', (error) => log.warn({ integration: integration.id, err: error.message }, 'bridge connection error'));
    // Called once per message, the next one waiting: the PUBACK goes when this calls back.
    client.handleMessage = (packet, callback) => {
      if (packet.cmd !== 'publish' || !isUplinkTopic(integration.type, packet.topic)) return callback();
      const raw = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      const origin: Origin = { topic: `mqtt ${new URL(settings.url).host} ${packet.topic}`, raw, owner: integration.owner };
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch (error) {
        const message = `the uplink is not valid JSON (${error instanceof Error ? error.message : 'unparseable'})`;
        options.intake.refuse('PAYLOAD_NOT_JSON', message, origin).then(() => callback(), (failure: unknown) => unacknowledged(failure, callback));
        return;
      }
      options.intake.uplink(adapt(body), origin).then(
        (answer) => {
          // 503: the log refused the write; anything else is durable (a reading or a rejection).
          if (answer.status === 503) return unacknowledged(new Error('the reading log refused the write'), callback);
          callback();
        },
        (failure: unknown) => unacknowledged(failure, callback),
      );
    };
    function unacknowledged(failure: unknown, callback: (error?: Error) => void): void {
      log.warn({ integration: integration.id, err: failure instanceof Error ? failure.message : String(failure) }, 'uplink not stored; not acknowledged, reconnecting for redelivery');
      callback(failure instanceof Error ? failure : new Error(String(failure)));
      client.stream?.destroy();
    }
    return client;
  }

  let active = options.holder === undefined;

  function reconcile(): void {
    const wanted = new Map(active ? options.integrations.stored().filter((i) => i.enabled && i.mqtt).map((i) => [i.id, i]) : []);
    for (const [id, bridge] of running) {
      const next = wanted.get(id);
      if (!next || JSON.stringify(next.mqtt) + next.owner !== bridge.settings) {
        running.delete(id);
        bridge.client.end(true);
        log.info({ integration: id }, 'bridge stopped');
      }
    }
    for (const [id, integration] of wanted) {
      if (!running.has(id)) running.set(id, { settings: JSON.stringify(integration.mqtt) + integration.owner, client: start(integration) });
    }
  }

  const unsubscribe = options.integrations.onChange(reconcile);
  const lease: Lease | undefined = options.holder
    ? createLease({
        redisUrl: options.holder.redisUrl,
        key: BRIDGES_LEASE_KEY,
        ...(options.holder.ttlMs !== undefined ? { ttlMs: options.holder.ttlMs } : {}),
        logger: log,
        onChange(held) {
          active = held;
          log.info({ held }, held ? 'this node runs the MQTT bridges' : 'another node runs the MQTT bridges');
          reconcile();
        },
      })
    : undefined;
  reconcile();
  return {
    connected: () => [...running].filter(([, bridge]) => bridge.client.connected).map(([id]) => id),
    active: () => active,
    async close() {
      unsubscribe();
      active = false;
      await Promise.all([...running.values()].map((bridge) => bridge.client.endAsync(true)));
      running.clear();
      // Released only once this node's bridges are down: the next holder may connect at once.
      await lease?.close();
    },
  };
}
