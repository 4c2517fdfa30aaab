/**
 * Live push: subscribes to the internal live feed on the broker and forwards each event to
 * the socket.io clients that asked for it. Rooms make the fan-out cheap: a reading goes to
 * the rooms `all`, `kind:<kind>`, `device:<id>` and `kind:<kind>|device:<id>`, and socket.io
 * delivers it once per socket whichever of them the socket joined.
 *
 * Clients that connect with `auth: { batch: true }` get `readings` / `rejections` arrays
 * instead (live-batch.ts): they join the same rooms (so `alert` reaches them unchanged) and
 * the room `batching`, which the per-event emits leave out.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Server, Socket } from 'socket.io';
import {
  LIVE_SUBSCRIPTION,
  LiveHandshakeAuthSchema,
  LiveReadingSchema,
  RejectionSchema,
  SubscribeRequestSchema,
  parseTopic,
  type ClientToServerEvents,
  type LiveHandshakeAuth,
  type LiveReading,
  type Rejection,
  type ServerToClientEvents,
  type SubscribeAck,
} from '../contracts/index.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { BATCHING_ROOM, createLiveBatcher, roomFor, roomsOf, type GroupChange } from './live-batch.ts';

export { roomFor, roomsOf };

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
}

export interface LiveHub {
  ready: Promise<void>;
  connected(): boolean;
  stats(): { forwarded: number; dropped: number; clients: number; batchingClients: number; batches: number };
  close(): Promise<void>;
}

export function createLiveHub(options: LiveHubOptions): LiveHub {
  const log = options.logger ?? createSilentLogger();
  const { io } = options;
  let forwarded = 0;
  let dropped = 0;
  /** Connected sockets that get one event per reading: while there are none, skip those emits. */
  let singleSockets = 0;
  let batchingSockets = 0;
  const batcher = createLiveBatcher({
    ...(options.maxBatch ? { maxBatch: options.maxBatch } : {}),
    // One encoding per batch and group, however many sockets the group has.
    send: (room, batch) => {
      if (batch.event === 'readings') io.to(room).emit('readings', batch.items);
      else io.to(room).emit('rejections', batch.items);
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
      const room = roomFor(parsed.data);
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
  const ready = new Promise<void>((resolve, reject) => {
    client.on('connect', () => {
      client.subscribe(LIVE_SUBSCRIPTION, { qos: 0 }, (error) => (error ? reject(error) : resolve()));
    });
    client.once('error', reject);
  });
  ready.catch(() => {});
  client.on('error', (error) => log.warn({ err: error.message }, 'live feed MQTT error'));

  client.on('message', (topic, payload) => {
    const parsed = parseTopic(topic);
    if (!parsed || parsed.type !== 'live') return;
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      dropped += 1;
      return;
    }
    const rooms = roomsOf(parsed.kind, parsed.deviceId);
    if (parsed.event === 'reading') {
      const reading = LiveReadingSchema.safeParse(body);
      if (!reading.success) {
        dropped += 1;
        return;
      }
      if (singleSockets > 0) io.to(rooms).except(BATCHING_ROOM).emit('reading', reading.data);
      batcher.pushReading(reading.data, rooms);
      options.onReading?.(reading.data);
    } else {
      const rejection = RejectionSchema.safeParse(body);
      if (!rejection.success) {
        dropped += 1;
        return;
      }
      if (singleSockets > 0) io.to(rooms).except(BATCHING_ROOM).emit('rejected', rejection.data);
      batcher.pushRejection(rejection.data, rooms);
      options.onRejection?.(rejection.data);
    }
    forwarded += 1;
  });

  return {
    ready,
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
