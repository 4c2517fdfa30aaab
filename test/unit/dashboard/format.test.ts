import { describe, expect, it } from 'vitest';
import {
  axisLabel,
  formatAge,
  formatClock,
  formatCompact,
  formatDuration,
  formatNumber,
  formatValue,
  signalQuality,
  timeTicks,
  truncate,
  unitOf,
} from '../../../dashboard/model/format.ts';

describe('formatting', () => {
  it.each([
    [0, '0'],
    [42, '42'],
    [3.14159, '3.1'],
    [0.0423, '0.042'],
    [1234.5, '1,235'],
    [-12.34, '-12.3'],
    [undefined, '–'],
    [Number.NaN, '–'],
  ])('formats %s as %s', (value, text) => {
    expect(formatNumber(value)).toBe(text);
  });

  it('shows values with the contract unit', () => {
    expect(formatValue('air', 'pm25', 12.34)).toBe('12.3 µg/m³');
    expect(formatValue('air', 'co', 0.4)).toBe('0.400 mg/m³');
    expect(formatValue('waste', 'fill', 81)).toBe('81 %');
    expect(formatValue('traffic', 'cars', 12)).toBe('12');
    expect(formatValue('waste', 'lidOpen', true)).toBe('Open');
    expect(formatValue('air', 'no2', undefined)).toBe('–');
  });

  it('takes units from the contracts and labels axes with them', () => {
    expect(unitOf('air', 'noise')).toBe('dB(A)');
    expect(unitOf('traffic', 'speed')).toBe('km/h');
    expect(unitOf('traffic', 'bicycles')).toBe('');
    expect(unitOf('air', 'battery')).toBe('%');
    expect(unitOf('waste', 'seq')).toBe('');
    expect(axisLabel('air', 'pm25')).toBe('PM2.5 (µg/m³)');
    expect(axisLabel('traffic', 'cars')).toBe('Cars');
  });

  it.each([
    [0, 'just now'],
    [1.4, 'just now'],
    [42, '42 s ago'],
    [60, '1 min ago'],
    [3_599, '59 min ago'],
    [7_200, '2 h ago'],
    [200_000, '2 d ago'],
    [undefined, 'never'],
  ])('says an age of %s s as "%s"', (seconds, text) => {
    expect(formatAge(seconds)).toBe(text);
  });

  it.each([
    [45_000, '45 s'],
    [12 * 60_000, '12 min'],
    [3_600_000, '1 h'],
    [200 * 60_000, '3 h 20 min'],
    [52 * 3_600_000, '2 d 4 h'],
  ])('says a duration of %s ms as "%s"', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('formats clock time in the given zone, 24-hour', () => {
    expect(formatClock(Date.parse('2026-11-22T13:05:09Z'), 'Europe/Copenhagen')).toBe('14:05:09');
    expect(formatClock(Date.parse('2026-11-22T00:00:00Z'), 'UTC')).toBe('00:00:00');
  });

  it('shortens big counts', () => {
    expect(formatCompact(950)).toBe('950');
    expect(formatCompact(1_234)).toBe('1.2k');
    expect(formatCompact(12_400)).toBe('12k');
    expect(formatCompact(3_200_000)).toBe('3.2M');
  });

  it('grades signal strength', () => {
    expect(signalQuality(-60)).toEqual({ bars: 4, label: 'excellent' });
    expect(signalQuality(-90).label).toBe('fair');
    expect(signalQuality(-120).bars).toBe(0);
    expect(signalQuality(undefined).label).toBe('unknown');
  });

  it('truncates payload excerpts with an ellipsis', () => {
    expect(truncate('abcdef', 10)).toBe('abcdef');
    expect(truncate('abcdefghijkl', 5)).toBe('abcd…');
  });

  it('labels the time axis in the 24-hour clock with the date at the start and at midnight', () => {
    const at = (iso: string) => Date.parse(iso) / 1000;
    expect(timeTicks([at('2026-11-22T22:00:00Z'), at('2026-11-22T23:00:00Z'), at('2026-11-23T00:00:00Z'), at('2026-11-23T01:00:00Z')], 3_600, 'UTC')).toEqual([
      '22:00\n22 Nov',
      '23:00',
      '00:00\n23 Nov',
      '01:00',
    ]);
    expect(timeTicks([at('2026-11-20T00:00:00Z'), at('2026-11-21T00:00:00Z')], 86_400, 'UTC')).toEqual(['20 Nov', '21 Nov']);
  });
});
