/**
 * SensorThings request options and resource paths, parsed strictly: anything this API does not
 * understand is a 400 that names the option and says what would work, never an answer that
 * quietly ignores it. `$filter` has its own module (filter.ts).
 */
import { AppError } from '../../common/errors.ts';
import type { StaEntitySet } from '../../contracts/sensorthings.ts';
import type { QueryLimits } from '../query/limits.ts';
import { NAVIGATION } from './catalogue.ts';
import type { StaEntity } from './model.ts';

/** Entities per page when `$top` is not given (also inside `$expand`). */
export const DEFAULT_TOP = 100;
const bad = (message: string) => new AppError('BAD_REQUEST', message);

/** Properties `$filter`, `$orderby` and `$select` may name, per set. */
export const PROPERTIES: Record<StaEntitySet, readonly string[]> = {
  Things: ['id', '@iot.id', 'name', 'description', 'properties'],
  Locations: ['id', '@iot.id', 'name', 'description', 'encodingType', 'location'],
  Datastreams: ['id', '@iot.id', 'name', 'description', 'unitOfMeasurement', 'observationType', 'properties'],
  Sensors: ['id', '@iot.id', 'name', 'description', 'encodingType', 'metadata'],
  ObservedProperties: ['id', '@iot.id', 'name', 'definition', 'description'],
  Observations: ['id', '@iot.id', 'phenomenonTime', 'resultTime', 'result'],
};

export interface Segment {
  name: string;
  key?: string | undefined;
}

/** `Things('a''b')/Datastreams` → segments; ids quoted ('' is a quote) or bare. */
export function parsePath(path: string): Segment[] {
  if (path === '') return [];
  return path.split('/').map((raw) => {
    const match = /^([A-Za-z]+)(?:\((.*)\))?$/.exec(raw);
    if (!match) throw bad(`path: "${raw.slice(0, 60)}" is not an entity set or navigation property, optionally with an id in parentheses, e.g. Things('air-001')`);
    const [, name, key] = match;
    if (key === undefined) return { name: name! };
    if (/^'(?:[^']|'')*'$/.test(key)) return { name: name!, key: key.slice(1, -1).replace(/''/g, "'") };
    if (/^[A-Za-z0-9_.:-]+$/.test(key)) return { name: name!, key };
    throw bad(`path: the id in "${raw.slice(0, 60)}" is not a quoted string such as ('air-001')`);
  });
}

export interface ExpandItem {
  name: string;
  top?: number | undefined;
  order?: 'asc' | 'desc' | undefined;
}

export function parseNumber(value: string | undefined, param: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,10}$/.test(value) || Number(value) > max) throw bad(`${param}: give a whole number from 0 to ${max} (got "${value.slice(0, 20)}")`);
  return Number(value);
}

export function parseObservationOrder(value: string | undefined, param = '$orderby'): 'asc' | 'desc' {
  if (value === undefined) return 'asc';
  const match = /^\s*(phenomenonTime|resultTime)(?:\s+(asc|desc))?\s*$/.exec(value);
  if (!match) throw bad(`${param}: Observations are ordered by phenomenonTime asc or phenomenonTime desc (got "${value.slice(0, 60)}")`);
  return (match[2] as 'asc' | 'desc' | undefined) ?? 'asc';
}

/** `$orderby` of the registry sets: id or name, asc or desc, several comma-separated. */
export function parseListOrder(value: string | undefined, set: StaEntitySet): ((a: StaEntity, b: StaEntity) => number) | undefined {
  if (value === undefined) return undefined;
  const keys = value.split(',').map((part) => {
    const match = /^\s*(id|@iot\.id|name)(?:\s+(asc|desc))?\s*$/.exec(part);
    if (!match) throw bad(`$orderby: ${set} can be ordered by id or name, asc or desc (got "${part.slice(0, 60)}")`);
    return { key: match[1] === 'name' ? 'name' : '@iot.id', sign: match[2] === 'desc' ? -1 : 1 };
  });
  return (a, b) => {
    for (const { key, sign } of keys) {
      const x = String(a[key]);
      const y = String(b[key]);
      if (x !== y) return x < y ? -sign : sign;
    }
    return 0;
  };
}

export function parseExpand(value: string | undefined, set: StaEntitySet, limits: QueryLimits): ExpandItem[] {
  if (value === undefined) return [];
  const parts = value.split(',').map((p) => p.trim()).filter((p) => p !== '');
  return parts.map((part) => {
    const match = /^([A-Za-z]+)(?:\((.*)\))?$/.exec(part);
    if (!match) {
      if (part.includes('/')) throw bad(`$expand: one level only (got "${part.slice(0, 60)}"); expand the next level from the entity's own link`);
      throw bad(`$expand: "${part.slice(0, 60)}" is not a navigation property`);
    }
    const [, name, options] = match;
    if (!NAVIGATION[set][name!]) throw bad(`$expand: ${set} have no navigation property "${name}"; use ${Object.keys(NAVIGATION[set]).join(', ')}`);
    const item: ExpandItem = { name: name! };
    for (const option of options === undefined || options === '' ? [] : options.split(';')) {
      const [key, optionValue] = option.split('=');
      if (key === '$top') item.top = parseNumber(optionValue, `$expand ${name}($top)`, DEFAULT_TOP, limits.jsonMaxPoints);
      else if (key === '$orderby' && NAVIGATION[set][name!]!.set === 'Observations') item.order = parseObservationOrder(optionValue, `$expand ${name}($orderby)`);
      else throw bad(`$expand: ${name}(${option.slice(0, 40)}) is not supported; inside $expand use $top and, for Observations, $orderby`);
    }
    return item;
  });
}

export function parseSelect(value: string | undefined, set: StaEntitySet): string[] | undefined {
  if (value === undefined) return undefined;
  const names = value.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const allowed = new Set([...PROPERTIES[set], ...Object.keys(NAVIGATION[set])]);
  for (const name of names) if (!allowed.has(name)) throw bad(`$select: ${set} have no property "${name.slice(0, 40)}"; use ${[...allowed].join(', ')}`);
  return names;
}

export function select(entity: StaEntity, names: readonly string[] | undefined, expanded: readonly ExpandItem[]): StaEntity {
  if (!names) return entity;
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const key = name === 'id' ? '@iot.id' : name;
    if (entity[key] !== undefined) out[key] = entity[key];
    if (entity[`${name}@iot.navigationLink`] !== undefined) out[`${name}@iot.navigationLink`] = entity[`${name}@iot.navigationLink`];
  }
  for (const item of expanded) {
    out[item.name] = entity[item.name];
    if (entity[`${item.name}@iot.nextLink`] !== undefined) out[`${item.name}@iot.nextLink`] = entity[`${item.name}@iot.nextLink`];
  }
  return out as StaEntity;
}
