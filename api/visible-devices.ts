/**
 * Which registered devices a request may see, for the read-outs that list devices themselves
 * (NGSI-LD, SensorThings): one function, so both follow the same rule. The auth plugin
 * resolves every request's lab scope (api/labs/scope.ts: a lab-scoped key sees its lab's
 * devices, the platform view all of them); an app built without it sees every device.
 */
import type { FastifyRequest } from 'fastify';
import type { DeviceRecord } from '../contracts/index.ts';
import type { DeviceRegistry } from '../common/registry/types.ts';

export async function visibleDevices(request: FastifyRequest, registry: Pick<DeviceRegistry, 'list'>): Promise<DeviceRecord[]> {
  // Decorated as null until the auth hook has run: a request that reaches a handler has one.
  const scope = request.scope as FastifyRequest['scope'] | null;
  return scope ? scope.visibleDevices() : registry.list();
}
