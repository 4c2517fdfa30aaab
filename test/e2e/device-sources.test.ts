/**
 * Each device's source on the dashboard, in a real browser: a LoRaWAN node registered for The
 * Things Stack whose uplink arrives through the webhook, an HTTP device, and an MQTT one. The
 * devices list and the device page say how each sends. Debian's Chromium driven by
 * playwright-core against the whole pipeline from startStack; nothing is faked.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.ts';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';
import { ensureDashboardBuilt } from './build-dashboard.ts';


let stack: Stack;
let browser: Browser;

async function api(path: string, body: unknown, headers: Record<string, string> = { authorization: `Bearer ${stack?.adminToken}` }): Promise<Response> {
  return fetch(`${stack.apiUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
}

async function open(hash: string): Promise<{ page: Page; pageErrors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  onTestFinished(() => context.close());
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${stack.apiUrl}/${hash}`);
  await page.locator('[data-testid="connection-indicator"][data-state="connected"]').waitFor({ timeout: 20_000 });
  return { page, pageErrors };
}

beforeAll(async () => {
  await ensureDashboardBuilt();
  stack = await startStack({ security: 'secured' });
  browser = await launchChromium();
  const base = { owner: 'acme', lat: 55.69, lon: 12.55 };
  const created = await Promise.all([
    api('/api/v1/devices', { ...base, id: 'lora-air-7', kind: 'air', source: 'ttn', devEui: '70B3D57ED005A1B2', fieldMap: { pm2_5: { to: 'pm25', scale: 0.1 }, pm10: { to: 'pm10', scale: 0.1 }, battery_voltage: { ignore: true } } }),
    api('/api/v1/devices', { ...base, id: 'http-air-7', kind: 'air', source: 'http' }),
    api('/api/v1/devices', { ...base, id: 'mqtt-air-7', kind: 'air' }),
  ]);
  for (const response of created) expect(response.status, await response.clone().text()).toBe(201);
  const httpSecret = ((await created[1]!.json()) as { secret: string }).secret;

  const integration = await api('/api/v1/integrations', { id: 'tts-e2e', type: 'ttn' });
  const { secret } = (await integration.json()) as { secret: string };
  const uplink = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'uplinks', 'tts-v3-uplink.json'), 'utf8'));
  uplink.received_at = new Date(Date.now() - 30_000).toISOString();
  expect((await api('/api/v1/uplinks/ttn/tts-e2e', uplink, { 'x-streetlab-secret': secret })).status).toBe(201);
  expect((await api('/api/v1/devices/http-air-7/readings', { pm25: 9 }, { authorization: `Bearer ${httpSecret}` })).status).toBe(201);
  await stack.flush();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
});

describe('device sources on the dashboard', () => {
  it('the devices list and the device page say how each device sends', async () => {
    const list = await open('#/devices');
    const row = (id: string) => list.page.getByTestId(`device-row-${id}`);
    await row('lora-air-7').waitFor({ timeout: 20_000 });
    expect(await row('lora-air-7').textContent()).toContain('via The Things Stack');
    expect(await row('http-air-7').textContent()).toContain('via HTTP');
    expect(await row('mqtt-air-7').textContent()).toContain('via MQTT');
    expect(list.pageErrors).toEqual([]);

    const device = await open('#/device/lora-air-7');
    const pageView = device.page.getByTestId('device-page');
    await pageView.waitFor({ timeout: 20_000 });
    await eventually(async () => ((await pageView.textContent())?.includes('via The Things Stack') ? true : undefined), 20_000, 'the source on the device page');
    expect(device.pageErrors).toEqual([]);
  }, 120_000);
});
