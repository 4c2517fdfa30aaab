import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEVICE_ID_PATTERN,
  metricsOf,
  BUILT_IN_KINDS,
  ReadingsQuerySchema,
  type ReadingsQuery,
} from '../../../contracts/index.ts';
import { isAppError } from '../../../common/errors.ts';
import { decodeCursor, encodeCursor, queryFingerprint } from '../../../api/query/cursor.ts';
import { durationLiteral, greaterThanRegex, whereClause } from '../../../api/query/influxql.ts';
import { DEFAULT_QUERY_LIMITS, type QueryLimits } from '../../../api/query/limits.ts';
import { csvCell, csvLine } from '../../../api/query/output.ts';
import { chooseSource, planReadings, splitList } from '../../../api/query/params.ts';
import { WindowFiller, type WindowRow } from '../../../api/query/windows.ts';

const NOW = Date.parse('2026-05-10T12:34:56Z');
const DAY = 86_400_000;
const LIMITS: QueryLimits = { ...DEFAULT_QUERY_LIMITS, rollupsEnabled: true };
const PARAMS = ['kind', 'device', 'site', 'owner', 'metric', 'from', 'to', 'every', 'agg', 'fill', 'format', 'order', 'source', 'limit', 'cursor'];

/** What fastify does with a query string: validate with the route's zod schema, then plan. */
function plan(query: Record<string, unknown>, limits = LIMITS) {
  const parsed = ReadingsQuerySchema.safeParse(query);
  if (!parsed.success) return { error: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  try {
    return { plan: planReadings(parsed.data, NOW, limits) };
  } catch (error) {
    if (!isAppError(error, 'BAD_REQUEST')) throw error;
    return { error: error.message };
  }
}

function expectBad(query: Record<string, unknown>, param: string): string {
  const result = plan(query);
  expect(result.error, JSON.stringify(query)).toBeDefined();
  expect(result.error).toContain(param);
  return result.error!;
}

describe('readings parameters', () => {
  it('keeps the simple case as it was: raw, newest first, 1,000 points, the last hour', () => {
    const { plan: p } = plan({});
    expect(p).toMatchObject({ mode: 'raw', kinds: [...BUILT_IN_KINDS], order: 'desc', format: 'json', limit: 1000, toMs: NOW, fromMs: NOW - 3_600_000 });
  });

  it('takes devices repeated and comma separated, without duplicates', () => {
    expect(plan({ device: ['a', 'b,c', ' a '] }).plan?.filter.devices).toEqual(['a', 'b', 'c']);
    expect(splitList('x,,y,')).toEqual(['x', 'y']);
  });

  it('lists metrics in contract order whatever the request order', () => {
    const { plan: p } = plan({ kind: 'air', metric: 'no2,pm25', every: '1h' });
    expect(p).toMatchObject({ mode: 'windows', metrics: ['pm25', 'no2'], agg: 'mean', fill: 'none' });
  });

  it('aligns aggregated ranges to whole windows', () => {
    const { plan: p } = plan({ kind: 'air', every: '1h', from: '2026-05-01T10:20:00Z', to: '2026-05-01T12:00:00Z' });
    expect(p).toMatchObject({ fromMs: Date.parse('2026-05-01T10:00:00Z'), toMs: Date.parse('2026-05-01T12:00:00Z'), windows: 2 });
  });

  it.each([
    [{ kind: 'air', metric: 'pm2.5' }, 'metric', 'pm2.5'],
    [{ kind: 'air', metric: 'fill' }, 'metric', 'fill'],
    [{ kind: 'air', metric: 'pm25,"; DROP MEASUREMENT air' }, 'metric', 'DROP'],
    [{ metric: 'pm25' }, 'kind', 'metric'],
    [{ kind: 'air', every: '5x' }, 'every', '5x'],
    [{ kind: 'air', every: '-1h' }, 'every', ''],
    [{ kind: 'air', every: '500ms' }, 'every', 'whole seconds'],
    [{ kind: 'air', every: '1s', from: '-30d' }, 'every', 'windows'],
    [{ every: '1h' }, 'kind', 'every'],
    [{ kind: 'air', agg: 'mean' }, 'agg', 'every'],
    [{ kind: 'air', fill: 'linear' }, 'fill', 'every'],
    [{ kind: 'air', every: '1h', order: 'desc' }, 'order', ''],
    [{ from: '-1h', to: '-2h' }, 'from', 'before'],
    [{ from: '-40d' }, 'from/to', '31 days'],
    [{ kind: 'air', every: '5m', from: '-40d' }, 'from/to', 'every=1h'],
    [{ kind: 'air', every: '1h', agg: 'median', from: '-40d' }, 'from/to', 'rollups'],
    [{ limit: '20000' }, 'limit', '10000'],
    [{ format: 'csv' }, 'kind', 'format=csv'],
    [{ cursor: 'bm90IGEgY3Vyc29y' }, 'cursor', 'meta.nextCursor'],
    [{ kind: 'waste', metric: 'lidOpen', every: '1h' }, 'metric', 'lidOpen'],
    [{ kind: 'air', every: '2h', agg: 'p95', source: 'rollup' }, 'source', 'agg'],
    [{ source: 'rollup' }, 'source', 'every'],
    [{ device: "x' OR device =~ /.*/" }, 'device', 'not a device id'],
  ])('refuses %j naming %s', (query, param, detail) => {
    const message = expectBad(query, param);
    expect(message).toContain(detail);
  });

  it('refuses unknown and malformed parameters in the schema, naming them', () => {
    expect(plan({ surprise: '1' }).error).toContain('surprise');
    expect(plan({ kind: 'nuclear' }).error).toContain('kind');
    expect(plan({ site: 'a\nb' }).error).toContain('site');
    expect(plan({ agg: 'avg' }).error).toContain('agg');
    expect(plan({ cursor: 'a b' }).error).toContain('cursor');
  });

  it('answers every query either with a plan of allow-listed names or a 400 naming a parameter (property)', () => {
    const token = fc.oneof(
      fc.constantFrom('air', 'traffic', 'waste', 'pm25', 'no2,pm25', 'lidOpen', 'fill', '1h', '5m', '1d', '-24h', '-40d', 'now', 'csv', 'json', 'ndjson', 'desc', 'asc', 'mean', 'p95', 'linear', 'previous', 'raw', 'rollup', 'auto', '10', '0', "x' OR 1=1", 'dev-1,dev-2', '2026-05-01T00:00:00Z'),
      fc.string({ maxLength: 30 }),
    );
    const anything = fc.dictionary(fc.constantFrom(...PARAMS), fc.oneof(token, fc.array(token, { maxLength: 3 })), { maxKeys: 6 });
    // Mostly sensible aggregations, so windows plans are explored as much as refusals.
    const aggregation = fc.record(
      {
        kind: fc.constantFrom(...BUILT_IN_KINDS),
        metric: fc.oneof(fc.constantFrom('pm25', 'no2,pm25', 'cars', 'fill', 'lidOpen', 'speed,occupancy'), token),
        every: fc.oneof(fc.constantFrom('1s', '30s', '5m', '1h', '2h', '1d', '7d', '90m'), token),
        agg: fc.constantFrom('mean', 'min', 'max', 'median', 'p95', 'count', 'sum', 'first', 'last'),
        fill: fc.constantFrom('none', 'null', 'previous', 'linear'),
        from: fc.constantFrom('-1h', '-24h', '-7d', '-40d', '-400d', '2026-01-01T00:00:00Z'),
        to: fc.constantFrom('now', '-1h', '-2d'),
        format: fc.constantFrom('json', 'csv', 'ndjson'),
        source: fc.constantFrom('auto', 'raw', 'rollup'),
        limit: fc.constantFrom('1', '100', '10000', '20000'),
      },
      { requiredKeys: ['kind', 'every'] },
    );
    const query = fc.oneof(anything, aggregation);
    fc.assert(
      fc.property(query, (q) => {
        const result = plan(q);
        if (result.error !== undefined) {
          expect(PARAMS.some((p) => result.error!.includes(p))).toBe(true);
          return;
        }
        const p = result.plan!;
        expect(p.fromMs).toBeLessThan(p.toMs);
        for (const device of p.filter.devices ?? []) expect(device).toMatch(DEVICE_ID_PATTERN);
        if (p.mode === 'raw') {
          for (const kind of p.kinds) expect(BUILT_IN_KINDS).toContain(kind);
          for (const metric of p.metrics ?? []) expect(metricsOf(p.kinds[0]!)).toContain(metric);
          expect(p.toMs - p.fromMs).toBeLessThanOrEqual(LIMITS.rawMaxRangeMs);
        } else {
          for (const metric of p.metrics) expect(metricsOf(p.kind)).toContain(metric);
          expect(Number.isInteger(p.everyMs / 1000)).toBe(true);
          expect(p.windows).toBeLessThanOrEqual(LIMITS.maxWindows);
          if (p.source === 'raw') expect(p.toMs - p.fromMs).toBeLessThanOrEqual(LIMITS.rawMaxRangeMs);
        }
        expect(p.limit).toBeGreaterThan(0);
      }),
      { numRuns: 2_000 },
    );
  });
});

describe('source selection', () => {
  const base = { kind: 'air' as const, metrics: ['pm25'], agg: 'mean' as const, preference: 'auto' as const };
  it('reads rollups for every ≥ 1h over long ranges, raw otherwise', () => {
    expect(chooseSource({ ...base, everyMs: 3_600_000, fromMs: NOW - 7 * DAY, toMs: NOW }, NOW, LIMITS)).toBe('rollup_1h');
    expect(chooseSource({ ...base, everyMs: DAY, fromMs: NOW - 365 * DAY, toMs: NOW }, NOW, LIMITS)).toBe('rollup_1d');
    expect(chooseSource({ ...base, everyMs: 3_600_000, fromMs: NOW - DAY, toMs: NOW }, NOW, LIMITS)).toBe('raw');
    expect(chooseSource({ ...base, everyMs: 1_800_000, fromMs: NOW - 7 * DAY, toMs: NOW }, NOW, LIMITS)).toBe('raw');
    expect(chooseSource({ ...base, agg: 'median', everyMs: 3_600_000, fromMs: NOW - 7 * DAY, toMs: NOW }, NOW, LIMITS)).toBe('raw');
    // A short range that raw retention no longer covers.
    expect(chooseSource({ ...base, everyMs: 3_600_000, fromMs: NOW - 60 * DAY, toMs: NOW - 59 * DAY }, NOW, LIMITS)).toBe('rollup_1h');
    expect(chooseSource({ ...base, everyMs: 3_600_000, fromMs: NOW - 7 * DAY, toMs: NOW }, NOW, { ...LIMITS, rollupsEnabled: false })).toBe('raw');
  });
});

describe('cursors', () => {
  it('round-trip and refuse tampering or another query', () => {
    const fp = queryFingerprint(['r', ['air']]);
    const cursor = { m: 'r' as const, q: fp, t: NOW, k: 0, s: ['dev-1', 'hcab', ''] };
    const text = encodeCursor(cursor);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(text, fp)).toEqual(cursor);
    expect(() => decodeCursor(text, queryFingerprint(['r', ['waste']]))).toThrow(/^cursor: it belongs to a different query/);
    expect(() => decodeCursor(`${text.slice(0, -3)}xyz`, fp)).toThrow(/^cursor: /);
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (junk) => {
        try {
          decodeCursor(Buffer.from(junk).toString('base64url'), fp);
        } catch (error) {
          expect(isAppError(error, 'BAD_REQUEST')).toBe(true);
        }
      }),
    );
  });
});

