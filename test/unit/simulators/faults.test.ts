import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BUILT_IN_KINDS, REJECTION_REASONS, buildReadingTopic, type ReadingKind, type ReadingPayload } from '../../../contracts/index.ts';
import { parseMessage } from '../../../broker/parse-message.ts';
import { createDeviceModel } from '../../../simulators/devices/index.ts';
import {
  BEHAVIOUR_FAULTS,
  DEFAULT_FAULT_LIMITS,
  FAULT_KINDS,
  PAYLOAD_FAULTS,
  addFaultCounts,
  applicablePayloadFaults,
  corruptPayload,
  createDeviceFaults,
  createFaultCounts,
  resolveFaultRates,
  shiftTimestamp,
  type FaultOptions,
  type OutgoingMessage,
  type PayloadFault,
} from '../../../simulators/faults.ts';
import { createRandom } from '../../../simulators/random.ts';

const START = Date.parse('2026-05-04T06:00:00Z');
const model = (kind: ReadingKind, id = `${kind}-001`, seed = 1) => createDeviceModel({ id, kind, site: 'Nørrebrogade', lat: 55.69, lon: 12.55 }, { seed });
const tsOf = (p: ReadingPayload) => (typeof p.ts === 'number' ? p.ts : Date.parse(p.ts!));
const verdict = (kind: ReadingKind, bytes: Buffer, receivedAtMs: number) => {
  const result = parseMessage(buildReadingTopic(kind, `${kind}-001`), bytes, receivedAtMs);
  return result.ok ? 'accepted' : result.rejection.reason;
};
const decode = (m: OutgoingMessage) => JSON.parse(m.payload.toString()) as ReadingPayload;

/** Runs one device through the fault layer, one reading a minute; ingest receives each message as it is sent. */
function run(kind: ReadingKind, options: FaultOptions, readings: number, seed = 1) {
  const device = model(kind, `${kind}-001`, seed);
  const counts = createFaultCounts();
  const faults = createDeviceFaults(kind, options, createRandom(seed), counts);
  const sent: { message: OutgoingMessage; atMs: number }[] = [];
  const steps = [];
  for (let i = 0; i < readings; i += 1) {
    const t = START + i * 60_000;
    const step = faults.apply(device.next(t), t, t);
    steps.push(step);
    for (const message of step.messages) sent.push({ message, atMs: t });
  }
  const endMs = START + readings * 60_000;
  for (const message of faults.flush()) sent.push({ message, atMs: endMs });
  return { sent, steps, counts, faults };
}

describe('payload faults', () => {
  it('cover every rejection reason a device alone can cause', () => {
    // TOPIC_INVALID and KIND_UNKNOWN need a topic we never build by hand; DEVICE_UNKNOWN an identifier nobody registered; RATE_LIMITED is the broker's verdict on a rate.
    const deviceCaused = Object.keys(REJECTION_REASONS).filter((r) => r !== 'TOPIC_INVALID' && r !== 'KIND_UNKNOWN' && r !== 'DEVICE_UNKNOWN' && r !== 'RATE_LIMITED');
    expect([...PAYLOAD_FAULTS].sort()).toEqual(deviceCaused.sort());
    expect(applicablePayloadFaults('air')).not.toContain('FIELD_MISSING');
    expect(applicablePayloadFaults('traffic')).not.toContain('NO_MEASUREMENT');
    expect(applicablePayloadFaults('waste')).not.toContain('NO_MEASUREMENT');
    expect(new Set(BUILT_IN_KINDS.flatMap((k) => applicablePayloadFaults(k)))).toEqual(new Set(PAYLOAD_FAULTS));
  });

  it.each(BUILT_IN_KINDS.flatMap((kind) => applicablePayloadFaults(kind).map((fault) => ({ kind, fault }))))(
    'turns a $kind reading into one ingest rejects with $fault, whatever the seed',
    ({ kind, fault }) => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 400 * 24 * 60 }), (seed, minutes) => {
          const t = START + minutes * 60_000;
          const payload = model(kind, `${kind}-001`, seed).next(t);
          const bytes = corruptPayload(fault, payload, { kind, random: createRandom(seed), nowMs: t, ...DEFAULT_FAULT_LIMITS });
          expect(verdict(kind, bytes, tsOf(payload))).toBe(fault);
        }),
        { numRuns: 150 },
      );
    },
  );

  it('honours the configured ingest limits', () => {
    const payload = model('air').next(START);
    const limits = { maxPayloadBytes: 1_024, maxFutureMs: 60_000, maxAgeMs: 3_600_000 };
    const ctx = { kind: 'air' as const, random: createRandom(1), nowMs: START, ...limits };
    const big = corruptPayload('PAYLOAD_TOO_LARGE', payload, ctx);
    expect(big.byteLength).toBeGreaterThan(1_024);
    expect(big.byteLength).toBeLessThan(16 * 1_024);
    const parse = (bytes: Buffer) => parseMessage('lab/v1/air/air-001', bytes, START, limits);
    expect(!parse(big).ok && (parse(big) as { rejection: { reason: string } }).rejection.reason).toBe('PAYLOAD_TOO_LARGE');
    const future = parse(corruptPayload('TS_IN_FUTURE', payload, ctx));
    expect(!future.ok && future.rejection.reason).toBe('TS_IN_FUTURE');
  });
});

