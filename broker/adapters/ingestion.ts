/**
 * Everything that brings readings to the edge other than our MQTT contract, started together
 * in the broker process (and by the lab): the integration store (DATA_DIR/integrations.json),
 * the HTTP ingestion listener (broker/ingest-http.ts) and the MQTT bridges (./bridges.ts).
 *
 * A port already in use is a warning, not a failure (like the metrics port): MQTT ingestion
 * does not depend on it, and an operator running two brokers on one host must not lose both.
 *
 * Cluster mode (`redisUrl`): the integrations live in Redis, so every node serves every
 * webhook; the bridges run on the one node holding their lease (./bridges.ts).
 */
import type { DeviceRegistry } from '../../common/registry/types.ts';
import { openIntegrationStore, type IntegrationStore } from '../../common/registry/integrations.ts';
import type { Logger } from '../../common/logger.ts';
import { createSilentLogger } from '../../common/logger.ts';
import type { Edge } from '../edge.ts';
import { startIngestHttp, type IngestHttp, type IngestHttpOptions } from '../ingest-http.ts';
import { startBridges, type Bridges } from './bridges.ts';
import { createDeviceIndex } from './device-index.ts';
import { createIntake } from './intake.ts';

export interface EdgeIngestionOptions {
  edge: Pick<Edge, 'submit' | 'refuse'>;
  registry: DeviceRegistry;
  /** Where integrations.json lives (beside the registry); undefined = in memory. */
  dataDir?: string | undefined;
  /** Cluster mode: integrations in this Redis, the bridges on the node holding their lease. */
  redisUrl?: string | undefined;
  /** An integration store already open (the lab shares one with its API); else one is opened on dataDir (or redisUrl). */
  integrations?: IntegrationStore;
  http: { host?: string; port: number } & Pick<IngestHttpOptions, 'bodyLimitBytes' | 'failureLimit' | 'deviceRate' | 'unknownWindowMs' | 'trustProxy'>;
  /** The bridges' lease time to live in cluster mode (default 10 s). */
  bridgeLeaseTtlMs?: number;
  /** MQTT bridges to network servers (default true). */
  bridges?: boolean;
  logger?: Logger;
}

export interface EdgeIngestion {
  integrations: IntegrationStore;
  /** The HTTP listener, unless its port was taken. */
  http: IngestHttp | undefined;
  bridges: Bridges | undefined;
  close(): Promise<void>;
}

export async function startEdgeIngestion(options: EdgeIngestionOptions): Promise<EdgeIngestion> {
  const log = options.logger ?? createSilentLogger();
  const owned = options.integrations === undefined;
  const integrations = options.integrations ?? (await openIntegrationStore({ dataDir: options.dataDir, redisUrl: options.redisUrl, logger: log }));
  let http: IngestHttp | undefined;
  try {
    http = await startIngestHttp({ edge: options.edge, registry: options.registry, integrations, ...options.http, logger: log });
    log.info({ url: http.url }, 'HTTP ingestion listening (HTTP devices, TTS/ChirpStack webhooks, Sensor.Community)');
  } catch (error) {
    log.warn({ err: error instanceof Error ? error.message : String(error), port: options.http.port }, 'HTTP ingestion not started (port in use?); MQTT ingestion runs without it');
  }
  const devices = createDeviceIndex(options.registry);
  // No per-device rate here: a bridge takes one message at a time, so one device waiting
  // would hold up every other device of the application.
  const intake = createIntake({ edge: options.edge, devices, logger: log, ...(options.http.unknownWindowMs !== undefined ? { unknownWindowMs: options.http.unknownWindowMs } : {}) });
  const bridges =
    options.bridges === false
      ? undefined
      : startBridges({
          integrations,
          intake,
          logger: log,
          ...(options.redisUrl ? { holder: { redisUrl: options.redisUrl, ...(options.bridgeLeaseTtlMs !== undefined ? { ttlMs: options.bridgeLeaseTtlMs } : {}) } } : {}),
        });
  return {
    integrations,
    http,
    bridges,
    async close() {
      await bridges?.close();
      intake.close();
      devices.close();
      await http?.close();
      if (owned) await integrations.close();
    },
  };
}