describe('InfluxQL text', () => {
  it('never contains a value from the request, only bound parameters', () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { maxLength: 3 }), fc.option(fc.string()), fc.option(fc.string()), (devices, site, owner) => {
        const params: Record<string, string | number | boolean> = {};
        const text = whereClause({ devices, site: site ?? undefined, owner: owner ?? undefined }, 0, 1000, params);
        expect(text).toMatch(/^[A-Za-z0-9_ "$=<>()]*$/);
        for (const [i, device] of devices.entries()) expect(params[`device${i}`]).toBe(device);
      }),
    );
  });

  it('writes durations as InfluxQL literals', () => {
    expect(durationLiteral(3_600_000)).toBe('1h');
    expect(durationLiteral(86_400_000)).toBe('1d');
    expect(durationLiteral(90_000)).toBe('90s');
    expect(durationLiteral(1_500)).toBe('1500ms');
    expect(() => durationLiteral(0)).toThrow();
  });

  /** The RE2 text as a JavaScript regular expression (`\x{…}` is `\u{…}` with the u flag). */
  const asJs = (re2: string) => new RegExp(re2.slice(1, -1).replace(/\\x\{([0-9a-f]+)\}/g, '\\u{$1}'), 'u');
  const byCodePoint = (a: string, b: string) => {
    const x = [...a].map((c) => c.codePointAt(0)!);
    const y = [...b].map((c) => c.codePointAt(0)!);
    for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
    return x.length - y.length;
  };

  it('matches exactly the tag values after a cursor with greaterThanRegex (property)', () => {
    const text = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_.-]{0,8}$/), fc.string({ unit: 'binary', maxLength: 6 }));
    fc.assert(
      fc.property(text, text, (cursor, value) => {
        const re2 = greaterThanRegex(cursor);
        expect(re2).toMatch(/^\/\^\(\?:[\\x{}0-9a-f[\]|()?:-]*\)\/$/);
        expect(asJs(re2).test(value)).toBe(byCodePoint(value, cursor) > 0);
      }),
      { numRuns: 1_000 },
    );
  });
});

