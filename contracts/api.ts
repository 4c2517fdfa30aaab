/**
 * REST request and response shapes of `/api/v1` (contract v1). Routes validate and
 * serialise with these schemas; the dashboard and tests type their calls with them.
 */
import { z } from 'zod';
import { DeviceIdSchema, ReadingKindSchema } from './readings.ts';
import { RejectionSchema } from './rejections.ts';
import { LiveReadingSchema } from './live.ts';
import { EAQI_LABELS, EAQI_POLLUTANTS, EAQI_STATIONS, WHO_POLLUTANTS } from './aqi.ts';

/** Accepted time bounds: ISO 8601, epoch ms, `now`, or relative like `-24h`, `-15m`, `-7d`. */
export const TimeBoundSchema = z
  .string()
  .max(40)
  .describe('ISO 8601, epoch milliseconds, `now`, or relative to now such as -15m, -24h, -7d')
  .meta({ example: '-24h' });

/** Window aggregates `agg` can ask for; p95 is InfluxDB's PERCENTILE(x, 95) (nearest rank). */
export const AGGREGATES = ['mean', 'min', 'max', 'median', 'p95', 'count', 'sum', 'first', 'last'] as const;
export const AggregateSchema = z.enum(AGGREGATES);
export type Aggregate = z.infer<typeof AggregateSchema>;

/** How empty windows are answered: left out, null, the previous window's value, or interpolated. */
export const FILLS = ['none', 'null', 'previous', 'linear'] as const;
export const FillSchema = z.enum(FILLS);
export type Fill = z.infer<typeof FillSchema>;

export const READINGS_FORMATS = ['json', 'csv', 'ndjson', 'parquet'] as const;
export type ReadingsFormat = (typeof READINGS_FORMATS)[number];

/** Where aggregated windows come from: raw readings or the hourly / daily rollups. */
export const READINGS_SOURCES = ['raw', 'rollup_1h', 'rollup_1d'] as const;
export type ReadingsSource = (typeof READINGS_SOURCES)[number];

/** A tag value from the registry (site, owner): printable text, 1–100 characters. */
export const TagValueSchema = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'printable text only');

/** A query parameter given once (comma-separated) or repeated. */
export const listParam = (maxLength: number) => z.union([z.string().max(maxLength), z.array(z.string().max(maxLength)).max(100)]);

export const ReadingsQuerySchema = z.strictObject({
  kind: ReadingKindSchema.optional().describe('a kind id (air, traffic, waste or one listed by GET /api/v1/kinds); required with metric, every, csv, ndjson and parquet').meta({ example: 'air' }),
  device: listParam(2_000)
    .optional()
    .describe('one or several device ids: repeat the parameter or separate them with commas (at most 100)')
    .meta({ example: 'air-hcab-01,air-hcab-02' }),
  site: TagValueSchema.optional().describe('only devices registered at this site').meta({ example: 'hcab' }),
  owner: TagValueSchema.optional().describe('only devices of this owner').meta({ example: 'acme-sensors' }),
  metric: listParam(500)
    .optional()
    .describe("one or several of the kind's metrics (contract field names; units as in the contract, e.g. pm25 in µg/m³); default: all")
    .meta({ example: 'pm25,no2' }),
  from: TimeBoundSchema.optional().describe('start (inclusive): ISO 8601, epoch ms, now or relative such as -24h; default -1h (aggregated: 24 windows before to)').meta({ example: '-24h' }),
  to: TimeBoundSchema.optional().describe('end (exclusive); default now').meta({ example: 'now' }),
  every: z.string().max(20).optional().describe('window length for aggregation: a duration such as 5m, 1h, 1d (windows are aligned to UTC)').meta({ example: '1h' }),
  agg: AggregateSchema.optional().describe('aggregate per window; default mean. p95 = 95th percentile (nearest rank)').meta({ example: 'mean' }),
  fill: FillSchema.optional().describe('empty windows: none (left out, default), null, previous or linear').meta({ example: 'none' }),
  format: z.enum(READINGS_FORMATS).optional().describe('json (default), csv (header row, one column per metric, ISO times), ndjson (one JSON reading per line) or parquet (typed columns, time as TIMESTAMP(MILLIS, UTC)); csv, ndjson and parquet stream and are sent as downloads').meta({ example: 'json' }),
  order: z.enum(['asc', 'desc']).optional().describe('time order; default desc (newest first) for raw JSON, asc otherwise; aggregated windows are asc').meta({ example: 'desc' }),
  source: z.enum(['auto', 'raw', 'rollup']).optional().describe('auto (default) reads rollups for every ≥ 1h over long ranges; raw or rollup forces one').meta({ example: 'auto' }),
  limit: z.coerce.number().int().min(1).optional().describe('maximum points in this response (json: default 1,000, at most 10,000; csv/ndjson: default and most = the export cap); more → meta.nextCursor').meta({ example: 1000 }),
  cursor: z.string().max(600).regex(/^[A-Za-z0-9_-]*$/, 'a cursor from meta.nextCursor').optional().describe('opaque: meta.nextCursor of the previous page, with the same other parameters'),
});
export type ReadingsQuery = z.infer<typeof ReadingsQuerySchema>;

