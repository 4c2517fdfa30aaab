/**
 * The device registry over HTTP. Reading (the dashboard map needs locations; records hold
 * no secrets) is open data: readers see whole records, anonymous callers (PUBLIC_READ) the
 * open fields only (openDevice: no owner, no metadata); changes are admin-only.
 * The secret appears in exactly two responses, creation and rotation, marked no-store.
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  CreateDeviceRequestSchema,
  DeviceIdSchema,
  DeviceRecordSchema,
  DeviceRecordViewListResponseSchema,
  DeviceRecordViewSchema,
  DeviceWithSecretSchema,
  ErrorResponseSchema,
  isKnownKind,
  readingKinds,
  withLicence,
  UpdateDeviceRequestSchema,
  type DeviceRecord,
  type DeviceStatus,
} from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { DeviceRegistry } from '../../common/registry/types.ts';
import { isOpenDataView, openDevice } from '../open-data.ts';

export interface DeviceRoutesOptions {
  registry: DeviceRegistry;
  /** Told about registrations, removals and (dis|en)abling (with the device's lab), e.g. to push `device` events live. */
  onStatus?: ((status: DeviceStatus, lab: string) => void) | undefined;
}

const ParamsSchema = z.strictObject({ id: DeviceIdSchema });
const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 404: ErrorResponseSchema, 429: ErrorResponseSchema };
const admin = { access: 'admin' as const };
const open = { access: 'open' as const };

export const deviceRoutes: FastifyPluginAsyncZod<DeviceRoutesOptions> = async (app, { registry, onStatus }) => {
  const notify = (request: FastifyRequest, device: DeviceRecord, status: DeviceStatus['status']) => {
    onStatus?.({ deviceId: device.id, kind: device.kind, status, at: new Date().toISOString() }, request.scope.labOf(device));
  };
  /** The device if it exists in a lab the caller sees; another lab's answers like a missing one. */
  const found = (request: FastifyRequest, device: DeviceRecord | undefined, id: string): DeviceRecord => {
    if (!device || !request.scope.sees(device)) throw new AppError('NOT_FOUND', `no device "${id}"`);
    return device;
  };

  app.get('/devices', {
    config: open,
    schema: { summary: 'Registered devices with their locations (anonymous callers: without owner and metadata)', tags: ['devices'], response: { 200: withLicence(DeviceRecordViewListResponseSchema), ...errors } },
  }, async (request) => {
    const devices = await request.scope.visibleDevices();
    return { devices: isOpenDataView(request) ? devices.map(openDevice) : devices };
  });

  app.get('/devices/:id', {
    config: open,
    schema: { summary: 'One registered device (anonymous callers: without owner and metadata)', tags: ['devices'], params: ParamsSchema, response: { 200: withLicence(DeviceRecordViewSchema), ...errors } },
  }, async (request) => {
    const device = found(request, await registry.get(request.params.id), request.params.id);
    return isOpenDataView(request) ? openDevice(device) : device;
  });

  app.post('/devices', {
    config: admin,
    schema: {
      summary: 'Register a device; the response carries its MQTT secret, shown only this once',
      tags: ['devices'],
      body: CreateDeviceRequestSchema,
      response: { 201: DeviceWithSecretSchema, 409: ErrorResponseSchema, ...errors },
    },
  }, async (request, reply) => {
    // The contract takes any well-formed kind id; which kinds exist is the catalogue's (common/kinds/).
    if (!isKnownKind(request.body.kind)) throw new AppError('BAD_REQUEST', `kind: unknown kind "${request.body.kind}"; one of ${readingKinds().join(', ')} (add one with POST /api/v1/kinds)`);
    const lab = await request.scope.labForNew(request.body.lab, 'devices');
    const created = await registry.create({ ...request.body, lab });
    request.log.info({ deviceId: created.device.id, owner: created.device.owner, lab }, 'device registered');
    notify(request, created.device, 'created');
    return reply.code(201).header('cache-control', 'no-store').send(created);
  });

  app.patch('/devices/:id', {
    config: admin,
    schema: { summary: 'Change a device (disable it with {"enabled": false})', tags: ['devices'], params: ParamsSchema, body: UpdateDeviceRequestSchema, response: { 200: DeviceRecordSchema, ...errors } },
  }, async (request) => {
    const before = found(request, await registry.get(request.params.id), request.params.id);
    const device = await registry.update(request.params.id, request.body);
    request.log.info({ deviceId: device.id, fields: Object.keys(request.body) }, 'device updated');
    // Re-enabled: known again but not connected yet, so `offline` until it reports.
    if (before.enabled !== device.enabled) notify(request, device, device.enabled ? 'offline' : 'disabled');
    return device;
  });

  app.delete('/devices/:id', {
    config: admin,
    schema: { summary: 'Remove a device; its connections are closed and its secret stops working', tags: ['devices'], params: ParamsSchema, response: { 204: z.null(), ...errors } },
  }, async (request, reply) => {
    const device = found(request, await registry.get(request.params.id), request.params.id);
    await registry.remove(request.params.id);
    request.log.info({ deviceId: device.id }, 'device removed');
    notify(request, device, 'removed');
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
    found(request, await registry.get(request.params.id), request.params.id);
    const rotated = await registry.rotateSecret(request.params.id);
    request.log.info({ deviceId: rotated.device.id }, 'device secret rotated');
    return reply.header('cache-control', 'no-store').send(rotated);
  });
};
