import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BUILT_IN_KINDS,
  BUILT_IN_KIND_DEFINITIONS,
  KindDefinitionSchema,
  KindInputSchema,
  buildReadingSchema,
  isKnownKind,
  kindChangeProblems,
  metricsOf,
  readingKinds,
  setKindDefinitions,
  unitsOf,
  type AirReading,
  type KindDefinition,
  type TrafficReading,
  type WasteReading,
} from '../../../contracts/index.ts';
import { parseMessage } from '../../../broker/parse-message.ts';

const SOIL_INPUT = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'kinds', 'soil.json'), 'utf8')) as Record<string, unknown>;
const soil = (): KindDefinition => KindDefinitionSchema.parse({ ...SOIL_INPUT, version: 1 });
const RECEIVED_AT = Date.parse('2026-11-22T10:00:30Z');
const bytes = (payload: unknown) => Buffer.from(JSON.stringify(payload));

/** The first problem zod finds in a definition, as the API reports it (`path: message`). */
function firstProblem(input: unknown): string | undefined {
  const result = KindInputSchema.safeParse(input);
  if (result.success) return undefined;
  const issue = result.error.issues[0]!;
  return `${issue.path.join('.')}: ${issue.message}`;
}

describe('built-in kinds', () => {
  it('are defined in the format of every other kind', () => {
    expect(BUILT_IN_KIND_DEFINITIONS.map((d) => d.id)).toEqual([...BUILT_IN_KINDS]);
    for (const definition of BUILT_IN_KIND_DEFINITIONS) expect(KindDefinitionSchema.safeParse(definition).success, definition.id).toBe(true);
  });

  it('name the fields the payload types of the kind-specific code name', () => {
    // A compile-time list per type: adding a field to one side only fails here.
    const air: Record<keyof Omit<AirReading, 'ts' | 'seq' | 'battery' | 'rssi'>, true> = { pm1: true, pm25: true, pm10: true, no2: true, o3: true, so2: true, co: true, temperature: true, humidity: true, pressure: true, noise: true };
    const traffic: Record<keyof Omit<TrafficReading, 'ts' | 'seq' | 'battery' | 'rssi'>, true> = { period: true, cars: true, buses: true, trucks: true, bicycles: true, pedestrians: true, speed: true, occupancy: true };
    const waste: Record<keyof Omit<WasteReading, 'ts' | 'seq' | 'battery' | 'rssi'>, true> = { fill: true, temperature: true, lidOpen: true, tilt: true, weight: true };
    expect([...metricsOf('air')].sort()).toEqual(Object.keys(air).sort());
    expect([...metricsOf('traffic')].sort()).toEqual(Object.keys(traffic).sort());
    expect([...metricsOf('waste')].sort()).toEqual(Object.keys(waste).sort());
  });

  it('keep the air rule "at least one measurement" with its message', () => {
    const result = parseMessage('lab/v1/air/a-1', bytes({ battery: 80 }), RECEIVED_AT);
    expect(!result.ok && result.rejection).toMatchObject({ reason: 'NO_MEASUREMENT', message: `an air reading needs at least one of ${metricsOf('air').join(', ')}` });
  });

  it('cannot be replaced through the kind table', () => {
    const air = BUILT_IN_KIND_DEFINITIONS[0]!;
    setKindDefinitions([{ ...air, version: 9, fields: air.fields.slice(0, 1) }]);
    expect(metricsOf('air')).toHaveLength(air.fields.length);
  });
});

describe('a reading schema built from a definition', () => {
  const schema = buildReadingSchema(soil());

  it('accepts the fields with their types and ranges, plus the common fields', () => {
    expect(schema.safeParse({ moisture: 31.5, soilTemperature: 12, conductivity: 850, light: 12000, battery: 90, ts: RECEIVED_AT }).success).toBe(true);
    expect(schema.safeParse({ moisture: 0 }).success).toBe(true);
  });

  it('refuses what the definition does not allow', () => {
    expect(schema.safeParse({}).success).toBe(false); // moisture is required
    expect(schema.safeParse({ moisture: 101 }).success).toBe(false);
    expect(schema.safeParse({ moisture: 30, conductivity: 12.5 }).success).toBe(false); // an integer field
    expect(schema.safeParse({ moisture: 30, light: '12000' }).success).toBe(false);
    expect(schema.safeParse({ moisture: 30, pm25: 3 }).success).toBe(false); // strict
  });

  it('applies "at least one of" with the kind in the message', () => {
    const optional = buildReadingSchema({ id: 'soil', fields: soil().fields.map((f) => ({ ...f, required: false })), atLeastOneOf: ['moisture', 'light'] });
    const result = optional.safeParse({ battery: 5 });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe('a soil reading needs at least one of moisture, light');
  });
});

