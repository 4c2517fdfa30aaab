/**
 * Load script (a benchmark, not a test): the dashboard in Chromium while the real stack
 * carries N devices at R readings/s. Prints and writes JSON: what was sent and applied, the
 * longest gap between frames, and main-thread time from the DevTools Performance domain.
 *
 *   npx tsx test/e2e/dashboard-load.ts [--devices 500] [--rate 1000] [--seconds 10] [--view overview|map|devices|charts]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { startStack } from '../helpers/stack.ts';
import { ensureDashboardBuilt } from './build-dashboard.ts';
import { connectFleet, installFrameProbe, liveReadingsApplied, loadFleet, publishAtRate, readFrameProbe, resetFrameProbe } from './load.ts';

const { values } = parseArgs({
  options: {
    devices: { type: 'string', default: '500' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '10' },
    view: { type: 'string', default: 'overview' },
  },
});
const devices = loadFleet(Number(values.devices));
const out = join(import.meta.dirname, '..', '..', 'test-artifacts', 'dashboard-load.json');

await ensureDashboardBuilt();
const stack = await startStack();
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
});
try {
  await connectFleet(stack, devices);
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await installFrameProbe(page);
  await page.goto(`${stack.apiUrl}/#/${values.view}`);
  await page.locator('[data-testid="connection-indicator"][data-state="connected"]').waitFor();
  await page.waitForTimeout(2_000);

  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  const metrics = async () => Object.fromEntries((await cdp.send('Performance.getMetrics')).metrics.map((m) => [m.name, m.value]));
  const before = await metrics();
  const appliedBefore = await liveReadingsApplied(page);
  await resetFrameProbe(page);

  const load = await publishAtRate(stack, devices, Number(values.rate), Number(values.seconds));
  await stack.flush();
  await page.waitForTimeout(1_500);

  const after = await metrics();
  const frames = await readFrameProbe(page);
  const ms = (name: string) => Math.round(((after[name] ?? 0) - (before[name] ?? 0)) * 1000);
  const result = {
    view: values.view,
    devices: devices.length,
    sent: load.sent,
    publishedPerSecond: Math.round(load.sent / load.seconds),
    applied: (await liveReadingsApplied(page)) - appliedBefore,
    longestFrameGapMs: Math.round(frames.maxGapMs),
    framesPerSecond: Math.round(frames.frames / (load.seconds + 1.5)),
    mainThreadBusyShare: Math.round((ms('TaskDuration') / ((load.seconds + 1.5) * 1000)) * 100) / 100,
    scriptMs: ms('ScriptDuration'),
    layoutMs: ms('LayoutDuration'),
    styleMs: ms('RecalcStyleDuration'),
    pageErrors,
  };
  console.log(JSON.stringify(result, null, 2));
  mkdirSync(join(out, '..'), { recursive: true });
  writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
} finally {
  await browser.close();
  await stack.close();
}
