import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { AqiQuerySchema, AqiResponseSchema, ErrorResponseSchema, WhoQuerySchema, WhoResponseSchema, withLicence } from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import { DEFAULT_QUERY_LIMITS, DAY_MS, type QueryLimits } from '../query/limits.ts';
import { parseDevices } from '../query/params.ts';
import type { ReadingQueries } from '../store.ts';
import { readingsWithin } from '../labs/scoped-store.ts';
import { parseTimeBound, parseTimeRange } from '../time-range.ts';

export interface AqiRoutesOptions {
  store: ReadingQueries;
  now: () => number;
  limits?: QueryLimits | undefined;
}

const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 502: ErrorResponseSchema, 503: ErrorResponseSchema };
/** Indices are open data: they name devices and sites, never owners. */
const open = { access: 'open' as const };

export const aqiRoutes: FastifyPluginAsyncZod<AqiRoutesOptions> = async (app, options) => {
  const limits = options.limits ?? DEFAULT_QUERY_LIMITS;
  const { store } = options;

  app.get('/aqi', {
    config: open,
    schema: {
      summary: 'European Air Quality Index (EEA, six bands) of a device or a site',
      description:
        'PM2.5 and PM10 on the 24-hour running mean of hourly means (at least 18 of the 24 hours with data), NO2, O3 and SO2 on the latest hourly mean; the index is the worst band and its pollutant is dominant. Hours are the complete UTC hours before `at`. Without the pollutants the EEA requires (traffic station: NO2 and PM2.5 or PM10) the answer is status `insufficient_data`, never a guess. Band limits: contracts/aqi.ts, version in `tableVersion`.',
      tags: ['air quality'],
      querystring: AqiQuerySchema,
      response: { 200: withLicence(AqiResponseSchema), ...errors },
    },
  }, async (request) => {
    const q = request.query;
    if ((q.device === undefined) === (q.site === undefined)) {
      throw new AppError('BAD_REQUEST', 'device, site: give exactly one of device or site');
    }
    const nowMs = options.now();
    const atMs = q.at === undefined ? nowMs : parseTimeBound(q.at, 'at', nowMs);
    return readingsWithin(store, request.scope).aqi({ device: q.device, site: q.site, atMs, station: q.station ?? 'traffic' }, nowMs, limits);
  });

  app.get('/aqi/who', {
    config: open,
    schema: {
      summary: 'WHO 2021 guideline exceedance days per device',
      description:
        'Days (UTC) whose value exceeds the WHO 2021 short-term guideline: PM2.5 24-hour mean 15, PM10 24-hour mean 45, NO2 24-hour mean 25, O3 maximum daily 8-hour mean 100 µg/m³. A day counts when 18 of its 24 hours have data (O3: 18 valid 8-hour means, each with 6 of 8 hours). At most 366 days per request.',
      tags: ['air quality'],
      querystring: WhoQuerySchema,
      response: { 200: withLicence(WhoResponseSchema), ...errors },
    },
  }, async (request) => {
    const q = request.query;
    const nowMs = options.now();
    const { fromMs, toMs } = parseTimeRange(q, nowMs, 30 * DAY_MS);
    const devices = parseDevices(q.device);
    return readingsWithin(store, request.scope).who({ filter: { devices, site: q.site }, fromMs, toMs }, nowMs, limits);
  });
};
