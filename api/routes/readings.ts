import { Readable } from 'node:stream';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  ErrorResponseSchema,
  LatestQuerySchema,
  LatestResponseSchema,
  readingKinds,
  ReadingsQuerySchema,
  ReadingsResponseSchema,
  RejectionsQuerySchema,
  RejectionsResponseSchema,
  withLicence,
  type Licence,
} from '../../contracts/index.ts';
import { isOpenDataView, refuseOwnerParameter } from '../open-data.ts';
import { DEFAULT_QUERY_LIMITS, type QueryLimits } from '../query/limits.ts';
import { checkKnownKind, planReadings } from '../query/params.ts';
import type { LookupInterval } from '../query/readings.ts';
import type { ReadingQueries } from '../store.ts';
import { readingsWithin } from '../labs/scoped-store.ts';
import { parseTimeBound } from '../time-range.ts';

export interface ReadingRoutesOptions {
  store: ReadingQueries;
  now: () => number;
  /** How far back `latest` looks for a device's last reading. */
  latestWindowMs: number;
  limits?: QueryLimits | undefined;
  /** A device's declared interval in seconds, for window completeness (default 60 s). */
  lookupInterval?: LookupInterval | undefined;
  /** The data's licence: a Parquet file's footer carries it (key `streetlab.licence`), as HTTP headers cannot once saved. */
  licence?: Licence | undefined;
}

const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 502: ErrorResponseSchema, 503: ErrorResponseSchema };

const READINGS_DESCRIPTION = `Raw readings or aggregated windows of one kind, filtered by device, site, owner and metric.

- **Raw** (no \`every\`): newest first by default; at most 31 days per request (see meta and the 400 message for how to narrow).
- **Windows** (\`every=5m|1h|1d…\`): one point per device and window with the aggregate \`agg\`, the number of raw readings per metric (\`counts\`) and the completeness against the device's declared interval. Windows are aligned to UTC; \`from\`/\`to\` are widened to whole windows. With \`every\` ≥ 1h over long ranges the hourly or daily rollups answer (\`meta.source\`).
- **Formats**: \`json\` pages with \`limit\` and \`meta.nextCursor\`; \`csv\`, \`ndjson\` and \`parquet\` stream as downloads (\`Content-Disposition\`), and when \`limit\` cuts an export short the HTTP trailer \`X-Next-Cursor\` carries the cursor of the rest (Parquet: also the footer key \`streetlab.meta\`; the licence is in the footer key \`streetlab.licence\`).

- **Open data**: anonymous callers (PUBLIC_READ) get no \`owner\` (field, CSV column or NDJSON key) and may not filter by \`owner\` (400); every answer carries the licence (\`Link\` header, \`X-Data-Attribution\`, and \`licence\` in JSON).

Units are those of the contract (\`meta.units\`). Example: a year of hourly PM2.5 means of one site as CSV:
\`/api/v1/readings?kind=air&site=hcab&metric=pm25&every=1h&from=2025-05-01T00:00:00Z&to=2026-05-01T00:00:00Z&format=csv\``;

/** Readings, latest values and windows are open data (owners withheld); rejections are not: their excerpts are a company's payloads. */
const open = { access: 'open' as const };
const read = { access: 'read' as const };

