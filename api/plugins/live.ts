/**
 * The live feed as a fastify plugin: socket.io on the app's own HTTP server (same port,
 * same API keys as REST) and the live hub feeding it from the broker. Decorates the app with
 * `live` ({ io, hub }, see liveOf). Closing: the socket.io transports close in `preClose`
 * (open websockets would otherwise keep the HTTP server from closing), the broker
 * connection in `onClose`, after the plugins registered later (alerting, jobs) have closed.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server as SocketServer } from 'socket.io';
import type { Logger } from '../../common/logger.ts';
import { createSilentLogger } from '../../common/logger.ts';
import { createLiveHub, type LiveHub, type LiveServer } from '../live-hub.ts';
import type { Authenticator } from './auth.ts';

export interface LivePluginOptions {
  mqttUrl: string;
  mqttUsername?: string | undefined;
  mqttPassword?: string | undefined;
  /** Origins allowed to open the live feed from a browser; none = same origin only. */
  corsOrigins?: string[] | undefined;
  /** The REST authenticator: the handshake's `auth: { token }` is checked like a bearer token. */
  authenticator: Authenticator;
  logger?: Logger | undefined;
  /**
   * Cluster mode: several API nodes share socket.io rooms through this Redis
   * (@socket.io/redis-adapter), so an alert raised on one node reaches the dashboards of all.
   * Readings are not sent through it: every node gets the whole live feed from the broker and
   * emits it to its own sockets only.
   */
  redisUrl?: string | undefined;
  /** The lab of a registered device (api/live-hub.ts); undefined = no labs. */
  labOf?: ((deviceId: string) => string | undefined) | undefined;
}

export interface Live {
  io: LiveServer;
  hub: LiveHub;
}

const DECORATOR = 'live';

/** The app's live feed, when the plugin is registered. */
export function liveOf(app: FastifyInstance): Live | undefined {
  return app.hasDecorator(DECORATOR) ? app.getDecorator<Live>(DECORATOR) : undefined;
}

export const livePlugin = fp<LivePluginOptions>(
  async (app, options) => {
    const log = options.logger ?? createSilentLogger();
    const io = new SocketServer(app.server, {
      serveClient: false,
      cors: { origin: options.corsOrigins && options.corsOrigins.length > 0 ? options.corsOrigins : false },
      // Clients only send small subscribe requests.
      maxHttpBufferSize: 16 * 1024,
    }) as LiveServer;
    let adapterClients: Redis[] = [];
    if (options.redisUrl) {
      // Commands wait for Redis (no retry limit whose rejection nobody would catch).
      const pub = new Redis(options.redisUrl, { maxRetriesPerRequest: null });
      const sub = pub.duplicate();
      for (const c of [pub, sub]) c.on('error', (error) => log.warn({ err: error.message }, 'live feed: Redis error'));
      adapterClients = [pub, sub];
      io.adapter(createAdapter(pub, sub));
    }
    // Live clients are let in only once the hub is subscribed to the broker: a client that
    // subscribes and then back-fills from REST (docs/durability.md) misses nothing in between.
    let liveReady = false;
    io.use((_socket, next) => {
      if (liveReady) return next();
      next(Object.assign(new Error('UNAVAILABLE: the live feed is starting; retry'), { data: { error: 'UNAVAILABLE', statusCode: 503 } }));
    });
    // The live feed is open data: same keys as REST (handshake `auth: { token }`); with
    // PUBLIC_READ anonymous clients get the open-data view (readings and device events only,
    // see OPEN_DATA_ROOM in api/live-hub.ts).
    const { authenticator } = options;
    io.use((socket, next) => {
      const token: unknown = socket.handshake.auth?.token;
      const principal = typeof token === 'string' && token !== '' ? (authenticator.authenticate(token) ?? null) : undefined;
      const verdict = authenticator.check('open', principal);
      if (verdict === 'ok') {
        socket.data = { ...socket.data, openData: principal === undefined };
        // The socket's lab, as for REST (api/labs/scope.ts): the key's, or the one picked with auth `lab`.
        const picked: unknown = socket.handshake.auth?.lab;
        authenticator.scopeOf(principal, typeof picked === 'string' && picked !== '' ? picked : undefined).then(
          (scope) => {
            socket.data = { ...socket.data, lab: scope.lab };
            next();
          },
          (error: unknown) => next(Object.assign(new Error(`NOT_FOUND: ${error instanceof Error ? error.message : String(error)}`), { data: { error: 'NOT_FOUND', statusCode: 404 } })),
        );
        return;
      }
      const error = Object.assign(new Error(principal === null ? 'UNAUTHORIZED: the token is not valid' : 'UNAUTHORIZED: the live feed needs auth: { token }'), {
        data: { error: 'UNAUTHORIZED', statusCode: verdict },
      });
      next(error);
    });
    const hub = createLiveHub({ io, mqttUrl: options.mqttUrl, mqttUsername: options.mqttUsername, mqttPassword: options.mqttPassword, logger: log, labOf: options.labOf });
    // The broker may come later (services start in any order): REST serves at once, the live
    // feed once the hub is subscribed (until then live clients are told to retry).
    hub.ready.then(
      () => {
        liveReady = true;
        log.info('live feed subscribed');
      },
      (error: unknown) => log.error({ err: String(error) }, 'live feed unavailable: the broker refused the subscription'),
    );
    app.decorate(DECORATOR, { io, hub } satisfies Live);
    // Closing the transports (not disconnectSockets, which tells clients "you were kicked: do
    // not reconnect") lets live clients reconnect to the next process.
    app.addHook('preClose', async () => {
      await new Promise<void>((resolve) => void io.close(() => resolve()));
    });
    app.addHook('onClose', async () => {
      await hub.close();
      for (const c of adapterClients) c.disconnect();
    });
  },
  { name: 'streetlab-live', fastify: '5.x' },
);
