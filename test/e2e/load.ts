/**
 * Load for the dashboard: many devices publishing at a steady rate through the real stack,
 * and a probe in the page that records the longest gap between animation frames (a frozen
 * page has none). Used by the browser test and by dashboard-load.ts, the load script.
 */
import type { Page } from 'playwright-core';
import type { ReadingKind } from '../../contracts/readings.ts';
import type { Stack } from '../helpers/stack.ts';
import { createRandom } from './fleet.ts';

export interface LoadDevice {
  id: string;
  kind: ReadingKind;
}

export function loadFleet(count: number, prefix = 'load'): LoadDevice[] {
  const kinds: ReadingKind[] = ['air', 'traffic', 'waste'];
  return Array.from({ length: count }, (_, i) => ({ id: `${prefix}-${String(i).padStart(3, '0')}`, kind: kinds[i % 3]! }));
}

function loadPayload(kind: ReadingKind, seq: number, random: () => number): Record<string, unknown> {
  if (kind === 'air') return { seq, pm25: Math.round(5 + random() * 400) / 10, no2: Math.round(200 + random() * 800) / 10 };
  if (kind === 'traffic') return { seq, period: 60, cars: Math.round(random() * 30), bicycles: Math.round(random() * 40), pedestrians: Math.round(random() * 20) };
  return { seq, fill: Math.round(random() * 1000) / 10, temperature: 15 };
}

/** Opens every device's MQTT connection and sends one reading each (so all are on the map). */
export async function connectFleet(stack: Stack, devices: readonly LoadDevice[]): Promise<void> {
  const random = createRandom(11);
  for (let i = 0; i < devices.length; i += 50) {
    await Promise.all(devices.slice(i, i + 50).map((d) => stack.publish(d.kind, d.id, loadPayload(d.kind, 0, random))));
  }
  await stack.flush();
}

/** Publishes round-robin over the devices at `perSecond` for `seconds`, in 100 ms slices. */
export async function publishAtRate(stack: Stack, devices: readonly LoadDevice[], perSecond: number, seconds: number): Promise<{ sent: number; seconds: number }> {
  const random = createRandom(13);
  const perSlice = Math.max(1, Math.round(perSecond / 10));
  const started = Date.now();
  let sent = 0;
  while (Date.now() - started < seconds * 1000) {
    const slice = Date.now();
    const batch: Promise<void>[] = [];
    for (let i = 0; i < perSlice; i++) {
      const n = sent + i;
      const device = devices[n % devices.length]!;
      batch.push(stack.publish(device.kind, device.id, loadPayload(device.kind, 1 + Math.floor(n / devices.length), random)));
    }
    await Promise.all(batch);
    sent += perSlice;
    const wait = 100 - (Date.now() - slice);
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return { sent, seconds: (Date.now() - started) / 1000 };
}

/** Installs the frame probe; call before navigating. */
export async function installFrameProbe(page: Page): Promise<void> {
  await page.addInitScript(`(() => {
    const probe = (window.__frameProbe = { maxGapMs: 0, frames: 0, last: 0 });
    const loop = (t) => {
      if (probe.last) probe.maxGapMs = Math.max(probe.maxGapMs, t - probe.last);
      probe.last = t;
      probe.frames += 1;
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  })()`);
}

export interface FrameStats {
  maxGapMs: number;
  frames: number;
}

export async function resetFrameProbe(page: Page): Promise<void> {
  await page.evaluate('window.__frameProbe.maxGapMs = 0; window.__frameProbe.frames = 0; window.__frameProbe.last = 0');
}

export async function readFrameProbe(page: Page): Promise<FrameStats> {
  return (await page.evaluate('({ maxGapMs: window.__frameProbe.maxGapMs, frames: window.__frameProbe.frames })')) as FrameStats;
}

/** Live readings the page has applied to its state (the app's debugging handle). */
export async function liveReadingsApplied(page: Page): Promise<number> {
  return (await page.evaluate('window.streetlab.store.get().liveReadings')) as number;
}
