/**
 * Turns one MQTT message (topic + raw payload) into a validated, normalised reading or a
 * rejection that explains exactly what was wrong. Pure and total: it never throws, whatever
 * bytes arrive, so the ingest handler cannot be crashed by a device.
 */
import { z } from 'zod';
import {
  REJECTION_EXCERPT_CHARS,
  metricsOf,
  readingSchemaOf,
  REJECTION_REASONS,
  guessTopicOrigin,
  parseTopic,
  readingKinds,
  type LiveReading,
  type ReadingKind,
  type Rejection,
  type RejectionIssue,
  type RejectionReason,
} from '../contracts/index.ts';

export interface ParseLimits {
  /** Largest payload accepted, in bytes. */
  maxPayloadBytes: number;
  /** How far ahead of the receive time a device timestamp may be (clock skew allowance). */
  maxFutureMs: number;
  /** How far behind the receive time a device timestamp may be (store-and-forward allowance). */
  maxAgeMs: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = {
  maxPayloadBytes: 16 * 1024,
  maxFutureMs: 5 * 60_000,
  maxAgeMs: 7 * 24 * 3_600_000,
};

/** `tsMs`: the reading's time as epoch milliseconds (what `reading.ts` says), for the line without parsing it back. */
export type ParseResult = { ok: true; reading: LiveReading; tsMs: number } | { ok: false; rejection: Rejection };

const utf8 = new TextDecoder('utf-8', { fatal: true });

let lastReceivedMs = Number.NaN;
let lastReceivedIso = '';
/** The receive time as ISO text: thousands of readings share a millisecond under load, so keep the last one. */
function receivedIso(ms: number): string {
  if (ms !== lastReceivedMs) {
    lastReceivedMs = ms;
    lastReceivedIso = new Date(ms).toISOString();
  }
  return lastReceivedIso;
}

export function parseMessage(topic: string, payload: Uint8Array, receivedAtMs: number, limits: ParseLimits = DEFAULT_PARSE_LIMITS): ParseResult {
  const receivedAt = receivedIso(receivedAtMs);
  const parsedTopic = parseTopic(topic);
  const origin = parsedTopic && parsedTopic.type === 'reading' ? parsedTopic : guessTopicOrigin(topic);
  const reject = (reason: RejectionReason, issues: RejectionIssue[] = [], text?: string): ParseResult => {
    const all = issues.length > 0 ? issues : [{ path: '', code: reason, message: REJECTION_REASONS[reason] }];
    const first = all[0]!;
    return {
      ok: false,
      rejection: {
        reason: first.code,
        message: first.path ? `${first.path}: ${first.message}` : first.message,
        issues: all,
        ...(origin.kind ? { kind: origin.kind } : {}),
        ...(origin.deviceId ? { deviceId: origin.deviceId } : {}),
        topic: topic.slice(0, 512),
        receivedAt,
        excerpt: excerptOf(payload, text),
        size: payload.byteLength,
      },
    };
  };

  if (!parsedTopic || parsedTopic.type !== 'reading') return reject('TOPIC_INVALID');
  const { kind, deviceId } = parsedTopic;
  // Kinds are data (contracts/kinds.ts): the schema is the one built from the kind's current definition.
  const schema = readingSchemaOf(kind);
  if (!schema) {
    return reject('KIND_UNKNOWN', [
      { path: '', code: 'KIND_UNKNOWN', message: `unknown kind "${kind}" in the topic; the lab knows ${readingKinds().join(', ')} (GET /api/v1/kinds)` },
    ]);
  }
  if (payload.byteLength > limits.maxPayloadBytes) {
    return reject('PAYLOAD_TOO_LARGE', [
      { path: '', code: 'PAYLOAD_TOO_LARGE', message: `payload is ${payload.byteLength} bytes; the maximum is ${limits.maxPayloadBytes}` },
    ]);
  }
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return reject('PAYLOAD_NOT_UTF8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    const detail = error instanceof SyntaxError ? error.message : 'unparseable';
    return reject('PAYLOAD_NOT_JSON', [{ path: '', code: 'PAYLOAD_NOT_JSON', message: `payload is not valid JSON (${detail})` }], text);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    const got = json === null ? 'null' : Array.isArray(json) ? 'an array' : `a ${typeof json}`;
    return reject('PAYLOAD_NOT_OBJECT', [{ path: '', code: 'PAYLOAD_NOT_OBJECT', message: `payload must be a JSON object, got ${got}` }], text);
  }

  const result = schema.safeParse(json);
  if (!result.success) return reject('FIELD_TYPE', issuesFrom(result.error.issues, kind, json as Record<string, unknown>), text);

  const data = result.data as Record<string, unknown> & { ts?: string | number; seq?: number; battery?: number; rssi?: number };
  const tsMs = data.ts === undefined ? receivedAtMs : typeof data.ts === 'number' ? data.ts : Date.parse(data.ts);
  if (!Number.isFinite(tsMs)) return reject('TS_INVALID', [], text);
  if (tsMs - receivedAtMs > limits.maxFutureMs) {
    const ahead = Math.round((tsMs - receivedAtMs) / 1000);
    return reject('TS_IN_FUTURE', [
      { path: 'ts', code: 'TS_IN_FUTURE', message: `timestamp is ${ahead} s ahead of the lab clock; at most ${limits.maxFutureMs / 1000} s is accepted` },
    ], text);
  }
  if (receivedAtMs - tsMs > limits.maxAgeMs) {
    const behind = Math.round((receivedAtMs - tsMs) / 1000);
    return reject('TS_TOO_OLD', [
      { path: 'ts', code: 'TS_TOO_OLD', message: `timestamp is ${behind} s old; at most ${limits.maxAgeMs / 1000} s is accepted` },
    ], text);
  }

  const values: Record<string, number | boolean> = {};
  for (const metric of metricsOf(kind)) {
    const value = data[metric];
    if (typeof value === 'number' || typeof value === 'boolean') values[metric] = value;
  }
  const reading: LiveReading = { kind, deviceId, ts: tsMs === receivedAtMs ? receivedAt : new Date(tsMs).toISOString(), receivedAt, values };
  if (data.seq !== undefined) reading.seq = data.seq;
  if (data.battery !== undefined) reading.battery = data.battery;
  if (data.rssi !== undefined) reading.rssi = data.rssi;
  return { ok: true, reading, tsMs };
}

/** Maps zod issues onto contract reason codes, each with a path and a plain message. */
function issuesFrom(zodIssues: readonly z.core.$ZodIssue[], kind: ReadingKind, input: Record<string, unknown>): RejectionIssue[] {
  const issues: RejectionIssue[] = [];
  for (const issue of zodIssues) {
    const path = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        issues.push({ path: key, code: 'FIELD_UNKNOWN', message: `unknown field "${key}" for ${kind}; allowed: ${allowedFields(kind)}` });
      }
      continue;
    }
    issues.push({ path, code: codeOf(issue, input), message: issue.message });
  }
  // The deciding reason is the most fundamental problem: missing and mistyped fields
  // before ranges, so an owner fixes the encoder before chasing values.
  const rank: Partial<Record<RejectionReason, number>> = { TS_INVALID: 0, FIELD_MISSING: 1, FIELD_TYPE: 2, FIELD_UNKNOWN: 3, FIELD_RANGE: 4, NO_MEASUREMENT: 5 };
  return issues.sort((a, b) => (rank[a.code] ?? 9) - (rank[b.code] ?? 9));
}

function codeOf(issue: z.core.$ZodIssue, input: Record<string, unknown>): RejectionReason {
  if (issue.path[0] === 'ts') return 'TS_INVALID';
  switch (issue.code) {
    case 'invalid_type': {
      const field = issue.path[0];
      const present = typeof field === 'string' && Object.hasOwn(input, field);
      return present ? 'FIELD_TYPE' : 'FIELD_MISSING';
    }
    case 'too_small':
    case 'too_big':
      return 'FIELD_RANGE';
    case 'custom':
      return 'NO_MEASUREMENT';
    default:
      return 'FIELD_TYPE';
  }
}

function allowedFields(kind: ReadingKind): string {
  return ['ts', 'seq', 'battery', 'rssi', ...metricsOf(kind)].join(', ');
}

function excerptOf(payload: Uint8Array, text?: string): string {
  if (text !== undefined) return text.slice(0, REJECTION_EXCERPT_CHARS);
  // Not UTF-8 (or not decoded yet): a lossy decode of the head shows what arrived.
  return Buffer.from(payload.subarray(0, REJECTION_EXCERPT_CHARS * 4)).toString('utf8').slice(0, REJECTION_EXCERPT_CHARS);
}
