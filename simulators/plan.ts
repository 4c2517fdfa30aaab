/**
 * Which devices a fleet has and where they stand: ids like `air-001`, `traffic-001`,
 * `bin-001`, spread over the test-bed streets with coordinates along each street.
 */
import { DEVICE_ID_PATTERN, type ReadingKind } from '../contracts/readings.ts';
import { isKnownKind, readingKinds } from '../contracts/kinds-table.ts';
import { AppError } from '../common/errors.ts';
import { deriveRandom, type Seed } from './random.ts';
import { DEVICE_ID_PREFIX, STREET_SITES, findSite, pointAlong } from './street.ts';
import type { DeviceSpec } from './devices/common.ts';

/** How many devices of each kind. */
export type DeviceCounts = Partial<Record<ReadingKind, number>>;

/** One device given explicitly; what is left out is filled in. */
export interface FleetDeviceInput {
  id: string;
  kind: ReadingKind;
  site?: string;
  lat?: number;
  lon?: number;
  /** MQTT username; default the device id. */
  username?: string;
  /** The device secret; overrides the fleet's credentials provider. */
  password?: string;
}

export interface PlannedDevice extends DeviceSpec {
  username?: string;
  password?: string;
}

/** The largest fleet one process is meant to run (README, "Simulators": up to 20,000 devices). */
export const MAX_FLEET_DEVICES = 20_000;

export function isDeviceCounts(devices: DeviceCounts | readonly FleetDeviceInput[]): devices is DeviceCounts {
  return !Array.isArray(devices);
}

/** Turns counts or an explicit list into complete device specs, reproducibly for a seed. */
export function planDevices(devices: DeviceCounts | readonly FleetDeviceInput[], seed: Seed): PlannedDevice[] {
  const inputs: FleetDeviceInput[] = [];
  if (isDeviceCounts(devices)) {
    // Built-in kinds first, then any other kind the process knows (contracts/kinds-table.ts).
    for (const kind of readingKinds()) {
      const count = devices[kind] ?? 0;
      if (!Number.isInteger(count) || count < 0) throw new AppError('CONFIG_INVALID', `device count for ${kind} must be a whole number ≥ 0 (got ${count})`);
      const width = Math.max(3, String(count).length);
      for (let i = 1; i <= count; i += 1) {
        inputs.push({ id: `${DEVICE_ID_PREFIX[kind] ?? kind}-${String(i).padStart(width, '0')}`, kind, site: STREET_SITES[(i - 1) % STREET_SITES.length]!.name });
      }
    }
  } else {
    inputs.push(...devices);
  }
  if (inputs.length > MAX_FLEET_DEVICES) {
    throw new AppError('CONFIG_INVALID', `a fleet has at most ${MAX_FLEET_DEVICES} devices (got ${inputs.length})`);
  }

  const seen = new Set<string>();
  const perKind: Partial<Record<ReadingKind, number>> = {};
  return inputs.map((input) => {
    if (!DEVICE_ID_PATTERN.test(input.id)) throw new AppError('CONFIG_INVALID', `device id "${input.id}" is not 1–64 of A–Z a–z 0–9 _ . -`);
    if (seen.has(input.id)) throw new AppError('CONFIG_INVALID', `device id "${input.id}" appears twice`);
    if (!isKnownKind(input.kind)) throw new AppError('CONFIG_INVALID', `device "${input.id}" has an unknown kind "${String(input.kind)}" (known: ${readingKinds().join(', ')})`);
    seen.add(input.id);
    const index = perKind[input.kind] ?? 0;
    perKind[input.kind] = index + 1;
    const siteName = input.site ?? STREET_SITES[index % STREET_SITES.length]!.name;
    const place = pointAlong(findSite(siteName), deriveRandom(seed, input.id, 'place').next());
    const planned: PlannedDevice = {
      id: input.id,
      kind: input.kind,
      site: siteName,
      lat: input.lat ?? place.lat,
      lon: input.lon ?? place.lon,
    };
    if (input.username !== undefined) planned.username = input.username;
    if (input.password !== undefined) planned.password = input.password;
    return planned;
  });
}
