/**
 * A device of a kind added at run time (contracts/kinds.ts): no street physics, just what its
 * definition says. Each numeric field wanders as an AR(1) process around a level drawn inside
 * its plausible range, an integer field is rounded, a boolean field flips now and then; every
 * value stays inside the definition's range, so a simulated device is only wrong on purpose.
 * The definition is read when the device is created (a later version applies to new devices).
 */
import type { KindDefinition, KindField } from '../../contracts/kinds.ts';
import { kindDefinitionOf } from '../../contracts/kinds-table.ts';
import type { ReadingPayload } from '../../contracts/readings.ts';
import { AppError } from '../../common/errors.ts';
import { clamp, round, stepAr1, type Random } from '../random.ts';
import type { StreetSite } from '../street.ts';
import { createBaseConfig, initialHealth, nextHealth, type BaseDeviceConfig, type Generated, type HealthState } from './common.ts';

export interface GenericDeviceConfig extends BaseDeviceConfig {
  kind: string;
  fields: readonly KindField[];
  /** Per numeric field, the level it wanders around. */
  levels: Readonly<Record<string, number>>;
}

export interface GenericState {
  health: HealthState;
  /** Per numeric field, the current deviation from its level (in units of the range). */
  wander: Record<string, number>;
  flags: Record<string, boolean>;
}

/** How long a value remembers where it was, and how far it wanders (standard deviation, share of the range). */
const MEMORY_MS = 3_600_000;
const WANDER_SD = 0.08;
const FLAG_FLIP_CHANCE = 0.02;

/**
 * Decimals a firmware would print for a range: two for everyday ranges, more for narrow ones
 * (a range of 0.001–0.005 printed with two decimals would be a constant, or fall outside it).
 */
function decimalsFor(span: number): number {
  return span >= 1 || span <= 0 ? 2 : Math.min(10, 2 + Math.ceil(-Math.log10(span)));
}

/** Rounded, then kept inside [min, max]: rounding must not carry a value across a bound. */
function roundInside(value: number, min: number, max: number, digits = 0): number {
  // An integer field whose range holds no whole number has no valid value at all: send the rounded one.
  if (min > max) return round(value, digits);
  return clamp(round(value, digits), min, max);
}

export function createGenericConfig(kind: string, id: string, site: StreetSite, weatherSeed: number, random: Random): GenericDeviceConfig {
  const definition: KindDefinition | undefined = kindDefinitionOf(kind);
  if (!definition) throw new AppError('CONFIG_INVALID', `device "${id}" has kind "${kind}", which this process does not know (GET /api/v1/kinds)`);
  const levels: Record<string, number> = {};
  for (const field of definition.fields) {
    if (field.type === 'boolean') continue;
    const min = field.min ?? 0;
    const max = field.max ?? min;
    // Somewhere in the middle half of the range: plausible, with room to wander both ways.
    levels[field.name] = min + (max - min) * random.range(0.25, 0.75);
  }
  return { ...createBaseConfig(id, site, weatherSeed, random), kind, fields: definition.fields, levels };
}

export function nextGenericReading(config: GenericDeviceConfig, tMs: number, previous: GenericState | undefined, random: Random): Generated<ReadingPayload, GenericState> {
  const before = previous?.health ?? initialHealth(random);
  const dtMs = before.lastTMs === undefined ? MEMORY_MS * 10 : tMs - before.lastTMs;
  const health = nextHealth(config, before, tMs, random);
  const wander: Record<string, number> = {};
  const flags: Record<string, boolean> = {};
  const payload: Record<string, unknown> = { ...health.fields };
  for (const field of config.fields) {
    if (field.type === 'boolean') {
      const was = previous?.flags[field.name] ?? false;
      flags[field.name] = random.chance(FLAG_FLIP_CHANCE) ? !was : was;
      payload[field.name] = flags[field.name];
      continue;
    }
    const min = field.min ?? 0;
    const max = field.max ?? min;
    wander[field.name] = stepAr1(previous?.wander[field.name] ?? 0, dtMs, MEMORY_MS, random);
    const value = clamp(config.levels[field.name]! + wander[field.name]! * WANDER_SD * (max - min), min, max);
    payload[field.name] = field.type === 'integer' ? roundInside(value, Math.ceil(min), Math.floor(max)) : roundInside(value, min, max, decimalsFor(max - min));
  }
  return { payload: payload as ReadingPayload, state: { health: health.state, wander, flags } };
}
