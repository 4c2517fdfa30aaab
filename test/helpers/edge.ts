/**
 * The reading path in-process, as its services build it: an open broker whose readings go
 * through the edge into a log in a temporary directory, and an ingest worker draining that
 * log into the given InfluxDB. For tests of what happens between a PUBACK and InfluxDB.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { createBroker, type Broker } from '../../broker/broker.ts';
import { createEdge, type Edge, type EdgeOptions } from '../../broker/edge.ts';
import type { InfluxClient } from '../../common/influx.ts';
import { createIngest, type Ingest, type IngestOptions } from '../../ingest/ingest.ts';
import { tempDir } from './processes.ts';

export interface EdgePipeline {
  broker: Broker;
  edge: Edge;
  ingest: Ingest;
  logDir: string;
  /** A device connection (open broker: no credentials), closed with the pipeline. */
  device(clientId: string): Promise<MqttClient>;
  close(): Promise<void>;
}

export async function startEdgePipeline(
  influx: InfluxClient,
  options: { edge?: Omit<EdgeOptions, 'logDir'>; ingest?: Partial<Omit<IngestOptions, 'logDir' | 'influx'>> } = {},
): Promise<EdgePipeline> {
  const dir = await tempDir('log');
  const ingest = createIngest({ logDir: dir.path, influx, flushIntervalMs: 20, ...options.ingest });
  await ingest.ready;
  const edge = await createEdge({ ...options.edge, logDir: dir.path, onCommit: () => ingest.wake() });
  const broker = await createBroker({ port: 0, edge });
  const clients: MqttClient[] = [];
  return {
    broker,
    edge,
    ingest,
    logDir: dir.path,
    async device(clientId) {
      const client = await mqtt.connectAsync(broker.url, { clientId, reconnectPeriod: 0 });
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.all(clients.map((c) => c.endAsync(true)));
      await broker.close();
      await ingest.close();
      await dir.remove();
    },
  };
}
