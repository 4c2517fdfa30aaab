/**
 * The NGSI-LD query language as far as this read API speaks it, parsed strictly (a bad query
 * is a 400 naming the parameter, never an empty answer):
 * - `q`: comparisons on a property's value, `attr==v`, `!=`, `>`, `>=`, `<`, `<=`, joined by
 *   `;` (AND) and `|` (OR), AND binding tighter, grouped with parentheses. Values are numbers,
 *   `true`/`false`, or text in double quotes (bare text is taken as text too; `;|()` inside
 *   quotes are text). A multi-attribute (traffic `intensity`) compares its default instance.
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

/** A parsed `q`: a comparison, or comparisons joined by AND or OR. */
export type QExpression = Comparison | { join: 'and' | 'or'; terms: QExpression[] };

/** Most terms and nesting a `q` may have: parsing stays cheap whatever a caller sends. */
const MAX_Q_TERMS = 50;
const MAX_Q_DEPTH = 8;

/** Splits `q` into terms and `;`, `|`, `(`, `)`, leaving those inside double quotes to the terms. */
function tokensOf(q: string): string[] {
  const tokens: string[] = [];
  let term = '';
  let quoted = false;
  for (const c of q) {
    if (c === '"') quoted = !quoted;
    if (!quoted && (c === ';' || c === '|' || c === '(' || c === ')')) {
      if (term.trim() !== '') tokens.push(term.trim());
      tokens.push(c);
      term = '';
    } else term += c;
  }
  if (quoted) throw bad('q: a double quote is not closed');
  if (term.trim() !== '') tokens.push(term.trim());
  return tokens;
}

export function parseQ(q: string, knownAttributes: ReadonlySet<string>): QExpression {
  const tokens = tokensOf(q);
  let at = 0;
  let terms = 0;
  const expected = (what: string) => bad(`q: expected ${what} ${at < tokens.length ? `at "${tokens[at]!.slice(0, 40)}"` : 'at the end'}; join comparisons with ; (and) or | (or), group them with ( ), e.g. q=(pm25>20|no2>40);pm10<50`);

  function comparison(): Comparison {
    const term = tokens[at];
    if (term === undefined || term === ';' || term === '|' || term === ')') throw expected('a comparison');
    at += 1;
    if ((terms += 1) > MAX_Q_TERMS) throw bad(`q: at most ${MAX_Q_TERMS} comparisons`);
    const match = TERM.exec(term);
    if (!match) throw bad(`q: "${term.slice(0, 60)}" is not a comparison; write attribute==value, !=, >, >=, < or <=, and join several with ; (and) or | (or), e.g. q=pm25>20;no2<40`);
    const [, attribute, op, raw] = match as unknown as [string, string, Comparator, string];
    if (!knownAttributes.has(attribute)) {
      throw bad(`q: "${attribute}" is not a property of the requested types; use one of ${[...knownAttributes].sort().join(', ')}`);
    }
    return { attribute, op, value: parseValue(raw.trim(), term) };
  }
  function operand(depth: number): QExpression {
    if (tokens[at] !== '(') return comparison();
    if (depth >= MAX_Q_DEPTH) throw bad(`q: parentheses nest at most ${MAX_Q_DEPTH} deep`);
    at += 1;
    const inner = disjunction(depth + 1);
    if (tokens[at] !== ')') throw expected('a closing parenthesis');
    at += 1;
    return inner;
  }
  /** Parts joined by one separator: AND (`;`) over operands, OR (`|`) over AND-groups. */
  function joined(separator: ';' | '|', join: 'and' | 'or', part: () => QExpression): QExpression {
    const parts = [part()];
    while (tokens[at] === separator) {
      at += 1;
      parts.push(part());
    }
    return parts.length === 1 ? parts[0]! : { join, terms: parts };
  }
  const conjunction = (depth: number) => joined(';', 'and', () => operand(depth));
  const disjunction = (depth: number): QExpression => joined('|', 'or', () => conjunction(depth));

  const expression = disjunction(0);
  if (at < tokens.length) throw expected('; or |');
  return expression;
}

/** The attributes a `q` compares. */
export function attributesInQ(expression: QExpression | undefined): string[] {
  if (expression === undefined) return [];
  return 'join' in expression ? expression.terms.flatMap(attributesInQ) : [expression.attribute];
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

/** Whether an entity matches a `q` (undefined: every entity does). */
export function matchesQ(entity: Record<string, unknown>, expression: QExpression | undefined): boolean {
  if (expression === undefined) return true;
  if (!('join' in expression)) return compare(comparable(entity[expression.attribute]), expression);
  return expression.join === 'and' ? expression.terms.every((t) => matchesQ(entity, t)) : expression.terms.some((t) => matchesQ(entity, t));
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
