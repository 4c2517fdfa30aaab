/**
 * The NGSI-LD query language as far as this read API speaks it, parsed strictly (a bad query
 * is a 400 naming the parameter, never an empty answer):
 * - `q`: comparisons on a property's value, `attr==v`, `!=`, `>`, `>=`, `<`, `<=`, joined by
 *   `;` (AND). Values are numbers, `true`/`false`, or text in double quotes (bare text is taken
 *   as text too). A multi-attribute (traffic `intensity`) compares its default instance.
 * - geo-queries: `georel=near;maxDistance==<m>` (or `minDistance`), `geometry=Point`,
 *   `coordinates=[lon,lat]`, on `location` — great-circle distance on the WGS84 sphere.
 * - paging: `limit` 1–1000 (default 20), `offset`.
 */
import { AppError } from '../../common/errors.ts';
import type { NgsiLdProperty } from '../../contracts/ngsi-ld.ts';

const bad = (message: string) => new AppError('BAD_REQUEST', message);

export type Comparator = '==' | '!=' | '>' | '>=' | '<' | '<=';
export interface Comparison {
  attribute: string;
  op: Comparator;
  value: number | string | boolean;
}

const TERM = /^([A-Za-z][A-Za-z0-9_]*)(==|!=|>=|<=|>|<)(.+)$/;

export function parseQ(q: string, knownAttributes: ReadonlySet<string>): Comparison[] {
  const terms = q.split(';').map((t) => t.trim());
  return terms.map((term) => {
    const match = TERM.exec(term);
    if (!match) throw bad(`q: "${term.slice(0, 60)}" is not a comparison; write attribute==value, !=, >, >=, < or <=, and join several with ; (e.g. q=pm25>20;no2<40)`);
    const [, attribute, op, raw] = match as unknown as [string, string, Comparator, string];
    if (!knownAttributes.has(attribute)) {
      throw bad(`q: "${attribute}" is not a property of the requested types; use one of ${[...knownAttributes].sort().join(', ')}`);
    }
    return { attribute, op, value: parseValue(raw.trim(), term) };
  });
}

function parseValue(raw: string, term: string): number | string | boolean {
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (/^"[^"]*"$/.test(raw)) return raw.slice(1, -1);
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(raw)) return Number(raw);
  if (raw.includes('"') || raw === '') throw bad(`q: the value in "${term.slice(0, 60)}" is not a number, true/false or "text"`);
  return raw;
}

/** The value a comparison looks at: a Property's value, or a multi-attribute's default instance. */
function comparable(attribute: unknown): unknown {
  if (Array.isArray(attribute)) return comparable(attribute.find((i: NgsiLdProperty) => i.datasetId === undefined));
  if (!attribute || typeof attribute !== 'object' || !('value' in attribute)) return undefined;
  const value = (attribute as { value: unknown }).value;
  // A typed literal (`{"@type": "DateTime", "@value": …}`) compares as its text: ISO times in UTC sort as they compare.
  return value && typeof value === 'object' && '@value' in value ? (value as { '@value': unknown })['@value'] : value;
}

function compare(actual: unknown, c: Comparison): boolean {
  if (actual === undefined || actual === null) return false;
  if (typeof actual !== typeof c.value) return c.op === '!=';
  const a = actual as number | string | boolean;
  switch (c.op) {
    case '==':
      return a === c.value;
    case '!=':
      return a !== c.value;
    case '>':
      return a > c.value;
    case '>=':
      return a >= c.value;
    case '<':
      return a < c.value;
    case '<=':
      return a <= c.value;
  }
}

export function matchesQ(entity: Record<string, unknown>, comparisons: readonly Comparison[]): boolean {
  return comparisons.every((c) => compare(comparable(entity[c.attribute]), c));
}

export interface NearQuery {
  lon: number;
  lat: number;
  maxDistance?: number;
  minDistance?: number;
}

export function parseGeoQuery(query: { georel?: string | undefined; geometry?: string | undefined; coordinates?: string | undefined; geoproperty?: string | undefined }): NearQuery | undefined {
  const { georel, geometry, coordinates } = query;
  if (georel === undefined && geometry === undefined && coordinates === undefined) return undefined;
  if (georel === undefined || geometry === undefined || coordinates === undefined) {
    throw bad('georel, geometry and coordinates: give all three (e.g. georel=near;maxDistance==500&geometry=Point&coordinates=[12.5683,55.6761])');
  }
  if (query.geoproperty !== undefined && query.geoproperty !== 'location') throw bad(`geoproperty: only location is a GeoProperty here (got "${query.geoproperty.slice(0, 40)}")`);
  if (geometry !== 'Point') throw bad(`geometry: only Point is supported with georel=near (got "${geometry.slice(0, 40)}")`);
  const [relation, ...modifiers] = georel.split(';');
  if (relation !== 'near' || modifiers.length !== 1) throw bad(`georel: use near;maxDistance==<metres> or near;minDistance==<metres> (got "${georel.slice(0, 60)}")`);
  const distance = /^(maxDistance|minDistance)==(\d+(\.\d+)?)$/.exec(modifiers[0]!);
  if (!distance) throw bad(`georel: "${modifiers[0]!.slice(0, 40)}" is not maxDistance==<metres> or minDistance==<metres>`);
  let point: unknown;
  try {
    point = JSON.parse(coordinates);
  } catch {
    point = undefined;
  }
  if (!Array.isArray(point) || point.length !== 2 || !point.every((n) => typeof n === 'number' && Number.isFinite(n))) {
    throw bad(`coordinates: give a Point as [lon,lat], e.g. [12.5683,55.6761] (got "${coordinates.slice(0, 60)}")`);
  }
  const [lon, lat] = point as [number, number];
  if (lon < -180 || lon > 180 || lat < -90 || lat > 90) throw bad(`coordinates: [${lon},${lat}] is not [lon,lat] on the globe (lon −180…180, lat −90…90)`);
  return { lon, lat, [distance[1]!]: Number(distance[2]) };
}

const EARTH_RADIUS_M = 6_371_008.8;

/** Great-circle (haversine) distance in metres. */
export function distanceMetres(a: { lon: number; lat: number }, b: { lon: number; lat: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)));
}

export function isNear(point: { lon: number; lat: number }, near: NearQuery): boolean {
  const d = distanceMetres(point, near);
  return (near.maxDistance === undefined || d <= near.maxDistance) && (near.minDistance === undefined || d >= near.minDistance);
}

export function parseInteger(value: string | undefined, param: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,10}$/.test(value) || Number(value) < min || Number(value) > max) throw bad(`${param}: give a whole number from ${min} to ${max} (got "${value.slice(0, 20)}")`);
  return Number(value);
}

/** A comma list without empties or duplicates; undefined stays undefined. */
export function commaList(value: string | undefined, param: string): string[] | undefined {
  if (value === undefined) return undefined;
  const items = [...new Set(value.split(',').map((v) => v.trim()).filter((v) => v !== ''))];
  if (items.length === 0) throw bad(`${param}: give at least one value`);
  return items;
}

export type RepresentationOption = 'normalized' | 'keyValues';

export function parseOptions(value: string | undefined): RepresentationOption {
  const options = commaList(value, 'options') ?? [];
  for (const option of options) {
    if (option !== 'keyValues' && option !== 'normalized') throw bad(`options: "${option.slice(0, 40)}" is not supported; use keyValues or normalized`);
  }
  return options.includes('keyValues') ? 'keyValues' : 'normalized';
}
