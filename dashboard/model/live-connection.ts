/**
 * The live connection: socket.io on the page's origin, subscribed to everything, with
 * automatic reconnection. Subscriptions live in server-side rooms that a reconnect does not
 * keep, so the client subscribes again on every connect and reports how long it was away,
 * for the caller to back-fill the gap from the REST API.
 *
 * It asks for batches (`auth: { batch: true }`, contracts/live.ts): one `readings` array per
 * server event-loop turn instead of one frame per reading, which is what keeps a busy feed
 * cheap for the server and the page. Each element is handed on as its own event.
 */
import { io, type Socket } from 'socket.io-client';
import type { ClientToServerEvents, LiveHandshakeAuth, ServerToClientEvents } from '../../contracts/live.ts';
import type { ConnectionState, LiveEvent } from './state.ts';

export interface LiveConnectionOptions {
  /** Origin of the API; the page's own when omitted. */
  url?: string | undefined;
  token?: string | undefined;
  /** Only this lab's events (handshake `auth: { lab }`); undefined = what the key sees. */
  lab?: string | undefined;
  onEvent(event: LiveEvent): void;
  onState(state: ConnectionState, atMs: number): void;
  /** Connected again after losing the connection at `downSinceMs`: back-fill from there. */
  onReconnect(downSinceMs: number): void;
  now?: () => number;
}

export interface LiveConnection {
  readonly state: ConnectionState;
  close(): void;
}

type LiveSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

/** Wait before reconnecting when the server closed the connection itself. */
const SERVER_CLOSE_RETRY_MS = 2_000;

export function createLiveConnection(options: LiveConnectionOptions): LiveConnection {
  const now = options.now ?? Date.now;
  let state: ConnectionState = 'connecting';
  let downSinceMs: number | undefined;
  let everConnected = false;
  let closed = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;

  const socketOptions = {
    path: '/socket.io',
    reconnection: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 5_000,
    timeout: 8_000,
    auth: { batch: true, ...(options.token ? { token: options.token } : {}), ...(options.lab ? { lab: options.lab } : {}) } satisfies LiveHandshakeAuth,
  };
  const socket: LiveSocket = options.url ? io(options.url, socketOptions) : io(socketOptions);

  const setState = (next: ConnectionState) => {
    if (state === next) return;
    state = next;
    options.onState(next, now());
  };

  // "Connected" once the server has acknowledged the subscription, not at the handshake: until
  // then the server has not put this socket in its rooms and events would pass it by.
  socket.on('connect', () => {
    socket.emit('subscribe', {}, (ack) => {
      if (!ack.ok) console.warn(`live subscription refused: ${ack.error}`);
      if (!socket.connected) return;
      setState('connected');
      if (everConnected && downSinceMs !== undefined) options.onReconnect(downSinceMs);
      everConnected = true;
      downSinceMs = undefined;
    });
  });

  socket.on('disconnect', (reason) => {
    downSinceMs ??= now();
    setState('disconnected');
    // socket.io retries by itself except when the server closed the socket on purpose
    // (e.g. the API restarting): then we come back after a pause.
    if (reason === 'io server disconnect' && !closed) {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => socket.connect(), SERVER_CLOSE_RETRY_MS);
    }
  });

  socket.on('connect_error', () => {
    if (everConnected) downSinceMs ??= now();
    setState('disconnected');
    // A refusal by the server (the live feed still starting while the broker comes up)
    // leaves the socket inactive: socket.io does not retry those by itself.
    if (!socket.active && !closed) {
      clearTimeout(retryTimer);
      retryTimer = setTimeout(() => socket.connect(), SERVER_CLOSE_RETRY_MS);
    }
  });

  socket.on('readings', (readings) => {
    for (const reading of readings) options.onEvent({ type: 'reading', reading });
  });
  socket.on('rejections', (rejections) => {
    for (const rejection of rejections) options.onEvent({ type: 'rejected', rejection });
  });
  socket.on('alert', (alert) => options.onEvent({ type: 'alert', alert }));
  socket.on('device', (status) => options.onEvent({ type: 'device', status }));

  return {
    get state() {
      return state;
    },
    close() {
      closed = true;
      clearTimeout(retryTimer);
      socket.close();
    },
  };
}
