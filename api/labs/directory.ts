/** The registry as a LabDirectory (api/labs/scope.ts): the labs and their devices. */
import type { DeviceRegistry } from '../../common/registry/types.ts';
import type { LabDirectory } from './scope.ts';

export function registryLabDirectory(registry: Pick<DeviceRegistry, 'peek' | 'list' | 'getLab'>, defaultLab: string): LabDirectory {
  return {
    defaultLab,
    peek: (id) => registry.peek(id),
    list: () => registry.list(),
    // The default lab exists from the first request on, even before its record is written.
    exists: async (lab) => lab === defaultLab || (await registry.getLab(lab)) !== undefined,
  };
}
