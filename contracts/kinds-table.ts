/**
 * The kinds this process knows, and what each one's readings look like: the built-in kinds
 * from the start, others as the kind catalogue (common/kinds/; the dashboard: GET
 * /api/v1/kinds) hands them over with `setKindDefinitions`.
 *
 * Why one table per process rather than an argument: the code that needs it — parsing every
 * MQTT message, naming Influx measurements, checking query parameters, formatting values —
 * is pure and called from everywhere; threading a catalogue through all of it would change
 * every signature for a lookup that has one right answer per process. Every catalogue opened
 * in the process feeds the same table, so a kind added anywhere is known everywhere at once.
 */
import type { z } from 'zod';
import { BUILT_IN_KIND_DEFINITIONS, buildReadingSchema, type KindDefinition, type KindDisplay } from './kinds.ts';
import { BUILT_IN_KINDS, HEALTH_UNITS, isBuiltInKind, type ReadingKind } from './readings.ts';

interface KnownKind {
  definition: KindDefinition;
  schema: z.ZodType<Record<string, unknown>>;
  metrics: readonly string[];
  numeric: readonly string[];
  units: Readonly<Record<string, string>>;
}

const table = new Map<string, KnownKind>();
const listeners = new Set<() => void>();

function know(definition: KindDefinition): KnownKind {
  const units: Record<string, string> = { ...HEALTH_UNITS };
  for (const field of definition.fields) units[field.name] = field.unit;
  return {
    definition,
    schema: buildReadingSchema(definition),
    metrics: definition.fields.map((f) => f.name),
    numeric: definition.fields.filter((f) => f.type !== 'boolean').map((f) => f.name),
    units,
  };
}

for (const definition of BUILT_IN_KIND_DEFINITIONS) table.set(definition.id, know(definition));

/**
 * Adds or replaces kinds (by id; a newer version replaces an older one, never the reverse).
 * Built-in kinds are never replaced. Kinds are not forgotten: readings of a kind stay
 * readable after its definition file is removed.
 */
export function setKindDefinitions(definitions: readonly KindDefinition[]): void {
  let changed = false;
  for (const definition of definitions) {
    if (isBuiltInKind(definition.id)) continue;
    const known = table.get(definition.id);
    if (known && (known.definition.version > definition.version || JSON.stringify(known.definition) === JSON.stringify(definition))) continue;
    table.set(definition.id, know(definition));
    changed = true;
  }
  if (changed) for (const listener of listeners) listener();
}

/** Told after the table changed (the dashboard re-renders its kind lists). */
export function onKindsChanged(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Every known kind: the built-in ones first, then the others by id. */
export function readingKinds(): ReadingKind[] {
  const custom = [...table.keys()].filter((id) => !isBuiltInKind(id)).sort();
  return [...BUILT_IN_KINDS, ...custom];
}

export function isKnownKind(kind: string | undefined): kind is ReadingKind {
  return kind !== undefined && table.has(kind);
}

export function kindDefinitionOf(kind: ReadingKind): KindDefinition | undefined {
  return table.get(kind)?.definition;
}

/** The strict payload schema of a known kind. */
export function readingSchemaOf(kind: ReadingKind): z.ZodType<Record<string, unknown>> | undefined {
  return table.get(kind)?.schema;
}

/** The measurement fields of a kind, in definition order (what is stored as Influx fields); [] for an unknown kind. */
export function metricsOf(kind: ReadingKind): readonly string[] {
  return table.get(kind)?.metrics ?? [];
}

/** The numeric measurement fields of a kind (booleans left out: nothing to average). */
export function numericMetricsOf(kind: ReadingKind): readonly string[] {
  return table.get(kind)?.numeric ?? [];
}

/** Units of a kind's measurements and of the health fields (seq, battery, rssi); {} for an unknown kind. */
export function unitsOf(kind: ReadingKind): Readonly<Record<string, string>> {
  return table.get(kind)?.units ?? {};
}

export function isBooleanMetricOf(kind: ReadingKind, metric: string): boolean {
  return table.get(kind)?.definition.fields.some((f) => f.name === metric && f.type === 'boolean') ?? false;
}

/** How the dashboard shows a kind; undefined for an unknown kind. */
export function kindDisplayOf(kind: ReadingKind): (KindDisplay & { name: string }) | undefined {
  const definition = table.get(kind)?.definition;
  return definition ? { ...definition.display, name: definition.name } : undefined;
}
