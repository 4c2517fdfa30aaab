/**
 * HTTP hardening in one place: security headers (@fastify/helmet), a CORS allow-list
 * (@fastify/cors; no origins = same-origin only), and a request rate limit
 * (@fastify/rate-limit) answering 429 with Retry-After in the API's error shape. The body
 * limit is fastify's own `bodyLimit` (app.ts): a bigger body is refused with 413 before
 * it is read whole.
 *
 * The rate limit counts per API key when the request carries a valid one, else per client
 * address: a key holder is not throttled by strangers behind the same address, and
 * guessing tokens burns the guesser's address budget. Health and metrics are exempt so
 * monitoring keeps working while a client is throttled.
 */
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import type { Authenticator } from './auth.ts';

export interface SecurityOptions {
  /** Origins allowed to call the API from a browser (CORS_ORIGINS); empty = none. */
  corsOrigins?: readonly string[];
  /** Requests per client per window; false = no limit. Default 1,200 per minute. */
  rateLimit?: { max: number; timeWindowMs: number } | false;
  authenticator?: Authenticator;
  /** More image sources for the Content-Security-Policy (a plain-http tile server's origin). */
  imageSources?: readonly string[];
}

const UNLIMITED_PREFIXES = ['/healthz', '/readyz', '/metrics'];

/** Registers the plugins on the root instance (they are global, not encapsulated). */
export async function registerSecurity(app: FastifyInstance, options: SecurityOptions = {}): Promise<void> {
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: true,
      directives: {
        // Map tiles and data-URI icons; scripts, styles and connections stay same-origin.
        'img-src': ["'self'", 'data:', 'blob:', 'https:', ...(options.imageSources ?? [])],
        'connect-src': ["'self'", 'ws:', 'wss:'],
        'upgrade-insecure-requests': null,
      },
    },
    // The lab runs on plain http on loopback: HSTS would pin browsers to https there.
    strictTransportSecurity: false,
  });

  const origins = options.corsOrigins ?? [];
  await app.register(cors, {
    origin: origins.length > 0 ? [...origins] : false,
    methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type'],
    // The open data's licence headers too (api/plugins/open-data.ts): a browser app on an allowed origin must see them.
    exposedHeaders: ['retry-after', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'link', 'x-data-attribution'],
    maxAge: 600,
  });

  const limit = options.rateLimit ?? { max: 1_200, timeWindowMs: 60_000 };
  if (limit !== false) {
    await app.register(rateLimit, {
      global: true,
      max: limit.max,
      timeWindow: limit.timeWindowMs,
      allowList: (request) => UNLIMITED_PREFIXES.some((prefix) => request.url === prefix || request.url.startsWith(`${prefix}?`)),
      keyGenerator: (request) => {
        const principal = options.authenticator?.fromRequest(request);
        return principal ? `key:${principal.id}` : `ip:${request.ip}`;
      },
      errorResponseBuilder: (_request, context) =>
        Object.assign(new Error(`rate limit exceeded: at most ${context.max} requests per ${context.after}; retry in ${Math.ceil(context.ttl / 1000)} s`), {
          statusCode: 429,
          code: 'RATE_LIMITED',
        }),
    });
  }
}
