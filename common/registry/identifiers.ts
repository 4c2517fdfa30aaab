/**
 * A device's source fields in the registry (contracts/device-sources.ts): what is stored at
 * registration, how a PATCH changes it, and the rule that an identifier (DevEUI, TTS device id,
 * airrohr chip id) names one device platform-wide. The check runs inside the registry's
 * change (under its lock, on the freshest document), so two concurrent registrations cannot
 * both take one DevEUI.
 */
import { DEVICE_IDENTIFIERS, normalizeIdentifier, type DeviceRecord, type UpdateDeviceRequest } from '../../contracts/index.ts';
import { AppError } from '../errors.ts';

type SourceFields = Pick<DeviceRecord, 'source' | 'devEui' | 'ttnDeviceId' | 'airrohrChipId' | 'fieldMap'>;

/** The source fields of a registration, normalised (DevEUI upper-case), absent ones left out. */
export function sourceFieldsOf(input: SourceFields): SourceFields {
  return {
    ...(input.source !== undefined ? { source: input.source } : {}),
    ...(input.devEui !== undefined ? { devEui: normalizeIdentifier('devEui', input.devEui) } : {}),
    ...(input.ttnDeviceId !== undefined ? { ttnDeviceId: input.ttnDeviceId } : {}),
    ...(input.airrohrChipId !== undefined ? { airrohrChipId: input.airrohrChipId } : {}),
    ...(input.fieldMap !== undefined ? { fieldMap: input.fieldMap } : {}),
  };
}

/** Applies a PATCH's source fields to `next` in place: a value sets, null clears. */
export function applySourcePatch(next: SourceFields, changes: UpdateDeviceRequest): void {
  const fields = ['source', 'devEui', 'ttnDeviceId', 'airrohrChipId', 'fieldMap'] as const;
  for (const field of fields) {
    const value = changes[field];
    if (value === null) delete next[field];
    else if (value !== undefined) Object.assign(next, sourceFieldsOf({ [field]: value }));
  }
}

/** CONFLICT when another device already has one of `candidate`'s identifiers. */
export function assertIdentifiersFree(devices: Iterable<DeviceRecord>, candidate: DeviceRecord): void {
  for (const identifier of DEVICE_IDENTIFIERS) {
    const value = candidate[identifier];
    if (value === undefined) continue;
    for (const other of devices) {
      if (other.id === candidate.id) continue;
      const taken = other[identifier];
      if (taken !== undefined && normalizeIdentifier(identifier, taken) === normalizeIdentifier(identifier, value)) {
        throw new AppError('CONFLICT', `${identifier}: "${value}" is already the ${identifier} of device "${other.id}"`);
      }
    }
  }
}
