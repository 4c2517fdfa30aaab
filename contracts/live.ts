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

/** socket.io events the server emits. */
export interface ServerToClientEvents {
  reading: (reading: LiveReading) => void;
  rejected: (rejection: LiveRejection) => void;
  alert: (alert: Alert) => void;
  device: (status: DeviceStatus) => void;
}

/** socket.io events a client emits. */
export interface ClientToServerEvents {
  subscribe: (request: SubscribeRequest, ack?: (result: SubscribeAck) => void) => void;
  unsubscribe: (request: SubscribeRequest, ack?: (result: SubscribeAck) => void) => void;
}
