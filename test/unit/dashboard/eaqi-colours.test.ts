import { describe, expect, it } from 'vitest';
import {
  EAQI_BANDS,
  EAQI_POLLUTANTS,
  EAQI_UPPER_LIMITS,
  eaqiLevelOf,
  eaqiOf,
  worstLevel,
  type EaqiLevel,
} from '../../../dashboard/model/eaqi-colours.ts';

/** WCAG 2 contrast ratio of two #RRGGBB colours. */
function contrast(a: string, b: string): number {
  const luminance = (hex: string) => {
    const [r, g, bl] = [1, 3, 5].map((i) => {
      const c = parseInt(hex.slice(i, i + 2), 16) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r! + 0.7152 * g! + 0.0722 * bl!;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi! + 0.05) / (lo! + 0.05);
}

describe('EAQI bands', () => {
  const edges = EAQI_POLLUTANTS.flatMap((pollutant) => EAQI_UPPER_LIMITS[pollutant].map((limit, i) => ({ pollutant, limit, level: (i + 1) as EaqiLevel })));

  it.each(edges)('puts $pollutant exactly at its upper limit $limit µg/m³ in band $level', ({ pollutant, limit, level }) => {
    expect(eaqiLevelOf(pollutant, limit)).toBe(level);
  });

  it.each(edges.filter((e) => e.level < 6))('puts $pollutant just above $limit µg/m³ in the next band', ({ pollutant, limit, level }) => {
    expect(eaqiLevelOf(pollutant, limit + 0.01)).toBe(level + 1);
  });

  it('uses the EEA limits given for PM2.5, PM10, NO2, O3 and SO2', () => {
    expect(EAQI_UPPER_LIMITS).toEqual({
      pm25: [10, 20, 25, 50, 75, 800],
      pm10: [20, 40, 50, 100, 150, 1200],
      no2: [40, 90, 120, 230, 340, 1000],
      o3: [50, 100, 130, 240, 380, 800],
      so2: [100, 200, 350, 500, 750, 1250],
    });
  });

  it('rates zero as good and anything above the top limit as extremely poor', () => {
    expect(eaqiLevelOf('pm25', 0)).toBe(1);
    expect(eaqiLevelOf('pm25', 1999)).toBe(6);
  });

  it.each([undefined, null, -1, Number.NaN, Number.POSITIVE_INFINITY, true])('has no level for %s', (value) => {
    expect(eaqiLevelOf('no2', value as number)).toBeUndefined();
  });

  it('takes the worst pollutant as the index and names it', () => {
    const result = eaqiOf({ pm25: 8, no2: 95, o3: 120, temperature: 30 });
    expect(result?.level).toBe(3);
    expect(result?.dominant).toBe('no2');
    expect(result?.byPollutant).toEqual({ pm25: 1, no2: 3, o3: 3 });
  });

  it('has no index for a reading without EAQI pollutants', () => {
    expect(eaqiOf({ temperature: 20, noise: 60 })).toBeUndefined();
  });

  it('uses the six EEA colours, good to extremely poor', () => {
    expect(EAQI_BANDS.map((b) => b.colour)).toEqual(['#50F0E6', '#50CCAA', '#F0E641', '#FF5050', '#960032', '#7D2181']);
    expect(EAQI_BANDS.map((b) => b.label)).toEqual(['Good', 'Fair', 'Moderate', 'Poor', 'Very poor', 'Extremely poor']);
  });

  it.each(EAQI_BANDS)('writes readable text on the $label colour (WCAG AA)', (band) => {
    expect(contrast(band.colour, band.ink)).toBeGreaterThanOrEqual(4.5);
  });

  it('finds the worst of several levels', () => {
    expect(worstLevel([2, undefined, 4, 1])).toBe(4);
    expect(worstLevel([])).toBeUndefined();
  });
});
