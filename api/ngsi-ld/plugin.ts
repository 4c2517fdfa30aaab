/**
 * NGSI-LD read API at `/ngsi-ld/v1` (ETSI GS CIM 009 v1.6): the latest state of the street's
 * devices as Smart Data Models entities, and their history through the temporal API. Read-only,
 * over the same store and access rules as /api/v1 (routes are `open` data like the readings;
 * anonymous callers get no `dataProvider`, the owner).
 *
 * An encapsulated plugin, not fastify-plugin: its error handler answers NGSI-LD
 * ProblemDetails for its own routes only. Bodies are serialised here, as strings: the
 * representation (`@context` in the body for `application/ld+json`, a `Link` header for
 * `application/json`) is chosen per request from `Accept`, and nothing else may add keys to
 * an entity.
 */
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError, isAppError } from '../../common/errors.ts';
import type { DeviceRegistry } from '../../common/registry/types.ts';
import {
  NGSI_LD_CONTEXT,
  NGSI_LD_CONTEXT_LINK,
  NGSI_LD_ERRORS,
  NGSI_LD_TYPES,
  NgsiLdEntitiesQuerySchema,
  NgsiLdEntityQuerySchema,
  NgsiLdIdParamsSchema,
  NgsiLdTemporalQuerySchema,
  type NgsiLdProblem,
} from '../../contracts/ngsi-ld.ts';
import { isOpenDataView } from '../open-data.ts';
import { DEFAULT_QUERY_LIMITS, type QueryLimits } from '../query/limits.ts';
import { parseTimeBound } from '../time-range.ts';
import { visibleDevices } from '../visible-devices.ts';
import { keyValues, latestEntities, project, temporalEntity, type Entity, type EntitySources } from './entities.ts';
import { COMMON_ATTRIBUTES, ENTITY_MODELS, modelOfType, parseEntityId, type EntityModel } from './models.ts';
import { attributesInQ, commaList, isNear, matchesQ, parseGeoQuery, parseInteger, parseOptions, parseQ } from './query.ts';

export interface NgsiLdPluginOptions {
  store: EntitySources['store'];
  registry: Pick<DeviceRegistry, 'list'>;
  now: () => number;
  /** How far back the latest state looks (as GET /api/v1/latest). */
  latestWindowMs: number;
  limits?: QueryLimits | undefined;
}

const HOUR_MS = 3_600_000;
const MAX_LIMIT = 1000;
const DEFAULT_LIMIT = 20;
const open = { access: 'open' as const };

const bad = (message: string) => new AppError('BAD_REQUEST', message);

type Representation = 'ld' | 'json' | 'geo';

/**
 * `application/ld+json` or `application/geo+json` when asked for; `application/json` for it,
 * `*\/*`, `application/*` or no Accept; else undefined (406). On equal preference: JSON-LD,
 * then GeoJSON, then JSON.
 */
function negotiate(accept: string | undefined): Representation | undefined {
  if (accept === undefined || accept.trim() === '') return 'json';
  const types = accept.split(',').map((part) => {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)?.[1]).find((v) => v !== undefined);
    return { type: type!.trim(), q: q === undefined ? 1 : Number(q) };
  }).filter((t) => t.q > 0);
  const best = (type: string) => Math.max(0, ...types.filter((t) => t.type === type).map((t) => t.q));
  const ld = best('application/ld+json');
  const geo = best('application/geo+json');
  const json = Math.max(best('application/json'), best('application/*'), best('*/*'));
  const top = Math.max(ld, geo, json);
  if (top === 0) return undefined;
  return ld === top ? 'ld' : geo === top ? 'geo' : 'json';
}

function problemOf(status: number, detail: string): NgsiLdProblem {
  if (status === 400) return { type: NGSI_LD_ERRORS.BadRequestData, title: 'Bad request data', status, detail };
  if (status === 404) return { type: NGSI_LD_ERRORS.ResourceNotFound, title: 'Resource not found', status, detail };
  if (status === 406) return { type: NGSI_LD_ERRORS.NotAcceptable, title: 'Not acceptable', status, detail };
  if (status === 401) return { type: 'about:blank', title: 'Unauthorized', status, detail };
  if (status === 403) return { type: 'about:blank', title: 'Forbidden', status, detail };
  if (status === 429) return { type: 'about:blank', title: 'Too many requests', status, detail };
  if (status < 500) return { type: NGSI_LD_ERRORS.InvalidRequest, title: 'Invalid request', status, detail };
  return { type: NGSI_LD_ERRORS.InternalError, title: 'Internal error', status, detail };
}

const STATUS_BY_CODE: Record<string, number> = { BAD_REQUEST: 400, UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404, STORE_UNAVAILABLE: 503, STORE_QUERY_FAILED: 502, STORE_REJECTED: 502 };

