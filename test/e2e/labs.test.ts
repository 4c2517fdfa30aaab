/**
 * A lab's dashboard in a real browser: `/labs/{lab}/` shows that lab's devices only, from
 * REST and from the live feed, and `/` stays the default lab's. Debian's Chromium driven by
 * playwright-core against the whole pipeline from startStack; nothing is faked.
 */
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.ts';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startStack, type Stack } from '../helpers/stack.ts';
import { ensureDashboardBuilt } from './build-dashboard.ts';


const MAIN_DEVICES = [
  { id: 'main-air-1', kind: 'air' },
  { id: 'main-bin-1', kind: 'waste' },
] as const;
/** Publishes on the open broker without being registered: data without a lab is the default lab's. */
const LOOSE_DEVICE = { id: 'loose-air-1', kind: 'air' } as const;
const BRAVO_DEVICES = [
  { id: 'bravo-air-1', kind: 'air' },
  { id: 'bravo-bin-1', kind: 'waste' },
] as const;

let stack: Stack;
let browser: Browser;

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function publishFor(device: { id: string; kind: 'air' | 'waste' }, tsMs: number): Promise<void> {
  await stack.publish(device.kind, device.id, device.kind === 'air' ? { ts: tsMs, pm25: 12, no2: 30 } : { ts: tsMs, fill: 40 });
}

async function open(path: string): Promise<{ page: Page; pageErrors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  onTestFinished(() => context.close());
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${stack.apiUrl}${path}`);
  await page.locator('[data-testid="connection-indicator"][data-state="connected"]').waitFor({ timeout: 20_000 });
  return { page, pageErrors };
}

interface PageState {
  devices: Map<string, { latestTsMs?: number }>;
}

/** Waits until the page's state holds `deviceId`'s reading of `tsMs` (from the live feed: it was published after the page loaded). */
async function latestTsOf(page: Page, deviceId: string, tsMs: number): Promise<void> {
  await page.waitForFunction(
    ([id, ts]) => (globalThis as unknown as { streetlab: { store: { get(): PageState } } }).streetlab.store.get().devices.get(id as string)?.latestTsMs === ts,
    [deviceId, tsMs] as const,
    { timeout: 20_000 },
  );
}

async function stateDevices(page: Page): Promise<string[]> {
  return page.evaluate(() => [...(globalThis as unknown as { streetlab: { store: { get(): PageState } } }).streetlab.store.get().devices.keys()]);
}

async function shownDevices(page: Page): Promise<string[]> {
  return page.locator('[data-testid="devices-view"] [data-device]').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-device') ?? ''));
}

beforeAll(async () => {
  await ensureDashboardBuilt();
  stack = await startStack();
  browser = await launchChromium();
  const lab = await api('POST', '/api/v1/labs', { id: 'bravo', name: 'Bravo district', area: { south: 55.68, west: 12.5, north: 55.7, east: 12.6 } });
  expect(lab.status).toBe(201);
  for (const [devices, lab] of [
    [MAIN_DEVICES, undefined],
    [BRAVO_DEVICES, 'bravo'],
  ] as const) {
    for (const device of devices) {
      const created = await api('POST', '/api/v1/devices', { ...device, owner: 'acme', lat: 55.69, lon: 12.55, ...(lab ? { lab } : {}) });
      expect(created.status, await created.clone().text()).toBe(201);
    }
  }
  const now = Date.now();
  for (const device of [...MAIN_DEVICES, LOOSE_DEVICE, ...BRAVO_DEVICES]) await publishFor(device, now - 60_000);
  await stack.flush();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('a lab\'s dashboard', () => {
  it('shows only its lab\'s devices at /labs/{lab}/, live included, and the default lab at /', async () => {
    const bravo = await open('/labs/bravo/#/devices');
    for (const device of BRAVO_DEVICES) await bravo.page.getByTestId(`device-row-${device.id}`).waitFor({ timeout: 20_000 });
    const main = await open('/#/devices');
    for (const device of [...MAIN_DEVICES, LOOSE_DEVICE]) await main.page.getByTestId(`device-row-${device.id}`).waitFor({ timeout: 20_000 });

    // Live: the default lab reports first, then bravo; once bravo's page has bravo's reading, a
    // leaked reading of the default lab would have arrived before it.
    const now = Date.now();
    for (const device of [...MAIN_DEVICES, LOOSE_DEVICE, ...BRAVO_DEVICES]) await publishFor(device, now);
    await Promise.all([latestTsOf(bravo.page, 'bravo-air-1', now), latestTsOf(main.page, 'main-air-1', now), latestTsOf(main.page, LOOSE_DEVICE.id, now)]);
    expect((await stateDevices(bravo.page)).filter((id) => !id.startsWith('bravo-'))).toEqual([]);
    expect((await stateDevices(main.page)).filter((id) => id.startsWith('bravo-'))).toEqual([]);

    const onBravo = await shownDevices(bravo.page);
    expect(onBravo).toEqual(expect.arrayContaining(BRAVO_DEVICES.map((d) => d.id)));
    expect(onBravo.filter((id) => !id.startsWith('bravo-'))).toEqual([]);
    const onMain = await shownDevices(main.page);
    expect(onMain).toEqual(expect.arrayContaining(MAIN_DEVICES.map((d) => d.id)));
    expect(onMain.filter((id) => id.startsWith('bravo-'))).toEqual([]);
    expect(bravo.pageErrors).toEqual([]);
    expect(main.pageErrors).toEqual([]);
  }, 120_000);
});
