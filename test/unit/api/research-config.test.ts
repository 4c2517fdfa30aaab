import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseConfig } from '../../../common/config.ts';
import type { InfluxClient } from '../../../common/influx.ts';
import { ResearchConfigShape, createResearch, researchOptionsFromConfig } from '../../../api/jobs/research.ts';

const Schema = z.object(ResearchConfigShape);
const influx = { settings: { url: 'http://127.0.0.1:1', database: 'x' }, query: async () => [], write: async () => undefined } as unknown as InfluxClient;

describe('research settings', () => {
  it('default to rollups every 5 minutes, 30 days of raw readings, 5 years of rollups, 31-day raw queries', async () => {
    const research = createResearch(influx, researchOptionsFromConfig(parseConfig(Schema, {})));
    expect(research.job?.schedule).toBe('*/5 * * * *');
    expect(research.limits).toMatchObject({ rollupsEnabled: true, rawRetentionMs: 30 * 86_400_000, rawMaxRangeMs: 31 * 86_400_000, jsonMaxPoints: 10_000, exportMaxPoints: 5_000_000, rollupFreshnessNote: '5 minutes' });
    expect(await research.lookupInterval('anyone')).toBe(60);
    await research.close();
  });

  it('turn rollups off, and the queries with them', () => {
    const research = createResearch(influx, researchOptionsFromConfig(parseConfig(Schema, { ROLLUPS_ENABLED: 'false', RAW_RETENTION_DAYS: '0', DEVICE_DEFAULT_INTERVAL_S: '300' })));
    expect(research.job).toBeUndefined();
    expect(research.limits).toMatchObject({ rollupsEnabled: false, rawRetentionMs: 0 });
    expect(research.lookupInterval('x')).toBe(300);
  });

  it.each([
    ['ROLLUP_SCHEDULE', 'every five minutes'],
    ['RAW_RETENTION_DAYS', '-1'],
    ['QUERY_RAW_MAX_DAYS', '0'],
    ['ROLLUPS_ENABLED', 'maybe'],
  ])('refuses a bad %s naming it', (name, value) => {
    expect(() => parseConfig(Schema, { [name]: value })).toThrow(new RegExp(name));
  });
});
