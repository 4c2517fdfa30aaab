/**
 * Reading payloads as devices publish them on `lab/v1/{kind}/{deviceId}` (contract v1).
 *
 * Every number carries its unit in `.describe()` and a plausible range: a value outside
 * it is a broken sensor or a broken encoder, and the device owner needs to hear about it.
 * Schemas are strict: an unknown field is rejected so a typo (`pm2.5`, `PM25`) is reported
 * instead of silently dropped.
 */
import { z } from 'zod';

/** The three kinds of street device the lab hosts. */
export const READING_KINDS = ['air', 'traffic', 'waste'] as const;
export const ReadingKindSchema = z.enum(READING_KINDS);
export type ReadingKind = z.infer<typeof ReadingKindSchema>;

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

const measure = (min: number, max: number, unit: string) => z.number().min(min).max(max).describe(unit);

/** Air-quality measurement fields with units and plausible street ranges. */
export const AirMeasurementsShape = {
  pm1: measure(0, 2000, 'µg/m³').optional(),
  pm25: measure(0, 2000, 'µg/m³').optional(),
  pm10: measure(0, 3000, 'µg/m³').optional(),
  no2: measure(0, 2000, 'µg/m³').optional(),
  o3: measure(0, 1000, 'µg/m³').optional(),
  so2: measure(0, 2000, 'µg/m³').optional(),
  co: measure(0, 200, 'mg/m³').optional(),
  temperature: measure(-50, 70, '°C').optional(),
  humidity: measure(0, 100, '%RH').optional(),
  pressure: measure(800, 1100, 'hPa').optional(),
  noise: measure(0, 140, 'dB(A)').optional(),
};
export const AIR_METRICS = Object.keys(AirMeasurementsShape) as (keyof typeof AirMeasurementsShape)[];

export const AirReadingSchema = z
  .strictObject({ ...CommonFieldsShape, ...AirMeasurementsShape })
  .refine((r) => AIR_METRICS.some((m) => r[m] !== undefined), {
    message: `an air reading needs at least one of ${AIR_METRICS.join(', ')}`,
    params: { code: 'NO_MEASUREMENT' },
  });
export type AirReading = z.infer<typeof AirReadingSchema>;

const count = (max: number) => z.number().int().min(0).max(max).describe('count');

export const TrafficMeasurementsShape = {
  period: z.number().int().min(1).max(86_400).describe('s'),
  cars: count(100_000).optional(),
  buses: count(10_000).optional(),
  trucks: count(10_000).optional(),
  bicycles: count(100_000).optional(),
  pedestrians: count(100_000).optional(),
  speed: measure(0, 200, 'km/h').optional(),
  occupancy: measure(0, 100, '%').optional(),
};
export const TRAFFIC_METRICS = Object.keys(TrafficMeasurementsShape) as (keyof typeof TrafficMeasurementsShape)[];
export const TrafficReadingSchema = z.strictObject({ ...CommonFieldsShape, ...TrafficMeasurementsShape });
export type TrafficReading = z.infer<typeof TrafficReadingSchema>;

export const WasteMeasurementsShape = {
  fill: measure(0, 100, '%'),
  temperature: measure(-50, 150, '°C').optional(),
  lidOpen: z.boolean().describe('bool').optional(),
  tilt: measure(0, 180, '°').optional(),
  weight: measure(0, 5000, 'kg').optional(),
};
export const WASTE_METRICS = Object.keys(WasteMeasurementsShape) as (keyof typeof WasteMeasurementsShape)[];
export const WasteReadingSchema = z.strictObject({ ...CommonFieldsShape, ...WasteMeasurementsShape });
export type WasteReading = z.infer<typeof WasteReadingSchema>;

/** The schema for each kind, for code that dispatches on the topic's kind. */
export const READING_SCHEMAS = {
  air: AirReadingSchema,
  traffic: TrafficReadingSchema,
  waste: WasteReadingSchema,
} as const;

export type ReadingPayload = AirReading | TrafficReading | WasteReading;

/** The measurement fields of each kind, in contract order (what is stored as Influx fields). */
export const METRICS_BY_KIND: Record<ReadingKind, readonly string[]> = {
  air: AIR_METRICS,
  traffic: TRAFFIC_METRICS,
  waste: WASTE_METRICS,
};

/** Device-health fields common to every kind, stored alongside the measurements. */
export const HEALTH_METRICS = ['seq', 'battery', 'rssi'] as const;

/** Units for every metric, taken from the schemas' descriptions (one source of truth). */
export const METRIC_UNITS: Record<ReadingKind, Record<string, string>> = {
  air: unitsOf({ ...CommonFieldsShape, ...AirMeasurementsShape }),
  traffic: unitsOf({ ...CommonFieldsShape, ...TrafficMeasurementsShape }),
  waste: unitsOf({ ...CommonFieldsShape, ...WasteMeasurementsShape }),
};

function unitsOf(shape: Record<string, z.ZodType>): Record<string, string> {
  const units: Record<string, string> = {};
  for (const [name, schema] of Object.entries(shape)) {
    if (name === 'ts') continue;
    const unit = unitDescription(schema);
    if (unit !== undefined) units[name] = unit;
  }
  return units;
}

function unitDescription(schema: z.ZodType): string | undefined {
  if (schema.description !== undefined) return schema.description;
  // `.optional()` wraps the described schema; look one level in.
  const inner = (schema as unknown as { unwrap?: () => z.ZodType }).unwrap?.();
  return inner?.description;
}
