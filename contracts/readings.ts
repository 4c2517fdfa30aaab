/**
 * Reading payloads as devices publish them on `lab/v1/{kind}/{deviceId}` (contract v1): what
 * every kind shares. What each kind measures is data, not code: a kind definition
 * (contracts/kinds.ts) names its fields with unit, type and plausible range, and the payload
 * schema is built from it (contracts/kinds-table.ts holds the definitions this process knows).
 *
 * A value outside its range is a broken sensor or a broken encoder, and the device owner needs
 * to hear about it. Schemas are strict: an unknown field is rejected so a typo (`pm2.5`,
 * `PM25`) is reported instead of silently dropped.
 */
import { z } from 'zod';

/** Kind ids: a lowercase letter, then 1–31 of `[a-z0-9_]` (safe as topic level and Influx measurement). */
export const KIND_ID_PATTERN = /^[a-z][a-z0-9_]{1,31}$/;
/** The kinds the lab ships with; others are added at run time (contracts/kinds.ts). */
export const BUILT_IN_KINDS = ['air', 'traffic', 'waste'] as const;
export type BuiltInKind = (typeof BUILT_IN_KINDS)[number];
/**
 * A kind id. Any well-formed id passes the wire contract; whether the lab knows the kind is a
 * run-time question (kinds-table.ts `isKnownKind`, the catalogue in common/kinds/).
 */
export const ReadingKindSchema = z
  .string()
  .regex(KIND_ID_PATTERN, 'kind must be a lowercase letter followed by 1–31 of a–z 0–9 _')
  .describe('device kind: air, traffic, waste or one added at run time (GET /api/v1/kinds)');
export type ReadingKind = string;

export function isBuiltInKind(kind: string): kind is BuiltInKind {
  return (BUILT_IN_KINDS as readonly string[]).includes(kind);
}

/** Device ids: 1–64 of `[A-Za-z0-9_.-]` (also the MQTT username and client id). */
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const DeviceIdSchema = z
  .string()
  .regex(DEVICE_ID_PATTERN, 'device id must be 1–64 of A–Z a–z 0–9 _ . -')
  .describe('Device id: 1–64 of [A-Za-z0-9_.-]');
export type DeviceId = z.infer<typeof DeviceIdSchema>;

/** A timestamp as a device may send it: ISO 8601 text or epoch milliseconds. */
export const DeviceTimestampSchema = z
  .union([
    z.iso.datetime({ offset: true }),
    z.number().int().min(0).max(8.64e15),
  ])
  .describe('ISO 8601 (with zone) or epoch milliseconds; absent = time received');

/** Fields every kind may carry. */
export const CommonFieldsShape = {
  ts: DeviceTimestampSchema.optional(),
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional().describe("device's message counter"),
  battery: z.number().min(0).max(100).optional().describe('%'),
  rssi: z.number().min(-150).max(0).optional().describe('dBm'),
};
/** Names of the common fields: no kind may define a field with one of these names. */
export const COMMON_FIELDS = Object.keys(CommonFieldsShape) as (keyof typeof CommonFieldsShape)[];

/** Device-health fields common to every kind, stored alongside the measurements. */
export const HEALTH_METRICS = ['seq', 'battery', 'rssi'] as const;

/** Units of the health fields (what every kind's unit table starts with). */
export const HEALTH_UNITS: Readonly<Record<(typeof HEALTH_METRICS)[number], string>> = {
  seq: "device's message counter",
  battery: '%',
  rssi: 'dBm',
};

interface CommonFields {
  ts?: string | number | undefined;
  seq?: number | undefined;
  battery?: number | undefined;
  rssi?: number | undefined;
}

/*
 * Types of the built-in kinds' payloads, for the code that is genuinely about one kind
 * (simulators, AQI, bin collections). Validation never uses them: it uses the schema built
 * from the kind's definition (contracts/kinds.ts BUILT_IN_KIND_DEFINITIONS), and
 * test/unit/contracts/kinds.test.ts checks the two name the same fields.
 */
export interface AirReading extends CommonFields {
  pm1?: number | undefined;
  pm25?: number | undefined;
  pm10?: number | undefined;
  no2?: number | undefined;
  o3?: number | undefined;
  so2?: number | undefined;
  co?: number | undefined;
  temperature?: number | undefined;
  humidity?: number | undefined;
  pressure?: number | undefined;
  noise?: number | undefined;
}
export interface TrafficReading extends CommonFields {
  period: number;
  cars?: number | undefined;
  buses?: number | undefined;
  trucks?: number | undefined;
  bicycles?: number | undefined;
  pedestrians?: number | undefined;
  speed?: number | undefined;
  occupancy?: number | undefined;
}
export interface WasteReading extends CommonFields {
  fill: number;
  temperature?: number | undefined;
  lidOpen?: boolean | undefined;
  tilt?: number | undefined;
  weight?: number | undefined;
}
/** A payload of any kind: the common fields and measurements by name. */
export type ReadingPayload = AirReading | TrafficReading | WasteReading | (CommonFields & Record<string, unknown>);
