/** The default lab's settings (LAB_ID, LAB_NAME, LAB_AREA), shared by `npm run api` and `npm run lab`. */
import { z } from 'zod';
import { DEFAULT_LAB_ID, LabAreaSchema, LabIdSchema, type CreateLabRequest } from '../../contracts/index.ts';

/** The lab a platform starts with unless LAB_ID, LAB_NAME, LAB_AREA say otherwise: central Copenhagen. */
export const DEFAULT_LAB: CreateLabRequest = { id: DEFAULT_LAB_ID, name: 'StreetLab', area: { south: 55.6, west: 12.45, north: 55.75, east: 12.7 } };

const AREA_TEXT = 'four numbers south,west,north,east (° WGS84), e.g. 55.6,12.45,55.75,12.7';

export const LabConfigShape = {
  /** The lab the platform starts with; devices, keys, trials and rules made before labs belong to it. */
  LAB_ID: LabIdSchema.default(DEFAULT_LAB_ID),
  LAB_NAME: z.string().min(1).max(200).default(DEFAULT_LAB.name),
  /** Its area: `south,west,north,east`. */
  LAB_AREA: z
    .string()
    .default(Object.values(DEFAULT_LAB.area).join(','))
    .transform((text, context) => {
      const parts = text.split(',').map((part) => Number(part.trim()));
      if (parts.length !== 4 || parts.some((n) => !Number.isFinite(n))) {
        context.addIssue({ code: 'custom', message: AREA_TEXT });
        return z.NEVER;
      }
      const [south, west, north, east] = parts as [number, number, number, number];
      const area = LabAreaSchema.safeParse({ south, west, north, east });
      if (!area.success) {
        context.addIssue({ code: 'custom', message: `${area.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')} (${AREA_TEXT})` });
        return z.NEVER;
      }
      return area.data;
    }),
};

export function defaultLabFromConfig(config: { LAB_ID: string; LAB_NAME: string; LAB_AREA: CreateLabRequest['area'] }): CreateLabRequest {
  return { id: config.LAB_ID, name: config.LAB_NAME, area: config.LAB_AREA };
}
