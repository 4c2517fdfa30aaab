/**
 * Why a message was rejected: a stable, machine-readable code plus a human explanation.
 * Codes are part of the public contract: device owners script against them.
 */
import { z } from 'zod';
import { ReadingKindSchema } from './readings.ts';

export const REJECTION_REASONS = {
  TOPIC_INVALID: 'the topic is not lab/v1/{kind}/{deviceId}',
  KIND_UNKNOWN: 'the topic names a kind the lab does not know (GET /api/v1/kinds lists them)',
  PAYLOAD_TOO_LARGE: 'the payload is larger than the configured maximum',
  PAYLOAD_NOT_UTF8: 'the payload is not valid UTF-8 text',
  PAYLOAD_NOT_JSON: 'the payload is not valid JSON',
  PAYLOAD_NOT_OBJECT: 'the payload is JSON but not an object',
  FIELD_UNKNOWN: 'the payload has a field the contract does not define',
  FIELD_MISSING: 'a required field is missing',
  FIELD_TYPE: 'a field has the wrong type',
  FIELD_RANGE: 'a value is outside its plausible range',
  NO_MEASUREMENT: 'the reading carries no measurement',
  TS_INVALID: 'the timestamp is neither ISO 8601 with a zone nor epoch milliseconds',
  TS_IN_FUTURE: 'the timestamp is too far in the future (device clock ahead?)',
  TS_TOO_OLD: 'the timestamp is older than the accepted window',
  RATE_LIMITED: 'the device sent more messages than its rate limit allows',
  DEVICE_UNKNOWN: 'no registered device has this identifier (DevEUI, TTS device id, airrohr chip id or device id)',
} as const;

export type RejectionReason = keyof typeof REJECTION_REASONS;
export const RejectionReasonSchema = z.enum(Object.keys(REJECTION_REASONS) as [RejectionReason, ...RejectionReason[]]);

/** One problem found in a payload: where (a JSON path) and what. */
export const RejectionIssueSchema = z.object({
  path: z.string().describe('JSON path of the offending field, empty for the whole payload'),
  code: RejectionReasonSchema,
  message: z.string(),
});
export type RejectionIssue = z.infer<typeof RejectionIssueSchema>;

/** What ingest publishes on `lab/v1/{kind}/{deviceId}/rejected`, stores, and pushes live. */
export const RejectionSchema = z.object({
  reason: RejectionReasonSchema.describe('the first (deciding) problem'),
  message: z.string().describe('human explanation of the deciding problem'),
  issues: z.array(RejectionIssueSchema).describe('every problem found, deciding one first'),
  kind: ReadingKindSchema.optional(),
  deviceId: z.string().optional(),
  topic: z.string(),
  receivedAt: z.iso.datetime().describe('when the broker delivered it to ingest'),
  excerpt: z.string().describe('the start of the payload as text, for diagnosis'),
  size: z.number().int().min(0).describe('payload size in bytes'),
});
export type Rejection = z.infer<typeof RejectionSchema>;

/** How much of an offending payload is kept and reported. */
export const REJECTION_EXCERPT_CHARS = 256;
