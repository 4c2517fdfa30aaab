/**
 * Live push: subscribes to the edge's live feed on the broker (one message per batch of
 * readings and rejections) and forwards each event to
 * the socket.io clients that asked for it. Rooms make the fan-out cheap: a reading goes to
 * the rooms `all`, `kind:<kind>`, `device:<id>` and `kind:<kind>|device:<id>`, and socket.io
 * delivers it once per socket whichever of them the socket joined.
 *
 * Clients that connect with `auth: { batch: true }` get `readings` / `rejections` arrays
 * instead (live-batch.ts): they join the same rooms (so `alert` reaches them unchanged) and
 * the room `batching`, which the per-event emits leave out.
 *
 * Open data: a socket without credentials (PUBLIC_READ; api/plugins/live.ts marks it with
 * `socket.data.openData`) joins the room `open-data`, which every rejection and alert emit
 * leaves out: anonymous clients get readings and device events, never a rejected payload's
 * excerpt or an alert.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Server, Socket } from 'socket.io';
import {
  LIVE_BATCH_TOPIC,
  LIVE_SUBSCRIPTION,
  type LiveFeedBatch,
  LiveHandshakeAuthSchema,
  SubscribeRequestSchema,
  isKnownKind,
  readingKinds,
  type ClientToServerEvents,
  type LiveHandshakeAuth,
  type LiveReading,
  type Rejection,
  type ServerToClientEvents,
  type SubscribeAck,
} from '../contracts/index.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { BATCHING_ROOM, DEVICE_EVENTS_ROOM, createLiveBatcher, labRoom, roomFor, roomsOf, withLabRooms, type GroupChange } from './live-batch.ts';

export { DEVICE_EVENTS_ROOM, roomFor, roomsOf, withLabRooms };

/** Sockets of anonymous callers: rejections and alerts are emitted `.except(OPEN_DATA_ROOM)`. */
export const OPEN_DATA_ROOM = 'open-data';
/** What the per-event emits of rejections leave out: batching sockets (they get arrays) and open-data ones. */
const NO_SINGLE_REJECTIONS = [BATCHING_ROOM, OPEN_DATA_ROOM];

export type LiveServer = Server<ClientToServerEvents, ServerToClientEvents>;
type LiveSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

export interface LiveHubOptions {
  io: LiveServer;
  mqttUrl: string;
  mqttUsername?: string | undefined;
  mqttPassword?: string | undefined;
  logger?: Logger;
  /** Told of every valid live reading and rejection (the alert engine); must not throw or block. */
  onReading?: ((reading: LiveReading) => void) | undefined;
  onRejection?: ((rejection: Rejection) => void) | undefined;
  /** Most events per `readings` / `rejections` batch (default LIVE_BATCH_MAX). */
  maxBatch?: number | undefined;
  /** The lab of a registered device (its events also go to that lab's rooms); undefined = no labs. */
  labOf?: ((deviceId: string) => string | undefined) | undefined;
}

/** Told of every valid live reading and rejection (e.g. the alert engine); must not throw or block. */
export interface LiveListener {
  onReading?: ((reading: LiveReading) => void) | undefined;
  onRejection?: ((rejection: Rejection) => void) | undefined;
}

export interface LiveHub {
  ready: Promise<void>;
  /** Adds a listener after construction (the alerting plugin does); returns its removal. */
  listen(listener: LiveListener): () => void;
  connected(): boolean;
  stats(): { forwarded: number; dropped: number; clients: number; batchingClients: number; batches: number };
  close(): Promise<void>;
}

function isFeedBatch(body: unknown): body is LiveFeedBatch {
  if (typeof body !== 'object' || body === null) return false;
  const { readings, rejections } = body as Partial<LiveFeedBatch>;
  if (!Array.isArray(readings) || !Array.isArray(rejections)) return false;
  for (const r of readings) if (typeof r?.deviceId !== 'string' || typeof r.kind !== 'string' || typeof r.values !== 'object') return false;
  for (const r of rejections) if (typeof r?.reason !== 'string') return false;
  return true;
}

