import { describe, expect, it } from 'vitest';
import { MAX_COMPARED, defaultRoute, formatHash, parseHash, withRoute, type Route } from '../../../dashboard/model/route.ts';

describe('deep links', () => {
  it.each<[string, Route]>([
    ['#/overview', defaultRoute()],
    ['#/map?kind=waste', { ...defaultRoute(), view: 'map', filter: { kind: 'waste' } }],
    ['#/charts?range=24h&metric=no2&devices=air-01%2Cair-02', { ...defaultRoute(), view: 'charts', range: '24h', metric: 'no2', devices: ['air-01', 'air-02'] }],
    ['#/device/bin-07?range=7d&metric=fill', { ...defaultRoute(), view: 'device', deviceId: 'bin-07', range: '7d', metric: 'fill' }],
    ['#/devices?owner=Acme+Sensors&site=N%C3%B8rrebrogade', { ...defaultRoute(), view: 'devices', filter: { owner: 'Acme Sensors', site: 'Nørrebrogade' } }],
  ])('parses %s and writes it back the same', (hash, route) => {
    expect(parseHash(hash)).toEqual(route);
    expect(formatHash(route)).toBe(hash);
  });

  it('falls back to the overview for unknown views and bad device ids', () => {
    expect(parseHash('#/nope').view).toBe('overview');
    expect(parseHash('').view).toBe('overview');
    expect(parseHash('#/device/bad%20id').view).toBe('overview');
    expect(parseHash('#/device/%E0%A4%A').view).toBe('overview');
  });

  it('ignores invalid parameters', () => {
    const route = parseHash('#/charts?range=2y&metric=pm2.5&kind=water&devices=ok-1,bad%20one');
    expect(route.range).toBe('1h');
    expect(route.metric).toBeUndefined();
    expect(route.filter.kind).toBeUndefined();
    expect(route.devices).toEqual(['ok-1']);
  });

  it(`compares at most ${MAX_COMPARED} devices`, () => {
    const ids = Array.from({ length: 12 }, (_, i) => `d${i}`).join(',');
    expect(parseHash(`#/charts?devices=${ids}`).devices).toHaveLength(MAX_COMPARED);
  });

  it('keeps filters across views and clears one when asked', () => {
    const route = parseHash('#/map?kind=air&site=X');
    const next = withRoute(route, { view: 'devices', filter: { site: undefined } });
    expect(formatHash(next)).toBe('#/devices?kind=air');
  });

  it('leaves range and metric out of views that do not use them', () => {
    expect(formatHash({ ...defaultRoute(), view: 'map', range: '7d', metric: 'pm25' })).toBe('#/map');
  });
});
