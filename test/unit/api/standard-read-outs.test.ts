/**
 * The pure parts of the standard read-outs: SensorThings' `$filter` (parsing, evaluation, the
 * phenomenonTime range it implies), NGSI-LD's `q` and geo-query, and the Smart Data Models
 * mapping (names, units, scales).
 */
import { describe, expect, it } from 'vitest';
import { evaluate, parseFilter, phenomenonTimeBounds } from '../../../api/sensorthings/filter.ts';
import { parsePath } from '../../../api/sensorthings/options.ts';
import { distanceMetres, isNear, matchesQ, parseGeoQuery, parseQ } from '../../../api/ngsi-ld/query.ts';
import { airQualityObserved, parseEntityId, trafficFlowObserved, wasteContainer } from '../../../api/ngsi-ld/models.ts';

const OBSERVATION_PATHS = new Set(['id', '@iot.id', 'result', 'phenomenonTime', 'resultTime']);
const T = Date.UTC(2026, 4, 1);
const obs = (result: number, atMs: number) => ({ '@iot.id': `a:pm25:${atMs}`, result, phenomenonTime: new Date(atMs).toISOString(), resultTime: new Date(atMs).toISOString() });

describe('SensorThings $filter', () => {
  it('evaluates comparisons with and, or, not and parentheses', () => {
    const tree = parseFilter("(result le 1 or result ge 44) and not (phenomenonTime lt '2026-05-01T00:00:00Z')", OBSERVATION_PATHS);
    expect(evaluate(tree, obs(0.5, T))).toBe(true);
    expect(evaluate(tree, obs(45, T + 1))).toBe(true);
    expect(evaluate(tree, obs(20, T))).toBe(false);
    expect(evaluate(tree, obs(0.5, T - 1))).toBe(false);
    expect(evaluate(parseFilter('20 lt result', OBSERVATION_PATHS), obs(21, T))).toBe(true);
    expect(evaluate(parseFilter("id eq 'a:pm25:5'", OBSERVATION_PATHS), obs(1, 5))).toBe(true);
  });

  it('reads the phenomenonTime range a filter implies: AND narrows, OR widens, NOT and other properties leave it open', () => {
    const at = (s: string) => phenomenonTimeBounds(parseFilter(s, OBSERVATION_PATHS));
    expect(at('phenomenonTime ge 2026-05-01T00:00:00Z and phenomenonTime lt 2026-05-02T00:00:00Z and result gt 3')).toEqual({ fromMs: T, toMs: T + 86_400_000 });
    expect(at('phenomenonTime gt 2026-05-01T00:00:00Z')).toEqual({ fromMs: T + 1, toMs: Infinity });
    expect(at('2026-05-01T00:00:00Z ge phenomenonTime')).toEqual({ fromMs: -Infinity, toMs: T + 1 });
    expect(at('phenomenonTime eq 2026-05-01T00:00:00Z or phenomenonTime eq 2026-05-01T01:00:00Z')).toEqual({ fromMs: T, toMs: T + 3_600_001 });
    expect(at('not (phenomenonTime lt 2026-05-01T00:00:00Z)')).toEqual({ fromMs: -Infinity, toMs: Infinity });
    expect(at('result gt 3 or phenomenonTime ge 2026-05-01T00:00:00Z')).toEqual({ fromMs: -Infinity, toMs: Infinity });
  });

  it.each([
    ['', 'empty'],
    ['result gtx 3', 'expected one of eq'],
    ['colour eq 3', '"colour" is not a property'],
    ['(result gt 3', 'expected ")"'],
    ["result eq 'open", 'not closed'],
    ['3 eq 4', 'a property on one side'],
    ['result gt 3 result lt 5', 'join comparisons'],
  ])('refuses %j naming the problem', (filter, message) => {
    expect(() => parseFilter(filter, OBSERVATION_PATHS)).toThrow(message);
  });

  it('parses resource paths with quoted ids', () => {
    expect(parsePath("Datastreams('a:pm25')/Observations")).toEqual([{ name: 'Datastreams', key: 'a:pm25' }, { name: 'Observations' }]);
    expect(parsePath("Things('it''s')")).toEqual([{ name: 'Things', key: "it's" }]);
    expect(() => parsePath("Things('a'b')")).toThrow('quoted');
  });
});

