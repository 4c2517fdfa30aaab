/**
 * Messages from outside our MQTT contract, as their senders publish them, and the HTTP
 * ingestion answers (broker/ingest-http.ts). Only the fields the adapters read are named;
 * everything else the senders add is allowed through (loose objects), since network servers
 * add fields between versions.
 *
 *   The Things Stack v3 uplink message (webhook body, or MQTT `v3/{app}@{tenant}/devices/{device}/up`)
 *   ChirpStack v4 `up` event (HTTP integration `?event=up`, or MQTT `application/{id}/device/{devEui}/event/up`)
 *   Sensor.Community airrohr "send to own API" JSON
 *
 * Integrations (one per network-server application) are stored like the registry's devices
 * (common/registry/integrations.ts) and managed by admins at /api/v1/integrations.
 */
import { z } from 'zod';
import { DeviceIdSchema } from './readings.ts';
import { RejectionSchema } from './rejections.ts';

const finite = z.number().finite();

export const TtsRxMetadataSchema = z.looseObject({
  gateway_ids: z.looseObject({ gateway_id: z.string().optional() }).optional(),
  rssi: finite.optional(),
  channel_rssi: finite.optional(),
  snr: finite.optional(),
});

/** The Things Stack v3 uplink message (`ttnpb.ApplicationUp` with `uplink_message`). */
export const TtsUplinkSchema = z.looseObject({
  end_device_ids: z.looseObject({
    device_id: z.string().min(1).max(64),
    application_ids: z.looseObject({ application_id: z.string().min(1).max(64) }).optional(),
    dev_eui: z.string().optional(),
  }),
  received_at: z.string().optional(),
  uplink_message: z.looseObject({
    f_cnt: z.number().int().min(0).optional(),
    f_port: z.number().int().optional(),
    decoded_payload: z.record(z.string(), z.unknown()).optional(),
    rx_metadata: z.array(TtsRxMetadataSchema).optional(),
    received_at: z.string().optional(),
  }),
});
export type TtsUplink = z.infer<typeof TtsUplinkSchema>;

/** ChirpStack v4 integration event `up` (JSON marshaler). */
export const ChirpStackUpSchema = z.looseObject({
  time: z.string().optional(),
  deviceInfo: z.looseObject({
    devEui: z.string().min(1),
    deviceName: z.string().optional(),
    applicationId: z.string().optional(),
    tenantId: z.string().optional(),
  }),
  fCnt: z.number().int().min(0).optional(),
  object: z.record(z.string(), z.unknown()).optional(),
  rxInfo: z.array(z.looseObject({ gatewayId: z.string().optional(), rssi: finite.optional(), snr: finite.optional() })).optional(),
});
export type ChirpStackUp = z.infer<typeof ChirpStackUpSchema>;

/** Sensor.Community (airrohr firmware) "send to own API": every value is a string. */
export const AirrohrPayloadSchema = z.looseObject({
  esp8266id: z.union([z.string(), z.number()]).transform(String).optional(),
  software_version: z.string().optional(),
  sensordatavalues: z.array(z.looseObject({ value_type: z.string().min(1).max(64), value: z.union([z.string(), z.number()]) })).max(200),
});
export type AirrohrPayload = z.infer<typeof AirrohrPayloadSchema>;

// --- integrations -------------------------------------------------------------------------

export const INTEGRATION_TYPES = ['ttn', 'chirpstack'] as const;
export const IntegrationTypeSchema = z.enum(INTEGRATION_TYPES).describe('ttn (The Things Stack v3) or chirpstack (v4)');
export type IntegrationType = z.infer<typeof IntegrationTypeSchema>;

