import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isAppError } from '../../../common/errors.ts';
import { parseDuration, parseTimeBound, parseTimeRange } from '../../../api/time-range.ts';

const NOW = Date.parse('2026-11-22T12:00:00Z');

describe('time bounds', () => {
  it.each([
    ['now', NOW],
    ['-15m', NOW - 15 * 60_000],
    ['-24h', NOW - 86_400_000],
    ['-7d', NOW - 7 * 86_400_000],
    ['1795341600000', 1795341600000],
    ['2026-11-22T10:00:00Z', Date.parse('2026-11-22T10:00:00Z')],
    ['2026-11-22T11:00:00+01:00', Date.parse('2026-11-22T10:00:00Z')],
    ['2026-11-22', Date.parse('2026-11-22T00:00:00Z')],
  ])('parses %s', (text, expected) => {
    expect(parseTimeBound(text, 'from', NOW)).toBe(expected);
  });

  it.each(['yesterday', '', '-1y', "2026-11-22' OR 1=1", 'now()', '1e12', '-5', '2026-13-45T00:00:00Z', '99999999999999999'])(
    'refuses %j naming the parameter',
    (text) => {
      expect(() => parseTimeBound(text, 'from', NOW)).toThrow(/^from: /);
    },
  );

  it('refuses a range whose start is not before its end', () => {
    expect(() => parseTimeRange({ from: '-1h', to: '-2h' }, NOW, 3_600_000)).toThrow(/from .* must be before to/);
  });

  it('parses durations and refuses anything else', () => {
    expect(parseDuration('5m', 'every')).toBe(300_000);
    expect(parseDuration('1d', 'every')).toBe(86_400_000);
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (text) => {
        try {
          const ms = parseDuration(text, 'every');
          expect(ms).toBeGreaterThan(0);
          expect(text.trim()).toMatch(/^\d+(ms|s|m|h|d|w)$/);
        } catch (error) {
          expect(isAppError(error, 'BAD_REQUEST')).toBe(true);
        }
      }),
    );
  });
});
