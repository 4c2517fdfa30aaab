import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REJECTION_REASONS, RejectionSchema, LiveReadingSchema } from '../../../contracts/index.ts';
import { DEFAULT_PARSE_LIMITS, parseMessage } from '../../../broker/parse-message.ts';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const parse = (payload: string | Uint8Array, topic = 'lab/v1/air/dev-1') =>
  parseMessage(topic, typeof payload === 'string' ? Buffer.from(payload) : payload, NOW);

describe('parseMessage', () => {
  it('normalises an accepted reading: device ts in UTC, receive time, values only', () => {
    const result = parse('{"ts":"2026-11-22T12:59:00+01:00","seq":3,"pm25":7,"rssi":-80}');
    expect(result).toEqual({
      ok: true,
      reading: {
        kind: 'air',
        deviceId: 'dev-1',
        ts: '2026-11-22T11:59:00.000Z',
        receivedAt: '2026-11-22T12:00:00.000Z',
        seq: 3,
        rssi: -80,
        values: { pm25: 7 },
      },
      tsMs: Date.parse('2026-11-22T11:59:00.000Z'),
    });
  });

  it('rejects a timestamp too far in the future and one too old, with their own codes', () => {
    const ahead = parse(JSON.stringify({ ts: NOW + DEFAULT_PARSE_LIMITS.maxFutureMs + 1_000, pm25: 1 }));
    const old = parse(JSON.stringify({ ts: NOW - DEFAULT_PARSE_LIMITS.maxAgeMs - 1_000, pm25: 1 }));
    const justInside = parse(JSON.stringify({ ts: NOW + DEFAULT_PARSE_LIMITS.maxFutureMs - 1_000, pm25: 1 }));
    expect(!ahead.ok && ahead.rejection.reason).toBe('TS_IN_FUTURE');
    expect(!old.ok && old.rejection.reason).toBe('TS_TOO_OLD');
    expect(justInside.ok).toBe(true);
  });

  it('honours configured timestamp limits', () => {
    const result = parseMessage('lab/v1/air/a', Buffer.from(JSON.stringify({ ts: NOW - 120_000, pm25: 1 })), NOW, {
      ...DEFAULT_PARSE_LIMITS,
      maxAgeMs: 60_000,
    });
    expect(!result.ok && result.rejection.reason).toBe('TS_TOO_OLD');
  });

  it('rejects an oversized payload without parsing it and keeps only an excerpt', () => {
    const big = `{"pm25":1,"pad":"${'x'.repeat(DEFAULT_PARSE_LIMITS.maxPayloadBytes)}"}`;
    const result = parse(big);
    expect(!result.ok && result.rejection.reason).toBe('PAYLOAD_TOO_LARGE');
    if (!result.ok) {
      expect(result.rejection.size).toBe(Buffer.byteLength(big));
      expect(result.rejection.excerpt.length).toBeLessThanOrEqual(256);
    }
  });

  it('rejects bytes that are not UTF-8', () => {
    const result = parse(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    expect(!result.ok && result.rejection.reason).toBe('PAYLOAD_NOT_UTF8');
  });

  it('lists every problem, the most fundamental first', () => {
    const result = parse('{"pm25":-1,"pm10":"x","colour":"red"}');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.rejection.issues.map((i) => [i.code, i.path])).toEqual([
      ['FIELD_TYPE', 'pm10'],
      ['FIELD_UNKNOWN', 'colour'],
      ['FIELD_RANGE', 'pm25'],
    ]);
    expect(result.rejection.reason).toBe('FIELD_TYPE');
    expect(result.rejection.message).toContain('pm10');
  });

  it('attributes a rejection on a malformed topic to what it can recognise', () => {
    const result = parse('{"pm25":1}', 'lab/v1/traffic/dev-9/extra');
    expect(!result.ok && result.rejection).toMatchObject({ reason: 'TOPIC_INVALID', kind: 'traffic', deviceId: 'dev-9' });
  });

  it('never throws, whatever the topic and payload, and always returns a contract-valid result', () => {
    const topic = fc.oneof(fc.constant('lab/v1/air/dev-1'), fc.constant('lab/v1/waste/b'), fc.string({ maxLength: 80 }));
    const payload = fc.oneof(
      fc.json().map((s) => Buffer.from(s)),
      fc.jsonValue().map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      fc.dictionary(fc.constantFrom('ts', 'pm25', 'fill', 'period', 'cars', 'battery', 'seq', '__proto__', 'x'), fc.anything())
        .map((o) => Buffer.from(JSON.stringify(o) ?? '{}')),
    );
    fc.assert(
      fc.property(topic, payload, (t, p) => {
        const result = parseMessage(t, p, NOW);
        if (result.ok) expect(LiveReadingSchema.safeParse(result.reading).success).toBe(true);
        else {
          expect(RejectionSchema.safeParse(result.rejection).success).toBe(true);
          expect(Object.keys(REJECTION_REASONS)).toContain(result.rejection.reason);
        }
      }),
      { numRuns: 3_000 },
    );
  });
});
