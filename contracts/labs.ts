/**
 * Labs: several test beds (a district, a partner city) on one platform. A lab has its own
 * devices, API keys, trials, alert rules and dashboard (`/labs/{lab}/`). Device ids stay
 * unique across the platform, so the MQTT contract does not know about labs.
 *
 * Records stored before labs existed (devices, keys, trials, rules) carry no `lab`: they
 * belong to the default lab (`LAB_ID`, `main` unless configured).
 */
import { z } from 'zod';

/** The lab `npm run lab` and `npm run api` start with unless `LAB_ID` says otherwise. */
export const DEFAULT_LAB_ID = 'main';

export const LabIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'a lab id: lower-case letters, digits and -, at most 32, starting with a letter or digit')
  .meta({ example: 'norrebro' });
export type LabId = z.infer<typeof LabIdSchema>;

/** The lab's area as a WGS84 bounding box (the dashboard map opens on it). */
export const LabAreaSchema = z
  .strictObject({
    south: z.number().min(-90).max(90).describe('° latitude of the southern edge'),
    west: z.number().min(-180).max(180).describe('° longitude of the western edge'),
    north: z.number().min(-90).max(90).describe('° latitude of the northern edge'),
    east: z.number().min(-180).max(180).describe('° longitude of the eastern edge'),
  })
  .refine((area) => area.south < area.north, { path: ['north'], message: 'north must be greater than south' })
  .refine((area) => area.west < area.east, { path: ['east'], message: 'east must be greater than west' });
export type LabArea = z.infer<typeof LabAreaSchema>;

export const LabSchema = z.object({
  id: LabIdSchema,
  name: z.string().min(1).max(200),
  area: LabAreaSchema,
  createdAt: z.iso.datetime(),
});
export type Lab = z.infer<typeof LabSchema>;

export const CreateLabRequestSchema = z.strictObject({
  id: LabIdSchema,
  name: z.string().min(1).max(200),
  area: LabAreaSchema,
});
export type CreateLabRequest = z.infer<typeof CreateLabRequestSchema>;

export const LabListResponseSchema = z.object({
  labs: z.array(LabSchema),
  defaultLab: LabIdSchema.describe('the lab of records made before labs, and of the dashboard at /'),
});
export type LabListResponse = z.infer<typeof LabListResponseSchema>;

/** The one lab query parameter every read route accepts (unscoped callers only pick with it). */
export const LAB_QUERY_PARAMETER = 'lab';
