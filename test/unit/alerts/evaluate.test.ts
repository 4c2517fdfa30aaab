import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AlertRuleSchema, type AlertRule, type LiveReading } from '../../../contracts/index.ts';
import {
  REJECT_BUCKET_MS,
  RejectWindow,
  compare,
  evaluateEaqi,
  evaluateOffline,
  evaluateRejectRate,
  evaluateThreshold,
  readingEaqi,
  ruleApplies,
  type EaqiRule,
  type OfflineRule,
  type RejectRateRule,
  type ThresholdRule,
} from '../../../api/alerts/evaluate.ts';

const AT = '2026-05-01T12:00:00.000Z';
function rule<T extends AlertRule>(input: Record<string, unknown>): T {
  return AlertRuleSchema.parse({ id: 'r1', name: 'rule', createdAt: AT, updatedAt: AT, ...input }) as T;
}
function reading(kind: LiveReading['kind'], values: LiveReading['values'], extra: Partial<LiveReading> = {}): LiveReading {
  return { kind, deviceId: `${kind}-1`, ts: AT, values, ...extra };
}

describe('compare', () => {
  it.each([
    [80, '>=', 80, true],
    [79.9, '>=', 80, false],
    [80, '>', 80, false],
    [80.1, '>', 80, true],
    [10, '<', 10, false],
    [9.9, '<', 10, true],
    [10, '<=', 10, true],
  ] as const)('%d %s %d is %s', (value, op, threshold, expected) => {
    expect(compare(value, op, threshold)).toBe(expected);
  });
});

describe('threshold rules', () => {
  const binFull = rule<ThresholdRule>({ type: 'threshold', kind: 'waste', metric: 'fill', op: '>=', value: 80 });

  it('holds when the metric crosses the threshold, with the value and a message naming it', () => {
    const verdict = evaluateThreshold(binFull, reading('waste', { fill: 86 }), '%');
    expect(verdict).toEqual({ holds: true, value: 86, message: 'waste-1: fill 86 % ≥ 80 %' });
  });

  it('does not hold below it, and says so', () => {
    const verdict = evaluateThreshold(binFull, reading('waste', { fill: 12.345 }), '%');
    expect(verdict?.holds).toBe(false);
    expect(verdict?.message).toContain('back to 12.35 %');
  });

  it('says nothing about a reading without the metric or of another kind', () => {
    const fire = rule<ThresholdRule>({ type: 'threshold', kind: 'waste', metric: 'temperature', op: '>=', value: 60 });
    expect(evaluateThreshold(fire, reading('waste', { fill: 50 }))).toBeUndefined();
    expect(evaluateThreshold(binFull, reading('air', { pm25: 90 }))).toBeUndefined();
  });

  it('with hysteresis, an active alert clears only once the value is clearly back', () => {
    const full = rule<ThresholdRule>({ type: 'threshold', kind: 'waste', metric: 'fill', op: '>=', value: 80, hysteresis: 5 });
    expect(evaluateThreshold(full, reading('waste', { fill: 78 }))?.holds).toBe(false);
    expect(evaluateThreshold(full, reading('waste', { fill: 78 }), '%', true)?.holds).toBe(true);
    expect(evaluateThreshold(full, reading('waste', { fill: 74.9 }), '%', true)?.holds).toBe(false);
    const slow = rule<ThresholdRule>({ type: 'threshold', kind: 'traffic', metric: 'speed', op: '<', value: 10, hysteresis: 5 });
    expect(evaluateThreshold(slow, reading('traffic', { period: 60, speed: 12 }), 'km/h', true)?.holds).toBe(true);
    expect(evaluateThreshold(slow, reading('traffic', { period: 60, speed: 15 }), 'km/h', true)?.holds).toBe(false);
  });

  it('reads battery and rssi beside the values', () => {
    const low = rule<ThresholdRule>({ type: 'threshold', kind: 'air', metric: 'battery', op: '<', value: 15 });
    expect(evaluateThreshold(low, reading('air', { pm25: 3 }, { battery: 9 }))?.holds).toBe(true);
  });
});

describe('EAQI rules on the latest reading', () => {
  const poor = rule<EaqiRule>({ type: 'eaqi', level: 4 });

  it('takes the worst pollutant band of the reading', () => {
    // pm25 60 → band 5 (50 < 60 ≤ 75); no2 30 → band 1.
    expect(readingEaqi({ pm25: 60, no2: 30 })).toEqual({ level: 5, pollutant: 'pm25', value: 60 });
    const verdict = evaluateEaqi(poor, reading('air', { pm25: 60, no2: 30 }));
    expect(verdict).toMatchObject({ holds: true, value: 5 });
    expect(verdict?.message).toContain('very poor');
  });

  it('a value exactly at a band limit belongs to that band', () => {
    // no2 230 is the top of band 4.
    expect(evaluateEaqi(poor, reading('air', { no2: 230 }))).toMatchObject({ holds: true, value: 4 });
    expect(evaluateEaqi(poor, reading('air', { no2: 120 }))).toMatchObject({ holds: false, value: 3 });
  });

  it('says nothing about a reading without EAQI pollutants', () => {
    expect(evaluateEaqi(poor, reading('air', { temperature: 21, noise: 60 }))).toBeUndefined();
  });
});