describe('NGSI-LD q and geo-query', () => {
  const known = new Set(['pm25', 'status', 'intensity']);
  const entity = {
    pm25: { type: 'Property', value: 25 },
    status: { type: 'Property', value: 'lidOpen' },
    intensity: [{ type: 'Property', value: 12 }, { type: 'Property', value: 3, datasetId: 'urn:ngsi-ld:Dataset:bus' }],
  };

  it('matches comparisons joined by ; on values and on a multi-attribute\'s default instance', () => {
    expect(matchesQ(entity, parseQ('pm25>20;pm25<=25', known))).toBe(true);
    expect(matchesQ(entity, parseQ('pm25>25', known))).toBe(false);
    expect(matchesQ(entity, parseQ('status=="lidOpen"', known))).toBe(true);
    expect(matchesQ(entity, parseQ('status!=ok', known))).toBe(true);
    expect(matchesQ(entity, parseQ('intensity==12', known))).toBe(true);
    expect(matchesQ({}, parseQ('pm25>=0', known))).toBe(false);
    expect(() => parseQ('pm25~3', known)).toThrow('not a comparison');
    expect(() => parseQ('no2>3', known)).toThrow('"no2" is not a property');
  });

  it('joins with | (OR) and ; (AND), AND binding tighter, parentheses grouping, quoted text kept whole', () => {
    expect(matchesQ(entity, parseQ('pm25>30|status=="lidOpen"', known))).toBe(true);
    expect(matchesQ(entity, parseQ('pm25>30|status=="ok"', known))).toBe(false);
    // AND before OR: pm25>30 | (status==ok ; intensity==12) → false | false.
    expect(matchesQ(entity, parseQ('pm25>30|status==ok;intensity==12', known))).toBe(false);
    // Grouped the other way: (pm25>30 | status==lidOpen) ; intensity==12 → true.
    expect(matchesQ(entity, parseQ('(pm25>30|status==lidOpen);intensity==12', known))).toBe(true);
    expect(matchesQ(entity, parseQ('((pm25==25))', known))).toBe(true);
    expect(parseQ('pm25>1;(status=="a;b|c)"|intensity<3)', known)).toEqual({
      join: 'and',
      terms: [
        { attribute: 'pm25', op: '>', value: 1 },
        { join: 'or', terms: [{ attribute: 'status', op: '==', value: 'a;b|c)' }, { attribute: 'intensity', op: '<', value: 3 }] },
      ],
    });
    expect(matchesQ(entity, undefined)).toBe(true);
    for (const [q, message] of [
      ['(pm25>1', 'expected a closing parenthesis'],
      ['pm25>1)', 'expected ; or | at ")"'],
      ['pm25>1|', 'expected a comparison at the end'],
      [';pm25>1', 'expected a comparison at ";"'],
      ['()', 'expected a comparison at ")"'],
      ['status=="open', 'a double quote is not closed'],
      ['('.repeat(9) + 'pm25>1' + ')'.repeat(9), 'nest at most 8 deep'],
      [Array.from({ length: 51 }, () => 'pm25>1').join('|'), 'at most 50 comparisons'],
    ] as const) {
      expect(() => parseQ(q, known), q).toThrow(message);
    }
  });

  it('measures great-circle distances and parses near queries strictly', () => {
    // One degree of latitude is about 111.2 km.
    expect(distanceMetres({ lon: 12, lat: 55 }, { lon: 12, lat: 56 })).toBeCloseTo(111_195, -1);
    const near = parseGeoQuery({ georel: 'near;maxDistance==500', geometry: 'Point', coordinates: '[12.5683,55.6761]' })!;
    expect(near).toEqual({ lon: 12.5683, lat: 55.6761, maxDistance: 500 });
    expect(isNear({ lon: 12.5683, lat: 55.6801 }, near)).toBe(true);
    expect(isNear({ lon: 12.5683, lat: 55.6811 }, near)).toBe(false);
    expect(() => parseGeoQuery({ georel: 'within', geometry: 'Point', coordinates: '[1,2]' })).toThrow('georel');
    expect(() => parseGeoQuery({ georel: 'near;maxDistance==5', geometry: 'Polygon', coordinates: '[1,2]' })).toThrow('geometry');
    expect(() => parseGeoQuery({ georel: 'near;maxDistance==5', geometry: 'Point', coordinates: '12,55' })).toThrow('coordinates');
  });
});

describe('Smart Data Models mapping', () => {
  const device = { id: 'd', meta: {} };
  it('names, units and scales the air, traffic and waste values as the models do', () => {
    const air = airQualityObserved.toAttributes({ pm25: { value: 8, atMs: T }, humidity: { value: 42, atMs: T }, pressure: { value: 1013, atMs: T }, noise: { value: 60, atMs: T } }, device);
    expect(air.pm25).toEqual({ type: 'Property', value: 8, unitCode: 'GQ', observedAt: new Date(T).toISOString() });
    expect(air.relativeHumidity).toMatchObject({ value: 0.42, unitCode: 'C62' });
    expect(air.atmosphericPressure).toMatchObject({ value: 1013, unitCode: 'A97' });
    expect(air.noise).toBeUndefined();
    const traffic = trafficFlowObserved.toAttributes({ cars: { value: 7, atMs: T }, trucks: { value: 2, atMs: T }, buses: { value: 9, atMs: T - 300_000 }, period: { value: 60, atMs: T } }, device);
    // The buses of an older period are not added to this period's total.
    expect((traffic.intensity as { value: number; datasetId?: string }[]).map((i) => [i.datasetId, i.value])).toEqual([[undefined, 9], ['urn:ngsi-ld:Dataset:car', 7], ['urn:ngsi-ld:Dataset:lorry', 2]]);
    expect(traffic.dateObserved).toEqual({ type: 'Property', value: `${new Date(T - 60_000).toISOString()}/${new Date(T).toISOString()}` });
    const bin = wasteContainer.toAttributes({ fill: { value: 85, atMs: T }, lidOpen: { value: true, atMs: T }, weight: { value: 12, atMs: T } }, device);
    expect(bin.fillingLevel).toMatchObject({ value: 0.85, unitCode: 'C62' });
    expect(bin.status).toMatchObject({ value: 'lidOpen' });
    expect(bin.cargoWeight).toMatchObject({ value: 12, unitCode: 'KGM' });
  });

  it('reads entity ids back, and only those of the served types', () => {
    expect(parseEntityId('urn:ngsi-ld:WasteContainer:bin-1')).toMatchObject({ deviceId: 'bin-1', model: { kind: 'waste' } });
    expect(parseEntityId('urn:ngsi-ld:Parking:p-1')).toBeUndefined();
    expect(parseEntityId('bin-1')).toBeUndefined();
  });
});
