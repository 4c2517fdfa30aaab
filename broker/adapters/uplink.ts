/**
 * What every source adapter produces from one message: the identifiers that name the device,
 * its measurements under the source's own names, the network's metadata, and the mapping the
 * source itself implies (airrohr's value types); the device's own mapping is applied on top.
 */
import type { z } from 'zod';
import type { DeviceSource, FieldMapping } from '../../contracts/index.ts';
import type { DeviceLookup } from './device-index.ts';
import type { UplinkMeta } from './map-fields.ts';

export interface MappedUplink {
  source: Exclude<DeviceSource, 'mqtt' | 'http'>;
  lookup: DeviceLookup;
  /** How to name the device in messages (its DevEUI or id at the source). */
  label: string;
  fields: Record<string, unknown>;
  meta: UplinkMeta;
  /** Names the source defines (airrohr value types); the device's fieldMap wins over them. */
  builtInMapping?: FieldMapping;
}

export interface UplinkIssue {
  path: string;
  message: string;
}

export type AdapterResult = { ok: true; uplink: MappedUplink } | { ok: false; issues: UplinkIssue[] };

/** zod issues of a source's message schema as paths and messages. */
export function issuesOf(error: z.ZodError): UplinkIssue[] {
  return error.issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message }));
}