describe('offline rules', () => {
  const offline = rule<OfflineRule>({ type: 'offline', intervals: 3 });

  it('holds only past N × the declared interval', () => {
    const facts = { deviceId: 'd', intervalSeconds: 60, lastSeenMs: 0 };
    expect(evaluateOffline(offline, { ...facts, nowMs: 180_000 }).holds).toBe(false);
    const verdict = evaluateOffline(offline, { ...facts, nowMs: 180_001 });
    expect(verdict).toMatchObject({ holds: true, value: 180 });
    expect(verdict.message).toContain('3 × its 60 s interval');
  });
});

describe('reject-rate rules', () => {
  const rate = rule<RejectRateRule>({ type: 'reject_rate', percent: 50, windowMinutes: 5, minMessages: 4 });

  it('needs minMessages before a rate counts', () => {
    const window = new RejectWindow();
    for (let i = 0; i < 3; i++) window.record(1_000 + i, false);
    expect(evaluateRejectRate(rate, 'd', window, 2_000).holds).toBe(false);
    window.record(2_000, false);
    expect(evaluateRejectRate(rate, 'd', window, 2_000)).toMatchObject({ holds: true, value: 100 });
  });

  it('holds only above the percentage (50 % of 50 % is not above)', () => {
    const window = new RejectWindow();
    for (let i = 0; i < 4; i++) window.record(1_000, i % 2 === 0);
    expect(evaluateRejectRate(rate, 'd', window, 1_000)).toMatchObject({ holds: false, value: 50 });
    window.record(1_000, false);
    expect(evaluateRejectRate(rate, 'd', window, 1_000)).toMatchObject({ holds: true, value: 60 });
  });

  it('forgets messages once they leave the window', () => {
    const window = new RejectWindow();
    for (let i = 0; i < 10; i++) window.record(0, false);
    expect(evaluateRejectRate(rate, 'd', window, 5 * 60_000 - 1).holds).toBe(true);
    expect(evaluateRejectRate(rate, 'd', window, 5 * 60_000 + REJECT_BUCKET_MS)).toMatchObject({ holds: false, value: 0 });
  });
});

describe('rule filters', () => {
  it('selects by device, site and kind; a disabled rule selects nothing', () => {
    const byDevice = rule({ type: 'offline', deviceId: 'waste-1' });
    expect(ruleApplies(byDevice, { deviceId: 'waste-1' })).toBe(true);
    expect(ruleApplies(byDevice, { deviceId: 'waste-2' })).toBe(false);
    const bySite = rule({ type: 'threshold', kind: 'waste', metric: 'fill', op: '>=', value: 80, site: 'Nørrebro' });
    expect(ruleApplies(bySite, { deviceId: 'w', kind: 'waste', site: 'Nørrebro' })).toBe(true);
    expect(ruleApplies(bySite, { deviceId: 'w', kind: 'waste', site: 'Vesterbro' })).toBe(false);
    expect(ruleApplies(bySite, { deviceId: 'w', kind: 'air', site: 'Nørrebro' })).toBe(false);
    expect(ruleApplies(rule({ type: 'offline', enabled: false }), { deviceId: 'w' })).toBe(false);
  });
});

describe('rule validation', () => {
  it('refuses a threshold on a metric the kind does not have, naming metric', () => {
    const parsed = AlertRuleSchema.safeParse({ id: 'x', name: 'x', createdAt: AT, updatedAt: AT, type: 'threshold', kind: 'waste', metric: 'pm25', op: '>=', value: 1 });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['metric']);
  });

  it('refuses a threshold on the boolean lidOpen', () => {
    const parsed = AlertRuleSchema.safeParse({ id: 'x', name: 'x', createdAt: AT, updatedAt: AT, type: 'threshold', kind: 'waste', metric: 'lidOpen', op: '>=', value: 1 });
    expect(parsed.success).toBe(false);
  });
});

describe('properties', () => {
  it('the reject window counts exactly the messages of the buckets that overlap the window', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3_600_000 }), fc.boolean()), { maxLength: 200 }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 600_000 }),
        (events, windowMinutes, after) => {
          const sorted = [...events].sort((a, b) => a[0] - b[0]);
          const window = new RejectWindow();
          for (const [at, accepted] of sorted) window.record(at, accepted);
          const nowMs = (sorted.at(-1)?.[0] ?? 0) + after;
          const from = nowMs - windowMinutes * 60_000;
          const inside = sorted.filter(([at]) => Math.floor(at / REJECT_BUCKET_MS) * REJECT_BUCKET_MS + REJECT_BUCKET_MS > from);
          expect(window.counts(nowMs, windowMinutes * 60_000)).toEqual({
            accepted: inside.filter(([, ok]) => ok).length,
            rejected: inside.filter(([, ok]) => !ok).length,
          });
        },
      ),
    );
  });

  it('hysteresis never opens what the bare threshold would not, and never clears what it would keep', () => {
    fc.assert(
      fc.property(fc.constantFrom('>=', '>', '<=', '<'), fc.double({ min: -100, max: 100, noNaN: true }), fc.double({ min: -100, max: 100, noNaN: true }), fc.double({ min: 0, max: 20, noNaN: true }), (op, threshold, value, hysteresis) => {
        const r = rule<ThresholdRule>({ type: 'threshold', kind: 'waste', metric: 'temperature', op, value: threshold, hysteresis });
        const fresh = evaluateThreshold(r, reading('waste', { temperature: value }))!.holds;
        const held = evaluateThreshold(r, reading('waste', { temperature: value }), '', true)!.holds;
        expect(fresh).toBe(compare(value, op, threshold));
        if (fresh) expect(held).toBe(true);
      }),
    );
  });
});