describe('fill of empty windows', () => {
  const window = (time: number, v: number | null): WindowRow => ({ group: 'd', time, values: { x: v }, counts: { x: v === null ? 0 : 1 } });

  /** Reference: fill over the whole series at once. */
  function reference(values: (number | null)[], fill: 'previous' | 'linear'): (number | null)[] {
    return values.map((v, i) => {
      if (v !== null) return v;
      let before = i - 1;
      while (before >= 0 && values[before] === null) before--;
      if (before < 0) return null;
      if (fill === 'previous') return values[before]!;
      let after = i + 1;
      while (after < values.length && values[after] === null) after++;
      if (after >= values.length) return null;
      return values[before]! + ((values[after]! - values[before]!) * (i - before)) / (after - before);
    });
  }

  it.each(['previous', 'linear'] as const)('%s fills values like a whole-series fill and never touches counts (property)', (fill) => {
    fc.assert(
      fc.property(fc.array(fc.option(fc.integer({ min: -1000, max: 1000 }), { nil: null, freq: 2 }), { maxLength: 40 }), (values) => {
        const filler = new WindowFiller(fill, ['x']);
        const out: WindowRow[] = [];
        values.forEach((v, i) => out.push(...filler.push(window(i * 60_000, v))));
        out.push(...filler.end());
        expect(out.map((w) => w.time)).toEqual(values.map((_, i) => i * 60_000));
        const expected = reference(values, fill);
        out.forEach((w, i) => {
          if (expected[i] === null) expect(w.values.x).toBeNull();
          else expect(w.values.x as number).toBeCloseTo(expected[i]!, 9);
          expect(w.counts.x).toBe(values[i] === null ? 0 : 1);
        });
      }),
    );
  });
});