describe('a kind added at run time', () => {
  const topic = 'lab/v1/soil/soil-1';

  it('is unknown to the edge until its definition arrives (KIND_UNKNOWN, not a topic error)', () => {
    const id = 'kind_test_unknown';
    const result = parseMessage(`lab/v1/${id}/x-1`, bytes({ moisture: 3 }), RECEIVED_AT);
    expect(!result.ok && result.rejection).toMatchObject({ reason: 'KIND_UNKNOWN', kind: id, deviceId: 'x-1' });
    expect(!result.ok && result.rejection.message).toContain(`unknown kind "${id}"`);
  });

  it('is validated, normalised and explained like a built-in one', () => {
    setKindDefinitions([soil()]);
    expect(isKnownKind('soil')).toBe(true);
    expect(readingKinds()).toEqual([...BUILT_IN_KINDS, ...readingKinds().slice(3)]);
    expect(unitsOf('soil')).toMatchObject({ moisture: '%VWC', conductivity: 'µS/cm', battery: '%' });

    const ok = parseMessage(topic, bytes({ moisture: 22.5, conductivity: 900, seq: 4 }), RECEIVED_AT);
    expect(ok.ok && ok.reading).toMatchObject({ kind: 'soil', deviceId: 'soil-1', values: { moisture: 22.5, conductivity: 900 }, seq: 4 });

    const range = parseMessage(topic, bytes({ moisture: 140 }), RECEIVED_AT);
    expect(!range.ok && range.rejection).toMatchObject({ reason: 'FIELD_RANGE', issues: [{ path: 'moisture', code: 'FIELD_RANGE' }] });
    expect(!range.ok && range.rejection.message).toMatch(/^moisture: .*100/);

    const missing = parseMessage(topic, bytes({ light: 5 }), RECEIVED_AT);
    expect(!missing.ok && missing.rejection).toMatchObject({ reason: 'FIELD_MISSING', issues: [{ path: 'moisture' }] });

    const unknown = parseMessage(topic, bytes({ moisture: 5, ph: 7 }), RECEIVED_AT);
    expect(!unknown.ok && unknown.rejection.message).toBe('ph: unknown field "ph" for soil; allowed: ts, seq, battery, rssi, moisture, soilTemperature, conductivity, light');
  });

  it('replaces an older version, never a newer one', () => {
    const v2 = { ...soil(), version: 2, fields: [...soil().fields, { name: 'ph', unit: 'pH', type: 'number' as const, min: 0, max: 14, required: false, description: 'acidity' }] };
    setKindDefinitions([v2]);
    expect(metricsOf('soil')).toContain('ph');
    setKindDefinitions([soil()]);
    expect(metricsOf('soil')).toContain('ph');
  });
});

describe('definition validation', () => {
  const withField = (i: number, patch: Record<string, unknown>) => {
    const fields = (SOIL_INPUT.fields as Record<string, unknown>[]).map((f, j) => (j === i ? { ...f, ...patch } : f));
    return { ...SOIL_INPUT, fields };
  };

  it('accepts the soil example', () => {
    expect(firstProblem(SOIL_INPUT)).toBeUndefined();
  });

  it.each([
    ['a field without unit', withField(2, { unit: undefined }), 'fields.2.unit: required'],
    ['a field of an unknown type', withField(1, { type: 'float' }), 'fields.1.type: one of number, integer, boolean'],
    ['a numeric field without range', withField(0, { max: undefined }), 'fields.0.max: required for a number or integer field'],
    ['min above max', withField(0, { min: 50, max: 10 }), 'fields.0.max: must be at least min (50)'],
    ['a reserved field name', withField(3, { name: 'battery' }), 'fields.3.name: "battery" is reserved'],
    ['a field defined twice', withField(3, { name: 'moisture' }), 'fields.3.name: "moisture" is defined twice'],
    ['a bad id', { ...SOIL_INPUT, id: 'Soil' }, 'id: a kind id is a lowercase letter followed by 1–31 of a–z 0–9 _'],
    ['a headline that is no field', { ...SOIL_INPUT, display: { ...(SOIL_INPUT.display as object), headline: 'ph' } }, 'display.headline: must be a numeric field'],
    ['colour stops out of order', { ...SOIL_INPUT, display: { ...(SOIL_INPUT.display as object), colours: [{ value: 5, colour: '#000000' }, { value: 1, colour: '#ffffff' }] } }, 'display.colours.1.value: stops must ascend (after 5)'],
    ['"at least one of" naming no field', { ...SOIL_INPUT, atLeastOneOf: ['moisture', 'ph'] }, 'atLeastOneOf.1: "ph" is not one of the fields'],
    ['an unknown property', { ...SOIL_INPUT, colour: 'green' }, ': Unrecognized key: "colour"'],
  ])('refuses %s, naming the field', (_what, input, expected) => {
    expect(firstProblem(input)).toContain(expected);
  });
});

describe('versioning rules', () => {
  it('allow adding a field and changing ranges, descriptions and the display', () => {
    const current = soil();
    const next = { fields: [...current.fields.map((f) => ({ ...f, max: (f.max ?? 0) + 1, description: 'changed' })), { ...current.fields[0]!, name: 'ph', unit: 'pH' }] };
    expect(kindChangeProblems(current, next)).toEqual([]);
  });

  it('name every removed field and changed unit or type', () => {
    const current = soil();
    const [moisture, temperature, conductivity] = current.fields;
    const next = { fields: [{ ...moisture!, unit: '%' }, temperature!, { ...conductivity!, type: 'number' as const }] };
    expect(kindChangeProblems(current, next)).toEqual([
      'field "moisture" cannot change its unit from %VWC to %',
      'field "conductivity" cannot change its type from integer to number',
      'field "light" cannot be removed',
    ]);
  });
});
