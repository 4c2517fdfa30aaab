/**
 * The whole lab in one process: a private InfluxDB (unless an external one is given), the
 * broker, the ingest worker, the API with the dashboard, and optionally simulated devices.
 * `npm run lab` runs it with defaults; tests build it on free ports.
 */
import { join } from 'node:path';
import { createInfluxClient, type InfluxClient } from '../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../common/influx-server.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { createBroker, type Broker } from '../broker/broker.ts';
import { createIngest, type Ingest } from '../ingest/ingest.ts';
import { createApiServer, type ApiServer } from '../api/server.ts';
import type { Fleet } from '../simulators/fleet.ts';

export interface LabOptions {
  /** Where the lab keeps its state (InfluxDB data, logs); omitted = a temporary InfluxDB. */
  dataDir?: string;
  /** Use this InfluxDB instead of starting one. */
  influx?: { url: string; database: string; token?: string; username?: string; password?: string; org?: string };
  /** Port of the lab's own InfluxDB; 0 or omitted = a free port. */
  influxPort?: number;
  host?: string;
  mqttPort?: number;
  /** undefined = no WebSocket listener. */
  mqttWsPort?: number | undefined;
  httpPort?: number;
  dashboardDir?: string | undefined;
  /** Simulated devices per kind; false = none. */
  simulate?: false | { air: number; traffic: number; waste: number; intervalMs: number; seed?: number };
  logger?: Logger;
}

export interface Lab {
  influx: InfluxClient;
  influxServer: InfluxServer | undefined;
  broker: Broker;
  ingest: Ingest;
  api: ApiServer;
  fleet: Fleet | undefined;
  urls: { dashboard: string; api: string; mqtt: string; mqttWs: string | undefined; influx: string };
  close(): Promise<void>;
}

export async function createLab(options: LabOptions = {}): Promise<Lab> {
  const log = options.logger ?? createSilentLogger();
  const host = options.host ?? '127.0.0.1';
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (error) {
        log.warn({ err: error }, 'error while stopping the lab');
      }
    }
  };

  try {
    let influxServer: InfluxServer | undefined;
    let influxSettings = options.influx;
    if (!influxSettings) {
      influxServer = await startInfluxServer({
        ...(options.dataDir ? { dataDir: join(options.dataDir, 'influxdb'), logFile: join(options.dataDir, 'influxd.log') } : {}),
        ...(options.influxPort ? { port: options.influxPort } : {}),
        database: 'streetlab',
      });
      closers.push(() => influxServer!.stop());
      influxSettings = { url: influxServer.url, database: 'streetlab' };
      log.info({ url: influxServer.url, dataDir: influxServer.dataDir }, 'InfluxDB started');
    }
    const influx = createInfluxClient(influxSettings);
    await influx.ensureDatabase();

    const broker = await createBroker({
      host,
      port: options.mqttPort ?? 0,
      wsPort: options.mqttWsPort,
      logger: log.child({ service: 'broker' }),
    });
    closers.push(() => broker.close());

    const ingest = createIngest({ mqttUrl: broker.url, clientId: 'streetlab-ingest', influx, logger: log.child({ service: 'ingest' }) });
    closers.push(() => ingest.close());
    await ingest.ready;

    const api = await createApiServer({
      host,
      port: options.httpPort ?? 0,
      influx,
      mqttUrl: broker.url,
      dashboardDir: options.dashboardDir,
      logger: log.child({ service: 'api' }),
    });
    closers.push(() => api.close());

    let fleet: Fleet | undefined;
    if (options.simulate) {
      // Loaded only when simulating: a lab fed by real devices does not need it.
      const { createFleet } = await import('../simulators/fleet.ts');
      fleet = createFleet({
        mqttUrl: broker.url,
        devices: { air: options.simulate.air, traffic: options.simulate.traffic, waste: options.simulate.waste },
        intervalMs: options.simulate.intervalMs,
        qos: 1,
        seed: options.simulate.seed ?? 1,
        logger: log.child({ service: 'simulators' }),
      });
      closers.push(() => fleet!.stop());
      await fleet.start();
    }

    return {
      influx,
      influxServer,
      broker,
      ingest,
      api,
      fleet,
      urls: { dashboard: `${api.url}/`, api: api.url, mqtt: broker.url, mqttWs: broker.wsUrl, influx: influxSettings.url },
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