function sendProblem(reply: FastifyReply, status: number, detail: string): FastifyReply {
  return reply.code(status).type('application/json').send(JSON.stringify(problemOf(status, detail)));
}

export const ngsiLdPlugin: FastifyPluginAsync<NgsiLdPluginOptions> = async (app, options) => {
  const limits = options.limits ?? DEFAULT_QUERY_LIMITS;
  const sources: EntitySources = { store: options.store, now: options.now, latestWindowMs: options.latestWindowMs, limits };
  const typed = app.withTypeProvider<ZodTypeProvider>();

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const problems = error.validation.map((v) => {
        const field = v.instancePath.replace(/^\//, '') || (v.params as { issue?: { keys?: string[] } })?.issue?.keys?.join(', ') || 'query';
        return `${field}: ${v.message}`;
      });
      return sendProblem(reply, 400, problems.join('; '));
    }
    const status = isAppError(error) ? (STATUS_BY_CODE[error.code] ?? 500) : (error.statusCode ?? 500);
    if (status >= 500) {
      request.log.error({ err: error }, 'NGSI-LD request failed');
      return sendProblem(reply, status, status === 500 ? 'internal error' : error.message);
    }
    return sendProblem(reply, status, error.message);
  });

  app.setNotFoundHandler((request, reply) => sendProblem(reply, 404, `no NGSI-LD endpoint ${request.method} ${request.url.split('?')[0]}; this read API serves GET /entities, /entities/{id} and /temporal/entities/{id}`));

  // Decided before the handler, so a 406 costs no query.
  const representations = new WeakMap<FastifyRequest, Representation>();
  app.addHook('preHandler', async (request, reply) => {
    const representation = negotiate(request.headers.accept);
    if (!representation) return sendProblem(reply, 406, 'Accept: this API answers application/ld+json, application/geo+json or application/json');
    // History is not a set of places: the temporal API has no GeoJSON representation.
    if (representation === 'geo' && request.routeOptions.url?.startsWith(`${app.prefix}/temporal/`)) {
      return sendProblem(reply, 406, 'Accept: the temporal API answers application/ld+json or application/json');
    }
    representations.set(request, representation);
  });

  // The open-data licence may already be in `Link` (api/plugins/open-data.ts): the context is added to it, not put in its place.
  app.addHook('onSend', async (request, reply, payload) => {
    if (representations.get(request) !== 'ld' && reply.statusCode < 400) {
      const existing = reply.getHeader('link');
      reply.header('link', existing ? `${String(existing)}, ${NGSI_LD_CONTEXT_LINK}` : NGSI_LD_CONTEXT_LINK);
    }
    return payload;
  });

  /**
   * Sends entities in the representation Accept asked for. `full` are the same entities before
   * `attrs` narrowed them: a GeoJSON Feature takes its geometry from `location` whether or not
   * `attrs` kept it among the properties.
   */
  function send(request: FastifyRequest, reply: FastifyReply, body: Entity | Entity[], full?: Entity | Entity[]): FastifyReply {
    const representation = representations.get(request) ?? 'json';
    if (representation === 'geo') {
      const feature = (e: Entity, i: number) => geoJsonFeature(e, (Array.isArray(full) ? full[i] : full) ?? e);
      const geo = Array.isArray(body) ? { type: 'FeatureCollection', features: body.map(feature) } : feature(body, 0);
      return reply.type('application/geo+json').send(JSON.stringify(geo));
    }
    if (representation === 'ld') {
      const withContext = (e: Entity) => ({ ...e, '@context': [...NGSI_LD_CONTEXT] });
      return reply.type('application/ld+json').send(JSON.stringify(Array.isArray(body) ? body.map(withContext) : withContext(body)));
    }
    return reply.type('application/json').send(JSON.stringify(body));
  }

  function attributesOf(models: readonly EntityModel[]): Set<string> {
    return new Set([...COMMON_ATTRIBUTES, ...models.flatMap((m) => m.attributes)]);
  }

  function parseAttrs(value: string | undefined, models: readonly EntityModel[]): string[] | undefined {
    const attrs = commaList(value, 'attrs');
    const known = attributesOf(models);
    for (const name of attrs ?? []) {
      if (!known.has(name)) throw bad(`attrs: "${name.slice(0, 40)}" is not a property of the requested types; use one of ${[...known].sort().join(', ')}`);
    }
    return attrs;
  }

  async function visibleDevice(request: FastifyRequest, deviceId: string, model: EntityModel, id: string) {
    const device = (await visibleDevices(request, options.registry)).find((d) => d.id === deviceId && d.kind === model.kind);
    if (!device) throw new AppError('NOT_FOUND', `no entity "${id}"`);
    return device;
  }

  typed.get('/entities', {
    config: open,
    schema: {
      summary: 'Entities (latest state) by type or id, with q, geo-query and paging',
      description: `Smart Data Models entities, one per device: ${NGSI_LD_TYPES.join(', ')}. \`type\` is required unless \`id\` is given. Answers application/ld+json (with @context), application/json (context in the Link header) or application/geo+json (a FeatureCollection, geometry from location) as Accept asks.`,
      tags: ['ngsi-ld'],
      querystring: NgsiLdEntitiesQuerySchema,
    },
  }, async (request, reply) => {
    const query = request.query;
    const types = commaList(query.type, 'type');
    const ids = commaList(query.id, 'id');
    if (!types && !ids) throw bad(`type: required unless id is given; one or several of ${NGSI_LD_TYPES.join(', ')}`);
    for (const type of types ?? []) {
      if (!modelOfType(type)) throw bad(`type: "${type.slice(0, 60)}" is not served here; use one or several of ${NGSI_LD_TYPES.join(', ')}`);
    }
    const wanted = ids?.map((id) => {
      const parsed = parseEntityId(id);
      if (!parsed) throw bad(`id: "${id.slice(0, 80)}" is not an entity id here; ids are urn:ngsi-ld:<${NGSI_LD_TYPES.join('|')}>:<device id>`);
      return parsed;
    });
    const models = ENTITY_MODELS.filter((m) => (!types || types.includes(m.type)) && (!wanted || wanted.some((w) => w.model === m)));
    const attrs = parseAttrs(query.attrs, models);
    const expression = query.q === undefined ? undefined : parseQ(query.q, attributesOf(models));
    const near = parseGeoQuery(query);
    const limit = parseInteger(query.limit, 'limit', DEFAULT_LIMIT, query.count === 'true' ? 0 : 1, MAX_LIMIT);
    const offset = parseInteger(query.offset, 'offset', 0, 0, 1_000_000_000);
    const representation = parseOptions(query.options);

    const devices = (await visibleDevices(request, options.registry)).filter((d) => {
      if (!models.some((m) => m.kind === d.kind)) return false;
      if (wanted && !wanted.some((w) => w.deviceId === d.id && w.model.kind === d.kind)) return false;
      return !near || isNear({ lon: d.lon, lat: d.lat }, near);
    });
    const wantEmptying = models.some((m) => m.kind === 'waste') && (!attrs || attrs.includes('dateLastEmptying') || attributesInQ(expression).includes('dateLastEmptying'));
    const entities = (await latestEntities(devices, sources, { withholdOwner: isOpenDataView(request), wantEmptying })).filter((e) => matchesQ(e, expression));
    if (query.count === 'true') reply.header('NGSILD-Results-Count', String(entities.length));
    const full = entities.slice(offset, offset + limit);
    const page = full.map((e) => project(e, attrs));
    return send(request, reply, representation === 'keyValues' ? page.map(keyValues) : page, full);
  });

  typed.get('/entities/:id', {
    config: open,
    schema: { summary: 'One entity (latest state)', tags: ['ngsi-ld'], params: NgsiLdIdParamsSchema, querystring: NgsiLdEntityQuerySchema },
  }, async (request, reply) => {
    const { id } = request.params;
    const parsed = entityOf(id);
    const attrs = parseAttrs(request.query.attrs, [parsed.model]);
    const representation = parseOptions(request.query.options);
    const device = await visibleDevice(request, parsed.deviceId, parsed.model, id);
    const wantEmptying = parsed.model.kind === 'waste' && (!attrs || attrs.includes('dateLastEmptying'));
    const [entity] = await latestEntities([device], sources, { withholdOwner: isOpenDataView(request), wantEmptying });
    const shaped = project(entity!, attrs);
    return send(request, reply, representation === 'keyValues' ? keyValues(shaped) : shaped, entity);
  });

  typed.get('/temporal/entities/:id', {
    config: open,
    schema: {
      summary: 'One entity\'s history (temporal representation)',
      description: 'timerel=between&timeAt=…&endTimeAt=… (end exclusive), before or after timeAt; default the last 24 hours. attrs narrows the properties, lastN keeps the newest N instances of each.',
      tags: ['ngsi-ld'],
      params: NgsiLdIdParamsSchema,
      querystring: NgsiLdTemporalQuerySchema,
    },
  }, async (request, reply) => {
    const { id } = request.params;
    const query = request.query;
    const parsed = entityOf(id);
    const attrs = parseAttrs(query.attrs, [parsed.model]);
    const lastN = query.lastN === undefined ? undefined : parseInteger(query.lastN, 'lastN', 1, 1, limits.jsonMaxPoints);
    const representation = parseOptions(query.options);
    const { fromMs, toMs } = temporalRange(query, options.now(), lastN !== undefined, limits);
    const device = await visibleDevice(request, parsed.deviceId, parsed.model, id);
    const entity = await temporalEntity({ device, model: parsed.model, fromMs, toMs, attrs, lastN }, sources, isOpenDataView(request));
    return send(request, reply, representation === 'keyValues' ? temporalValues(entity) : entity);
  });
};

