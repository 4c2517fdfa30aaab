/**
 * OGC SensorThings API 1.1 (sensing part, read-only) as StreetLab serves it at `/sta/v1.1`:
 * the query options the routes accept and the documents they answer with. api/sensorthings/
 * builds them from the registry, the kinds and the stored readings.
 */
import { z } from 'zod';

/** The entity sets served (FeaturesOfInterest, HistoricalLocations and the tasking part are not). */
export const STA_ENTITY_SETS = ['Things', 'Locations', 'Datastreams', 'Sensors', 'ObservedProperties', 'Observations'] as const;
export type StaEntitySet = (typeof STA_ENTITY_SETS)[number];

/** Conformance classes listed at the service root. */
export const STA_CONFORMANCE = [
  'http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel',
  'http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities',
  'http://www.opengis.net/spec/iot_sensing/1.1/req/request-data',
] as const;

export const StaQuerySchema = z.strictObject({
  $filter: z.string().max(2_000).optional().describe('eq ne gt ge lt le, and / or / not, parentheses; e.g. result gt 20 and phenomenonTime ge 2026-05-01T00:00:00Z').meta({ example: 'result gt 20' }),
  $orderby: z.string().max(200).optional().describe('Observations: phenomenonTime asc (default) or desc; other sets: id or name, asc or desc').meta({ example: 'phenomenonTime desc' }),
  $top: z.string().max(10).optional().describe('entities per page (default 100, at most QUERY_MAX_POINTS)').meta({ example: '100' }),
  $skip: z.string().max(10).optional().describe('entities to skip').meta({ example: '0' }),
  $count: z.enum(['true', 'false']).optional().describe('true: the total number of matches as @iot.count'),
  $expand: z.string().max(500).optional().describe('navigation properties to embed, one level, comma-separated; Observations($top=5;$orderby=phenomenonTime desc)').meta({ example: 'Datastreams' }),
  $select: z.string().max(500).optional().describe('properties to return, comma-separated').meta({ example: 'id,name' }),
  $skiptoken: z.string().max(300).regex(/^[A-Za-z0-9_-]*$/, 'a $skiptoken from @iot.nextLink').optional().describe('opaque: where the next page starts (from @iot.nextLink)'),
});
export type StaQuery = z.infer<typeof StaQuerySchema>;

/** Every error of this API: the HTTP status as `code`, `type: "error"`, and a message naming the problem. */
export const StaErrorSchema = z.object({
  code: z.number().int(),
  type: z.literal('error'),
  message: z.string(),
});
export type StaError = z.infer<typeof StaErrorSchema>;

const base = {
  '@iot.id': z.string(),
  '@iot.selfLink': z.url(),
};
const link = z.url();

export const StaUnitSchema = z.object({ name: z.string(), symbol: z.string(), definition: z.string() });

export const StaThingSchema = z.object({
  ...base,
  name: z.string(),
  description: z.string(),
  properties: z.record(z.string(), z.unknown()).optional(),
  'Locations@iot.navigationLink': link,
  'Datastreams@iot.navigationLink': link,
});

export const StaLocationSchema = z.object({
  ...base,
  name: z.string(),
  description: z.string(),
  encodingType: z.literal('application/geo+json'),
  location: z.object({ type: z.literal('Point'), coordinates: z.tuple([z.number(), z.number()]) }),
  'Things@iot.navigationLink': link,
});

export const StaDatastreamSchema = z.object({
  ...base,
  name: z.string(),
  description: z.string(),
  unitOfMeasurement: StaUnitSchema,
  observationType: z.string().startsWith('http://www.opengis.net/def/observationType/OGC-OM/2.0/'),
  properties: z.record(z.string(), z.unknown()).optional(),
  'Thing@iot.navigationLink': link,
  'Sensor@iot.navigationLink': link,
  'ObservedProperty@iot.navigationLink': link,
  'Observations@iot.navigationLink': link,
});

export const StaObservedPropertySchema = z.object({
  ...base,
  name: z.string(),
  definition: z.string(),
  description: z.string(),
  'Datastreams@iot.navigationLink': link,
});

export const StaSensorSchema = z.object({
  ...base,
  name: z.string(),
  description: z.string(),
  encodingType: z.string(),
  metadata: z.string(),
  'Datastreams@iot.navigationLink': link,
});

export const StaObservationSchema = z.object({
  ...base,
  phenomenonTime: z.iso.datetime(),
  resultTime: z.iso.datetime(),
  result: z.union([z.number(), z.boolean()]),
  'Datastream@iot.navigationLink': link,
});
export type StaObservation = z.infer<typeof StaObservationSchema>;

export const STA_ENTITY_SCHEMAS = {
  Things: StaThingSchema,
  Locations: StaLocationSchema,
  Datastreams: StaDatastreamSchema,
  Sensors: StaSensorSchema,
  ObservedProperties: StaObservedPropertySchema,
  Observations: StaObservationSchema,
} as const satisfies Record<StaEntitySet, z.ZodType>;

/** A collection page: `value`, with `@iot.count` when asked and `@iot.nextLink` while more follow. */
export const StaCollectionSchema = <T extends z.ZodType>(item: T) =>
  z.object({
    '@iot.count': z.number().int().optional(),
    '@iot.nextLink': z.url().optional(),
    value: z.array(item),
  });

export const StaServiceRootSchema = z.object({
  value: z.array(z.object({ name: z.enum(STA_ENTITY_SETS), url: z.url() })),
  serverSettings: z.object({ conformance: z.array(z.string()) }),
});
