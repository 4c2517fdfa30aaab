/**
 * The licence on open data. Every successful answer of an `open` route (api/plugins/auth.ts)
 * carries the licence in HTTP headers — `Link: <url>; rel="license"` and `X-Data-Attribution`
 * — whoever asks, so JSON, CSV and NDJSON alike keep it (a comment row would break CSV
 * parsers). A JSON object answered to an anonymous caller (the open-data view) also carries
 * it in the body as `licence`, which the routes' response schemas allow (withLicence,
 * contracts/open-data.ts). `GET /api/v1/licence` describes the licence and the view.
 *
 * Hooks on the root instance, added before the routes: they see every route, and a route
 * decides nothing but its access level.
 */
import type { FastifyInstance } from 'fastify';
import { ErrorResponseSchema, LicenceResponseSchema, type Licence } from '../../contracts/index.ts';
import { attributionHeader, isOpenDataView } from '../open-data.ts';
import { accessOf } from './auth.ts';

export interface OpenDataOptions {
  licence: Licence;
  /** PUBLIC_READ: whether anonymous callers get the open-data view at all. */
  publicRead: boolean;
}

export const OPEN_DATA_PUBLISHED = [
  'readings, raw and aggregated windows, as JSON, CSV and NDJSON (GET /api/v1/readings), without device owners',
  'the latest values (GET /api/v1/latest)',
  'the European Air Quality Index and WHO exceedances (GET /api/v1/aqi, /api/v1/aqi/who)',
  'bin collections, forecasts and KPIs by site (GET /api/v1/waste/*), without device owners',
  'devices: id, kind, name, location, site, lab, reporting interval and whether enabled (GET /api/v1/devices)',
  'the live feed of readings (socket.io)',
];

export const OPEN_DATA_WITHHELD = [
  'device owners (fields, CSV columns, owner filters and by=owner groupings)',
  'device metadata, registry times and source identifiers',
  'rejected messages and their payload excerpts (GET /api/v1/rejections, the live rejection events)',
  'alerts and alert rules',
  'jobs, trials and their reports, API keys',
];

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype;
}

export function registerOpenData(app: FastifyInstance, options: OpenDataOptions): void {
  const { licence } = options;
  const link = `<${licence.url}>; rel="license"`;
  const attribution = attributionHeader(licence.attribution);

  // Called for object payloads only (fastify skips strings, buffers and streams).
  app.addHook('preSerialization', async (request, reply, payload) => {
    if (reply.statusCode >= 400 || accessOf(request) !== 'open' || !isOpenDataView(request) || !isPlainObject(payload)) return payload;
    return { ...payload, licence };
  });
  app.addHook('onSend', async (request, reply, payload) => {
    if (reply.statusCode < 400 && accessOf(request) === 'open') {
      reply.header('link', link);
      reply.header('x-data-attribution', attribution);
    }
    return payload;
  });

  app.get('/api/v1/licence', {
    config: { access: 'public' },
    schema: {
      summary: 'The licence of the open data, its attribution, and what anonymous callers may read',
      tags: ['open data'],
      response: { 200: LicenceResponseSchema, 401: ErrorResponseSchema },
    },
  }, async (_request, reply) => {
    reply.header('link', link).header('x-data-attribution', attribution);
    return { licence, published: OPEN_DATA_PUBLISHED, withheld: OPEN_DATA_WITHHELD, publicRead: options.publicRead };
  });
}
