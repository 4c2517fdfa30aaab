/**
 * Open data: what an anonymous caller sees when the API's read side is public (PUBLIC_READ),
 * and the licence every such answer carries. Readings, latest values, windows, indices,
 * exports and bin analytics are published; who owns a device, its metadata, rejected payloads,
 * alerts, jobs, trials and keys are not.
 */
import { z } from 'zod';
import { DeviceRecordSchema } from './devices.ts';

/** The licence the data is published under, and how to credit it. */
export const LicenceSchema = z.object({
  id: z.string().describe('SPDX identifier of the licence').meta({ example: 'CC-BY-4.0' }),
  url: z.url().describe('the licence text').meta({ example: 'https://creativecommons.org/licenses/by/4.0/' }),
  attribution: z.string().describe('credit this when you reuse the data').meta({ example: 'StreetLab test bed' }),
});
export type Licence = z.infer<typeof LicenceSchema>;

/**
 * A JSON answer of an open-data route: the answer itself, plus `licence` when the caller is
 * anonymous (open-data view). Callers with a key get the licence in the `Link` header only.
 */
export function withLicence<Shape extends z.ZodRawShape>(schema: z.ZodObject<Shape>) {
  return schema.extend({ licence: LicenceSchema.optional().describe('open-data view (no credentials): the licence of this data and its attribution') });
}

/**
 * The fields of a device record that are open data. A whitelist: a field added to the
 * registry later stays withheld until it is added here.
 */
export const OPEN_DEVICE_FIELDS = ['id', 'kind', 'name', 'lat', 'lon', 'site', 'intervalSeconds', 'enabled', 'lab', 'source'] as const;

/**
 * A device as anonymous callers see it: where it is, what it measures, whether it is on and
 * how often it promises to report (the open windows' completeness is computed from that, so
 * it is published anyway) — no owner, no metadata, no registry times, no source identifiers.
 */
export const OpenDeviceRecordSchema = DeviceRecordSchema.pick({
  id: true,
  kind: true,
  name: true,
  lat: true,
  lon: true,
  site: true,
  intervalSeconds: true,
  enabled: true,
  lab: true,
  // How it sends (mqtt, http, ttn, …), shown on the dashboard; its identifiers (DevEUI…) stay withheld.
  source: true,
});
export type OpenDeviceRecord = z.infer<typeof OpenDeviceRecordSchema>;

/** A device as a GET answers it: the full record (reader or admin key) or its open-data view. */
export const DeviceRecordViewSchema = DeviceRecordSchema.partial({ owner: true, meta: true, createdAt: true, updatedAt: true }).extend({
  owner: DeviceRecordSchema.shape.owner.optional().describe('company or team testing the device; withheld from anonymous callers (open data)'),
  meta: DeviceRecordSchema.shape.meta.optional().describe('free-form metadata; withheld from anonymous callers (open data)'),
});
export type DeviceRecordView = z.infer<typeof DeviceRecordViewSchema>;

export const DeviceRecordViewListResponseSchema = z.object({ devices: z.array(DeviceRecordViewSchema) });

/** GET /api/v1/licence: the licence and what the open-data view holds. */
export const LicenceResponseSchema = z.object({
  licence: LicenceSchema,
  published: z.array(z.string()).describe('what anonymous callers may read'),
  withheld: z.array(z.string()).describe('what needs an API key'),
  publicRead: z.boolean().describe('whether anonymous callers get the open-data view at all (PUBLIC_READ)'),
});
export type LicenceResponse = z.infer<typeof LicenceResponseSchema>;
