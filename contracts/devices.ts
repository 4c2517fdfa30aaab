/**
 * The device registry's public shapes: what an admin registers and what readers see.
 * Secrets never appear here except in the one response that issues them.
 */
import { z } from 'zod';
import { DeviceIdSchema, ReadingKindSchema } from './readings.ts';
import { LabIdSchema } from './labs.ts';
import { DeviceSourcePatchShape, DeviceSourceShape } from './device-sources.ts';

export const DeviceLocationShape = {
  lat: z.number().min(-90).max(90).describe('° WGS84'),
  lon: z.number().min(-180).max(180).describe('° WGS84'),
  site: z.string().min(1).max(100).optional().describe('site label, e.g. "H.C. Andersens Boulevard"'),
};

export const DeviceRecordSchema = z.object({
  id: DeviceIdSchema,
  kind: ReadingKindSchema,
  name: z.string().min(1).max(200),
  owner: z.string().min(1).max(100).describe('company or team testing the device'),
  ...DeviceLocationShape,
  intervalSeconds: z.number().int().min(1).max(86_400).describe('s: how often the device promises to report'),
  enabled: z.boolean(),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  meta: z.record(z.string(), z.unknown()).describe('free-form metadata'),
  lab: LabIdSchema.optional().describe('the lab the device belongs to; absent (registered before labs) = the default lab'),
  /** How it sends (absent = mqtt), its identifiers at a network server or firmware, its field mapping (contracts/device-sources.ts). */
  ...DeviceSourceShape,
});
export type DeviceRecord = z.infer<typeof DeviceRecordSchema>;

export const CreateDeviceRequestSchema = z.strictObject({
  id: DeviceIdSchema,
  kind: ReadingKindSchema,
  name: z.string().min(1).max(200).optional(),
  owner: z.string().min(1).max(100),
  ...DeviceLocationShape,
  intervalSeconds: z.number().int().min(1).max(86_400).default(60),
  enabled: z.boolean().default(true),
  meta: z.record(z.string(), z.unknown()).default({}),
  lab: LabIdSchema.optional().describe("the lab to register into: a lab-scoped key's own lab (the only one it may give); default the default lab"),
  ...DeviceSourceShape,
});
export type CreateDeviceRequest = z.infer<typeof CreateDeviceRequestSchema>;

export const UpdateDeviceRequestSchema = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  owner: z.string().min(1).max(100).optional(),
  lat: DeviceLocationShape.lat.optional(),
  lon: DeviceLocationShape.lon.optional(),
  site: z.string().min(1).max(100).nullable().optional(),
  intervalSeconds: z.number().int().min(1).max(86_400).optional(),
  enabled: z.boolean().optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
  ...DeviceSourcePatchShape,
});
export type UpdateDeviceRequest = z.infer<typeof UpdateDeviceRequestSchema>;

/** Returned once, at creation or rotation: the only time the secret is shown. */
export const DeviceWithSecretSchema = z.object({
  device: DeviceRecordSchema,
  secret: z.string().describe('MQTT password for this device; shown once, store it now'),
});
export type DeviceWithSecret = z.infer<typeof DeviceWithSecretSchema>;

export const DeviceListResponseSchema = z.object({ devices: z.array(DeviceRecordSchema) });
export type DeviceListResponse = z.infer<typeof DeviceListResponseSchema>;

/**
 * API keys for the REST API and the live feed, sent as `Authorization: Bearer <token>`
 * (socket.io: handshake `auth: { token }`). `reader` reads readings, devices and the live
 * feed; `admin` may also register devices and manage keys. Created by an admin; the token
 * is shown once and stored only as a hash.
 */
export const API_KEY_ROLES = ['reader', 'admin'] as const;
export const ApiKeyRoleSchema = z.enum(API_KEY_ROLES);
export type ApiKeyRole = z.infer<typeof ApiKeyRoleSchema>;

/** A key's lab: one lab's id, or `*` for a platform key that sees every lab. */
export const PLATFORM_KEY_LAB = '*';
export const KeyLabSchema = z.union([LabIdSchema, z.literal(PLATFORM_KEY_LAB)]);

export const ApiKeyRecordSchema = z.object({
  id: z.string().describe('public key id (the token starts with slk_{id}_)'),
  name: z.string().min(1).max(100).describe('who or what the key is for'),
  role: ApiKeyRoleSchema,
  /**
   * A reader key with an owner (a company in a trial) sees that owner's trials and trial
   * reports and no one else's. Keys without an owner (older keys too) read as before.
   */
  owner: z.string().min(1).max(100).optional().describe('only this owner\'s trials are visible with this key'),
  lab: KeyLabSchema.optional().describe('the one lab this key sees; `*` = every lab (a platform key); absent (made before labs) = the default lab'),
  createdAt: z.iso.datetime(),
});
export type ApiKeyRecord = z.infer<typeof ApiKeyRecordSchema>;

export const CreateApiKeyRequestSchema = z
  .strictObject({
    name: z.string().min(1).max(100),
    role: ApiKeyRoleSchema.default('reader'),
    owner: z.string().min(1).max(100).optional().describe('scope a reader key to one owner\'s trials'),
    lab: KeyLabSchema.optional().describe("the one lab the key sees (default: the default lab; a lab-scoped admin's keys are always its own lab's); `*` = every lab, only the platform admin may give it"),
  })
  .refine((key) => key.owner === undefined || key.role === 'reader', { path: ['owner'], message: 'only reader keys can have an owner (an admin sees everything)' });
export type CreateApiKeyRequest = z.infer<typeof CreateApiKeyRequestSchema>;

/** Returned once, at creation: the only time the token is shown. */
export const ApiKeyWithTokenSchema = z.object({
  key: ApiKeyRecordSchema,
  token: z.string().describe('bearer token; shown once, store it now'),
});
export type ApiKeyWithToken = z.infer<typeof ApiKeyWithTokenSchema>;

export const ApiKeyListResponseSchema = z.object({ keys: z.array(ApiKeyRecordSchema) });
export type ApiKeyListResponse = z.infer<typeof ApiKeyListResponseSchema>;
