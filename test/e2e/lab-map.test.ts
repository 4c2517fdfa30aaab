/**
 * The street map and the lab's area, in Chromium against the real lab and the tile server
 * fixture: a lab with no device yet opens on its area (the zoom Leaflet must choose for
 * it, the tiles under its corners); "Fit the lab" shows the area and every device, one placed
 * outside the area too; and the map's notes come in the visitor's language.
 */
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.ts';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { LabArea } from '../../contracts/labs.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';
import { ensureDashboardBuilt } from './build-dashboard.ts';
import { centreOf, startTileServer, worldPixel, zoomOf, type TileServer } from './map-fixtures.ts';

const VIEWPORT = { width: 1440, height: 900 };
const WAIT_MS = 20_000;
/** As in dashboard/views/street-map.ts: the padding on each side and the closest zoom of a fit. */
const FIT_PADDING_PX = 36;
const FIT_MAX_ZOOM = 18;

/** Copenhagen's inner harbour: the lab under test. */
const HARBOUR: LabArea = { south: 55.664, west: 12.578, north: 55.679, east: 12.602 };
/** One device in the area, one east of it (the lab reaches past its registered area). */
const INSIDE = { id: 'harbour-air-1', lat: 55.671, lon: 12.595 };
const OUTSIDE = { id: 'harbour-bin-1', lat: 55.669, lon: 12.61 };

interface Box { south: number; west: number; north: number; east: number }

/** The zoom Leaflet's fitBounds picks for a box in a map of this size (Map.getBoundsZoom with zoomSnap 1). */
function fittedZoom(box: Box, width: number, height: number): number {
  const nw = worldPixel(box.north, box.west, 0);
  const se = worldPixel(box.south, box.east, 0);
  const scale = Math.min((width - 2 * FIT_PADDING_PX) / (se.x - nw.x), (height - 2 * FIT_PADDING_PX) / (se.y - nw.y));
  const zoom = Math.floor(Math.round(Math.log2(scale) * 100) / 100);
  return Math.min(FIT_MAX_ZOOM, zoom);
}

function tileOf(lat: number, lon: number, zoom: number): string {
  const p = worldPixel(lat, lon, zoom);
  return `/tiles/${zoom}/${Math.floor(p.x / 256)}/${Math.floor(p.y / 256)}.png`;
}

async function mapSize(page: Page): Promise<{ width: number; height: number }> {
  return (await page.getByTestId('street-map').evaluate((el) => ({ width: el.clientWidth, height: el.clientHeight }))) as { width: number; height: number };
}

let browser: Browser;

