/**
 * Network-server integrations (The Things Stack, ChirpStack), managed by admins. Creating one
 * (or rotating its secret) answers the webhook secret once, marked no-store; the MQTT bridge's
 * password is never answered. The broker follows changes within a second
 * (broker/adapters/bridges.ts, broker/ingest-http.ts).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  CreateIntegrationRequestSchema,
  ErrorResponseSchema,
  IntegrationIdSchema,
  IntegrationListResponseSchema,
  IntegrationRecordSchema,
  IntegrationWithSecretSchema,
  UpdateIntegrationRequestSchema,
} from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { IntegrationStore } from '../../common/registry/integrations.ts';

export interface IntegrationRoutesOptions {
  integrations: IntegrationStore;
}

const ParamsSchema = z.strictObject({ id: IntegrationIdSchema });
const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 404: ErrorResponseSchema, 429: ErrorResponseSchema };
const admin = { access: 'admin' as const };

export const integrationRoutes: FastifyPluginAsyncZod<IntegrationRoutesOptions> = async (app, { integrations }) => {
  app.get('/integrations', {
    config: admin,
    schema: { summary: 'Network-server integrations (without secrets)', tags: ['integrations'], response: { 200: IntegrationListResponseSchema, ...errors } },
  }, async () => ({ integrations: await integrations.list() }));

  app.get('/integrations/:id', {
    config: admin,
    schema: { summary: 'One integration', tags: ['integrations'], params: ParamsSchema, response: { 200: IntegrationRecordSchema, ...errors } },
  }, async (request) => {
    const found = await integrations.get(request.params.id);
    if (!found) throw new AppError('NOT_FOUND', `no integration "${request.params.id}"`);
    return found;
  });

  app.post('/integrations', {
    config: admin,
    schema: {
      summary: 'Create a The Things Stack or ChirpStack integration; the answer holds the webhook secret (X-StreetLab-Secret), shown only this once',
      tags: ['integrations'],
      body: CreateIntegrationRequestSchema,
      response: { 201: IntegrationWithSecretSchema, 409: ErrorResponseSchema, ...errors },
    },
  }, async (request, reply) => {
    const created = await integrations.create(request.body);
    request.log.info({ integration: created.integration.id, type: created.integration.type }, 'integration created');
    return reply.code(201).header('cache-control', 'no-store').send(created);
  });

  app.patch('/integrations/:id', {
    config: admin,
    schema: {
      summary: 'Change an integration (name, owner, enabled, MQTT bridge settings; null clears); a bridge setting without password keeps the stored one',
      tags: ['integrations'],
      params: ParamsSchema,
      body: UpdateIntegrationRequestSchema,
      response: { 200: IntegrationRecordSchema, ...errors },
    },
  }, async (request) => integrations.update(request.params.id, request.body));

  app.delete('/integrations/:id', {
    config: admin,
    schema: { summary: 'Remove an integration: its webhook secret stops working and its bridge disconnects', tags: ['integrations'], params: ParamsSchema, response: { 204: z.null(), ...errors } },
  }, async (request, reply) => {
    await integrations.remove(request.params.id);
    request.log.info({ integration: request.params.id }, 'integration removed');
    return reply.code(204).send(null);
  });

  app.post('/integrations/:id/secret', {
    config: admin,
    schema: { summary: 'Issue a new webhook secret; the old one stops working at once', tags: ['integrations'], params: ParamsSchema, response: { 200: IntegrationWithSecretSchema, ...errors } },
  }, async (request, reply) => reply.header('cache-control', 'no-store').send(await integrations.rotateSecret(request.params.id)));
};
