import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { metricsOf, unitsOf, readingSchemaOf, REJECTION_REASONS, type ReadingKind, type RejectionReason } from '../../../contracts/index.ts';
import { parseMessage } from '../../../broker/parse-message.ts';

interface Fixture {
  file: string;
  kind: ReadingKind;
  payload?: unknown;
  raw?: string;
  reason?: RejectionReason;
  path?: string;
}

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'readings');
const load = (dir: 'valid' | 'invalid'): Fixture[] =>
  readdirSync(join(FIXTURES, dir))
    .filter((f) => f.endsWith('.json'))
    .map((file) => ({ file, ...(JSON.parse(readFileSync(join(FIXTURES, dir, file), 'utf8')) as Omit<Fixture, 'file'>) }));

const RECEIVED_AT = Date.parse('2026-11-22T10:00:30Z');
const bytesOf = (f: Fixture) => Buffer.from(f.raw ?? JSON.stringify(f.payload));

describe('valid reading fixtures', () => {
  it.each(load('valid'))('$file is accepted by its schema and by the parser', (fixture) => {
    expect(readingSchemaOf(fixture.kind)!.safeParse(fixture.payload).success).toBe(true);
    const result = parseMessage(`lab/v1/${fixture.kind}/dev-1`, bytesOf(fixture), RECEIVED_AT);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    // Every measurement sent comes out in `values`, nothing else does.
    const sent = Object.keys(fixture.payload as object).filter((k) => !['ts', 'seq', 'battery', 'rssi'].includes(k));
    expect(Object.keys(result.reading.values).sort()).toEqual(sent.sort());
  });
});

describe('invalid reading fixtures', () => {
  it.each(load('invalid'))('$file is rejected with $reason', (fixture) => {
    const result = parseMessage(`lab/v1/${fixture.kind}/dev-1`, bytesOf(fixture), RECEIVED_AT);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.rejection.reason).toBe(fixture.reason);
    expect(result.rejection.kind).toBe(fixture.kind);
    expect(result.rejection.deviceId).toBe('dev-1');
    if (fixture.path !== undefined) expect(result.rejection.issues[0]?.path).toBe(fixture.path);
    expect(result.rejection.message.length).toBeGreaterThan(5);
  });

  it('has a fixture for every reason a payload alone can cause', () => {
    const covered = new Set(load('invalid').map((f) => f.reason));
    const payloadReasons = Object.keys(REJECTION_REASONS).filter(
      (r) => !['TOPIC_INVALID', 'KIND_UNKNOWN', 'DEVICE_UNKNOWN', 'PAYLOAD_TOO_LARGE', 'PAYLOAD_NOT_UTF8', 'TS_IN_FUTURE', 'TS_TOO_OLD', 'RATE_LIMITED'].includes(r),
    );
    expect([...covered].sort()).toEqual(payloadReasons.sort());
  });
});

describe('units', () => {
  it('every metric of every kind has a unit for OpenAPI and the dashboard', () => {
    expect(unitsOf('air').pm25).toBe('µg/m³');
    expect(unitsOf('air').co).toBe('mg/m³');
    expect(unitsOf('traffic').speed).toBe('km/h');
    expect(unitsOf('waste').fill).toBe('%');
    for (const kind of ['air', 'traffic', 'waste'] as const) {
      for (const metric of metricsOf(kind)) expect(unitsOf(kind)[metric], `${kind}.${metric}`).toBeTruthy();
    }
  });
});
