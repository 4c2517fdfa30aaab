/**
 * Device kinds as data. A kind definition says what a device of that kind measures — each
 * field with unit, type, plausible range and whether it is required — and how the dashboard
 * shows it. The lab's own kinds (air, traffic, waste) are defined here in the same format as
 * the ones added at run time (`POST /api/v1/kinds`, `DATA_DIR/kinds/*.json`), and the strict
 * payload schema of every kind is built from its definition by `buildReadingSchema`.
 *
 * Versioning rules (enforced by `kindChangeProblems` and the catalogue in common/kinds/):
 * every change bumps `version`; a field may be added, ranges, descriptions and the display
 * may change; once readings of the kind are stored, removing a field or changing its unit or
 * type is refused, because it would make the stored history mean something else.
 */
import { z } from 'zod';
import { COMMON_FIELDS, CommonFieldsShape, KIND_ID_PATTERN } from './readings.ts';

/** Field names: a letter, then up to 39 of `[A-Za-z0-9_]` (safe as JSON key, Influx field and CSV column). */
export const KIND_FIELD_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,39}$/;
/**
 * Names a kind may not use for a field: the common payload fields, and the columns and rollup
 * fields StreetLab itself stores next to the measurements (common/influx-schema.ts).
 */
export const RESERVED_FIELD_NAMES: readonly string[] = [...COMMON_FIELDS, 'time', 'device', 'site', 'owner', 'kind', 'received_ms', 'readings', 'completeness', 'interval_s'];
export const KIND_FIELD_TYPES = ['number', 'integer', 'boolean'] as const;
export type KindFieldType = (typeof KIND_FIELD_TYPES)[number];

/** A required text: "required" when absent, so a bad definition's error names the field plainly. */
const text = (max: number) =>
  z
    .string({ error: (issue) => (issue.input === undefined ? 'required' : 'must be a string') })
    .trim()
    .min(1, 'must not be empty')
    .max(max, `at most ${max} characters`);

export const KindFieldSchema = z
  .strictObject({
    name: z
      .string({ error: (issue) => (issue.input === undefined ? 'required' : 'must be a string') })
      .regex(KIND_FIELD_NAME_PATTERN, 'a field name is a letter followed by up to 39 of A–Z a–z 0–9 _')
      .describe('the payload key, e.g. moisture'),
    unit: text(32).describe('unit shown with every value, e.g. %, °C, µS/cm; "count" for counts, "bool" for flags'),
    type: z.enum(KIND_FIELD_TYPES, { error: (issue) => (issue.input === undefined ? 'required' : 'one of number, integer, boolean') }),
    min: z.number().finite().optional().describe('lowest plausible value (number and integer fields: required)'),
    max: z.number().finite().optional().describe('highest plausible value (number and integer fields: required)'),
    required: z.boolean().default(false).describe('the payload must carry it'),
    description: text(200),
  })
  .superRefine((field, ctx) => {
    if (field.type === 'boolean') {
      if (field.min !== undefined || field.max !== undefined) ctx.addIssue({ code: 'custom', path: ['min'], message: 'a boolean field has no range' });
      return;
    }
    if (field.min === undefined) ctx.addIssue({ code: 'custom', path: ['min'], message: 'required for a number or integer field' });
    if (field.max === undefined) ctx.addIssue({ code: 'custom', path: ['max'], message: 'required for a number or integer field' });
    if (field.min !== undefined && field.max !== undefined && field.min > field.max) {
      ctx.addIssue({ code: 'custom', path: ['max'], message: `must be at least min (${field.min})` });
    }
  });
export type KindField = z.infer<typeof KindFieldSchema>;

