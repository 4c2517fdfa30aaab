/**
 * Bin collection analytics (api/waste/collections.ts) over the stored fill series:
 * GET /waste/collections (each emptying, with how full the bin was), /waste/forecast (when each
 * bin reaches its target, and the lists for today and tomorrow), /waste/kpi (emptyings, the
 * share done nearly empty, median fill at emptying, hours overflowing, per site or owner).
 * JSON, or CSV with `format=csv`. Open data: anonymous callers get no owners (no field, no
 * CSV column) and may neither filter nor group by owner (400).
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  ErrorResponseSchema,
  WasteCollectionsQuerySchema,
  WasteCollectionsResponseSchema,
  WasteForecastQuerySchema,
  WasteForecastResponseSchema,
  WasteKpiQuerySchema,
  WasteKpiResponseSchema,
  withLicence,
} from '../../contracts/index.ts';
import { isOpenDataView, refuseOwnerParameter } from '../open-data.ts';
import { csvCell, csvLine } from '../query/output.ts';
import { DAY_MS } from '../query/limits.ts';
import { parseDevices, type TagFilter } from '../query/params.ts';
import type { WasteQueries } from '../store.ts';
import { wasteWithin } from '../labs/scoped-store.ts';
import { parseTimeBound, parseTimeRange } from '../time-range.ts';
import { collectionKpi, detectEmptyings, forecastBin } from '../waste/collections.ts';

export interface WasteRoutesOptions {
  store: WasteQueries;
  now: () => number;
  /** Most fill readings one request may analyse (default 2,000,000). */
  maxRows?: number;
}

const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 502: ErrorResponseSchema, 503: ErrorResponseSchema };
const UNKNOWN = 'unknown';
const open = { access: 'open' as const };

function csv(header: string[], rows: unknown[][]): string {
  return [csvLine(header.map((h) => csvCell(h))), ...rows.map((r) => csvLine(r.map((c) => csvCell(c, typeof c === 'string'))))].join('');
}