/** Where the broker's bridge subscribes to the network server's own MQTT server. */
export const IntegrationMqttSchema = z.strictObject({
  url: z.string().regex(/^(mqtts?|wss?|tcp):\/\/.+/, 'an mqtt://, mqtts://, ws:// or wss:// URL').describe('e.g. mqtts://eu1.cloud.thethings.network:8883'),
  username: z.string().min(1).max(200).optional().describe('TTS: {application id}@{tenant id}, e.g. my-app@ttn'),
  password: z.string().min(1).max(1000).optional().describe('TTS: an API key with "Read application traffic"'),
  topic: z.string().min(1).max(300).optional().describe('default: TTS v3/{username}/devices/+/up, ChirpStack application/+/device/+/event/up'),
});
export type IntegrationMqtt = z.infer<typeof IntegrationMqttSchema>;

export const IntegrationIdSchema = DeviceIdSchema.describe('integration id: 1–64 of [A-Za-z0-9_.-], part of the webhook path');

export const IntegrationRecordSchema = z.object({
  id: IntegrationIdSchema,
  type: IntegrationTypeSchema,
  name: z.string().min(1).max(200),
  /** When set, only devices of this owner may be written through the integration. */
  owner: z.string().min(1).max(100).optional(),
  enabled: z.boolean(),
  /** The bridge's settings; the password is never shown, only whether one is set. */
  mqtt: IntegrationMqttSchema.omit({ password: true }).extend({ passwordSet: z.boolean() }).optional(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type IntegrationRecord = z.infer<typeof IntegrationRecordSchema>;

export const CreateIntegrationRequestSchema = z.strictObject({
  id: IntegrationIdSchema,
  type: IntegrationTypeSchema,
  name: z.string().min(1).max(200).optional(),
  owner: z.string().min(1).max(100).optional().describe('only this owner\'s devices may be written through it'),
  enabled: z.boolean().default(true),
  mqtt: IntegrationMqttSchema.optional().describe('subscribe to the network server\'s MQTT (a bridge in the broker) as well as or instead of its webhook'),
});
export type CreateIntegrationRequest = z.infer<typeof CreateIntegrationRequestSchema>;

export const UpdateIntegrationRequestSchema = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  owner: z.string().min(1).max(100).nullable().optional(),
  enabled: z.boolean().optional(),
  mqtt: IntegrationMqttSchema.nullable().optional(),
});
export type UpdateIntegrationRequest = z.infer<typeof UpdateIntegrationRequestSchema>;

/** Returned once, at creation or rotation: the webhook secret (header X-StreetLab-Secret). */
export const IntegrationWithSecretSchema = z.object({
  integration: IntegrationRecordSchema,
  secret: z.string().describe('value of the X-StreetLab-Secret header the network server sends; shown once'),
});
export type IntegrationWithSecret = z.infer<typeof IntegrationWithSecretSchema>;

export const IntegrationListResponseSchema = z.object({ integrations: z.array(IntegrationRecordSchema) });

/** The header a network server's webhook sends the integration's secret in. */
export const INTEGRATION_SECRET_HEADER = 'x-streetlab-secret';

// --- HTTP ingestion answers ------------------------------------------------------------------

export const ReadingOutcomeSchema = z.discriminatedUnion('status', [
  z.object({ index: z.number().int().min(0), status: z.literal('accepted'), ts: z.string().describe('the reading\'s time as stored') }),
  z.object({ index: z.number().int().min(0), status: z.literal('rejected'), rejection: RejectionSchema }),
]);
export type ReadingOutcome = z.infer<typeof ReadingOutcomeSchema>;

/** 201 (all stored) or 202 (some rejected): each reading's outcome, in the order sent. Durable when answered. */
export const IngestResponseSchema = z.object({
  deviceId: z.string(),
  accepted: z.number().int().min(0),
  rejected: z.number().int().min(0),
  results: z.array(ReadingOutcomeSchema),
});
export type IngestResponse = z.infer<typeof IngestResponseSchema>;

/** 4xx: what was wrong; `rejection` when the message was recorded as a rejection. */
export const IngestErrorSchema = z.object({
  error: z.string(),
  message: z.string(),
  statusCode: z.number().int(),
  rejection: RejectionSchema.optional(),
  rejections: z.array(RejectionSchema).optional(),
});
export type IngestError = z.infer<typeof IngestErrorSchema>;
