/**
 * NGSI-LD (ETSI GS CIM 009, v1.6) as StreetLab serves it at `/ngsi-ld/v1`: a read-only view of
 * the latest state and the history of every air, traffic and waste device as Smart Data Models
 * entities (AirQualityObserved, TrafficFlowObserved, WasteContainer). The query parameters the
 * routes accept and the documents they answer with; api/ngsi-ld/ builds them.
 */
import { z } from 'zod';

/** The core context every NGSI-LD document implies, and the Smart Data Models context for the property names. */
export const NGSI_LD_CORE_CONTEXT = 'https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld';
export const SMART_DATA_MODELS_CONTEXT = 'https://smartdatamodels.org/context.jsonld';
/** What `@context` holds in an `application/ld+json` answer: the models' terms first, the core last. */
export const NGSI_LD_CONTEXT = [SMART_DATA_MODELS_CONTEXT, NGSI_LD_CORE_CONTEXT] as const;
/** The `Link` header of an `application/json` answer (one context document, the core is implied). */
export const NGSI_LD_CONTEXT_LINK = `<${SMART_DATA_MODELS_CONTEXT}>; rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"`;

/** The entity types served, one per built-in kind. */
export const NGSI_LD_TYPES = ['AirQualityObserved', 'TrafficFlowObserved', 'WasteContainer'] as const;
export type NgsiLdType = (typeof NGSI_LD_TYPES)[number];

/** Error types of the standard (clause 5.5.2) that this read API can answer with. */
export const NGSI_LD_ERRORS = {
  BadRequestData: 'https://uri.etsi.org/ngsi-ld/errors/BadRequestData',
  InvalidRequest: 'https://uri.etsi.org/ngsi-ld/errors/InvalidRequest',
  ResourceNotFound: 'https://uri.etsi.org/ngsi-ld/errors/ResourceNotFound',
  NotAcceptable: 'https://uri.etsi.org/ngsi-ld/errors/NotAcceptable',
  InternalError: 'https://uri.etsi.org/ngsi-ld/errors/InternalError',
} as const;

/** RFC 7807 problem details, the body of every NGSI-LD error. */
export const NgsiLdProblemSchema = z.object({
  type: z.string().describe('an NGSI-LD error type URI, e.g. https://uri.etsi.org/ngsi-ld/errors/BadRequestData'),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().describe('what is wrong, naming the parameter'),
});
export type NgsiLdProblem = z.infer<typeof NgsiLdProblemSchema>;

const text = (max: number) => z.string().max(max);

export const NgsiLdEntitiesQuerySchema = z.strictObject({
  type: text(500).optional().describe('entity type(s), comma-separated: AirQualityObserved, TrafficFlowObserved, WasteContainer; required unless id is given').meta({ example: 'AirQualityObserved' }),
  id: text(10_000).optional().describe('entity ids (URNs), comma-separated').meta({ example: 'urn:ngsi-ld:AirQualityObserved:air-001' }),
  q: text(2_000).optional().describe('property comparisons (==, !=, >, >=, <, <=) joined by ; (AND) and | (OR), AND binding tighter, grouped with ( )').meta({ example: '(pm25>20|no2>40);pm10<50' }),
  attrs: text(2_000).optional().describe('only these properties (comma-separated)').meta({ example: 'pm25,no2' }),
  georel: text(200).optional().describe('near;maxDistance==<metres> or near;minDistance==<metres>').meta({ example: 'near;maxDistance==500' }),
  geometry: text(50).optional().describe('Point (with georel)').meta({ example: 'Point' }),
  coordinates: text(200).optional().describe('[lon,lat] (with georel)').meta({ example: '[12.5683,55.6761]' }),
  geoproperty: text(50).optional().describe('location (the only GeoProperty)'),
  limit: z.string().max(10).optional().describe('entities per page, 1–1000 (default 20)').meta({ example: '20' }),
  offset: z.string().max(10).optional().describe('entities to skip (default 0)').meta({ example: '0' }),
  count: z.enum(['true', 'false']).optional().describe('true: the total number of matches in the NGSILD-Results-Count header'),
  options: text(100).optional().describe('keyValues: simplified representation (values only)'),
});
export type NgsiLdEntitiesQuery = z.infer<typeof NgsiLdEntitiesQuerySchema>;