describe('the fault layer on a stream', () => {
  it.each(BUILT_IN_KINDS)('never lies: ingest answers every %s message exactly as the layer expects', (kind) => {
    const rates = Object.fromEntries(FAULT_KINDS.map((f) => [f, 0.03]));
    const { sent, counts } = run(kind, { rates, dropoutMeanMs: 5 * 60_000 }, 4_000);
    for (const { message, atMs } of sent) expect(verdict(kind, message.payload, atMs)).toBe(message.expect);
    // Every applicable payload fault happened, and the counts match what was sent.
    for (const fault of applicablePayloadFaults(kind)) {
      expect(counts[fault]).toBeGreaterThan(0);
      expect(sent.filter((s) => s.message.expect === fault && !s.message.faults.includes('duplicate')).length).toBe(counts[fault]);
    }
    for (const fault of BEHAVIOUR_FAULTS) expect(counts[fault]).toBeGreaterThan(0);
  });

  it('injects each fault at about its rate', () => {
    const { counts } = run('traffic', { rates: { FIELD_TYPE: 0.1, duplicate: 0.05 } }, 5_000);
    expect(counts.FIELD_TYPE).toBeGreaterThan(400);
    expect(counts.FIELD_TYPE).toBeLessThan(600);
    expect(counts.duplicate).toBeGreaterThan(180);
    expect(counts.duplicate).toBeLessThan(320);
    expect(counts.TS_INVALID).toBe(0);
  });

  it('injects nothing by default', () => {
    const { sent, counts } = run('waste', {}, 500);
    expect(sent).toHaveLength(500);
    expect(sent.every((s) => s.message.expect === 'accepted' && s.message.faults.length === 0)).toBe(true);
    expect(Object.values(counts).every((n) => n === 0)).toBe(true);
  });

  it('sends a duplicate as the same bytes twice in a row', () => {
    const { sent, counts } = run('air', { rates: { duplicate: 0.2 } }, 300);
    expect(counts.duplicate).toBeGreaterThan(0);
    for (let i = 1; i < sent.length; i += 1) {
      if (sent[i]!.message.faults.includes('duplicate')) expect(sent[i]!.message.payload.equals(sent[i - 1]!.message.payload)).toBe(true);
    }
    expect(sent).toHaveLength(300 + counts.duplicate);
  });

  it('delivers held-back messages after their successors, so timestamps go backwards', () => {
    const { sent } = run('traffic', { rates: { outOfOrder: 1 } }, 11);
    const seqs = sent.map((s) => s.message.seq);
    // The 11th is still held when the device stops, and goes out then.
    expect(seqs).toEqual([1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 10]);
    const ts = sent.map((s) => tsOf(decode(s.message)));
    expect(ts[1]!).toBeLessThan(ts[0]!);
  });

  it('goes offline in a dropout, keeps measuring, and comes back', () => {
    const { steps, counts } = run('waste', { rates: { dropout: 0.05 }, dropoutMeanMs: 10 * 60_000 }, 400);
    expect(counts.dropout).toBeGreaterThan(3);
    expect(steps.filter((s) => s.wentOffline)).toHaveLength(counts.dropout);
    // Every dropout but perhaps the last one ended.
    expect(steps.filter((s) => s.cameBack).length).toBeGreaterThanOrEqual(counts.dropout - 1);
    expect(steps.every((s) => s.messages.length === 1)).toBe(true);
    const firstOut = steps.findIndex((s) => s.wentOffline);
    expect(steps[firstOut]!.offline).toBe(true);
    const back = steps.findIndex((s, i) => i > firstOut && s.cameBack);
    expect(steps.slice(firstOut, back).every((s) => s.offline)).toBe(true);
    expect(steps[back]!.offline).toBe(false);
  });

  it('freezes the measurements of a stuck sensor while seq and ts move on', () => {
    const { sent } = run('air', { rates: { stuck: 1 }, stuckMeanMessages: 1_000 }, 30);
    const payloads = sent.map((s) => decode(s.message) as Record<string, unknown>);
    const measurements = (p: Record<string, unknown>) => Object.fromEntries(Object.entries(p).filter(([k]) => !['ts', 'seq', 'battery', 'rssi'].includes(k)));
    for (const p of payloads) expect(measurements(p)).toEqual(measurements(payloads[0]!));
    expect(new Set(payloads.map((p) => p.seq)).size).toBe(30);
    expect(sent.every((s) => s.message.expect === 'accepted')).toBe(true);
  });

  it('lets one reading drift ever further from the truth, within the contract', () => {
    const clean = model('air');
    const truth = Array.from({ length: 300 }, (_, i) => clean.next(START + i * 60_000) as Record<string, number>);
    const { sent } = run('air', { rates: { drift: 1 }, driftMeanMessages: 10_000, driftPerMessage: 0.01 }, 300);
    const drifted = sent.map((s) => decode(s.message) as Record<string, number>);
    const field = Object.keys(truth[0]!).find((k) => k !== 'ts' && drifted[0]![k] !== truth[0]![k])!;
    expect(field).toBeDefined();
    const error = (i: number) => Math.abs(drifted[i]![field]! - truth[i]![field]!);
    expect(error(299)).toBeGreaterThan(error(10));
    expect(error(150)).toBeGreaterThan(error(10));
    for (const { message, atMs } of sent) expect(verdict('air', message.payload, atMs)).toBe('accepted');
  });

  it('skews a device clock by a steady offset that ingest still accepts', () => {
    const { sent } = run('waste', { rates: { clockSkew: 1 }, clockSkewMeanMessages: 10_000 }, 50);
    const offsets = sent.map((s, i) => tsOf(decode(s.message)) - (START + i * 60_000));
    expect(new Set(offsets).size).toBe(1);
    expect(Math.abs(offsets[0]!)).toBeGreaterThanOrEqual(5_000);
    expect(Math.abs(offsets[0]!)).toBeLessThanOrEqual(120_000);
    for (const { message, atMs } of sent) expect(verdict('waste', message.payload, atMs)).toBe('accepted');
  });

  it('records injections per kind in counts shared by a fleet', () => {
    const shared = createFaultCounts();
    for (const kind of BUILT_IN_KINDS) {
      const device = model(kind);
      const faults = createDeviceFaults(kind, { rates: { TS_TOO_OLD: 1 } }, createRandom(kind), shared);
      for (let i = 0; i < 10; i += 1) faults.apply(device.next(START + i * 60_000), START + i * 60_000, START + i * 60_000);
    }
    expect(shared.TS_TOO_OLD).toBe(30);
    expect(addFaultCounts(createFaultCounts(), shared).TS_TOO_OLD).toBe(30);
  });
});

