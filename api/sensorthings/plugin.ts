/**
 * OGC SensorThings API 1.1 (sensing, read-only) at `/sta/v1.1`: resource paths such as
 * `Things('air-001')/Datastreams` or `Datastreams('air-001:pm25')/Observations`, with `$filter`,
 * `$orderby`, `$top`, `$skip`, `$count`, `$expand` (one level), `$select`, and server-driven
 * paging through `@iot.nextLink`. Read-only, over the same store and access rules as /api/v1
 * (routes are `open` data like the readings; anonymous callers see no owner).
 *
 * Observations come from the raw readings, which are read at most QUERY_RAW_MAX_DAYS at a time:
 * without a phenomenonTime range in `$filter`, a request covers that many days up to now.
 *
 * An encapsulated plugin, not fastify-plugin: its error handler answers SensorThings error
 * documents for its own routes only. Bodies are serialised here, as strings, so nothing else
 * adds keys to a SensorThings document.
 */
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { AppError, isAppError } from '../../common/errors.ts';
import type { DeviceRegistry } from '../../common/registry/types.ts';
import { STA_CONFORMANCE, STA_ENTITY_SETS, StaQuerySchema, type StaEntitySet, type StaError, type StaQuery } from '../../contracts/sensorthings.ts';
import { isOpenDataView } from '../open-data.ts';
import { DEFAULT_QUERY_LIMITS, type QueryLimits } from '../query/limits.ts';
import type { ReadingQueries } from '../store.ts';
import { visibleDevices } from '../visible-devices.ts';
import { NAVIGATION, buildCatalogue, navigate, type Catalogue, type Target } from './catalogue.ts';
import { evaluate, parseFilter, phenomenonTimeBounds, type FilterNode } from './filter.ts';
import { parseObservationId, type Links, type StaEntity } from './model.ts';
import { decodePosition, encodePosition, scanObservations, type DatastreamRef, type Position } from './observations.ts';
import { DEFAULT_TOP, PROPERTIES, parseExpand, parseListOrder, parseNumber, parseObservationOrder, parsePath, parseSelect, select, type ExpandItem, type Segment } from './options.ts';

export interface SensorThingsPluginOptions {
  store: Pick<ReadingQueries, 'readings'>;
  registry: Pick<DeviceRegistry, 'list'>;
  now: () => number;
  limits?: QueryLimits | undefined;
}

const open = { access: 'open' as const };
const bad = (message: string) => new AppError('BAD_REQUEST', message);
const notFound = (message: string) => new AppError('NOT_FOUND', message);

const STATUS_BY_CODE: Record<string, number> = { BAD_REQUEST: 400, UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404, STORE_UNAVAILABLE: 503, STORE_QUERY_FAILED: 502, STORE_REJECTED: 502 };

function sendError(reply: FastifyReply, status: number, message: string): FastifyReply {
  const body: StaError = { code: status, type: 'error', message };
  return reply.code(status).type('application/json').send(JSON.stringify(body));
}

