/**
 * Labs over HTTP: any caller may list the labs it can see (a lab-scoped key: its own; the
 * dashboard reads a lab's name and area here); only the platform admin (ADMIN_TOKEN or an
 * admin key with lab `*`) creates one. On ready the default lab is created unless it exists,
 * so a first boot and an upgrade of a registry older than labs both start with it.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CreateLabRequestSchema, ErrorResponseSchema, LabIdSchema, LabListResponseSchema, LabSchema, PLATFORM_KEY_LAB, type CreateLabRequest } from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { DeviceRegistry } from '../../common/registry/types.ts';

export interface LabRoutesOptions {
  registry: Pick<DeviceRegistry, 'listLabs' | 'getLab' | 'createLab' | 'ensureLab'>;
  /** Created on ready unless it exists. */
  defaultLab: CreateLabRequest;
}

const ParamsSchema = z.strictObject({ lab: LabIdSchema });
const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 404: ErrorResponseSchema, 429: ErrorResponseSchema };

export const labRoutes: FastifyPluginAsyncZod<LabRoutesOptions> = async (app, { registry, defaultLab }) => {
  app.addHook('onReady', async () => {
    await registry.ensureLab(defaultLab);
  });

  app.get('/labs', {
    config: { access: 'open' },
    schema: { summary: 'The labs on this platform (a lab-scoped key sees its own)', tags: ['labs'], response: { 200: LabListResponseSchema, ...errors } },
  }, async (request) => ({ labs: (await registry.listLabs()).filter((lab) => request.scope.seesLab(lab.id)), defaultLab: defaultLab.id }));

  app.get('/labs/:lab', {
    config: { access: 'open' },
    schema: { summary: 'One lab', tags: ['labs'], params: ParamsSchema, response: { 200: LabSchema, ...errors } },
  }, async (request) => {
    const lab = await registry.getLab(request.params.lab);
    if (!lab || !request.scope.seesLab(lab.id)) throw new AppError('NOT_FOUND', `no lab "${request.params.lab}"`);
    return lab;
  });

  app.post('/labs', {
    config: { access: 'admin' },
    schema: {
      summary: 'Create a lab (platform admin: ADMIN_TOKEN or an admin key with lab "*")',
      tags: ['labs'],
      body: CreateLabRequestSchema,
      response: { 201: LabSchema, 409: ErrorResponseSchema, ...errors },
    },
  }, async (request, reply) => {
    if (request.principal?.lab !== PLATFORM_KEY_LAB) {
      throw new AppError('FORBIDDEN', `only the platform admin creates labs; this key belongs to lab "${request.principal?.lab ?? '?'}"`);
    }
    const lab = await registry.createLab(request.body);
    request.log.info({ lab: lab.id }, 'lab created');
    return reply.code(201).send(lab);
  });
};
