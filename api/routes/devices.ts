/**
 * The device registry over HTTP. Reading (the dashboard map needs locations; records hold
 * no secrets) is open to readers and, with PUBLIC_READ, to everyone; changes are admin-only.
 * The secret appears in exactly two responses, creation and rotation, marked no-store.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  CreateDeviceRequestSchema,
  DeviceIdSchema,
  DeviceListResponseSchema,
  DeviceRecordSchema,
  DeviceWithSecretSchema,
  ErrorResponseSchema,
  UpdateDeviceRequestSchema,
  type DeviceRecord,
  type DeviceStatus,
} from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { DeviceRegistry } from '../../common/registry/types.ts';

export interface DeviceRoutesOptions {
  registry: DeviceRegistry;
  /** Told about registrations, removals and (dis|en)abling, e.g. to push `device` events live. */
  onStatus?: ((status: DeviceStatus) => void) | undefined;
}

const ParamsSchema = z.strictObject({ id: DeviceIdSchema });
const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 404: ErrorResponseSchema, 429: ErrorResponseSchema };
const admin = { access: 'admin' as const };
const read = { access: 'read' as const };

export const deviceRoutes: FastifyPluginAsyncZod<DeviceRoutesOptions> = async (app, { registry, onStatus }) => {
  const notify = (device: DeviceRecord, status: DeviceStatus['status']) => {
    onStatus?.({ deviceId: device.id, kind: device.kind, status, at: new Date().toISOString() });
  };
  const found = (device: DeviceRecord | undefined, id: string): DeviceRecord => {
    if (!device) throw new AppError('NOT_FOUND', `no device "${id}"`);
    return device;
  };

  app.get('/devices', {
    config: read,
    schema: { summary: 'Registered devices with their locations', tags: ['devices'], response: { 200: DeviceListResponseSchema, ...errors } },
  }, async () => ({ devices: await registry.list() }));

  app.get('/devices/:id', {
    config: read,
    schema: { summary: 'One registered device', tags: ['devices'], params: ParamsSchema, response: { 200: DeviceRecordSchema, ...errors } },
  }, async (request) => found(await registry.get(request.params.id), request.params.id));

  app.post('/devices', {
    config: admin,
    schema: {
      summary: 'Register a device; the response carries its MQTT secret, shown only this once',
      tags: ['devices'],
      body: CreateDeviceRequestSchema,
      response: { 201: DeviceWithSecretSchema, 409: ErrorResponseSchema, ...errors },
    },
  }, async (request, reply) => {
    const created = await registry.create(request.body);
    request.log.info({ deviceId: created.device.id, owner: created.device.owner }, 'device registered');
    notify(created.device, 'created');
    return reply.code(201).header('cache-control', 'no-store').send(created);
  });

  app.patch('/devices/:id', {
    config: admin,
    schema: { summary: 'Change a device (disable it with {"enabled": false})', tags: ['devices'], params: ParamsSchema, body: UpdateDeviceRequestSchema, response: { 200: DeviceRecordSchema, ...errors } },
  }, async (request) => {
    const before = await registry.get(request.params.id);
    const device = await registry.update(request.params.id, request.body);
    request.log.info({ deviceId: device.id, fields: Object.keys(request.body) }, 'device updated');
    // Re-enabled: known again but not connected yet, so `offline` until it reports.
    if (before && before.enabled !== device.enabled) notify(device, device.enabled ? 'offline' : 'disabled');
    return device;
  });

  app.delete('/devices/:id', {
    config: admin,
    schema: { summary: 'Remove a device; its connections are closed and its secret stops working', tags: ['devices'], params: ParamsSchema, response: { 204: z.null(), ...errors } },
  }, async (request, reply) => {
    const device = found(await registry.get(request.params.id), request.params.id);
    await registry.remove(request.params.id);
    request.log.info({ deviceId: device.id }, 'device removed');
    notify(device, 'removed');
    return reply.code(204).send(null);
  });

  app.post('/devices/:id/secret', {
    config: admin,
    schema: {
      summary: 'Issue a new secret; the old one stops working at once',
      tags: ['devices'],
      params: ParamsSchema,
      response: { 200: DeviceWithSecretSchema, ...errors },
    },
  }, async (request, reply) => {
    const rotated = await registry.rotateSecret(request.params.id);
    request.log.info({ deviceId: rotated.device.id }, 'device secret rotated');
    return reply.header('cache-control', 'no-store').send(rotated);
  });
};