describe('CSV cells', () => {
  /** A minimal RFC 4180 parser for one line. */
  function parseLine(line: string): string[] {
    const cells: string[] = [];
    let i = 0;
    for (;;) {
      let cell = '';
      if (line[i] === '"') {
        i++;
        for (;;) {
          if (line[i] === '"' && line[i + 1] === '"') {
            cell += '"';
            i += 2;
          } else if (line[i] === '"') {
            i++;
            break;
          } else cell += line[i++];
        }
      } else {
        while (i < line.length && line[i] !== ',' && !(line[i] === '\r' && line[i + 1] === '\n' && i + 2 === line.length)) cell += line[i++];
      }
      cells.push(cell);
      if (line[i] === ',') i++;
      else break;
    }
    return cells;
  }

  it('round-trip any text and any number (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string(), fc.double({ noNaN: true, noDefaultInfinity: true })), { minLength: 1, maxLength: 6 }), (values) => {
        const line = csvLine(values.map((v) => csvCell(v)));
        const cells = parseLine(line.endsWith('\r\n') ? line.slice(0, -2) : line);
        expect(cells).toEqual(values.map((v) => (typeof v === 'number' ? String(v) : v)));
        values.forEach((v, i) => {
          if (typeof v === 'number') expect(Number(cells[i])).toBe(v === 0 ? 0 : v);
        });
      }),
    );
  });

  it('defuses free text a spreadsheet would run as a formula', () => {
    expect(csvCell('=HYPERLINK("x")', true)).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvCell('@SUM(A1)', true)).toBe("'@SUM(A1)");
    expect(csvCell('-12.5')).toBe('-12.5');
  });
});

const typed: ReadingsQuery = { kind: 'air' };
void typed;