/** LiveReading's fields with examples for the OpenAPI document (the same validation). */
const documentedReadingShape = {
  kind: LiveReadingSchema.shape.kind.describe('the kind id (GET /api/v1/kinds)').meta({ example: 'air' }),
  deviceId: LiveReadingSchema.shape.deviceId.meta({ example: 'air-hcab-01' }),
  ts: LiveReadingSchema.shape.ts.meta({ example: '2026-05-01T12:00:00.000Z' }),
  receivedAt: LiveReadingSchema.shape.receivedAt.meta({ example: '2026-05-01T12:00:00.412Z' }),
  seq: LiveReadingSchema.shape.seq.describe("the device's message counter").meta({ example: 1234 }),
  battery: LiveReadingSchema.shape.battery.meta({ example: 87 }),
  rssi: LiveReadingSchema.shape.rssi.meta({ example: -71 }),
  values: LiveReadingSchema.shape.values.meta({ example: { pm25: 8.4, no2: 31.2 } }),
};

/** One reading (raw) or one window (aggregated: `ts` is the window start, `values` the aggregates). */
export const ReadingItemSchema = LiveReadingSchema.extend({
  ...documentedReadingShape,
  site: z.string().optional().describe('site tag stored with the reading').meta({ example: 'hcab' }),
  owner: z.string().optional().describe('owner tag stored with the reading').meta({ example: 'acme-sensors' }),
  count: z.number().int().optional().describe('windows: raw readings the window summarises (the most of any metric)').meta({ example: 60 }),
  counts: z.record(z.string(), z.number().int()).optional().describe('windows: raw readings summarised per metric').meta({ example: { pm25: 60, no2: 58 } }),
  completeness: z.number().optional().describe('windows: % of the readings the device promises in a window (count × its declared interval / every, at most 100)').meta({ example: 100 }),
});
export type ReadingItem = z.infer<typeof ReadingItemSchema>;

export const ReadingsMetaSchema = z.object({
  source: z.enum(READINGS_SOURCES).describe('raw readings, or the hourly / daily rollups').meta({ example: 'raw' }),
  kind: ReadingKindSchema.optional().describe('the kind read').meta({ example: 'air' }),
  metrics: z.array(z.string()).optional().describe('metrics in the response, in contract order').meta({ example: ['pm25', 'no2'] }),
  units: z.record(z.string(), z.string()).optional().describe('unit of each metric').meta({ example: { pm25: 'µg/m³', no2: 'µg/m³' } }),
  every: z.string().optional().describe('window length as asked').meta({ example: '1h' }),
  everyMs: z.number().int().optional().describe('ms').meta({ example: 3_600_000 }),
  agg: AggregateSchema.optional().describe('aggregate of the windows').meta({ example: 'mean' }),
  fill: FillSchema.optional().describe('how empty windows were answered').meta({ example: 'none' }),
  order: z.enum(['asc', 'desc']).describe('time order of readings').meta({ example: 'desc' }),
  limit: z.number().int().describe('the most points this response could hold').meta({ example: 1000 }),
  nextCursor: z.string().optional().describe('pass as cursor= for the next page; absent on the last page').meta({ example: 'eyJtIjoiciIsInEiOiIxZGNmb2t5IiwidCI6MTc3MzE0MDQwMDAwMCwiayI6MCwicyI6WyJhaXItYSIsIm5vcnRoIiwiIl19' }),
  note: z.string().optional().describe('how the answer was made, e.g. which rollup and how fresh it is').meta({ example: 'windows computed from the hourly rollups (exact for mean); the newest may lag the raw readings by up to 5 minutes' }),
});
export type ReadingsMeta = z.infer<typeof ReadingsMetaSchema>;