export const readingRoutes: FastifyPluginAsyncZod<ReadingRoutesOptions> = async (app, options) => {
  const { store, now, latestWindowMs } = options;
  const limits = options.limits ?? DEFAULT_QUERY_LIMITS;

  app.get('/readings', {
    config: open,
    schema: {
      summary: 'Readings and aggregated windows: JSON pages, CSV, NDJSON and Parquet exports',
      description: READINGS_DESCRIPTION,
      tags: ['readings'],
      querystring: ReadingsQuerySchema,
      response: {
        200: {
          description: 'JSON page (format=json), or a streamed CSV / NDJSON / Parquet download',
          content: {
            'application/json': { schema: withLicence(ReadingsResponseSchema) },
            'text/csv': { schema: z.string().describe('header row: time,device,site,owner,<metrics> (raw; no owner column for anonymous callers) or time,device,<metrics>,<metric>_count…,completeness (windows); ISO 8601 UTC times') },
            'application/x-ndjson': { schema: z.string().describe('one reading or window per line, shaped like the JSON readings items') },
            'application/vnd.apache.parquet': {
              schema: z.string().describe('Parquet file: time TIMESTAMP(MILLIS, UTC), device, site, owner strings, one DOUBLE or BOOLEAN column per metric (raw); windows add <metric>_count INT32 and completeness; footer key streetlab.meta holds meta and nextCursor, streetlab.licence the licence and attribution'),
            },
          },
        },
        ...errors,
      },
    },
  }, async (request, reply) => {
    refuseOwnerParameter(request, 'owner', request.query.owner !== undefined);
    const planned = planReadings(request.query, now(), limits);
    const plan = planned.mode === 'raw' && isOpenDataView(request) ? { ...planned, withholdOwner: true } : planned;
    const answer = await readingsWithin(store, request.scope).readings(plan, { limits, lookupInterval: options.lookupInterval, licence: options.licence });
    if (answer.type === 'json') return answer.body;
    // Wait for InfluxDB's first answer before committing to 200: an error now is still a proper status.
    const iterator = answer.body[Symbol.asyncIterator]();
    const first = await iterator.next();
    async function* rest(): AsyncGenerator<string | Uint8Array> {
      try {
        if (!first.done) yield first.value;
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) yield next.value;
      } finally {
        // The client went away: stop reading InfluxDB.
        await iterator.return?.(undefined);
      }
    }
    reply
      .type(answer.contentType)
      .header('content-disposition', `attachment; filename="${answer.filename}"`)
      .header('x-readings-source', answer.meta.source)
      .trailer('x-next-cursor', async () => answer.nextCursor() ?? '');
    // The type provider types send() by the JSON schema; a stream bypasses serialisation.
    return reply.send(Readable.from(rest(), { objectMode: false, highWaterMark: 64 * 1024 }) as never);
  });

  app.get('/latest', {
    config: open,
    schema: {
      summary: 'The latest reading of every device, with its age (and, on request, every metric with its own age)',
      tags: ['readings'],
      querystring: LatestQuerySchema,
      response: { 200: withLicence(LatestResponseSchema), ...errors },
    },
  }, async (request) => {
    checkKnownKind(request.query.kind);
    const nowMs = now();
    const kinds = request.query.kind ? [request.query.kind] : readingKinds();
    const [readings, perMetric] = await Promise.all([
      readingsWithin(store, request.scope).latest(kinds, nowMs, latestWindowMs),
      request.query.perMetric === 'true' ? readingsWithin(store, request.scope).latestPerMetric(kinds, nowMs, latestWindowMs) : undefined,
    ]);
    const age = (ts: string) => Math.max(0, Math.round((nowMs - Date.parse(ts)) / 1000));
    return {
      readings: readings.map((r) => {
        const metrics = perMetric?.get(`${r.kind}/${r.deviceId}`);
        return {
          ...r,
          ageSeconds: age(r.ts),
          ...(metrics ? { metrics: Object.fromEntries(Object.entries(metrics).map(([m, v]) => [m, { ...v, ageSeconds: age(v.ts) }])) } : {}),
        };
      }),
    };
  });

  app.get('/rejections', {
    config: read,
    schema: {
      summary: 'Recent rejected messages with their reason codes',
      tags: ['rejections'],
      querystring: RejectionsQuerySchema,
      response: { 200: RejectionsResponseSchema, ...errors },
    },
  }, async (request) => {
    const q = request.query;
    const nowMs = now();
    const fromMs = q.from === undefined ? nowMs - 86_400_000 : parseTimeBound(q.from, 'from', nowMs);
    const rejections = await readingsWithin(store, request.scope).rejections({ device: q.device, kind: q.kind, fromMs, limit: q.limit });
    return { rejections };
  });
};
