/**
 * Bin collection analytics (the question a waste operator asks: are we emptying bins that are
 * nearly empty?): emptyings found in the fill series, the fleet's forecast of when each bin
 * reaches its target, and KPIs per site or owner. Served at /api/v1/waste/*.
 */
import { z } from 'zod';
import { DeviceIdSchema } from './readings.ts';
import { TagValueSchema, TimeBoundSchema, listParam } from './api.ts';

const FilterShape = {
  device: listParam(2_000).optional().describe('one or several bin ids (default: every bin, or those of site/owner)').meta({ example: 'waste-nbv-03' }),
  site: TagValueSchema.optional().describe('only the bins of this site'),
  owner: TagValueSchema.optional().describe('only the bins of this owner'),
};

export const WasteCollectionsQuerySchema = z.strictObject({
  ...FilterShape,
  from: TimeBoundSchema.optional().describe('default -7d').meta({ example: '-7d' }),
  to: TimeBoundSchema.optional().describe('default now'),
  format: z.enum(['json', 'csv']).optional().describe('json (default) or csv'),
});

export const WasteCollectionSchema = z.object({
  deviceId: DeviceIdSchema,
  site: z.string().optional(),
  owner: z.string().optional(),
  at: z.iso.datetime().describe('when the fill dropped'),
  fillBefore: z.number().describe('%: how full the bin was when emptied'),
  fillAfter: z.number().describe('%: the level right after'),
});
export type WasteCollection = z.infer<typeof WasteCollectionSchema>;

export const WasteCollectionsResponseSchema = z.object({ collections: z.array(WasteCollectionSchema) });

export const WasteForecastQuerySchema = z.strictObject({
  ...FilterShape,
  target: z.coerce.number().min(1).max(100).optional().describe('% the forecast is for (default 80)'),
  history: TimeBoundSchema.optional().describe('how far back the fill rate looks (default -14d)'),
  format: z.enum(['json', 'csv']).optional(),
});

export const BinForecastSchema = z.object({
  deviceId: DeviceIdSchema,
  site: z.string().optional(),
  owner: z.string().optional(),
  fill: z.number().optional().describe('% latest level'),
  fillRatePerDay: z.number().optional().describe('%/day since the last emptying'),
  fullAt: z.iso.datetime().optional().describe('when it reaches the target at that rate (now when it is there already); absent when it does not fill'),
});

export const WasteForecastResponseSchema = z.object({
  target: z.number(),
  /** Bins ordered by fullAt, soonest first; bins that do not fill last. */
  bins: z.array(BinForecastSchema),
  today: z.array(DeviceIdSchema).describe('bins that reach the target before the end of today (UTC)'),
  tomorrow: z.array(DeviceIdSchema).describe('bins that reach it tomorrow (UTC)'),
});

export const WasteKpiQuerySchema = z.strictObject({
  ...FilterShape,
  from: TimeBoundSchema.optional().describe('default -30d'),
  to: TimeBoundSchema.optional().describe('default now'),
  by: z.enum(['site', 'owner']).optional().describe('group the KPIs (default: site)'),
  format: z.enum(['json', 'csv']).optional(),
});

export const WasteKpiSchema = z.object({
  group: z.string().describe('the site or owner ("unknown" when not registered)'),
  bins: z.number().int(),
  emptyings: z.number().int(),
  lowFillShare: z.number().optional().describe('share of emptyings done below 25 % fill'),
  medianFillAtEmptying: z.number().optional().describe('%'),
  overflowHours: z.number().describe('hours spent at 100 %'),
});

export const WasteKpiResponseSchema = z.object({ by: z.enum(['site', 'owner']), groups: z.array(WasteKpiSchema), total: WasteKpiSchema });