export const ReadingsResponseSchema = z.object({
  readings: z.array(ReadingItemSchema).describe('raw: newest first unless order=asc; windows: by device, then time'),
  count: z.number().int().describe('readings in this response').meta({ example: 2 }),
  from: z.iso.datetime().describe('start of the range answered (aggregated: aligned to a window)').meta({ example: '2026-05-01T00:00:00.000Z' }),
  to: z.iso.datetime().describe('end of the range answered (exclusive)').meta({ example: '2026-05-02T00:00:00.000Z' }),
  meta: ReadingsMetaSchema.optional().describe('how the response was made and how to get the next page'),
});
export type ReadingsResponse = z.infer<typeof ReadingsResponseSchema>;

export const LatestQuerySchema = z.strictObject({
  kind: ReadingKindSchema.optional().describe('only devices of this kind; default all').meta({ example: 'air' }),
  perMetric: z.enum(['true', 'false']).optional().describe('true: also the latest value and age of every metric of every device (may be older than the latest reading)').meta({ example: 'true' }),
});

export const MetricLatestSchema = z.object({
  value: z.union([z.number(), z.boolean()]).meta({ example: 8.4 }),
  ts: z.iso.datetime().meta({ example: '2026-05-01T12:00:00.000Z' }),
  ageSeconds: z.number().describe('s since this value was measured').meta({ example: 42 }),
});

export const LatestResponseSchema = z.object({
  readings: z.array(
    LiveReadingSchema.extend({
      ...documentedReadingShape,
      ageSeconds: z.number().describe('s since the reading was measured').meta({ example: 42 }),
      metrics: z.record(z.string(), MetricLatestSchema).optional().describe('perMetric=true: the latest value of each metric with its age'),
    }),
  ).describe('the latest reading per device'),
});
export type LatestResponse = z.infer<typeof LatestResponseSchema>;

export const RejectionsQuerySchema = z.strictObject({
  device: DeviceIdSchema.optional(),
  kind: ReadingKindSchema.optional(),
  from: TimeBoundSchema.optional().describe('default -24h'),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});

export const RejectionsResponseSchema = z.object({
  rejections: z.array(RejectionSchema).describe('newest first'),
});
export type RejectionsResponse = z.infer<typeof RejectionsResponseSchema>;

/** Every error response of the API has this shape. */
export const ErrorResponseSchema = z.object({
  error: z.string().describe('stable code, e.g. BAD_REQUEST'),
  message: z.string().describe('what was wrong, naming the parameter or field'),
  statusCode: z.number().int(),
});
export type ErrorResponse = z.infer<typeof ErrorResponseSchema>;

export const HealthResponseSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  checks: z.record(z.string(), z.object({ ok: z.boolean(), detail: z.string().optional() })),
});
export type HealthResponse = z.infer<typeof HealthResponseSchema>;

// ---------------------------------------------------------------------------------------------
// Air quality: the European Air Quality Index and WHO 2021 guideline exceedances.

export const AqiQuerySchema = z.strictObject({
  device: DeviceIdSchema.optional().describe('the device to evaluate (give device or site)').meta({ example: 'air-hcab-01' }),
  site: TagValueSchema.optional().describe('a site: hourly means over all its air devices (give device or site)').meta({ example: 'hcab' }),
  at: TimeBoundSchema.optional().describe('when; default now. The index uses the complete hours before it').meta({ example: 'now' }),
  station: z.enum(EAQI_STATIONS).optional().describe('EEA station type deciding the pollutants required: traffic (NO2 + PM, default) or background (NO2 + O3 + PM)').meta({ example: 'traffic' }),
});
export type AqiQuery = z.infer<typeof AqiQuerySchema>;

export const AqiPollutantSchema = z.object({
  pollutant: z.enum(EAQI_POLLUTANTS).meta({ example: 'pm25' }),
  status: z.enum(['ok', 'insufficient_data', 'not_measured']).meta({ example: 'ok' }),
  value: z.number().optional().describe('µg/m³: the averaged concentration').meta({ example: 12.3 }),
  unit: z.literal('µg/m³'),
  averaging: z.enum(['24h-running-mean', '1h-mean']).describe('PM: 24-hour running mean of hourly means; NO2, O3, SO2: latest hourly mean').meta({ example: '24h-running-mean' }),
  from: z.iso.datetime().describe('start of the averaging period').meta({ example: '2026-05-01T11:00:00.000Z' }),
  to: z.iso.datetime().describe('end of the averaging period (exclusive)').meta({ example: '2026-05-02T11:00:00.000Z' }),
  hoursWithData: z.number().int().describe('hours of the period with at least one reading').meta({ example: 23 }),
  hoursRequired: z.number().int().describe('hours needed for a valid average (PM: 18 of 24)').meta({ example: 18 }),
  coverage: z.number().describe('hoursWithData / hours in the period, 0–1').meta({ example: 0.96 }),
  level: z.number().int().min(1).max(6).optional().describe('band 1–6').meta({ example: 2 }),
  label: z.enum(EAQI_LABELS).optional().meta({ example: 'Fair' }),
});