export const wasteRoutes: FastifyPluginAsyncZod<WasteRoutesOptions> = async (app, options) => {
  const maxRows = options.maxRows ?? 2_000_000;
  const filterOf = (q: { device?: string | string[] | undefined; site?: string | undefined; owner?: string | undefined }): TagFilter => ({ devices: parseDevices(q.device), site: q.site, owner: q.owner });
  /** The owner columns this caller may see: none in the open-data view. */
  const ownerColumn = (request: FastifyRequest, owner: string | undefined): boolean => {
    refuseOwnerParameter(request, 'owner', owner !== undefined);
    return !isOpenDataView(request);
  };

  app.get('/waste/collections', {
    config: open,
    schema: {
      summary: 'Bin emptyings found in the fill series, with how full each bin was',
      description: 'An emptying is a drop of at least 15 points that the next readings confirm; readings taken with the lid open are left out, and a lone low reading the next ones contradict is not an emptying.',
      tags: ['waste'],
      querystring: WasteCollectionsQuerySchema,
      response: {
        200: {
          description: 'JSON (default), or CSV with format=csv',
          content: { 'application/json': { schema: withLicence(WasteCollectionsResponseSchema) }, 'text/csv': { schema: z.string().describe('header row: at,device,site,owner,fill_before,fill_after (no owner column for anonymous callers)') } },
        },
        ...errors,
      },
    },
  }, async (request, reply) => {
    const q = request.query;
    const withOwner = ownerColumn(request, q.owner);
    const { fromMs, toMs } = parseTimeRange(q, options.now(), 7 * DAY_MS);
    const bins = await wasteWithin(options.store, request.scope).binSeries(filterOf(q), { fromMs, toMs }, maxRows);
    const collections = bins.flatMap((bin) =>
      detectEmptyings(bin.readings).map((e) => ({
        deviceId: bin.deviceId,
        ...(bin.site ? { site: bin.site } : {}),
        ...(withOwner && bin.owner ? { owner: bin.owner } : {}),
        at: new Date(e.atMs).toISOString(),
        fillBefore: e.fillBefore,
        fillAfter: e.fillAfter,
      })),
    );
    collections.sort((a, b) => a.at.localeCompare(b.at) || a.deviceId.localeCompare(b.deviceId));
    if (q.format === 'csv') {
      return reply
        .type('text/csv; charset=utf-8')
        .send(
          withOwner
            ? csv(['at', 'device', 'site', 'owner', 'fill_before', 'fill_after'], collections.map((c) => [c.at, c.deviceId, c.site, c.owner, c.fillBefore, c.fillAfter]))
            : csv(['at', 'device', 'site', 'fill_before', 'fill_after'], collections.map((c) => [c.at, c.deviceId, c.site, c.fillBefore, c.fillAfter])),
        );
    }
    return { collections };
  });

  app.get('/waste/forecast', {
    config: open,
    schema: {
      summary: 'When each bin reaches its target fill, and the bins to empty today and tomorrow',
      description: 'The fill rate is a least-squares slope over the trusted readings since the last emptying (within `history`, default 14 days).',
      tags: ['waste'],
      querystring: WasteForecastQuerySchema,
      response: {
        200: {
          description: 'JSON (default), or CSV with format=csv',
          content: { 'application/json': { schema: withLicence(WasteForecastResponseSchema) }, 'text/csv': { schema: z.string().describe('header row: device,site,owner,fill,fill_rate_per_day,full_at (no owner column for anonymous callers)') } },
        },
        ...errors,
      },
    },
  }, async (request, reply) => {
    const q = request.query;
    const withOwner = ownerColumn(request, q.owner);
    const nowMs = options.now();
    const target = q.target ?? 80;
    const fromMs = q.history === undefined ? nowMs - 14 * DAY_MS : parseTimeBound(q.history, 'history', nowMs);
    const bins = await wasteWithin(options.store, request.scope).binSeries(filterOf(q), { fromMs, toMs: nowMs + 1 }, maxRows);
    const forecasts = bins.map((bin) => {
      const f = forecastBin(bin.readings, nowMs, { targetPercent: target });
      return {
        deviceId: bin.deviceId,
        ...(bin.site ? { site: bin.site } : {}),
        ...(withOwner && bin.owner ? { owner: bin.owner } : {}),
        ...(f.fill === undefined ? {} : { fill: f.fill }),
        ...(f.fillRatePerDay === undefined ? {} : { fillRatePerDay: f.fillRatePerDay }),
        ...(f.fullAtMs === undefined ? {} : { fullAt: new Date(Math.max(nowMs, f.fullAtMs)).toISOString(), fullAtMs: Math.max(nowMs, f.fullAtMs) }),
      };
    });
    forecasts.sort((a, b) => (a.fullAtMs ?? Infinity) - (b.fullAtMs ?? Infinity) || a.deviceId.localeCompare(b.deviceId));
    const endOfToday = Math.floor(nowMs / DAY_MS) * DAY_MS + DAY_MS;
    const today = forecasts.filter((f) => f.fullAtMs !== undefined && f.fullAtMs < endOfToday).map((f) => f.deviceId);
    const tomorrow = forecasts.filter((f) => f.fullAtMs !== undefined && f.fullAtMs >= endOfToday && f.fullAtMs < endOfToday + DAY_MS).map((f) => f.deviceId);
    const out = forecasts.map(({ fullAtMs: _ms, ...rest }) => rest);
    if (q.format === 'csv') {
      return reply
        .type('text/csv; charset=utf-8')
        .send(
          withOwner
            ? csv(['device', 'site', 'owner', 'fill', 'fill_rate_per_day', 'full_at'], out.map((f) => [f.deviceId, f.site, f.owner, f.fill, f.fillRatePerDay, f.fullAt]))
            : csv(['device', 'site', 'fill', 'fill_rate_per_day', 'full_at'], out.map((f) => [f.deviceId, f.site, f.fill, f.fillRatePerDay, f.fullAt])),
        );
    }
    return { target, bins: out, today, tomorrow };
  });

  app.get('/waste/kpi', {
    config: open,
    schema: {
      summary: 'Collection KPIs per site or owner: emptyings, share done below 25 % fill, median fill at emptying, hours overflowing',
      tags: ['waste'],
      querystring: WasteKpiQuerySchema,
      response: {
        200: {
          description: 'JSON (default), or CSV with format=csv',
          content: { 'application/json': { schema: withLicence(WasteKpiResponseSchema) }, 'text/csv': { schema: z.string().describe('header row: <site|owner>,bins,emptyings,low_fill_share,median_fill_at_emptying,overflow_hours; the last row is all bins (by=owner needs a key)') } },
        },
        ...errors,
      },
    },
  }, async (request, reply) => {
    const q = request.query;
    ownerColumn(request, q.owner);
    refuseOwnerParameter(request, 'by=owner', q.by === 'owner', 'group by=site');
    const by = q.by ?? 'site';
    const { fromMs, toMs } = parseTimeRange(q, options.now(), 30 * DAY_MS);
    // The series start a little earlier: an emptying right after `from` needs the level before it.
    const bins = await wasteWithin(options.store, request.scope).binSeries(filterOf(q), { fromMs: fromMs - DAY_MS, toMs }, maxRows);
    const summarise = (group: string, members: typeof bins) => {
      const perBin = members.map((bin) => collectionKpi(bin.readings, fromMs, toMs));
      const fills = members.flatMap((bin) => detectEmptyings(bin.readings).filter((e) => e.atMs >= fromMs && e.atMs < toMs).map((e) => e.fillBefore));
      const emptyings = perBin.reduce((sum, k) => sum + k.emptyings, 0);
      const low = fills.filter((f) => f < 25).length;
      const sorted = [...fills].sort((a, b) => a - b);
      const median = sorted.length === 0 ? undefined : sorted.length % 2 ? sorted[(sorted.length - 1) / 2]! : (sorted[sorted.length / 2 - 1]! + sorted[sorted.length / 2]!) / 2;
      return {
        group,
        bins: members.length,
        emptyings,
        ...(emptyings === 0 ? {} : { lowFillShare: low / emptyings }),
        ...(median === undefined ? {} : { medianFillAtEmptying: median }),
        overflowHours: perBin.reduce((sum, k) => sum + k.overflowHours, 0),
      };
    };
    const groups = new Map<string, typeof bins>();
    for (const bin of bins) {
      const key = (by === 'site' ? bin.site : bin.owner) ?? UNKNOWN;
      groups.set(key, [...(groups.get(key) ?? []), bin]);
    }
    const rows = [...groups.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([key, members]) => summarise(key, members));
    const total = summarise('all', bins);
    if (q.format === 'csv') {
      return reply
        .type('text/csv; charset=utf-8')
        .send(csv([by, 'bins', 'emptyings', 'low_fill_share', 'median_fill_at_emptying', 'overflow_hours'], [...rows, total].map((r) => [r.group, r.bins, r.emptyings, r.lowFillShare, r.medianFillAtEmptying, r.overflowHours])));
    }
    return { by, groups: rows, total };
  });
};
