/**
 * Live push: subscribes to the internal live feed on the broker and forwards each event to
 * the socket.io clients that asked for it. Rooms make the fan-out cheap: a reading goes to
 * the rooms `all`, `kind:<kind>`, `device:<id>` and `kind:<kind>|device:<id>`, and socket.io
 * delivers it once per socket whichever of them the socket joined.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Server, Socket } from 'socket.io';
import {
  LIVE_SUBSCRIPTION,
  LiveReadingSchema,
  RejectionSchema,
  SubscribeRequestSchema,
  parseTopic,
  type ClientToServerEvents,
  type LiveReading,
  type Rejection,
  type ServerToClientEvents,
  type SubscribeAck,
  type SubscribeRequest,
} from '../contracts/index.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';

export type LiveServer = Server<ClientToServerEvents, ServerToClientEvents>;
type LiveSocket = Socket<ClientToServerEvents, ServerToClientEvents>;

export function roomFor(request: SubscribeRequest): string {
  if (request.kind && request.deviceId) return `kind:${request.kind}|device:${request.deviceId}`;
  if (request.kind) return `kind:${request.kind}`;
  if (request.deviceId) return `device:${request.deviceId}`;
  return 'all';
}

export function roomsOf(kind: string, deviceId: string): string[] {
  return ['all', `kind:${kind}`, `device:${deviceId}`, `kind:${kind}|device:${deviceId}`];
}

export interface LiveHubOptions {
  io: LiveServer;
  mqttUrl: string;
  mqttUsername?: string | undefined;
  mqttPassword?: string | undefined;
  logger?: Logger;
  /** Told of every valid live reading and rejection (the alert engine); must not throw or block. */
  onReading?: ((reading: LiveReading) => void) | undefined;
  onRejection?: ((rejection: Rejection) => void) | undefined;
}

export interface LiveHub {
  ready: Promise<void>;
  connected(): boolean;
  stats(): { forwarded: number; dropped: number; clients: number };
  close(): Promise<void>;
}

export function createLiveHub(options: LiveHubOptions): LiveHub {
  const log = options.logger ?? createSilentLogger();
  const { io } = options;
  let forwarded = 0;
  let dropped = 0;

  io.on('connection', (socket: LiveSocket) => {
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
      io.to(rooms).emit('reading', reading.data);
      options.onReading?.(reading.data);
    } else {
      const rejection = RejectionSchema.safeParse(body);
      if (!rejection.success) {
        dropped += 1;
        return;
      }
      io.to(rooms).emit('rejected', rejection.data);
      options.onRejection?.(rejection.data);
    }
    forwarded += 1;
  });

  return {
    ready,
    connected: () => client.connected,
    stats: () => ({ forwarded, dropped, clients: io.engine.clientsCount }),
    async close() {
      await client.endAsync();
    },
  };
}