export const AqiResponseSchema = z.object({
  device: z.string().optional().meta({ example: 'air-hcab-01' }),
  site: z.string().optional().describe('the site evaluated (site=…)').meta({ example: 'hcab' }),
  at: z.iso.datetime().describe('the moment evaluated').meta({ example: '2026-05-02T11:20:00.000Z' }),
  status: z.enum(['ok', 'insufficient_data']).describe('insufficient_data: no index, see missing and message').meta({ example: 'ok' }),
  level: z.number().int().min(1).max(6).optional().describe('EAQI level 1 (good) … 6 (extremely poor)').meta({ example: 2 }),
  label: z.enum(EAQI_LABELS).optional().meta({ example: 'Fair' }),
  dominant: z.enum(EAQI_POLLUTANTS).optional().describe('the pollutant with the worst band').meta({ example: 'pm25' }),
  missing: z.array(z.string()).optional().describe('insufficient_data: required pollutants without valid data').meta({ example: ['no2'] }),
  message: z.string().optional().describe('insufficient_data: what is missing, in words').meta({ example: 'not enough data for an index at a traffic station: no2 lack valid data' }),
  pollutants: z.array(AqiPollutantSchema).describe('every EAQI pollutant with its average, band and coverage'),
  station: z.enum(EAQI_STATIONS),
  tableVersion: z.string().describe('the band table used (contracts/aqi.ts)').meta({ example: 'eea-eaqi-6band-v1' }),
  source: z.enum(['raw', 'rollup_1h']).describe('hourly means from raw readings or from the hourly rollups').meta({ example: 'raw' }),
});
export type AqiResponse = z.infer<typeof AqiResponseSchema>;

export const WhoQuerySchema = z.strictObject({
  device: listParam(2_000).optional().describe('one or several device ids (default: every air device, or those of site)').meta({ example: 'air-hcab-01' }),
  site: TagValueSchema.optional().describe('only the air devices of this site').meta({ example: 'hcab' }),
  from: TimeBoundSchema.optional().describe('first day (UTC, rounded down to midnight); default -30d').meta({ example: '-30d' }),
  to: TimeBoundSchema.optional().describe('end (exclusive, rounded up to midnight UTC); default now').meta({ example: 'now' }),
});

export const WhoPollutantSchema = z.object({
  pollutant: z.enum(WHO_POLLUTANTS).meta({ example: 'pm25' }),
  limit: z.number().describe('µg/m³, WHO 2021 short-term guideline level').meta({ example: 15 }),
  averaging: z.enum(['24h-mean', 'max-daily-8h-mean']).meta({ example: '24h-mean' }),
  validDays: z.number().int().describe('days with enough data (18 of 24 hours; O3: 18 valid 8-hour means)').meta({ example: 29 }),
  exceedanceDays: z.number().int().describe('valid days above the guideline').meta({ example: 3 }),
  exceededDates: z.array(z.string()).describe('UTC dates (YYYY-MM-DD) above the guideline').meta({ example: ['2026-04-03'] }),
});

export const WhoResponseSchema = z.object({
  from: z.iso.datetime().describe('first UTC midnight counted').meta({ example: '2026-04-01T00:00:00.000Z' }),
  to: z.iso.datetime().describe('UTC midnight after the last day counted').meta({ example: '2026-05-01T00:00:00.000Z' }),
  guidelineVersion: z.string().describe('the guideline table used (contracts/aqi.ts)').meta({ example: 'who-aqg-2021' }),
  source: z.enum(['raw', 'rollup_1h']).describe('hourly means from raw readings or from the hourly rollups').meta({ example: 'raw' }),
  devices: z.array(z.object({ deviceId: z.string().meta({ example: 'air-hcab-01' }), pollutants: z.array(WhoPollutantSchema) })),
});
export type WhoResponse = z.infer<typeof WhoResponseSchema>;