export const sensorThingsPlugin: FastifyPluginAsync<SensorThingsPluginOptions> = async (app, options) => {
  const limits = options.limits ?? DEFAULT_QUERY_LIMITS;
  const typed = app.withTypeProvider<ZodTypeProvider>();
  const prefix = app.prefix;

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const problems = error.validation.map((v) => {
        const field = v.instancePath.replace(/^\//, '') || (v.params as { issue?: { keys?: string[] } })?.issue?.keys?.join(', ') || 'query';
        return `${field}: ${v.message}`;
      });
      return sendError(reply, 400, `invalid query: ${problems.join('; ')}`);
    }
    const status = isAppError(error) ? (STATUS_BY_CODE[error.code] ?? 500) : (error.statusCode ?? 500);
    if (status >= 500) {
      request.log.error({ err: error }, 'SensorThings request failed');
      return sendError(reply, status, status === 500 ? 'internal error' : error.message);
    }
    return sendError(reply, status, error.message);
  });

  const linksOf = (request: FastifyRequest): Links => ({ base: `${request.protocol}://${request.host}${prefix}` });
  const send = (reply: FastifyReply, body: unknown) => reply.type('application/json; charset=utf-8').send(JSON.stringify(body));

  typed.get('/', {
    config: open,
    schema: { summary: 'SensorThings service root: the entity sets and the conformance classes', tags: ['sensorthings'] },
  }, async (request, reply) => {
    const { base } = linksOf(request);
    return send(reply, { value: STA_ENTITY_SETS.map((name) => ({ name, url: `${base}/${name}` })), serverSettings: { conformance: [...STA_CONFORMANCE] } });
  });

  typed.get('/*', {
    config: open,
    schema: {
      summary: 'SensorThings resource paths: entity sets, entities by id, navigation',
      description: "E.g. Things, Things('air-001')?$expand=Datastreams, Datastreams('air-001:pm25')/Observations?$filter=result gt 20&$orderby=phenomenonTime desc&$top=50&$count=true. Ids are quoted strings.",
      tags: ['sensorthings'],
      querystring: StaQuerySchema,
    },
  }, async (request, reply) => {
    const links = linksOf(request);
    const rawPath = request.url.split('?')[0]!.slice(prefix.length).replace(/^\/+|\/+$/g, '');
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      throw bad('path: not valid percent-encoding');
    }
    const segments = parsePath(path);
    const catalogue = buildCatalogue(await visibleDevices(request, options.registry), links, isOpenDataView(request));
    const context = { nowMs: options.now(), limits, links };
    const target = await resolve(segments, catalogue, context);
    const query = request.query;

    if (target.type === 'entity') {
      const expand = parseExpand(query.$expand, target.set, limits);
      const names = parseSelect(query.$select, target.set);
      for (const name of ['$filter', '$orderby', '$top', '$skip', '$count', '$skiptoken'] as const) {
        if (query[name] !== undefined) throw bad(`${name}: applies to collections, not to one entity`);
      }
      return send(reply, select(await expanded(target.entity, target.set, expand, catalogue, context), names, expand));
    }
    const set: StaEntitySet = target.type === 'list' ? target.set : 'Observations';
    const expand = parseExpand(query.$expand, set, limits);
    const names = parseSelect(query.$select, set);
    const filter = query.$filter === undefined ? undefined : parseFilter(query.$filter, new Set(PROPERTIES[set]));
    const top = parseNumber(query.$top, '$top', DEFAULT_TOP, limits.jsonMaxPoints);
    const skip = parseNumber(query.$skip, '$skip', 0, 1_000_000_000);
    const page = target.type === 'list'
      ? listPage(target.items, set, query, filter, top, skip)
      : await observationPage(target.type === 'observations' ? target.datastreams : [], query, filter, top, skip, context);
    const values = await Promise.all(page.values.map(async (e) => select(await expanded(e, set, expand, catalogue, context), names, expand)));
    return send(reply, {
      ...(page.count === undefined ? {} : { '@iot.count': page.count }),
      ...(page.next === undefined ? {} : { '@iot.nextLink': nextLink(request, links, page.next) }),
      value: values,
    });
  });

  interface Page {
    values: StaEntity[];
    count?: number | undefined;
    /** Query parameters of the next page. */
    next?: Record<string, string | undefined> | undefined;
  }

  function listPage(items: readonly StaEntity[], set: StaEntitySet, query: StaQuery, filter: FilterNode | undefined, top: number, skip: number): Page {
    if (query.$skiptoken !== undefined) throw bad('$skiptoken: only Observations page with a token; use $skip');
    const order = parseListOrder(query.$orderby, set);
    const matching = items.filter((e) => !filter || evaluate(filter, e));
    if (order) matching.sort(order);
    return {
      values: matching.slice(skip, skip + top),
      ...(query.$count === 'true' ? { count: matching.length } : {}),
      ...(skip + top < matching.length && top > 0 ? { next: { $skip: String(skip + top) } } : {}),
    };
  }

  async function observationPage(datastreams: readonly DatastreamRef[], query: StaQuery, filter: FilterNode | undefined, top: number, skip: number, context: { nowMs: number; limits: QueryLimits; links: Links }): Promise<Page> {
    const order = parseObservationOrder(query.$orderby);
    const range = observationRange(filter, context.nowMs, limits);
    const selection = { datastreams, ...range, order, filter };
    const after = query.$skiptoken === undefined ? undefined : decodePosition(query.$skiptoken);
    const values: StaEntity[] = [];
    let last: Position | undefined;
    let more = false;
    let skipped = 0;
    for await (const { entity, position } of scanObservations(options.store, selection, after, context)) {
      if (skipped < skip) {
        skipped += 1;
        continue;
      }
      if (values.length >= top) {
        more = true;
        break;
      }
      values.push(entity);
      last = position;
    }
    let count: number | undefined;
    if (query.$count === 'true') {
      count = 0;
      for await (const _ of scanObservations(options.store, selection, undefined, context)) count += 1;
    }
    return { values, count, ...(more && last ? { next: { $skip: undefined, $skiptoken: encodePosition(last) } } : {}) };
  }

  /** The read range of an Observations request: the filter's phenomenonTime range, or the newest QUERY_RAW_MAX_DAYS. */
  function observationRange(filter: FilterNode | undefined, nowMs: number, limits: QueryLimits): { fromMs: number; toMs: number } {
    const bounds = phenomenonTimeBounds(filter);
    const toMs = Number.isFinite(bounds.toMs) ? bounds.toMs : nowMs + 1;
    const fromMs = Number.isFinite(bounds.fromMs) ? bounds.fromMs : toMs - limits.rawMaxRangeMs;
    if (toMs - fromMs > limits.rawMaxRangeMs) {
      const days = (ms: number) => Math.round((ms / 86_400_000) * 10) / 10;
      throw bad(`$filter: the phenomenonTime range is ${days(toMs - fromMs)} days; Observations are read at most ${days(limits.rawMaxRangeMs)} days at a time, so bound it on both sides (phenomenonTime ge … and phenomenonTime lt …)`);
    }
    return { fromMs, toMs: Math.max(fromMs, toMs) };
  }

  function nextLink(request: FastifyRequest, links: Links, changes: Record<string, string | undefined>): string {
    const [path, search] = request.url.split('?');
    const params = new URLSearchParams(search ?? '');
    for (const [key, value] of Object.entries(changes)) {
      if (value === undefined) params.delete(key);
      else params.set(key, value);
    }
    const origin = links.base.slice(0, links.base.length - prefix.length);
    return `${origin}${path}?${params.toString().replace(/\+/g, '%20')}`;
  }

  /** The entity with its `$expand`ed navigation properties embedded. */
  async function expanded(entity: StaEntity, set: StaEntitySet, expand: readonly ExpandItem[], catalogue: Catalogue, context: { nowMs: number; limits: QueryLimits; links: Links }): Promise<StaEntity> {
    if (expand.length === 0) return entity;
    const out: StaEntity = { ...entity };
    for (const item of expand) {
      const target = navigate(catalogue, set, entity, item.name);
      if (target.type === 'entity') out[item.name] = target.entity;
      else if (target.type === 'list') out[item.name] = item.top === undefined ? target.items : target.items.slice(0, item.top);
      else if (target.type === 'observations') {
        const top = item.top ?? DEFAULT_TOP;
        const order = item.order ?? 'asc';
        const selection = { datastreams: target.datastreams, ...observationRange(undefined, context.nowMs, limits), order };
        const values: StaEntity[] = [];
        let last: Position | undefined;
        let more = false;
        for await (const { entity: observation, position } of scanObservations(options.store, selection, undefined, context)) {
          if (values.length >= top) {
            more = true;
            break;
          }
          values.push(observation);
          last = position;
        }
        out[item.name] = values;
        if (more && last) {
          const params = new URLSearchParams({ $top: String(top), $orderby: `phenomenonTime ${order}`, $skiptoken: encodePosition(last) });
          out[`${item.name}@iot.nextLink`] = `${String(entity[`${item.name}@iot.navigationLink`])}?${params.toString().replace(/\+/g, '%20')}`;
        }
      }
    }
    return out;
  }

  /** Follows the resource path from the service root. */
  async function resolve(segments: readonly Segment[], catalogue: Catalogue, context: { nowMs: number; limits: QueryLimits; links: Links }): Promise<Target> {
    const [first, ...rest] = segments;
    if (!first) throw notFound('no resource path');
    if (!(STA_ENTITY_SETS as readonly string[]).includes(first.name)) throw notFound(`no entity set "${first.name.slice(0, 40)}"; the sets are ${STA_ENTITY_SETS.join(', ')}`);
    const set = first.name as StaEntitySet;
    let target: Target = set === 'Observations'
      ? { type: 'observations', datastreams: [...catalogue.datastreams.values()].map((d) => d.ref) }
      : { type: 'list', set, items: [...catalogue.sets[set].values()] };
    if (first.key !== undefined) target = await pick(target, first.key, context);
    for (const segment of rest) {
      if (target.type !== 'entity') throw bad(`path: pick one entity by id before "${segment.name.slice(0, 40)}", e.g. ${target.type === 'list' ? target.set : 'Observations'}('…')/${segment.name.slice(0, 40)}`);
      if (!NAVIGATION[target.set][segment.name]) {
        throw notFound(`${target.set} have no navigation property "${segment.name.slice(0, 40)}"; use ${Object.keys(NAVIGATION[target.set]).join(', ')}`);
      }
      target = navigate(catalogue, target.set, target.entity, segment.name);
      if (target.type === 'none') throw notFound(`no ${segment.name} for this entity`);
      if (segment.key !== undefined) target = await pick(target, segment.key, context);
    }
    return target;
  }

  /** The entity with id `key` in a collection target, or 404. */
  async function pick(target: Target, key: string, context: { nowMs: number; limits: QueryLimits; links: Links }): Promise<Target> {
    if (target.type === 'list') {
      const entity = target.items.find((e) => e['@iot.id'] === key);
      if (!entity) throw notFound(`no ${target.set} with id '${key.slice(0, 120)}'`);
      return { type: 'entity', set: target.set, entity };
    }
    if (target.type === 'observations') {
      const parsed = parseObservationId(key);
      const datastream = parsed && target.datastreams.find((d) => d.deviceId === parsed.deviceId && d.metric === parsed.metric);
      if (parsed && datastream) {
        const selection = { datastreams: [datastream], fromMs: parsed.atMs, toMs: parsed.atMs + 1, order: 'asc' as const };
        for await (const { entity } of scanObservations(options.store, selection, undefined, context)) {
          if (entity['@iot.id'] === key) return { type: 'entity', set: 'Observations', entity };
        }
      }
      throw notFound(`no Observations with id '${key.slice(0, 120)}'`);
    }
    throw bad('path: an id can only follow a collection');
  }
};
