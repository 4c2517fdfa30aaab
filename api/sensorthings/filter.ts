/**
 * The `$filter` language of SensorThings (OData 4 expressions), the subset this read API
 * speaks: comparisons `eq ne gt ge lt le` between a property path (`result`,
 * `phenomenonTime`, `properties/site`, …) and a literal (number, 'text', true, false, null, or
 * an ISO 8601 date-time, quoted or not), joined with `and`, `or`, `not` and parentheses.
 * Parsed once into a tree; evaluated in memory per entity; and, for Observations, read for
 * the phenomenonTime range it implies, so only that range is read from the store.
 */
import { AppError } from '../../common/errors.ts';

export type CompareOp = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
export type Operand = { path: string } | { literal: number | string | boolean | null; time?: number };
export type FilterNode =
  | { kind: 'and' | 'or'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; operand: FilterNode }
  | { kind: 'compare'; op: CompareOp; left: Operand; right: Operand };

const OPS: readonly CompareOp[] = ['eq', 'ne', 'gt', 'ge', 'lt', 'le'];
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const NUMBER = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;
const PATH = /^(@iot\.id|[A-Za-z][A-Za-z0-9_]*)(\/[A-Za-z][A-Za-z0-9_]*)*$/;

const bad = (message: string) => new AppError('BAD_REQUEST', `$filter: ${message}`);

type Token = { type: 'open' | 'close' } | { type: 'string'; value: string } | { type: 'word'; value: string };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) i += 1;
    else if (c === '(' || c === ')') {
      tokens.push({ type: c === '(' ? 'open' : 'close' });
      i += 1;
    } else if (c === "'") {
      // OData doubles a quote inside a string: 'it''s'.
      let value = '';
      i += 1;
      for (;;) {
        if (i >= text.length) throw bad('a quoted text is not closed');
        if (text[i] === "'") {
          if (text[i + 1] === "'") {
            value += "'";
            i += 2;
            continue;
          }
          i += 1;
          break;
        }
        value += text[i];
        i += 1;
      }
      tokens.push({ type: 'string', value });
    } else {
      let j = i;
      while (j < text.length && !/[\s()']/.test(text[j]!)) j += 1;
      tokens.push({ type: 'word', value: text.slice(i, j) });
      i = j;
    }
  }
  return tokens;
}

function describe(token: Token | undefined): string {
  if (!token) return 'the end';
  if (token.type === 'string') return `'${token.value.slice(0, 30)}'`;
  if (token.type === 'word') return `"${token.value.slice(0, 30)}"`;
  return token.type === 'open' ? '"("' : '")"';
}

/** Parses `$filter`; `paths` says which property paths the entity set has (first segment). */
export function parseFilter(text: string, paths: ReadonlySet<string>): FilterNode {
  const tokens = tokenize(text);
  let at = 0;
  const peekWord = () => {
    const t = tokens[at];
    return t?.type === 'word' ? t.value : undefined;
  };

  function operand(): Operand {
    const token = tokens[at++];
    if (token?.type === 'string') {
      const time = DATE_TIME.test(token.value) ? Date.parse(token.value) : undefined;
      return time === undefined || Number.isNaN(time) ? { literal: token.value } : { literal: token.value, time };
    }
    if (token?.type !== 'word') throw bad(`expected a property or a value, found ${describe(token)}`);
    const word = token.value;
    if (word === 'true' || word === 'false') return { literal: word === 'true' };
    if (word === 'null') return { literal: null };
    if (NUMBER.test(word)) return { literal: Number(word) };
    if (DATE_TIME.test(word)) {
      const time = Date.parse(word);
      if (Number.isNaN(time)) throw bad(`"${word}" is not a date-time`);
      return { literal: word, time };
    }
    if (!PATH.test(word)) throw bad(`"${word.slice(0, 40)}" is not a property, a number, 'text', true, false, null or an ISO 8601 date-time`);
    const first = word.split('/')[0]!;
    if (!paths.has(first)) throw bad(`"${first}" is not a property here; use one of ${[...paths].sort().join(', ')}`);
    return { path: word };
  }

  function primary(): FilterNode {
    if (tokens[at]?.type === 'open') {
      at += 1;
      const inner = or();
      if (tokens[at]?.type !== 'close') throw bad(`expected ")", found ${describe(tokens[at])}`);
      at += 1;
      return inner;
    }
    if (peekWord() === 'not') {
      at += 1;
      return { kind: 'not', operand: primary() };
    }
    const left = operand();
    const op = peekWord() as CompareOp | undefined;
    if (!op || !OPS.includes(op)) throw bad(`expected one of ${OPS.join(', ')}, found ${describe(tokens[at])}`);
    at += 1;
    const right = operand();
    if (!('path' in left) && !('path' in right)) throw bad('a comparison needs a property on one side');
    return { kind: 'compare', op, left, right };
  }

  function and(): FilterNode {
    let node = primary();
    while (peekWord() === 'and') {
      at += 1;
      node = { kind: 'and', left: node, right: primary() };
    }
    return node;
  }

  function or(): FilterNode {
    let node = and();
    while (peekWord() === 'or') {
      at += 1;
      node = { kind: 'or', left: node, right: and() };
    }
    return node;
  }

  if (tokens.length === 0) throw bad('empty; e.g. $filter=result gt 20 and phenomenonTime ge 2026-05-01T00:00:00Z');
  const tree = or();
  if (at < tokens.length) throw bad(`unexpected ${describe(tokens[at])}; join comparisons with and / or`);
  return tree;
}

