/**
 * Bin collection analytics end to end: bins registered with a site and an owner publish fill
 * series of known answers through the broker; /api/v1/waste/* finds the emptyings, forecasts
 * when each bin reaches 80 % and sums the KPIs per site — in JSON and CSV.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers/stack.ts';

let stack: Stack;
const HOUR = 3_600_000;
// Hourly readings over the last five days, from a whole hour.
const T0 = Math.floor(Date.now() / HOUR) * HOUR - 120 * HOUR;

beforeAll(async () => {
  stack = await startStack({ deviceRateLimit: false });
  await stack.register('waste', 'bin-a', { site: 'nordvest', owner: 'city' });
  await stack.register('waste', 'bin-b', { site: 'centrum', owner: 'city' });
  // bin-a: 1.25 %/h from 0, emptied to 2 % at hours 72 (88.75 %) and 88 (20.75 %: not needed yet).
  // bin-b: 0.5 %/h from 40 %, never emptied.
  let a = 0;
  let b = 40;
  for (let h = 0; h < 120; h += 1) {
    if (h === 72 || h === 88) a = 2;
    await stack.publish('waste', 'bin-a', { ts: T0 + h * HOUR, fill: a });
    await stack.publish('waste', 'bin-b', { ts: T0 + h * HOUR, fill: b });
    a = Math.min(100, a + 1.25);
    b = Math.min(100, b + 0.5);
  }
  await stack.flush();
});

afterAll(async () => {
  await stack?.close();
});

async function get<T>(path: string): Promise<T> {
  const response = await fetch(`${stack.apiUrl}${path}`);
  expect(response.status, await response.clone().text()).toBe(200);
  return (await response.json()) as T;
}

describe('waste collection analytics', () => {
  it('lists each emptying with how full the bin was, in JSON and CSV', async () => {
    const body = await get<{ collections: { deviceId: string; at: string; fillBefore: number; site?: string }[] }>('/api/v1/waste/collections?from=-6d');
    expect(body.collections.map((c) => [c.deviceId, Date.parse(c.at) - T0, c.fillBefore, c.site])).toEqual([
      ['bin-a', 72 * HOUR, 88.75, 'nordvest'],
      ['bin-a', 88 * HOUR, 20.75, 'nordvest'],
    ]);
    // With a key: the owner column too (anonymous callers get the open-data view without it, test/integration/open-data.test.ts).
    const { token } = await stack.registry.createApiKey({ name: 'waste analyst', role: 'reader' });
    const csv = await (await fetch(`${stack.apiUrl}/api/v1/waste/collections?from=-6d&format=csv`, { headers: { authorization: `Bearer ${token}` } })).text();
    expect(csv.split('\r\n')[0]).toBe('at,device,site,owner,fill_before,fill_after');
    expect(csv.trim().split('\r\n')).toHaveLength(3);
  });

  it('forecasts when each bin reaches 80 %, soonest first', async () => {
    const body = await get<{ bins: { deviceId: string; fill: number; fillRatePerDay: number; fullAt: string }[]; today: string[]; tomorrow: string[] }>('/api/v1/waste/forecast');
    expect(body.bins.map((b) => b.deviceId)).toEqual(['bin-b', 'bin-a']);
    const [b, a] = body.bins;
    // bin-b: 40 + 119 × 0.5 = 99.5 % — over the target, due now; bin-a: 2 + 31 × 1.25 = 40.75 % at 30 %/day.
    expect(b!.fill).toBe(99.5);
    expect(body.today).toContain('bin-b');
    expect(a!.fill).toBe(40.75);
    expect(a!.fillRatePerDay).toBeCloseTo(30, 6);
    expect(Date.parse(a!.fullAt) - (T0 + 119 * HOUR)).toBeCloseTo(((80 - 40.75) / 30) * 24 * HOUR, -3);
  });

  it('sums the KPIs per site: emptyings, the share done below 25 %, the median fill at emptying', async () => {
    const body = await get<{ groups: { group: string; bins: number; emptyings: number; lowFillShare?: number; medianFillAtEmptying?: number }[]; total: { emptyings: number } }>('/api/v1/waste/kpi?from=-6d&by=site');
    expect(body.groups).toEqual([
      { group: 'centrum', bins: 1, emptyings: 0, overflowHours: 0 },
      { group: 'nordvest', bins: 1, emptyings: 2, lowFillShare: 0.5, medianFillAtEmptying: (88.75 + 20.75) / 2, overflowHours: 0 },
    ]);
    expect(body.total.emptyings).toBe(2);
  });

  it('answers a bad parameter with 400 naming it', async () => {
    const response = await fetch(`${stack.apiUrl}/api/v1/waste/forecast?target=150`);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('target');
  });
});
