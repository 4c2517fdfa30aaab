/**
 * How a device reaches the platform, and the identifiers other systems know it by.
 *
 * Most devices do not speak our MQTT contract: they sit behind a LoRaWAN network server (The
 * Things Stack, ChirpStack), post to an HTTP endpoint, or run the Sensor.Community (airrohr)
 * firmware. Their messages are mapped onto a registered device by one of these identifiers,
 * each unique platform-wide (the registry answers 409 on a clash), so a message can never be
 * stored under two devices.
 */
import { z } from 'zod';

export const DEVICE_SOURCES = ['mqtt', 'http', 'ttn', 'chirpstack', 'airrohr'] as const;
export const DeviceSourceSchema = z.enum(DEVICE_SOURCES).describe('how the device sends: mqtt (default), http, ttn (The Things Stack), chirpstack, airrohr (Sensor.Community)');
export type DeviceSource = z.infer<typeof DeviceSourceSchema>;

/** LoRaWAN DevEUI: 16 hex digits (stored upper-case; network servers send either case). */
export const DevEuiSchema = z.string().regex(/^[0-9A-Fa-f]{16}$/, 'a DevEUI is 16 hex digits, e.g. 70B3D57ED005A1B2').describe('LoRaWAN DevEUI (16 hex digits)');
/** The Things Stack end device id: lowercase letters, digits and single dashes, 2–36 characters. */
export const TtnDeviceIdSchema = z
  .string()
  .regex(/^[a-z0-9](?:-?[a-z0-9]){1,35}$/, 'a TTS device id is 2–36 of a–z 0–9 and single dashes')
  .describe('The Things Stack end_device_ids.device_id');
/** The airrohr firmware's chip id (`esp8266id`, also in the `X-Sensor: esp8266-<chipid>` header). */
export const AirrohrChipIdSchema = z.string().regex(/^[0-9]{1,12}$/, 'an airrohr chip id is the decimal number in esp8266-<chipid>').describe('Sensor.Community chip id');

/**
 * One source field's translation: its name in our contract (`to`) and a factor (`scale`, e.g.
 * 0.01 for a decoder that sends hundredths), or `ignore` for a field the device sends that the
 * lab does not store (a status byte, a firmware version).
 */
export const FieldMappingEntrySchema = z.union([
  z.strictObject({
    to: z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'a field name of our contract, e.g. pm25').describe('the field in the device kind'),
    scale: z.number().finite().refine((v) => v !== 0, 'scale must not be 0').optional().describe('multiplied into the value (default 1)'),
  }),
  z.strictObject({ ignore: z.literal(true).describe('drop this source field') }),
]);
export type FieldMappingEntry = z.infer<typeof FieldMappingEntrySchema>;

/** Source field name → its translation. Fields not named here pass through under their own name. */
export const FieldMappingSchema = z
  .record(z.string().min(1).max(64), FieldMappingEntrySchema)
  .refine((map) => Object.keys(map).length <= 64, 'at most 64 mapped fields')
  .describe('per-device field mapping for decoders whose names differ, e.g. {"temp_c": {"to": "temperature"}, "pm2_5": {"to": "pm25", "scale": 0.1}}');
export type FieldMapping = z.infer<typeof FieldMappingSchema>;

/** The fields a device record carries for its source (all optional; absent source = mqtt). */
export const DeviceSourceShape = {
  source: DeviceSourceSchema.optional(),
  devEui: DevEuiSchema.optional(),
  ttnDeviceId: TtnDeviceIdSchema.optional(),
  airrohrChipId: AirrohrChipIdSchema.optional(),
  fieldMap: FieldMappingSchema.optional(),
};

/** In a PATCH: each may be set, or cleared with null (source: back to mqtt). */
export const DeviceSourcePatchShape = {
  source: DeviceSourceSchema.nullable().optional(),
  devEui: DevEuiSchema.nullable().optional(),
  ttnDeviceId: TtnDeviceIdSchema.nullable().optional(),
  airrohrChipId: AirrohrChipIdSchema.nullable().optional(),
  fieldMap: FieldMappingSchema.nullable().optional(),
};

export const DEVICE_IDENTIFIERS = ['devEui', 'ttnDeviceId', 'airrohrChipId'] as const;
export type DeviceIdentifier = (typeof DEVICE_IDENTIFIERS)[number];

/** Identifier values as compared and stored: DevEUIs upper-case, the others as given. */
export function normalizeIdentifier(identifier: DeviceIdentifier, value: string): string {
  return identifier === 'devEui' ? value.toUpperCase() : value;
}
