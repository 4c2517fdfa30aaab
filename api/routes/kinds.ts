/**
 * Device kinds (common/kinds/): list and read (open data), create and change (admin).
 * A new kind is usable at once — devices of it can be registered, publish, be queried and
 * exported — with no code change; the versioning rules are the catalogue's.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ErrorResponseSchema, KIND_ID_PATTERN, KindInputSchema, KindListResponseSchema, KindResponseSchema, type KindResponse } from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { HasReadings, KindCatalogue, KindEntry } from '../../common/kinds/index.ts';

export interface KindRoutesOptions {
  catalogue: KindCatalogue;
  /** Whether readings of a kind are stored (ReadingStore.hasReadings). */
  hasReadings: HasReadings;
}

const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 404: ErrorResponseSchema, 409: ErrorResponseSchema, 429: ErrorResponseSchema };
/** The catalogue is open data (PUBLIC_READ): the dashboard and anyone reading the readings need units and ranges. */
const open = { access: 'open' as const };
const admin = { access: 'admin' as const };
const KindParams = z.strictObject({ id: z.string().regex(KIND_ID_PATTERN, 'a kind id is a lowercase letter followed by 1–31 of a–z 0–9 _') });

function toResponse(entry: KindEntry): KindResponse {
  return { ...entry.definition, builtIn: entry.source === 'built-in' };
}

const FORMAT = `A kind is \`{ id, name, description, fields: [{ name, unit, type: number|integer|boolean, min, max, required, description }], atLeastOneOf?, display: { headline, letter, colours: [{ value, colour }] } }\`; the payload schema of its readings is built from it. Every change bumps \`version\`. Fields may be added; once readings of the kind are stored, removing a field or changing its unit or type is refused (409). Built-in kinds (air, traffic, waste) and kinds defined by files in DATA_DIR/kinds/ cannot be changed here (409).`;

export const kindRoutes: FastifyPluginAsyncZod<KindRoutesOptions> = async (app, { catalogue, hasReadings }) => {
  app.get('/kinds', {
    config: open,
    schema: { summary: 'Every device kind: its fields with units, types, ranges and how the dashboard shows it', description: FORMAT, tags: ['kinds'], response: { 200: KindListResponseSchema, ...errors } },
  }, async () => ({ kinds: catalogue.list().map(toResponse) }));

  app.get('/kinds/:id', {
    config: open,
    schema: { summary: 'One device kind', tags: ['kinds'], params: KindParams, response: { 200: KindResponseSchema, ...errors } },
  }, async (request) => {
    const entry = catalogue.get(request.params.id);
    if (!entry) throw new AppError('NOT_FOUND', `no kind "${request.params.id}"`);
    return toResponse(entry);
  });

  app.post('/kinds', {
    config: admin,
    schema: { summary: 'Add a device kind (version 1)', description: FORMAT, tags: ['kinds'], body: KindInputSchema, response: { 201: KindResponseSchema, ...errors } },
  }, async (request, reply) => {
    const definition = await catalogue.create(request.body);
    request.log.info({ kind: definition.id }, 'kind created');
    return reply.code(201).send({ ...definition, builtIn: false });
  });

  app.put('/kinds/:id', {
    config: admin,
    schema: { summary: 'Change a device kind (the next version)', description: FORMAT, tags: ['kinds'], params: KindParams, body: KindInputSchema, response: { 200: KindResponseSchema, ...errors } },
  }, async (request) => {
    const definition = await catalogue.update(request.params.id, request.body, hasReadings);
    request.log.info({ kind: definition.id, version: definition.version }, 'kind changed');
    return { ...definition, builtIn: false };
  });
};
