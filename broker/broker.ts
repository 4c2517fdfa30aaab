/**
 * The StreetLab MQTT broker: Aedes on TCP (noDelay) and MQTT over WebSocket, with the
 * security policy injected as hooks so tests and the lab can build it in-process.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { Aedes, type AedesOptions } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';

/** The hooks that decide who may connect, publish and subscribe. */
export type BrokerPolicy = Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>;

export interface BrokerOptions {
  host?: string;
  /** TCP port; 0 = a free port. */
  port?: number;
  /** WebSocket port; 0 = a free port; undefined = no WebSocket listener. */
  wsPort?: number | undefined;
  logger?: Logger;
  policy?: BrokerPolicy;
  /** Milliseconds a new connection has to send CONNECT. */
  connectTimeoutMs?: number;
  /** Aedes persistence / mq (e.g. aedes-persistence-redis); default in memory. */
  persistence?: unknown;
  mq?: unknown;
}

export interface Broker {
  aedes: Aedes;
  host: string;
  port: number;
  wsPort: number | undefined;
  /** `mqtt://host:port`, for clients. */
  url: string;
  wsUrl: string | undefined;
  connectedClients(): number;
  close(): Promise<void>;
}

export async function createBroker(options: BrokerOptions = {}): Promise<Broker> {
  const log = options.logger ?? createSilentLogger();
  const host = options.host ?? '127.0.0.1';
  const aedes = await Aedes.createBroker({
    connectTimeout: options.connectTimeoutMs ?? 10_000,
    // A stalled subscriber must not block delivery to everyone else.
    drainTimeout: 30_000,
    ...(options.persistence ? { persistence: options.persistence } : {}),
    ...(options.mq ? { mq: options.mq } : {}),
    ...(options.policy ?? {}),
  });

  aedes.on('client', (client) => log.debug({ clientId: client.id }, 'client connected'));
  aedes.on('clientDisconnect', (client) => log.debug({ clientId: client.id }, 'client disconnected'));
  aedes.on('clientError', (client, error) => log.debug({ clientId: client?.id, err: error.message }, 'client error'));
  aedes.on('connectionError', (client, error) => log.debug({ clientId: client?.id, err: error.message }, 'connection error'));
  aedes.on('keepaliveTimeout', (client) => log.info({ clientId: client.id }, 'client keepalive timeout'));

  // noDelay: without it Nagle + delayed ACK put ~44 ms on every QoS 1 round trip (FIELD-NOTES).
  const tcpServer = createTcpServer({ noDelay: true }, aedes.handle);
  const port = await listen(tcpServer, options.port ?? 1883, host);

  let httpServer: HttpServer | undefined;
  let wss: WebSocketServer | undefined;
  let wsPort: number | undefined;
  if (options.wsPort !== undefined) {
    httpServer = createHttpServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect with an MQTT client\n');
    });
    wss = new WebSocketServer({ server: httpServer, perMessageDeflate: false });
    wss.on('connection', (socket, request) => {
      const stream = createWebSocketStream(socket);
      stream.on('error', () => socket.terminate());
      aedes.handle(stream, request);
    });
    wsPort = await listen(httpServer, options.wsPort, host);
  }

  log.info({ host, port, wsPort }, 'broker listening');

  let closing: Promise<void> | undefined;
  return {
    aedes,
    host,
    port,
    wsPort,
    url: `mqtt://${host}:${port}`,
    wsUrl: wsPort === undefined ? undefined : `ws://${host}:${wsPort}`,
    connectedClients: () => aedes.connectedClients,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        wss?.clients.forEach((socket) => socket.terminate());
        await Promise.all([
          closeServer(tcpServer),
          httpServer ? closeServer(httpServer) : Promise.resolve(),
          wss ? new Promise<void>((resolve) => wss.close(() => resolve())) : Promise.resolve(),
        ]);
        log.info('broker closed');
      })();
      return closing;
    },
  };
}

function listen(server: TcpServer | HttpServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: TcpServer | HttpServer): Promise<void> {
  return new Promise((resolve) => {
    if ('closeAllConnections' in server) server.closeAllConnections();
    server.close(() => resolve());
  });
}
