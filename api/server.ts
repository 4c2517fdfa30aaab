/**
 * The API process: the fastify app on a port, socket.io on the same server, and the live
 * hub feeding it from the broker.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Server as SocketServer } from 'socket.io';
import type { InfluxClient } from '../common/influx.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { buildApp } from './app.ts';
import { createLiveHub, type LiveHub, type LiveServer } from './live-hub.ts';
import { createReadingStore } from './store.ts';

export interface ApiServerOptions {
  host?: string;
  /** 0 = a free port. */
  port?: number;
  influx: InfluxClient;
  mqttUrl: string;
  mqttUsername?: string | undefined;
  mqttPassword?: string | undefined;
  dashboardDir?: string | undefined;
  corsOrigins?: string[];
  logger?: Logger;
}

export interface ApiServer {
  app: FastifyInstance;
  io: LiveServer;
  hub: LiveHub;
  port: number;
  url: string;
  close(): Promise<void>;
}

export async function createApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const log = options.logger ?? createSilentLogger();
  const { influx } = options;
  let hub: LiveHub | undefined;
  const app = await buildApp({
    store: createReadingStore(influx),
    logger: log,
    dashboardDir: options.dashboardDir,
    readinessChecks: {
      influxdb: async () => ({ ok: await influx.ping() }),
      broker: async () => ({ ok: hub?.connected() ?? false }),
    },
  });
  await app.ready();
  const io: LiveServer = new SocketServer(app.server, {
    serveClient: false,
    cors: { origin: options.corsOrigins ?? false },
  });
  hub = createLiveHub({ io, mqttUrl: options.mqttUrl, mqttUsername: options.mqttUsername, mqttPassword: options.mqttPassword, logger: log });
  const host = options.host ?? '127.0.0.1';
  await app.listen({ host, port: options.port ?? 8080 });
  const port = (app.server.address() as AddressInfo).port;
  await hub.ready;
  log.info({ url: `http://${host}:${port}` }, 'api listening');
  let closing: Promise<void> | undefined;
  const liveHub = hub;
  return {
    app,
    io,
    hub: liveHub,
    port,
    url: `http://${host}:${port}`,
    close() {
      closing ??= (async () => {
        await liveHub.close();
        io.disconnectSockets(true);
        await new Promise<void>((resolve) => io.close(() => resolve()));
        await app.close();
      })();
      return closing;
    },
  };
}