/**
 * An entity as a GeoJSON Feature (ETSI GS CIM 009, GeoJSON representation): the entity id, the
 * `location` GeoProperty's value as geometry (null when the device has no place), and the
 * entity's type and properties under `properties`, in the representation asked for.
 */
function geoJsonFeature(entity: Entity, full: Entity): { id: string; type: 'Feature'; geometry: unknown; properties: Record<string, unknown> } {
  const location = full.location as { value?: unknown } | undefined;
  const properties: Record<string, unknown> = { type: entity.type };
  for (const [name, value] of Object.entries(entity)) if (name !== 'id' && name !== 'type') properties[name] = value;
  return { id: entity.id, type: 'Feature', geometry: location?.value ?? null, properties };
}

/** An id's model and device, or 400 (not an NGSI-LD id) / 404 (a type not served here). */
function entityOf(id: string): { model: EntityModel; deviceId: string } {
  const parsed = parseEntityId(id);
  if (parsed) return parsed;
  if (/^urn:ngsi-ld:[A-Za-z]+:.+$/.test(id)) throw new AppError('NOT_FOUND', `no entity "${id.slice(0, 120)}"`);
  throw bad(`id: "${id.slice(0, 80)}" is not an entity id; ids are urn:ngsi-ld:<${NGSI_LD_TYPES.join('|')}>:<device id>`);
}

