/**
 * The StreetLab MQTT broker: Aedes on TCP (noDelay), optional TLS and MQTT over WebSocket,
 * with the security policy injected as hooks so tests and the lab can build it in-process.
 * Every listener puts the packet-size guard (limits.ts) on its connections before Aedes
 * reads from them, and hands them to the same Aedes instance: one policy for all.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { createBrokerPolicy } from './auth.ts';
import { createEdge, type Edge, type EdgeOptions } from './edge.ts';
import { guardConnection, packetLimitsFor, type GuardViolation } from './limits.ts';

const POLICY_HOOKS = ['preConnect', 'authenticate', 'authorizePublish', 'authorizeSubscribe', 'authorizeForward'] as const;

/** The hooks that decide who may connect, publish and subscribe (broker/auth.ts builds them). */
export type BrokerPolicy = Pick<AedesOptions, (typeof POLICY_HOOKS)[number]> & {
  /** Called once Aedes exists (to publish reports, disconnect revoked clients). */
  attach?(aedes: Aedes): void;
  /** Told when the packet guard closed a connection. */
  onViolation?(client: Client | undefined, violation: GuardViolation): void;
  stats?(): unknown;
  close?(): void;
};

export interface BrokerOptions {
  host?: string;
  /** TCP port; 0 = a free port. */
  port?: number;
  /** WebSocket port; 0 = a free port; undefined = no WebSocket listener. */
  wsPort?: number | undefined;
  logger?: Logger;
  policy?: BrokerPolicy;
  /** Milliseconds a new connection has to send CONNECT (default 5 s; Aedes' own is 30 s). */
  connectTimeoutMs?: number;
  /** Largest PUBLISH payload; bigger packets close the connection before they are buffered. Default 16 KiB. */
  maxPayloadBytes?: number;
  /**
   * Connections that have not yet completed CONNECT (authenticated) at any one time; more are
   * closed at once. With the first-packet size guard and the connect timeout this bounds what
   * unauthenticated clients can make the broker hold. Default 1,000.
   */
  maxPendingConnections?: number;
  /** MQTT over TLS (8883) with this PEM certificate chain and key; undefined = no TLS listener. */
  tls?: { port: number; cert: string | Buffer; key: string | Buffer } | undefined;
  /**
   * The reading path (edge.ts): readings validated and in the durable log before their PUBACK.
   * An Edge, or the options to build one (`{ logDir }`: a broker in one line). Closed with the
   * broker. Without a policy, the broker is open and still uses it.
   */
  edge?: Edge | EdgeOptions | undefined;
  /** Aedes persistence / mq (e.g. aedes-persistence-redis); default in memory. */
  persistence?: unknown;
  mq?: unknown;
}

export interface Broker {
  aedes: Aedes;
  /** The reading path, when the broker has one. */
  edge: Edge | undefined;
  host: string;
  port: number;
  wsPort: number | undefined;
  tlsPort: number | undefined;
  /** `mqtt://host:port`, for clients. */
  url: string;
  wsUrl: string | undefined;
  /** `mqtts://host:port` when TLS is on. */
  tlsUrl: string | undefined;
  connectedClients(): number;
  /** Connections the packet guard closed, by reason (`pending_limit`: over maxPendingConnections), those still before CONNECT, and the policy's own counters. */
  securityStats(): { guard: Record<string, number>; pendingConnections: number; policy: unknown };
  close(): Promise<void>;
}

