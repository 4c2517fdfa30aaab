import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LIVE_BATCH_TOPIC, BUILT_IN_KINDS, buildReadingTopic, buildRejectedTopic, parseTopic } from '../../../contracts/index.ts';

const kind = fc.constantFrom(...BUILT_IN_KINDS);
const deviceId = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/);

describe('topics', () => {
  it('round-trips every reading and rejected topic', () => {
    fc.assert(
      fc.property(kind, deviceId, (k, id) => {
        expect(parseTopic(buildReadingTopic(k, id))).toEqual({ type: 'reading', kind: k, deviceId: id });
        expect(parseTopic(buildRejectedTopic(k, id))).toEqual({ type: 'rejected', kind: k, deviceId: id });
      }),
    );
  });

  it.each([
    'lab/v1/air',
    'lab/v1/air/',
    'lab/v1/Bike/dev-1',
    'lab/v1/b/dev-1',
    'lab/v1/1air/dev-1',
    `lab/v1/${'k'.repeat(33)}/dev-1`,
    'lab/v2/air/dev-1',
    'lab/v1/air/dev 1',
    'lab/v1/air/dev+1',
    'lab/v1/air/#',
    'lab/v1/air/dev-1/extra',
    'lab/v1/air/dev-1/rejected/x',
    `lab/v1/air/${'a'.repeat(65)}`,
    'lab/v1/air/dev\u0000',
    '$lab/live/v1/other/air/dev-1',
    LIVE_BATCH_TOPIC,
    '/lab/v1/air/dev-1',
  ])('refuses %j', (topic) => {
    expect(parseTopic(topic)).toBeNull();
  });

  it('never throws and never accepts a device id outside the contract', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (topic) => {
        const parsed = parseTopic(topic);
        if (parsed) expect(parsed.deviceId).toMatch(/^[A-Za-z0-9_.-]{1,64}$/);
      }),
      { numRuns: 2_000 },
    );
  });
});