export const KindColourStopSchema = z.strictObject({
  value: z.number().finite().describe('from this value of the headline metric up…'),
  colour: z.string().regex(/^#[0-9a-fA-F]{6}$/, 'a colour is #rrggbb').describe('…markers take this colour'),
});

export type KindColourStop = z.infer<typeof KindColourStopSchema>;

export const KindDisplaySchema = z
  .strictObject({
    headline: z.string({ error: (issue) => (issue.input === undefined ? 'required' : 'must be a string') }).describe('the numeric field shown on the map and in the devices list'),
    letter: z.string().regex(/^[A-Z0-9]$/, 'one capital letter or digit').describe('the letter on map markers'),
    colours: z.array(KindColourStopSchema).min(1, 'at least one colour stop').max(12).describe('colour scale of the headline metric, stops in ascending value'),
  })
  .superRefine((display, ctx) => {
    display.colours.forEach((stop, i) => {
      const previous = display.colours[i - 1];
      if (previous && stop.value <= previous.value) ctx.addIssue({ code: 'custom', path: ['colours', i, 'value'], message: `stops must ascend (after ${previous.value})` });
    });
  });
export type KindDisplay = z.infer<typeof KindDisplaySchema>;

const kindShape = {
  id: z
    .string({ error: (issue) => (issue.input === undefined ? 'required' : 'must be a string') })
    .regex(KIND_ID_PATTERN, 'a kind id is a lowercase letter followed by 1–31 of a–z 0–9 _')
    .describe('the kind id: topic level, measurement name, `kind` of its devices'),
  name: text(60).describe('display name, e.g. "Soil"'),
  description: text(500),
  fields: z.array(KindFieldSchema).min(1, 'a kind needs at least one field').max(64, 'at most 64 fields'),
  atLeastOneOf: z.array(z.string()).min(1).optional().describe('a reading must carry at least one of these fields'),
  display: KindDisplaySchema,
};

function checkKind(kind: { fields: KindField[]; atLeastOneOf?: string[] | undefined; display: KindDisplay }, ctx: z.core.$RefinementCtx<unknown>): void {
  const byName = new Map<string, KindField>();
  kind.fields.forEach((field, i) => {
    if (RESERVED_FIELD_NAMES.includes(field.name)) ctx.addIssue({ code: 'custom', path: ['fields', i, 'name'], message: `"${field.name}" is reserved (${RESERVED_FIELD_NAMES.join(', ')})` });
    if (byName.has(field.name)) ctx.addIssue({ code: 'custom', path: ['fields', i, 'name'], message: `"${field.name}" is defined twice` });
    byName.set(field.name, field);
  });
  kind.atLeastOneOf?.forEach((name, i) => {
    if (!byName.has(name)) ctx.addIssue({ code: 'custom', path: ['atLeastOneOf', i], message: `"${name}" is not one of the fields` });
  });
  const headline = byName.get(kind.display.headline);
  if (!headline || headline.type === 'boolean') {
    const numeric = kind.fields.filter((f) => f.type !== 'boolean').map((f) => f.name);
    ctx.addIssue({ code: 'custom', path: ['display', 'headline'], message: `must be a numeric field (${numeric.join(', ') || 'none defined'})` });
  }
}

/** A kind as stored and served: its definition and its version (1 when created, +1 on every change). */
export const KindDefinitionSchema = z.strictObject({ ...kindShape, version: z.number().int().min(1) }).superRefine(checkKind);
export type KindDefinition = z.infer<typeof KindDefinitionSchema>;
export type KindDefinitionInput = z.input<typeof KindDefinitionSchema>;

/**
 * What an admin sends (POST and PUT /api/v1/kinds, `DATA_DIR/kinds/*.json`): the definition
 * without a version, which the catalogue assigns. A `version` may be sent on PUT: a change
 * made from an older version than the current one is refused (someone else changed it).
 */
export const KindInputSchema = z.strictObject({ ...kindShape, version: z.number().int().min(1).optional() }).superRefine(checkKind);
export type KindInput = z.infer<typeof KindInputSchema>;

/** What GET /api/v1/kinds answers for each kind. */
export const KindResponseSchema = z.object({ ...kindShape, version: z.number().int(), builtIn: z.boolean().describe('air, traffic and waste ship with the lab and cannot be changed') });
export type KindResponse = z.infer<typeof KindResponseSchema>;
export const KindListResponseSchema = z.object({ kinds: z.array(KindResponseSchema) });

/**
 * Why `next` may not replace `current` while readings of the kind are stored (empty = it may):
 * a removed field, or a field whose unit or type changed.
 */
export function kindChangeProblems(current: KindDefinition, next: Pick<KindDefinition, 'fields'>): string[] {
  const problems: string[] = [];
  const nextFields = new Map(next.fields.map((f) => [f.name, f]));
  for (const field of current.fields) {
    const replacement = nextFields.get(field.name);
    if (!replacement) problems.push(`field "${field.name}" cannot be removed`);
    else {
      if (replacement.unit !== field.unit) problems.push(`field "${field.name}" cannot change its unit from ${field.unit} to ${replacement.unit}`);
      if (replacement.type !== field.type) problems.push(`field "${field.name}" cannot change its type from ${field.type} to ${replacement.type}`);
    }
  }
  return problems;
}

function fieldSchema(field: KindField): z.ZodType {
  let schema: z.ZodType;
  if (field.type === 'boolean') schema = z.boolean();
  else {
    let number = field.type === 'integer' ? z.number().int() : z.number();
    if (field.min !== undefined) number = number.min(field.min);
    if (field.max !== undefined) number = number.max(field.max);
    schema = number;
  }
  schema = schema.describe(field.unit);
  return field.required ? schema : schema.optional();
}

/** "an air reading", "a soil reading". */
function readingNoun(id: string): string {
  return `${/^[aeiou]/.test(id) ? 'an' : 'a'} ${id} reading`;
}

/**
 * The strict payload schema of a kind: the common fields plus the kind's fields; an unknown
 * field fails with zod's `unrecognized_keys`, a reading without any of `atLeastOneOf` with a
 * custom issue carrying `code: NO_MEASUREMENT`.
 */
export function buildReadingSchema(definition: Pick<KindDefinition, 'id' | 'fields' | 'atLeastOneOf'>): z.ZodType<Record<string, unknown>> {
  const shape: Record<string, z.ZodType> = { ...CommonFieldsShape };
  for (const field of definition.fields) shape[field.name] = fieldSchema(field);
  const strict = z.strictObject(shape) as unknown as z.ZodType<Record<string, unknown>>;
  const oneOf = definition.atLeastOneOf;
  if (!oneOf || oneOf.length === 0) return strict;
  return strict.refine((reading) => oneOf.some((name) => reading[name] !== undefined), {
    message: `${readingNoun(definition.id)} needs at least one of ${oneOf.join(', ')}`,
    params: { code: 'NO_MEASUREMENT' },
  });
}

const n = (name: string, unit: string, min: number, max: number, description: string, required = false): KindField => ({ name, unit, type: 'number', min, max, required, description });
const count = (name: string, max: number, description: string): KindField => ({ name, unit: 'count', type: 'integer', min: 0, max, required: false, description });

const AIR_FIELDS: KindField[] = [
  n('pm1', 'µg/m³', 0, 2000, 'particulate matter below 1 µm'),
  n('pm25', 'µg/m³', 0, 2000, 'particulate matter below 2.5 µm'),
  n('pm10', 'µg/m³', 0, 3000, 'particulate matter below 10 µm'),
  n('no2', 'µg/m³', 0, 2000, 'nitrogen dioxide'),
  n('o3', 'µg/m³', 0, 1000, 'ozone'),
  n('so2', 'µg/m³', 0, 2000, 'sulphur dioxide'),
  n('co', 'mg/m³', 0, 200, 'carbon monoxide'),
  n('temperature', '°C', -50, 70, 'air temperature'),
  n('humidity', '%RH', 0, 100, 'relative humidity'),
  n('pressure', 'hPa', 800, 1100, 'air pressure'),
  n('noise', 'dB(A)', 0, 140, 'A-weighted sound level'),
];

/** The lab's own kinds, in the format of every other kind (version 1, never changed at run time). */
export const BUILT_IN_KIND_DEFINITIONS: readonly KindDefinition[] = [
  {
    id: 'air',
    name: 'Air quality',
    description: 'Air-quality stations: particulates, gases, weather and noise.',
    version: 1,
    fields: AIR_FIELDS,
    atLeastOneOf: AIR_FIELDS.map((f) => f.name),
    display: {
      headline: 'pm25',
      letter: 'A',
      // The EEA's PM2.5 bands (contracts/aqi.ts), from good to extremely poor.
      colours: [
        { value: 0, colour: '#50f0e6' },
        { value: 10, colour: '#50ccaa' },
        { value: 20, colour: '#f0e641' },
        { value: 25, colour: '#ff5050' },
        { value: 50, colour: '#960032' },
        { value: 75, colour: '#7d2181' },
      ],
    },
  },
  {
    id: 'traffic',
    name: 'Traffic',
    description: 'Traffic counters: vehicles, bicycles and pedestrians per counting period.',
    version: 1,
    fields: [
      { name: 'period', unit: 's', type: 'integer', min: 1, max: 86_400, required: true, description: 'length of the counting period' },
      count('cars', 100_000, 'cars counted in the period'),
      count('buses', 10_000, 'buses counted in the period'),
      count('trucks', 10_000, 'trucks counted in the period'),
      count('bicycles', 100_000, 'bicycles counted in the period'),
      count('pedestrians', 100_000, 'pedestrians counted in the period'),
      n('speed', 'km/h', 0, 200, 'mean vehicle speed'),
      n('occupancy', '%', 0, 100, 'share of the period the detector was occupied'),
    ],
    display: {
      headline: 'cars',
      letter: 'T',
      colours: [
        { value: 0, colour: '#9ecae1' },
        { value: 50, colour: '#4292c6' },
        { value: 200, colour: '#08519c' },
      ],
    },
  },
  {
    id: 'waste',
    name: 'Waste bins',
    description: 'Waste-bin fill sensors.',
    version: 1,
    fields: [
      n('fill', '%', 0, 100, 'how full the bin is', true),
      n('temperature', '°C', -50, 150, 'temperature inside the bin'),
      { name: 'lidOpen', unit: 'bool', type: 'boolean', required: false, description: 'the lid is open' },
      n('tilt', '°', 0, 180, 'tilt from upright'),
      n('weight', 'kg', 0, 5000, 'weight of the contents'),
    ],
    display: {
      headline: 'fill',
      letter: 'W',
      colours: [
        { value: 0, colour: '#41ab5d' },
        { value: 60, colour: '#fe9929' },
        { value: 80, colour: '#d7301f' },
      ],
    },
  },
];
