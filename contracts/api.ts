/**
 * REST request and response shapes of `/api/v1` (contract v1). Routes validate and
 * serialise with these schemas; the dashboard and tests type their calls with them.
 */
import { z } from 'zod';
import { DeviceIdSchema, ReadingKindSchema } from './readings.ts';
import { RejectionSchema } from './rejections.ts';
import { LiveReadingSchema } from './live.ts';

/** Accepted time bounds: ISO 8601, epoch ms, `now`, or relative like `-24h`, `-15m`, `-7d`. */
export const TimeBoundSchema = z
  .string()
  .max(40)
  .describe('ISO 8601, epoch milliseconds, `now`, or relative to now such as -15m, -24h, -7d');

export const ReadingsQuerySchema = z.strictObject({
  kind: ReadingKindSchema.optional(),
  device: z.union([DeviceIdSchema, z.array(DeviceIdSchema).max(100)]).optional().describe('one or several device ids'),
  from: TimeBoundSchema.optional().describe('start (inclusive); default -1h'),
  to: TimeBoundSchema.optional().describe('end (exclusive); default now'),
  limit: z.coerce.number().int().min(1).max(10_000).default(1_000).describe('maximum number of readings'),
});
export type ReadingsQuery = z.infer<typeof ReadingsQuerySchema>;

export const ReadingsResponseSchema = z.object({
  readings: z.array(LiveReadingSchema).describe('newest first'),
  count: z.number().int(),
  from: z.iso.datetime(),
  to: z.iso.datetime(),
});
export type ReadingsResponse = z.infer<typeof ReadingsResponseSchema>;

export const LatestQuerySchema = z.strictObject({
  kind: ReadingKindSchema.optional(),
});

export const LatestResponseSchema = z.object({
  readings: z.array(
    LiveReadingSchema.extend({ ageSeconds: z.number().describe('s since the reading was measured') }),
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