/** The time range of a temporal query, or 400 naming what is wrong. */
function temporalRange(
  query: { timerel?: string | undefined; timeAt?: string | undefined; endTimeAt?: string | undefined },
  nowMs: number,
  hasLastN: boolean,
  limits: QueryLimits,
): { fromMs: number; toMs: number } {
  const { timerel } = query;
  let range: { fromMs: number; toMs: number };
  if (timerel === undefined) {
    if (query.timeAt !== undefined || query.endTimeAt !== undefined) throw bad('timerel: required with timeAt (before, after or between)');
    // With lastN the newest instances are wanted, however old: as far back as one read goes.
    range = { fromMs: nowMs + 1 - (hasLastN ? limits.rawMaxRangeMs : 24 * HOUR_MS), toMs: nowMs + 1 };
  } else {
    if (!['before', 'after', 'between'].includes(timerel)) throw bad(`timerel: "${timerel.slice(0, 20)}" is not before, after or between`);
    if (query.timeAt === undefined) throw bad(`timeAt: required with timerel=${timerel}`);
    const at = parseTimeBound(query.timeAt, 'timeAt', nowMs);
    if (timerel === 'between') {
      if (query.endTimeAt === undefined) throw bad('endTimeAt: required with timerel=between');
      range = { fromMs: at, toMs: parseTimeBound(query.endTimeAt, 'endTimeAt', nowMs) };
      if (range.toMs <= range.fromMs) throw bad('endTimeAt: must be after timeAt');
    } else {
      if (query.endTimeAt !== undefined) throw bad('endTimeAt: only with timerel=between');
      range = timerel === 'after' ? { fromMs: at, toMs: Math.max(at + 1, nowMs + 1) } : { fromMs: at - limits.rawMaxRangeMs, toMs: at };
    }
  }
  if (range.toMs - range.fromMs > limits.rawMaxRangeMs) {
    const days = (ms: number) => Math.round((ms / 86_400_000) * 10) / 10;
    throw bad(`timeAt/endTimeAt: the range is ${days(range.toMs - range.fromMs)} days; at most ${days(limits.rawMaxRangeMs)} days are read at a time, narrow it`);
  }
  return range;
}

/** The simplified temporal representation: each property a list of [value, observedAt]. */
function temporalValues(entity: Entity): Entity {
  const out: Entity = { id: entity.id, type: entity.type };
  for (const [name, attribute] of Object.entries(entity)) {
    if (name === 'id' || name === 'type') continue;
    out[name] = Array.isArray(attribute)
      ? { type: 'Property', values: attribute.filter((i: { datasetId?: string }) => i.datasetId === undefined).map((i: { value: unknown; observedAt?: string }) => [i.value, i.observedAt]) }
      : keyValues({ id: '', type: '', [name]: attribute })[name];
  }
  return out;
}