/** Properties holding times: compared as instants, not as text. */
const TIME_PATHS = new Set(['phenomenonTime', 'resultTime']);

function valueAt(entity: Record<string, unknown>, path: string): unknown {
  let value: unknown = entity;
  for (const segment of path === 'id' ? ['@iot.id'] : path.split('/')) {
    if (!value || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[segment];
  }
  return value;
}

function resolve(entity: Record<string, unknown>, operand: Operand, asTime: boolean): unknown {
  if ('literal' in operand) return asTime && operand.time !== undefined ? operand.time : operand.literal;
  const value = valueAt(entity, operand.path);
  if (asTime && typeof value === 'string') {
    const ms = Date.parse(value.split('/')[0]!);
    return Number.isNaN(ms) ? value : ms;
  }
  return value;
}

function isTimeComparison(node: { left: Operand; right: Operand }): boolean {
  const side = (o: Operand) => ('path' in o ? TIME_PATHS.has(o.path) : o.time !== undefined);
  return side(node.left) || side(node.right);
}

export function evaluate(node: FilterNode, entity: Record<string, unknown>): boolean {
  switch (node.kind) {
    case 'and':
      return evaluate(node.left, entity) && evaluate(node.right, entity);
    case 'or':
      return evaluate(node.left, entity) || evaluate(node.right, entity);
    case 'not':
      return !evaluate(node.operand, entity);
    case 'compare': {
      const asTime = isTimeComparison(node);
      const a = resolve(entity, node.left, asTime);
      const b = resolve(entity, node.right, asTime);
      if (node.op === 'eq') return a === b || (a === undefined && b === null);
      if (node.op === 'ne') return !(a === b || (a === undefined && b === null));
      if (a === undefined || a === null || b === null || typeof a !== typeof b) return false;
      const x = a as number | string;
      const y = b as number | string;
      return node.op === 'gt' ? x > y : node.op === 'ge' ? x >= y : node.op === 'lt' ? x < y : x <= y;
    }
  }
}

/** A time range [fromMs, toMs); unbounded sides are ±Infinity. */
export interface TimeBounds {
  fromMs: number;
  toMs: number;
}

const UNBOUNDED: TimeBounds = { fromMs: -Infinity, toMs: Infinity };
const FLIP: Record<CompareOp, CompareOp> = { eq: 'eq', ne: 'ne', gt: 'lt', ge: 'le', lt: 'gt', le: 'ge' };

/**
 * The phenomenonTime range every matching Observation lies in (a superset: the filter is
 * still applied to each one). Times are in milliseconds, as stored.
 */
export function phenomenonTimeBounds(node: FilterNode | undefined): TimeBounds {
  if (!node) return UNBOUNDED;
  switch (node.kind) {
    case 'and': {
      const a = phenomenonTimeBounds(node.left);
      const b = phenomenonTimeBounds(node.right);
      return { fromMs: Math.max(a.fromMs, b.fromMs), toMs: Math.min(a.toMs, b.toMs) };
    }
    case 'or': {
      const a = phenomenonTimeBounds(node.left);
      const b = phenomenonTimeBounds(node.right);
      return { fromMs: Math.min(a.fromMs, b.fromMs), toMs: Math.max(a.toMs, b.toMs) };
    }
    case 'not':
      return UNBOUNDED;
    case 'compare': {
      let { op, left, right } = node;
      if ('literal' in left) [left, right, op] = [right, left, FLIP[op]];
      if (!('path' in left) || left.path !== 'phenomenonTime' || !('literal' in right) || right.time === undefined) return UNBOUNDED;
      const t = right.time;
      switch (op) {
        case 'eq':
          return { fromMs: t, toMs: t + 1 };
        case 'gt':
          return { fromMs: Math.floor(t) + 1, toMs: Infinity };
        case 'ge':
          return { fromMs: t, toMs: Infinity };
        case 'lt':
          return { fromMs: -Infinity, toMs: t };
        case 'le':
          return { fromMs: -Infinity, toMs: t + 1 };
        case 'ne':
          return UNBOUNDED;
      }
    }
  }
}