describe('fault options', () => {
  it('resolve a default rate, per-kind overrides, and clamp to [0, 1]', () => {
    const rates = resolveFaultRates({ defaultRate: 0.01, rates: { dropout: 0.5, FIELD_TYPE: 3 } });
    expect(rates.TS_INVALID).toBe(0.01);
    expect(rates.dropout).toBe(0.5);
    expect(rates.FIELD_TYPE).toBe(1);
    expect(Object.keys(rates).sort()).toEqual([...FAULT_KINDS].sort());
  });

  it('shift timestamps in the firmware format they came in', () => {
    expect(shiftTimestamp(1_000_000, 500)).toBe(1_000_500);
    expect(shiftTimestamp('2026-05-04T06:00:00.000Z', 60_000)).toBe('2026-05-04T06:01:00.000Z');
    expect(shiftTimestamp('2026-05-04T08:00:00.000+02:00', -60_000)).toBe('2026-05-04T07:59:00.000+02:00');
  });

  it('pick only faults the kind can commit, even when all rates are 1', () => {
    for (const kind of BUILT_IN_KINDS) {
      const rates = Object.fromEntries(PAYLOAD_FAULTS.map((f) => [f, 1])) as Record<PayloadFault, number>;
      const { sent } = run(kind, { rates }, 200);
      for (const { message } of sent) expect(applicablePayloadFaults(kind)).toContain(message.expect);
    }
  });
});
