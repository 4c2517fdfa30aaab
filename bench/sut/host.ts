/**
 * Entry point of a system-under-test process: hosts any of the broker, the ingest worker and
 * the API, built with the project's own factories exactly as their `main.ts` files build
 * them. One host with all three is `npm run lab`'s topology; three hosts are the services
 * deployed as separate processes.
 */
import type { Broker } from '../../broker/broker.ts';
import type { Ingest } from '../../ingest/ingest.ts';
import type { ApiServer } from '../../api/server.ts';
import { serveWorker } from '../runtime.ts';
import { readRssBytes } from '../system.ts';
import { buildBrokerPolicy, type BrokerSecurityPlan, type Credentials } from './security.ts';

export interface InfluxTarget {
  url: string;
  database: string;
}

export interface HostConfig {
  broker?: { security: BrokerSecurityPlan };
  /** mqttUrl omitted = the broker in this host. */
  ingest?: { mqttUrl?: string; influx: InfluxTarget; credentials?: Credentials | undefined; clientId: string; spoolDir?: string | undefined };
  api?: { mqttUrl?: string; influx: InfluxTarget; credentials?: Credentials | undefined };
}

export interface HostStats {
  pid: number;
  rssBytes: number;
  brokerClients: number | undefined;
  ingest: ReturnType<Ingest['counters']> | undefined;
  writer: ReturnType<Ingest['writer']> | undefined;
  api: ReturnType<ApiServer['hub']['stats']> | undefined;
}

let broker: Broker | undefined;
let ingest: Ingest | undefined;
let api: ApiServer | undefined;

// Each service's modules are loaded only when this host runs it: a broker-only process
// holds what `npm run broker` holds, which matters for the memory stage's baseline.
const hostApi = {
  async start(config: HostConfig) {
    if (config.broker) {
      const { createBroker } = await import('../../broker/broker.ts');
      const policy = await buildBrokerPolicy(config.broker.security);
      broker = await createBroker({ port: 0, ...(policy ? { policy } : {}) });
    }
    const localUrl = () => {
      if (!broker) throw new Error('no mqttUrl given and no broker in this host');
      return broker.url;
    };
    if (config.ingest) {
      const { createIngest } = await import('../../ingest/ingest.ts');
      const { createInfluxClient } = await import('../../common/influx.ts');
      const c = config.ingest;
      ingest = createIngest({
        mqttUrl: c.mqttUrl ?? localUrl(),
        mqttUsername: c.credentials?.username,
        mqttPassword: c.credentials?.password,
        clientId: c.clientId,
        // Typed loosely so the bench builds against an ingest with or without a spool.
        ...((c.spoolDir ? { spoolDir: c.spoolDir } : {}) as object),
        influx: createInfluxClient({ url: c.influx.url, database: c.influx.database }),
      });
      await ingest.ready;
    }
    if (config.api) {
      const { createApiServer } = await import('../../api/server.ts');
      const { createInfluxClient } = await import('../../common/influx.ts');
      const c = config.api;
      api = await createApiServer({
        port: 0,
        // Read routes and the live feed open, as `npm run lab` runs them (PUBLIC_READ=true):
        // the bench's dashboard clients and research queries carry no API key. (Typed loosely
        // so the bench builds against an API with or without read authentication.)
        ...({ publicRead: true } as object),
        influx: createInfluxClient({ url: c.influx.url, database: c.influx.database }),
        mqttUrl: c.mqttUrl ?? localUrl(),
        mqttUsername: c.credentials?.username,
        mqttPassword: c.credentials?.password,
      });
    }
    return { pid: process.pid, mqttUrl: broker?.url, apiUrl: api?.url };
  },

  stats(): HostStats {
    return {
      pid: process.pid,
      rssBytes: readRssBytes(),
      brokerClients: broker?.connectedClients(),
      ingest: ingest?.counters(),
      writer: ingest?.writer(),
      api: api?.hub.stats(),
    };
  },

  /** Full GC (the host runs with --expose-gc for memory measurements), then RSS. */
  async gc() {
    const gc = (globalThis as { gc?: () => void }).gc;
    if (gc) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 200));
      gc();
    }
    return { rssBytes: readRssBytes(), exposed: gc !== undefined };
  },

  async flush() {
    await ingest?.flush();
  },

  async close() {
    await api?.close();
    await ingest?.close();
    await broker?.close();
  },
};

export type HostApi = typeof hostApi;

serveWorker(hostApi, { pid: process.pid });