export const NgsiLdEntityQuerySchema = z.strictObject({
  attrs: NgsiLdEntitiesQuerySchema.shape.attrs,
  options: NgsiLdEntitiesQuerySchema.shape.options,
});

export const NgsiLdTemporalQuerySchema = z.strictObject({
  timerel: z.string().max(20).optional().describe('before, after or between (default: the last 24 hours)').meta({ example: 'between' }),
  timeAt: z.string().max(40).optional().describe('ISO 8601 date-time: the start (between, after) or the end (before)').meta({ example: '2026-05-01T00:00:00Z' }),
  endTimeAt: z.string().max(40).optional().describe('ISO 8601 date-time: the end (exclusive) with timerel=between').meta({ example: '2026-05-02T00:00:00Z' }),
  attrs: NgsiLdEntitiesQuerySchema.shape.attrs,
  lastN: z.string().max(10).optional().describe('only the last N instances of each property').meta({ example: '10' }),
  options: NgsiLdEntitiesQuerySchema.shape.options,
});
export type NgsiLdTemporalQuery = z.infer<typeof NgsiLdTemporalQuerySchema>;

export const NgsiLdIdParamsSchema = z.strictObject({ id: z.string().min(1).max(300) });

/** A Property: a value with its unit (UN/CEFACT common code) and when it was observed. */
export const NgsiLdPropertySchema = z.object({
  type: z.literal('Property'),
  value: z.union([z.number(), z.string(), z.boolean(), z.record(z.string(), z.unknown())]),
  unitCode: z.string().optional().describe('UN/CEFACT common code: GQ µg/m³, GP mg/m³, CEL °C, C62 one, A97 hPa, KMH km/h, KGM kg, DD °, 2N dB'),
  observedAt: z.iso.datetime().optional(),
  datasetId: z.string().optional(),
}).catchall(z.unknown());
export type NgsiLdProperty = z.infer<typeof NgsiLdPropertySchema>;

export const NgsiLdGeoPropertySchema = z.object({
  type: z.literal('GeoProperty'),
  value: z.object({ type: z.literal('Point'), coordinates: z.tuple([z.number(), z.number()]).describe('[lon, lat] WGS84') }),
});

export const NgsiLdRelationshipSchema = z.object({
  type: z.literal('Relationship'),
  object: z.string().describe('the related entity id (URN)'),
});

/** An entity in normalized form: id, type, @context (ld+json only) and its attributes. */
export const NgsiLdEntitySchema = z
  .object({
    id: z.string().regex(/^urn:ngsi-ld:[A-Za-z]+:[A-Za-z0-9_.-]{1,64}$/),
    type: z.enum(NGSI_LD_TYPES),
    '@context': z.array(z.string()).optional(),
    location: NgsiLdGeoPropertySchema.optional(),
    refDevice: NgsiLdRelationshipSchema.optional(),
  })
  .catchall(z.union([NgsiLdPropertySchema, z.array(NgsiLdPropertySchema), NgsiLdGeoPropertySchema, NgsiLdRelationshipSchema]));
export type NgsiLdEntity = z.infer<typeof NgsiLdEntitySchema>;

/** An entity in the temporal representation: each property an array of instances, oldest first. */
export const NgsiLdTemporalEntitySchema = z
  .object({
    id: NgsiLdEntitySchema.shape.id,
    type: z.enum(NGSI_LD_TYPES),
    '@context': z.array(z.string()).optional(),
  })
  .catchall(z.union([z.array(NgsiLdPropertySchema), NgsiLdPropertySchema, NgsiLdGeoPropertySchema, NgsiLdRelationshipSchema]));
export type NgsiLdTemporalEntity = z.infer<typeof NgsiLdTemporalEntitySchema>;