export function createLiveHub(options: LiveHubOptions): LiveHub {
  const log = options.logger ?? createSilentLogger();
  const { io } = options;
  let forwarded = 0;
  let dropped = 0;
  /** Connected sockets that get one event per reading: while there are none, skip those emits. */
  let singleSockets = 0;
  let batchingSockets = 0;
  const listeners: LiveListener[] = [{ onReading: options.onReading, onRejection: options.onRejection }];
  const batcher = createLiveBatcher({
    ...(options.maxBatch ? { maxBatch: options.maxBatch } : {}),
    // One encoding per batch and group, however many sockets the group has.
    send: (room, batch) => {
      // Local: every API node gets the whole feed from the broker (cluster mode: no echo through Redis).
      if (batch.event === 'readings') io.local.to(room).emit('readings', batch.items);
      else io.local.to(room).except(OPEN_DATA_ROOM).emit('rejections', batch.items);
    },
  });

  // Refuse a handshake whose `auth` is not the contract's (e.g. `batch: "yes"`) rather than guess.
  io.use((socket, next) => {
    const parsed = LiveHandshakeAuthSchema.safeParse(socket.handshake.auth ?? {});
    if (parsed.success) return next();
    const message = parsed.error.issues.map((i) => `auth.${i.path.join('.')}: ${i.message}`).join('; ');
    next(Object.assign(new Error(`LIVE_AUTH_INVALID: ${message}`), { data: { error: 'LIVE_AUTH_INVALID', statusCode: 400 } }));
  });

  io.on('connection', (socket: LiveSocket) => {
    const batching = (socket.handshake.auth as LiveHandshakeAuth | undefined)?.batch === true;
    // A lab-scoped socket (api/plugins/live.ts sets `data.lab`) lives in its lab's copies of the rooms only.
    const lab = typeof socket.data?.lab === 'string' ? (socket.data.lab as string) : undefined;
    const scoped = (room: string) => (lab === undefined ? room : labRoom(lab, room));
    void socket.join(scoped(DEVICE_EVENTS_ROOM));
    if (socket.data?.openData === true) void socket.join(OPEN_DATA_ROOM);
    const regroup = (change: GroupChange) => {
      if (change.leave) void socket.leave(change.leave);
      if (change.join) void socket.join(change.join);
    };
    if (batching) {
      batchingSockets += 1;
      void socket.join(BATCHING_ROOM);
    } else singleSockets += 1;
    socket.on('disconnect', () => {
      if (batching) {
        batchingSockets -= 1;
        batcher.remove(socket.id);
      } else singleSockets -= 1;
    });
    const handle = (join: boolean) => (raw: unknown, ack?: (result: SubscribeAck) => void) => {
      const parsed = SubscribeRequestSchema.safeParse(raw ?? {});
      if (!parsed.success) {
        const message = parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ');
        if (typeof ack === 'function') ack({ ok: false, error: message });
        return;
      }
      if (parsed.data.kind !== undefined && !isKnownKind(parsed.data.kind)) {
        if (typeof ack === 'function') ack({ ok: false, error: `kind: unknown kind "${parsed.data.kind}"; one of ${readingKinds().join(', ')}` });
        return;
      }
      const room = scoped(roomFor(parsed.data));
      if (join) void socket.join(room);
      else void socket.leave(room);
      if (batching) regroup(join ? batcher.subscribe(socket.id, room) : batcher.unsubscribe(socket.id, room));
      if (typeof ack === 'function') ack({ ok: true, subscription: parsed.data });
    };
    socket.on('subscribe', handle(true));
    socket.on('unsubscribe', handle(false));
  });

  const client: MqttClient = mqtt.connect(options.mqttUrl, {
    clientId: `streetlab-api-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    reconnectPeriod: 1_000,
    ...(options.mqttUsername ? { username: options.mqttUsername, password: options.mqttPassword ?? '' } : {}),
  });
  // Services start in any order: until the broker answers, mqtt.js retries every second and
  // `ready` waits. Only a refusal of the subscription (wrong credentials, no right) fails it.
  const ready = new Promise<void>((resolve, reject) => {
    client.on('connect', () => {
      client.subscribe(LIVE_SUBSCRIPTION, { qos: 0 }, (error, granted) => {
        if (error || granted?.some((g) => g.qos === 128)) {
          const failure = error ?? new Error(`the broker refused the live-feed subscription (${LIVE_SUBSCRIPTION})`);
          log.error({ err: failure.message }, 'live feed subscription refused');
          reject(failure);
          return;
        }
        resolve();
      });
    });
  });
  ready.catch(() => {});
  let lastErrorLog = 0;
  client.on('error', (error) => {
    // ECONNREFUSED every second while the broker is away: say it now and then, not each time.
    if (Date.now() - lastErrorLog < 10_000) return;
    lastErrorLog = Date.now();
    log.warn({ err: error.message }, 'live feed: broker not reachable; retrying');
  });

  client.on('message', (topic, payload) => {
    if (topic !== LIVE_BATCH_TOPIC) return;
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      dropped += 1;
      return;
    }
    // Only the broker's edge may write this topic (the policy refuses it to devices and
    // services), and the edge sends only what it validated against contracts/: check the
    // shape, not every field again (a full zod pass was half of the API's CPU per reading).
    if (!isFeedBatch(body)) {
      dropped += 1;
      return;
    }
    for (const reading of body.readings) {
      const rooms = withLabRooms(roomsOf(reading.kind, reading.deviceId), options.labOf?.(reading.deviceId));
      if (singleSockets > 0) io.local.to(rooms).except(BATCHING_ROOM).emit('reading', reading);
      batcher.pushReading(reading, rooms);
      for (const listener of listeners) listener.onReading?.(reading);
    }
    for (const rejection of body.rejections) {
      const rooms = rejection.kind && rejection.deviceId ? withLabRooms(roomsOf(rejection.kind, rejection.deviceId), options.labOf?.(rejection.deviceId)) : ['all'];
      if (singleSockets > 0) io.local.to(rooms).except(NO_SINGLE_REJECTIONS).emit('rejected', rejection);
      batcher.pushRejection(rejection, rooms);
      for (const listener of listeners) listener.onRejection?.(rejection);
    }
    forwarded += body.readings.length + body.rejections.length;
  });

  return {
    ready,
    listen(listener) {
      listeners.push(listener);
      return () => {
        const index = listeners.indexOf(listener);
        if (index >= 0) listeners.splice(index, 1);
      };
    },
    connected: () => client.connected,
    stats: () => {
      const batches = batcher.stats();
      return { forwarded, dropped, clients: io.engine.clientsCount, batchingClients: batchingSockets, batches: batches.batches };
    },
    async close() {
      await client.endAsync();
      batcher.flush();
    },
  };
}
