/** API keys for researchers and dashboards: created, listed and revoked by an admin. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApiKeyListResponseSchema, ApiKeyWithTokenSchema, CreateApiKeyRequestSchema, ErrorResponseSchema, PLATFORM_KEY_LAB } from '../../contracts/index.ts';
import type { DeviceRegistry } from '../../common/registry/types.ts';
import { AppError } from '../../common/errors.ts';

export interface KeyRoutesOptions {
  registry: DeviceRegistry;
}

const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 404: ErrorResponseSchema, 429: ErrorResponseSchema };
const admin = { access: 'admin' as const };

export const keyRoutes: FastifyPluginAsyncZod<KeyRoutesOptions> = async (app, { registry }) => {
  app.get('/keys', {
    config: admin,
    schema: { summary: 'API keys (without their tokens)', tags: ['keys'], response: { 200: ApiKeyListResponseSchema, ...errors } },
  }, async (request) => ({ keys: (await registry.listApiKeys()).filter((key) => request.scope.sees(key)) }));

  app.post('/keys', {
    config: admin,
    schema: {
      summary: 'Create an API key (role reader by default; a reader key with an owner sees only that owner\'s trials); the token is shown only this once',
      tags: ['keys'],
      body: CreateApiKeyRequestSchema,
      response: { 201: ApiKeyWithTokenSchema, ...errors },
    },
  }, async (request, reply) => {
    // A platform key (`*`) only from the platform view; any other lab as for every new record.
    const lab = request.body.lab === PLATFORM_KEY_LAB && request.scope.lab === undefined ? PLATFORM_KEY_LAB : await request.scope.labForNew(request.body.lab, 'keys');
    const created = await registry.createApiKey({ ...request.body, lab });
    request.log.info({ keyId: created.key.id, role: created.key.role, owner: created.key.owner }, 'API key created');
    return reply.code(201).header('cache-control', 'no-store').send(created);
  });

  app.delete('/keys/:id', {
    config: admin,
    schema: { summary: 'Revoke an API key at once', tags: ['keys'], params: z.strictObject({ id: z.string().regex(/^[0-9a-f]{12}$/, 'a key id: 12 hex digits') }), response: { 204: z.null(), ...errors } },
  }, async (request, reply) => {
    const key = (await registry.listApiKeys()).find((k) => k.id === request.params.id);
    if (!key || !request.scope.sees(key)) throw new AppError('NOT_FOUND', `no API key "${request.params.id}"`);
    await registry.revokeApiKey(request.params.id);
    request.log.info({ keyId: request.params.id }, 'API key revoked');
    return reply.code(204).send(null);
  });
};
