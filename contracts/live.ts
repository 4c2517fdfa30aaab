/**
 * Live events: what ingest publishes on the internal feed and what the API pushes to
 * socket.io clients. Typed once here for the server, the dashboard and tests.
 */
import { z } from 'zod';
import { DeviceIdSchema, ReadingKindSchema } from './readings.ts';
import { RejectionSchema } from './rejections.ts';
import { AlertSchema, type Alert } from './alerts.ts';

/** A validated, normalised reading: the shape on the live feed and in REST responses. */
export const LiveReadingSchema = z.object({
  kind: ReadingKindSchema,
  deviceId: DeviceIdSchema,
  ts: z.iso.datetime().describe('measurement time (device ts, else receive time), ISO 8601 UTC'),
  receivedAt: z.iso.datetime().optional().describe('when ingest received it'),
  seq: z.number().int().optional(),
  battery: z.number().optional().describe('%'),
  rssi: z.number().optional().describe('dBm'),
  values: z
    .record(z.string(), z.union([z.number(), z.boolean()]))
    .describe('measurements by contract field name, in contract units'),
});
export type LiveReading = z.infer<typeof LiveReadingSchema>;

/** What a client asks for with `subscribe`; an empty object means everything. */
export const SubscribeRequestSchema = z.strictObject({
  kind: ReadingKindSchema.optional(),
  deviceId: DeviceIdSchema.optional(),
});
export type SubscribeRequest = z.infer<typeof SubscribeRequestSchema>;

export const SubscribeAckSchema = z.union([
  z.object({ ok: z.literal(true), subscription: SubscribeRequestSchema }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);
export type SubscribeAck = z.infer<typeof SubscribeAckSchema>;

/** The `alert` event's payload: defined with the rules in alerts.ts, re-exported for live-feed users. */
export { AlertSchema, type Alert };

export const DeviceStatusSchema = z.object({
  deviceId: DeviceIdSchema,
  kind: ReadingKindSchema.optional(),
  status: z.enum(['online', 'offline', 'disabled', 'created', 'removed']),
  at: z.iso.datetime(),
});
export type DeviceStatus = z.infer<typeof DeviceStatusSchema>;

export type LiveRejection = z.infer<typeof RejectionSchema>;

/** Most events in one `readings` or `rejections` batch; a busier event-loop turn is sent as several. */
export const LIVE_BATCH_MAX = 1_000;

/**
 * The socket.io handshake `auth` of a live client. `batch` is chosen here, not with an
 * event, because it is a property of the connection: it is known before the first
 * subscription (no window in which a client gets the other shape), and socket.io-client
 * sends the same `auth` again on every reconnect.
 */
export const LiveHandshakeAuthSchema = z.object({
  token: z.string().optional().describe('API key or admin token; not needed when the live feed is public'),
  batch: z
    .boolean()
    .optional()
    .describe('true: receive `readings` / `rejections` arrays instead of one `reading` / `rejected` event each'),
  lab: z.string().optional().describe("only this lab's events (callers whose key is not scoped to a lab pick one; a lab-scoped key gets its own lab)"),
});
export type LiveHandshakeAuth = z.infer<typeof LiveHandshakeAuthSchema>;

/** The `readings` event's payload: readings in arrival order, each matching the socket's subscriptions once. */
export const LiveReadingBatchSchema = z.array(LiveReadingSchema).min(1).max(LIVE_BATCH_MAX);
export type LiveReadingBatch = z.infer<typeof LiveReadingBatchSchema>;

/** The `rejections` event's payload, ordered and filtered as `readings` is. */
export const LiveRejectionBatchSchema = z.array(RejectionSchema).min(1).max(LIVE_BATCH_MAX);
export type LiveRejectionBatch = z.infer<typeof LiveRejectionBatchSchema>;

/**
 * The internal live feed from the edge to the API nodes (MQTT topic LIVE_BATCH_TOPIC): what
 * the edge validated in one event-loop turn, in arrival order. One message per batch, not per
 * reading, so the feed costs the broker one delivery per batch and API node.
 */
export const LiveFeedBatchSchema = z.object({
  readings: z.array(LiveReadingSchema),
  rejections: z.array(RejectionSchema),
});
export type LiveFeedBatch = z.infer<typeof LiveFeedBatchSchema>;

/**
 * socket.io events the server emits. A client connected with `auth: { batch: true }` gets
 * `readings` and `rejections` (each event at most once per socket however many of its
 * subscriptions it matches, in arrival order within each stream) and never `reading` /
 * `rejected`; any other client gets one `reading` / `rejected` event each, as before.
 * `alert` and `device` are the same for both.
 */
export interface ServerToClientEvents {
  reading: (reading: LiveReading) => void;
  rejected: (rejection: LiveRejection) => void;
  readings: (readings: LiveReadingBatch) => void;
  rejections: (rejections: LiveRejectionBatch) => void;
  alert: (alert: Alert) => void;
  device: (status: DeviceStatus) => void;
}

/** socket.io events a client emits. */
export interface ClientToServerEvents {
  subscribe: (request: SubscribeRequest, ack?: (result: SubscribeAck) => void) => void;
  unsubscribe: (request: SubscribeRequest, ack?: (result: SubscribeAck) => void) => void;
}