beforeAll(async () => {
  await ensureDashboardBuilt();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

async function open(stack: Stack, path: string): Promise<{ page: Page; pageErrors: string[] }> {
  const context = await browser.newContext({ viewport: VIEWPORT });
  onTestFinished(() => context.close());
  const page = await context.newPage();
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${stack.apiUrl}${path}`);
  return { page, pageErrors };
}

describe("the street map and the lab's area", () => {
  let stack: Stack;
  let tiles: TileServer;

  async function api(method: string, path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const response = await fetch(`${stack.apiUrl}${path}`, { method, headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  beforeAll(async () => {
    tiles = await startTileServer();
    stack = await startStack({ map: { tilesUrl: `${tiles.url}/tiles/{z}/{x}/{y}.png`, attribution: 'Fixture tiles' } });
    const created = await api('POST', '/api/v1/labs', { id: 'harbour', name: 'Harbour', area: HARBOUR });
    expect(created.status, JSON.stringify(created.json)).toBe(201);
  });

  afterAll(async () => {
    await stack?.close();
    await tiles?.close();
  });

  it('opens on the area of a lab with no device yet', async () => {
    const asked = tiles.requests.length;
    const { page, pageErrors } = await open(stack, '/labs/harbour/#/map');
    await page.locator('[data-testid="lab-map"][data-basemap="street"]').waitFor({ timeout: WAIT_MS });
    await page.locator('[data-testid="street-map"][data-fitted="area"][data-tiles="available"]').waitFor({ timeout: WAIT_MS });
    const { width, height } = await mapSize(page);
    const zoom = fittedZoom(HARBOUR, width, height);
    expect(await zoomOf(page)).toBe(zoom);
    // The tiles under the area's corners and centre were asked for, at that zoom: the area is in view.
    const corners = [[HARBOUR.north, HARBOUR.west], [HARBOUR.north, HARBOUR.east], [HARBOUR.south, HARBOUR.west], [HARBOUR.south, HARBOUR.east], [(HARBOUR.north + HARBOUR.south) / 2, (HARBOUR.west + HARBOUR.east) / 2]] as const;
    await eventually(async () => {
      const now = tiles.requests.slice(asked);
      return corners.every(([lat, lon]) => now.includes(tileOf(lat, lon, zoom))) ? true : undefined;
    }, WAIT_MS, "the tiles of the lab's area");
    expect(await page.locator('[data-testid^="map-marker-"]').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  it('fits the devices on load, and the area with every device with "Fit the lab"', async () => {
    for (const [device, kind] of [[INSIDE, 'air'], [OUTSIDE, 'waste']] as const) {
      const registered = await api('POST', '/api/v1/devices', { id: device.id, kind, owner: 'harbour-co', lat: device.lat, lon: device.lon, lab: 'harbour' });
      expect(registered.status, JSON.stringify(registered.json)).toBe(201);
    }
    const { page, pageErrors } = await open(stack, '/labs/harbour/#/map');
    await page.locator('[data-testid="street-map"][data-fitted="devices"][data-tiles="available"]').waitFor({ timeout: WAIT_MS });
    const { width, height } = await mapSize(page);
    const devices = { south: OUTSIDE.lat, west: INSIDE.lon, north: INSIDE.lat, east: OUTSIDE.lon };
    expect(await zoomOf(page)).toBe(fittedZoom(devices, width, height));

    await page.getByTestId('map-fit').click();
    await page.locator('[data-testid="street-map"][data-fitted="lab"]').waitFor({ timeout: WAIT_MS });
    const union = { south: Math.min(HARBOUR.south, OUTSIDE.lat), west: HARBOUR.west, north: HARBOUR.north, east: Math.max(HARBOUR.east, OUTSIDE.lon) };
    const zoom = fittedZoom(union, width, height);
    // The union reaches further than the devices alone: fitting it is a different view.
    expect(zoom).toBeLessThan(fittedZoom(devices, width, height));
    await eventually(async () => ((await zoomOf(page)) === zoom ? true : undefined), WAIT_MS, `zoom ${zoom}`);

    // Each device stands where the union's centre puts it: the map centre plus its Web Mercator offset.
    const box = (await page.getByTestId('street-map').boundingBox())!;
    const sw = worldPixel(union.south, union.west, zoom);
    const ne = worldPixel(union.north, union.east, zoom);
    const centre = { x: (sw.x + ne.x) / 2, y: (sw.y + ne.y) / 2 };
    await eventually(async () => {
      for (const device of [INSIDE, OUTSIDE]) {
        if ((await page.getByTestId(`map-marker-${device.id}`).count()) === 0) return undefined;
        const at = await centreOf(page, `map-marker-${device.id}`);
        const world = worldPixel(device.lat, device.lon, zoom);
        if (Math.abs(at.x - (box.x + width / 2 + world.x - centre.x)) > 2 || Math.abs(at.y - (box.y + height / 2 + world.y - centre.y)) > 2) return undefined;
      }
      return true;
    }, WAIT_MS, 'both devices where the fitted union puts them');
    await expect(page.getByTestId('map-fit').getAttribute('title')).resolves.toBe("Show the lab's whole area and every device");
    expect(pageErrors).toEqual([]);
  });

  it("writes the map's notes in the visitor's language", async () => {
    // The default lab: one device placed, one reporting without being registered (no position).
    await stack.register('air', 'quay-air-1', { lat: 55.6761, lon: 12.5683 });
    await stack.publish('air', 'loose-air-1', { pm25: 9 });
    await stack.flush();

    const english = await open(stack, '/#/map');
    await english.page.locator('[data-testid="lab-map"][data-basemap="street"]').waitFor({ timeout: WAIT_MS });
    const note = english.page.getByTestId('map-note');
    await eventually(async () => ((await note.textContent()) === '1 device without a registered position, not on the map:' ? true : undefined), WAIT_MS, 'the English note');
    await expect(english.page.getByTestId('lab-map').getAttribute('aria-label')).resolves.toBe('Lab map');

    const { page, pageErrors } = await open(stack, '/#/showcase?lang=da&every=3');
    await page.locator('[data-testid="showcase"][data-panel="map"]').waitFor({ timeout: WAIT_MS });
    await page.locator('[data-testid="lab-map"][data-basemap="street"]').waitFor({ timeout: WAIT_MS });
    await page.getByText('1 enhed uden registreret position, ikke på kortet:').waitFor({ timeout: WAIT_MS });
    await expect(page.getByTestId('map-fit').getAttribute('title')).resolves.toBe('Vis laboratoriets hele område og alle enheder');
    await expect(page.getByTestId('lab-map').getAttribute('aria-label')).resolves.toBe('Kort over laboratoriet');
    expect(pageErrors).toEqual([]);
  });
});
