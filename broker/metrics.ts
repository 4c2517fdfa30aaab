/**
 * The broker's Prometheus metrics: connected clients, messages published, deliveries
 * acknowledged by subscribers, and the durable persistence's journal and queue.
 */
import type { MetricsRegistry } from '../common/metrics.ts';
import type { Broker } from './broker.ts';
import type { FilePersistence } from './persistence-file.ts';

export function registerBrokerMetrics(registry: MetricsRegistry, broker: Broker, persistence?: FilePersistence): void {
  registry.gauge({ name: 'streetlab_broker_clients_connected', help: 'MQTT clients connected.', collect: () => broker.connectedClients() });
  const published = registry.counter({ name: 'streetlab_broker_messages_published_total', help: 'Messages published by clients, by QoS.' });
  const byQos = [published.labels({ qos: '0' }), published.labels({ qos: '1' }), published.labels({ qos: '2' })];
  const acked = registry.counter({ name: 'streetlab_broker_deliveries_acknowledged_total', help: 'QoS 1/2 deliveries acknowledged by subscribers.' });
  const connects = registry.counter({ name: 'streetlab_broker_connections_total', help: 'Client connections accepted.' });
  broker.aedes.on('publish', (packet, client) => {
    // Only what clients sent, not the broker's own $SYS heartbeats.
    if (client) byQos[packet.qos]?.inc();
  });
  broker.aedes.on('ack', () => acked.inc());
  broker.aedes.on('client', () => connects.inc());
  registry.gauge({ name: 'streetlab_broker_connections_pending', help: 'Connections not yet through CONNECT (capped by MQTT_MAX_PENDING_CONNECTIONS).', collect: () => broker.securityStats().pendingConnections });
  registry.counter({
    name: 'streetlab_broker_connections_refused_pending_limit',
    help: 'Connections closed on arrival because too many were pending (a counter read at scrape time).',
    collect: () => broker.securityStats().guard.pending_limit ?? 0,
  });
  registry.counter({
    name: 'streetlab_broker_protocol_violations',
    help: 'Connections the strict MQTT front door closed (or answered with a CONNACK error), by reason (a counter read at scrape time).',
    collect: () => Object.entries(broker.securityStats().guard).map(([reason, value]) => ({ labels: { reason }, value })),
  });
  if (persistence) {
    registry.gauge({ name: 'streetlab_broker_persistence_journal_bytes', help: 'Bytes of the persistence journal on disk.', collect: () => persistence.stats().journalBytes });
    registry.gauge({ name: 'streetlab_broker_persistence_queued_messages', help: 'QoS 1/2 messages queued for persistent sessions (approximate).', collect: () => persistence.stats().queuedMessages });
    registry.gauge({ name: 'streetlab_broker_persistence_sessions', help: 'Persistent sessions known to the persistence.', collect: () => persistence.stats().persistentClients });
  }
}
