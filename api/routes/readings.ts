import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  ErrorResponseSchema,
  LatestQuerySchema,
  LatestResponseSchema,
  READING_KINDS,
  ReadingsQuerySchema,
  ReadingsResponseSchema,
  RejectionsQuerySchema,
  RejectionsResponseSchema,
} from '../../contracts/index.ts';
import type { ReadingStore } from '../store.ts';
import { parseTimeBound, parseTimeRange } from '../time-range.ts';

export interface ReadingRoutesOptions {
  store: ReadingStore;
  now: () => number;
  /** How far back `latest` looks for a device's last reading. */
  latestWindowMs: number;
}

const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 502: ErrorResponseSchema, 503: ErrorResponseSchema };

export const readingRoutes: FastifyPluginAsyncZod<ReadingRoutesOptions> = async (app, { store, now, latestWindowMs }) => {
  app.get('/readings', {
    schema: {
      summary: 'Raw readings, newest first',
      tags: ['readings'],
      querystring: ReadingsQuerySchema,
      response: { 200: ReadingsResponseSchema, ...errors },
    },
  }, async (request) => {
    const q = request.query;
    const { fromMs, toMs } = parseTimeRange(q, now(), 3_600_000);
    const devices = q.device === undefined ? undefined : Array.isArray(q.device) ? q.device : [q.device];
    const readings = await store.readings({ ...(q.kind ? { kinds: [q.kind] } : {}), ...(devices ? { devices } : {}), fromMs, toMs, limit: q.limit });
    return { readings, count: readings.length, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
  });

  app.get('/latest', {
    schema: {
      summary: 'The latest reading of every device, with its age',
      tags: ['readings'],
      querystring: LatestQuerySchema,
      response: { 200: LatestResponseSchema, ...errors },
    },
  }, async (request) => {
    const nowMs = now();
    const kinds = request.query.kind ? [request.query.kind] : [...READING_KINDS];
    const readings = await store.latest(kinds, nowMs, latestWindowMs);
    return { readings: readings.map((r) => ({ ...r, ageSeconds: Math.max(0, Math.round((nowMs - Date.parse(r.ts)) / 1000)) })) };
  });

  app.get('/rejections', {
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
    const rejections = await store.rejections({ device: q.device, kind: q.kind, fromMs, limit: q.limit });
    return { rejections };
  });
};
