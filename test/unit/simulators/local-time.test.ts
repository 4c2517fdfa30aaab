import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copenhagenOffsetMs, copenhagenTime, formatCopenhagenIso } from '../../../simulators/local-time.ts';

const intl = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Copenhagen', timeZoneName: 'longOffset' });
const intlOffsetHours = (ms: number) => {
  const name = intl.formatToParts(new Date(ms)).find((p) => p.type === 'timeZoneName')!.value; // GMT+01:00
  return Number(name.slice(4, 6));
};

describe('Copenhagen local time', () => {
  it('switches to summer time on the last Sunday of March and back on the last Sunday of October at 01:00 UTC', () => {
    expect(copenhagenOffsetMs(Date.parse('2026-03-29T00:59:59Z'))).toBe(3_600_000);
    expect(copenhagenOffsetMs(Date.parse('2026-03-29T01:00:00Z'))).toBe(7_200_000);
    expect(copenhagenOffsetMs(Date.parse('2026-10-25T00:59:59Z'))).toBe(7_200_000);
    expect(copenhagenOffsetMs(Date.parse('2026-10-25T01:00:00Z'))).toBe(3_600_000);
  });

  it('agrees with the ICU time-zone database at any instant from 2000 to 2060', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.parse('2000-01-01T00:00:00Z'), max: Date.parse('2060-01-01T00:00:00Z') }), (ms) => {
        expect(copenhagenOffsetMs(ms) / 3_600_000).toBe(intlOffsetHours(ms));
      }),
      { numRuns: 500 },
    );
  });

  it('gives local hour, weekday and weekend', () => {
    const monday8 = copenhagenTime(Date.parse('2026-03-02T08:30:00+01:00'));
    expect(monday8.hour).toBeCloseTo(8.5, 6);
    expect(monday8.weekday).toBe(1);
    expect(monday8.weekend).toBe(false);
    const sundayNight = copenhagenTime(Date.parse('2026-07-05T23:15:00+02:00'));
    expect(sundayNight.weekday).toBe(7);
    expect(sundayNight.weekend).toBe(true);
    expect(sundayNight.hour).toBeCloseTo(23.25, 6);
  });

  it('prints ISO 8601 with the local offset, which parses back to the same instant', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Date.parse('2100-01-01T00:00:00Z') }), (ms) => {
        const text = formatCopenhagenIso(ms);
        expect(text).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0[12]:00$/);
        expect(Date.parse(text)).toBe(ms);
      }),
    );
  });
});