export async function createBroker(options: BrokerOptions = {}): Promise<Broker> {
  const log = options.logger ?? createSilentLogger();
  const host = options.host ?? '127.0.0.1';
  const edge: Edge | undefined = options.edge === undefined ? undefined : isEdge(options.edge) ? options.edge : await createEdge({ logger: log, ...options.edge });
  // An edge without a policy: an open broker whose readings still go through the edge.
  const policy: BrokerPolicy | undefined = options.policy ?? (edge ? createBrokerPolicy({ allowAnonymous: true, rateLimit: false, edge, logger: log }) : undefined);
  const policyHooks: Partial<AedesOptions> = {};
  for (const hook of POLICY_HOOKS) {
    const fn = policy?.[hook];
    if (fn) (policyHooks as Record<string, unknown>)[hook] = fn;
  }
  const aedes = await Aedes.createBroker({
    connectTimeout: options.connectTimeoutMs ?? 5_000,
    // A stalled subscriber must not block delivery to everyone else.
    drainTimeout: 30_000,
    ...(options.persistence ? { persistence: options.persistence } : {}),
    ...(options.mq ? { mq: options.mq } : {}),
    ...policyHooks,
  });
  edge?.attach(aedes);
  policy?.attach?.(aedes);

  const limits = packetLimitsFor(options.maxPayloadBytes ?? 16 * 1024);
  const guardCounts: Record<string, number> = {};
  const maxPending = options.maxPendingConnections ?? 1_000;
  // Connections before a successful CONNECT. No closure per connection: one shared close
  // handler (`this` is the stream) and Aedes' client.conn, as 10,000 idle devices multiply it.
  const pending = new Set<Duplex>();
  function leavePending(this: Duplex): void {
    pending.delete(this);
  }
  aedes.on('client', (connected) => {
    const conn = (connected as unknown as { conn: Duplex }).conn;
    pending.delete(conn);
    // Measured: a listener left on each of 10,000 idle connections costs ~1.5 KB apiece.
    conn.removeListener('close', leavePending);
  });
  /** Guards a new connection, then hands it to Aedes. */
  const accept = (stream: Duplex, request?: Parameters<Aedes['handle']>[1]) => {
    if (pending.size >= maxPending) {
      guardCounts.pending_limit = (guardCounts.pending_limit ?? 0) + 1;
      if (guardCounts.pending_limit === 1 || guardCounts.pending_limit % 1_000 === 0) {
        log.warn({ pending: pending.size, refused: guardCounts.pending_limit }, 'too many connections before CONNECT; closing new ones');
      }
      stream.destroy();
      return;
    }
    pending.add(stream);
    stream.on('close', leavePending);
    let client: Client | undefined;
    guardConnection(stream, limits, (violation) => {
      guardCounts[violation.reason] = (guardCounts[violation.reason] ?? 0) + 1;
      log.info({ clientId: client?.id, ...violation, topic: undefined }, 'connection closed by the packet guard');
      policy?.onViolation?.(client, violation);
    });
    client = aedes.handle(stream, request);
  };

  aedes.on('client', (client) => log.debug({ clientId: client.id }, 'client connected'));
  aedes.on('clientDisconnect', (client) => log.debug({ clientId: client.id }, 'client disconnected'));
  aedes.on('clientError', (client, error) => log.debug({ clientId: client?.id, err: error.message }, 'client error'));
  aedes.on('connectionError', (client, error) => log.debug({ clientId: client?.id, err: error.message }, 'connection error'));
  aedes.on('keepaliveTimeout', (client) => log.info({ clientId: client.id }, 'client keepalive timeout'));

  // noDelay: without it Nagle + delayed ACK put ~44 ms on every QoS 1 round trip (docs/measurements.md).
  const tcpServer = createTcpServer({ noDelay: true }, (socket) => accept(socket));
  const port = await listen(tcpServer, options.port ?? 1883, host);

  let httpServer: HttpServer | undefined;
  let wss: WebSocketServer | undefined;
  let wsPort: number | undefined;
  if (options.wsPort !== undefined) {
    httpServer = createHttpServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' }).end('MQTT over WebSocket: connect with an MQTT client\n');
    });
    // ws buffers a whole frame before handing it on: cap frames at the largest packet we accept.
    wss = new WebSocketServer({ server: httpServer, perMessageDeflate: false, maxPayload: limits.maxConnectBytes + 65_546 });
    wss.on('connection', (socket, request) => {
      const stream = createWebSocketStream(socket);
      stream.on('error', () => socket.terminate());
      accept(stream, request);
    });
    wsPort = await listen(httpServer, options.wsPort, host);
  }

  let tlsServer: TlsServer | undefined;
  let tlsPort: number | undefined;
  if (options.tls) {
    tlsServer = createTlsServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' }, (socket) => {
      socket.setNoDelay(true);
      accept(socket);
    });
    // A failed handshake is the client's problem, not a broker error.
    tlsServer.on('tlsClientError', (error) => log.debug({ err: error.message }, 'TLS handshake failed'));
    tlsPort = await listen(tlsServer, options.tls.port, host);
  }

  log.info({ host, port, wsPort, tlsPort, security: (policy as { mode?: string } | undefined)?.mode ?? 'default hooks', log: edge?.logDir }, 'broker listening');

  let closing: Promise<void> | undefined;
  return {
    aedes,
    edge,
    host,
    port,
    wsPort,
    tlsPort,
    url: `mqtt://${host}:${port}`,
    wsUrl: wsPort === undefined ? undefined : `ws://${host}:${wsPort}`,
    tlsUrl: tlsPort === undefined ? undefined : `mqtts://${host}:${tlsPort}`,
    connectedClients: () => aedes.connectedClients,
    securityStats: () => ({ guard: { ...guardCounts }, pendingConnections: pending.size, policy: policy?.stats?.() }),
    close() {
      closing ??= (async () => {
        // The policy first: throttled publishes run now, while Aedes can still answer them.
        policy?.close?.();
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
        // What the edge holds becomes durable before the process may go.
        await edge?.close();
        wss?.clients.forEach((socket) => socket.terminate());
        await Promise.all([
          closeServer(tcpServer),
          tlsServer ? closeServer(tlsServer) : Promise.resolve(),
          httpServer ? closeServer(httpServer) : Promise.resolve(),
          wss ? new Promise<void>((resolve) => wss.close(() => resolve())) : Promise.resolve(),
        ]);
        // A durable persistence (persistence-file.ts) makes its last changes durable and closes its files.
        const persistence = options.persistence as { close?: () => Promise<void>; destroy?: () => Promise<void> | void } | undefined;
        if (typeof persistence?.close === 'function') await persistence.close();
        // Aedes closes its mq but not its persistence: a Redis one keeps its connection otherwise.
        else if (typeof persistence?.destroy === 'function') await persistence.destroy();
        log.info('broker closed');
      })();
      return closing;
    },
  };
}

function isEdge(value: Edge | EdgeOptions): value is Edge {
  return typeof (value as Partial<Edge>).take === 'function';
}

function listen(server: TcpServer | HttpServer | TlsServer, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: TcpServer | HttpServer | TlsServer): Promise<void> {
  return new Promise((resolve) => {
    if ('closeAllConnections' in server) server.closeAllConnections();
    server.close(() => resolve());
  });
}
