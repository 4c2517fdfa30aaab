/**
 * Registered devices by the identifiers other systems know them by (DevEUI, TTS device id,
 * airrohr chip id). Before answering "unknown", it asks the registry to look for a change
 * made elsewhere (as the broker does before refusing an MQTT login), so a device registered a
 * moment ago is found at once.
 *
 * The index is rebuilt only when the registry changed (its change event marks it stale), never
 * because an identifier was not found: a sender spraying unknown DevEUIs costs one look at
 * the registry's backing store each (coalesced while one is under way), not a pass over every
 * device.
 */
import { DEVICE_IDENTIFIERS, normalizeIdentifier, type DeviceIdentifier, type DeviceRecord } from '../../contracts/index.ts';
import type { DeviceRegistry } from '../../common/registry/types.ts';

export type DeviceLookup = Partial<Record<DeviceIdentifier, string>>;

export interface DeviceIndex {
  /** The device one of `lookup`'s identifiers names (tried in the order DevEUI, TTS id, chip id). */
  find(lookup: DeviceLookup): Promise<DeviceRecord | undefined>;
  /** A device by its own id, read afresh when not known yet. */
  get(id: string): Promise<DeviceRecord | undefined>;
  /** How many times the index was built (each after a registry change). */
  builds(): number;
  close(): void;
}

type Maps = Map<DeviceIdentifier, Map<string, DeviceRecord>>;

export function createDeviceIndex(registry: Pick<DeviceRegistry, 'list' | 'peek' | 'refresh' | 'onChange'>): DeviceIndex {
  let maps: Promise<Maps> | undefined;
  let buildCount = 0;
  let refreshing: Promise<void> | undefined;
  // Any change, made here or adopted from another process, makes the index stale.
  const unsubscribe = registry.onChange(() => (maps = undefined));

  async function build(): Promise<Maps> {
    buildCount += 1;
    const next: Maps = new Map(DEVICE_IDENTIFIERS.map((identifier) => [identifier, new Map<string, DeviceRecord>()]));
    for (const device of await registry.list()) {
      for (const identifier of DEVICE_IDENTIFIERS) {
        const value = device[identifier];
        if (value !== undefined) next.get(identifier)!.set(normalizeIdentifier(identifier, value), device);
      }
    }
    return next;
  }

  function current(): Promise<Maps> {
    if (!maps) {
      const building = build();
      maps = building;
      building.catch(() => {
        if (maps === building) maps = undefined;
      });
    }
    return maps;
  }

  /** One look for another process's change at a time; callers arriving meanwhile share it. */
  function refresh(): Promise<void> {
    if (!registry.refresh) return Promise.resolve();
    refreshing ??= registry.refresh().finally(() => (refreshing = undefined));
    return refreshing;
  }

  function lookIn(index: Maps, lookup: DeviceLookup): DeviceRecord | undefined {
    for (const identifier of DEVICE_IDENTIFIERS) {
      const value = lookup[identifier];
      if (value === undefined) continue;
      const found = index.get(identifier)!.get(normalizeIdentifier(identifier, value));
      if (found) return found;
    }
    return undefined;
  }

  return {
    async find(lookup) {
      const found = lookIn(await current(), lookup);
      if (found) return found;
      await refresh();
      // Rebuilt only if the refresh adopted a change (the change event dropped the index).
      return lookIn(await current(), lookup);
    },
    async get(id) {
      const known = registry.peek(id);
      if (known) return known;
      await refresh();
      return registry.peek(id);
    },
    builds: () => buildCount,
    close: unsubscribe,
  };
}
