/**
 * The street map in Chromium against the real lab: Leaflet loads tiles from the tile server
 * the API is configured with (MAP_TILES_URL) — here a fixture HTTP server on a free port that
 * serves solid-colour PNG tiles and counts the requests — puts each registered device at its
 * coordinates, clusters a crowd of devices, fits the lab, and opens a device page on click.
 * With MAP_TILES_URL pointing at a closed port the map falls back to the schematic and says
 * so on the map.
 */
import { type Browser, type Page } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.ts';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';
import { ensureDashboardBuilt } from './build-dashboard.ts';
import { centreOf, closedPort, startTileServer, worldPixel, zoomOf, type TileServer } from './map-fixtures.ts';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const VIEWPORT = { width: 1440, height: 900 };
const WAIT_MS = 20_000;
const SCREENSHOTS = join(import.meta.dirname, '..', '..', 'test-artifacts', 'screenshots');

/** Four devices along a Copenhagen street, a few hundred metres apart (never one cluster at the fitted zoom). */
const STREET = [
  { id: 'street-air-1', kind: 'air', lat: 55.6745, lon: 12.5655 },
  { id: 'street-traffic-1', kind: 'traffic', lat: 55.6762, lon: 12.5688 },
  { id: 'street-bin-1', kind: 'waste', lat: 55.6771, lon: 12.5731 },
  { id: 'street-air-2', kind: 'air', lat: 55.6781, lon: 12.5702 },
] as const;
/** The colour EAQI band 5 (very poor) has in the legend (dashboard/model/eaqi-colours.ts). */
const EAQI_5_COLOUR = 'rgb(150, 0, 50)';

let browser: Browser;

beforeAll(async () => {
  await ensureDashboardBuilt();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

async function open(stack: Stack, hash: string): Promise<{ page: Page; consoleErrors: string[]; pageErrors: string[] }> {
  const context = await browser.newContext({ viewport: VIEWPORT });
  onTestFinished(() => context.close());
  const page = await context.newPage();
  const consoleErrors: string[] = [];
  const pageErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(`${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`${stack.apiUrl}/${hash}`);
  return { page, consoleErrors, pageErrors };
}

describe('street map with a tile server', () => {
  let stack: Stack;
  let tiles: TileServer;

  beforeAll(async () => {
    tiles = await startTileServer();
    stack = await startStack({
      map: { tilesUrl: `${tiles.url}/tiles/{z}/{x}/{y}.png`, attribution: 'Fixture tiles © <a href="https://tiles.example/copyright">Tile Fixture</a>' },
      // The lab is the street: "Fit the lab" (its area and its devices) then shows what the first load fits.
      defaultLab: { id: 'main', name: 'Street lab', area: { south: Math.min(...STREET.map((d) => d.lat)), west: Math.min(...STREET.map((d) => d.lon)), north: Math.max(...STREET.map((d) => d.lat)), east: Math.max(...STREET.map((d) => d.lon)) } },
    });
    for (const device of STREET) await stack.register(device.kind, device.id, { site: 'test-street', lat: device.lat, lon: device.lon });
    await stack.publish('air', 'street-air-1', { pm25: 63.2, no2: 44 });
    await stack.flush();
  });

  afterAll(async () => {
    await stack?.close();
    await tiles?.close();
  });

  it('loads tiles from the configured server, credits it, and colours markers by the legend', async () => {
    const { page, consoleErrors, pageErrors } = await open(stack, '#/map?site=test-street');
    await page.locator('[data-testid="lab-map"][data-basemap="street"]').waitFor({ timeout: WAIT_MS });
    await page.locator('[data-testid="street-map"][data-tiles="available"]').waitFor({ timeout: WAIT_MS });
    await eventually(async () => ((await page.locator('.leaflet-tile-pane img.leaflet-tile-loaded').count()) > 0 ? true : undefined), WAIT_MS, 'loaded tiles');

    const loaded = (await page.evaluate(`[...document.querySelectorAll('.leaflet-tile-pane img.leaflet-tile-loaded')].map((img) => ({ src: img.src, width: img.naturalWidth, complete: img.complete }))`)) as { src: string; width: number; complete: boolean }[];
    for (const image of loaded) {
      expect(image.src.startsWith(`${tiles.url}/tiles/`)).toBe(true);
      expect(image).toMatchObject({ width: 256, complete: true });
    }
    // The server saw the tiles under every device, at the zoom the map shows.
    const zoom = await zoomOf(page);
    expect(Number.isInteger(zoom) && zoom >= 14 && zoom <= 18).toBe(true);
    expect(tiles.requests.length).toBeGreaterThan(0);
    for (const path of tiles.requests) expect(path).toMatch(/^\/tiles\/\d+\/\d+\/\d+\.png$/);
    for (const device of STREET) {
      const p = worldPixel(device.lat, device.lon, zoom);
      expect(tiles.requests).toContain(`/tiles/${zoom}/${Math.floor(p.x / 256)}/${Math.floor(p.y / 256)}.png`);
    }

    const attribution = page.locator('.leaflet-control-attribution');
    await expect(attribution.textContent()).resolves.toContain('Fixture tiles ©');
    await expect(attribution.locator('a[href="https://tiles.example/copyright"]').textContent()).resolves.toBe('Tile Fixture');

    // The air sensor that reported very poor air wears EAQI band 5's colour; the others have no data yet.
    const marker = page.locator('[data-testid="map-marker-street-air-1"][data-level="5"]');
    await marker.waitFor({ timeout: WAIT_MS });
    await expect(marker.locator('.street-marker-shape').evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor)).resolves.toBe(EAQI_5_COLOUR);
    await expect(page.getByTestId('map-marker-street-bin-1').getAttribute('data-health')).resolves.toBe('nodata');
    await expect(page.getByTestId('map-legend').textContent()).resolves.toContain('5 Very poor');
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'street-map.png') });
    expect(pageErrors).toEqual([]);
    // Nothing the map asked for failed: its tiles, its script chunk, its settings.
    expect(consoleErrors.filter((e) => e.includes(tiles.url) || /leaflet|street-map|dashboard-config/i.test(e))).toEqual([]);
  });

  it('puts every marker at its coordinates and fits the lab, on load and with the button', async () => {
    const { page } = await open(stack, '#/map?site=test-street');
    await page.locator('[data-testid="street-map"][data-tiles="available"]').waitFor({ timeout: WAIT_MS });
    for (const device of STREET) await page.getByTestId(`map-marker-${device.id}`).waitFor({ timeout: WAIT_MS });
    const zoom = await zoomOf(page);
    const [first, ...others] = STREET;
    const origin = await centreOf(page, `map-marker-${first.id}`);
    const originWorld = worldPixel(first.lat, first.lon, zoom);
    for (const device of others) {
      const at = await centreOf(page, `map-marker-${device.id}`);
      const world = worldPixel(device.lat, device.lon, zoom);
      // Screen offsets between markers are their Web Mercator offsets at the map's zoom.
      expect(Math.abs(at.x - origin.x - (world.x - originWorld.x))).toBeLessThan(1.5);
      expect(Math.abs(at.y - origin.y - (world.y - originWorld.y))).toBeLessThan(1.5);
    }

    const map = (await page.getByTestId('street-map').boundingBox())!;
    const inside = async () => {
      for (const device of STREET) {
        // The cluster layer keeps only markers near the view in the page: gone is outside.
        if ((await page.getByTestId(`map-marker-${device.id}`).count()) === 0) return false;
        const c = await centreOf(page, `map-marker-${device.id}`);
        if (!c || c.x < map.x || c.x > map.x + map.width || c.y < map.y || c.y > map.y + map.height) return false;
      }
      return true;
    };
    expect(await inside()).toBe(true);

    // A person drags the lab off screen; the button brings it back.
    for (let drag = 0; drag < 2; drag++) {
      await page.mouse.move(map.x + map.width - 60, map.y + map.height - 60);
      await page.mouse.down();
      await page.mouse.move(map.x + 60, map.y + 60, { steps: 10 });
      await page.mouse.up();
    }
    await eventually(async () => ((await inside()) ? undefined : true), WAIT_MS, 'the lab dragged away');
    await page.getByTestId('map-fit').click();
    await eventually(async () => ((await inside()) ? true : undefined), WAIT_MS, 'the lab fitted again');
    expect(await zoomOf(page)).toBe(zoom);
  });

  it('opens the device page from a marker', async () => {
    const { page } = await open(stack, '#/map?site=test-street');
    await page.locator('[data-testid="street-map"][data-tiles="available"]').waitFor({ timeout: WAIT_MS });
    await page.getByTestId('map-marker-street-bin-1').click();
    await page.locator('[data-testid="device-page"][data-device="street-bin-1"]').waitFor({ timeout: WAIT_MS });
  });

  it('shows the same map on the overview, and in the showcase with its legend in Danish', async () => {
    const overview = await open(stack, '#/overview?site=test-street');
    await overview.page.locator('[data-testid="lab-map"][data-basemap="street"]').waitFor({ timeout: WAIT_MS });
    await overview.page.getByTestId('map-marker-street-air-2').waitFor({ timeout: WAIT_MS });

    const { page, pageErrors } = await open(stack, '#/showcase?lang=da&every=3');
    await page.locator('[data-testid="showcase"][data-panel="map"]').waitFor({ timeout: WAIT_MS });
    const legend = page.getByTestId('map-legend');
    await expect(legend.textContent()).resolves.toContain('Trafikmængde');
    await expect(legend.textContent()).resolves.toContain('5 Meget dårlig');
    await expect(legend.getAttribute('aria-label')).resolves.toBe('Kortforklaring');
    await expect(page.getByTestId('map-fit').textContent()).resolves.toBe('Vis hele laboratoriet');
    await page.locator('[data-testid="lab-map"][data-basemap="street"]').waitFor();
    await page.getByTestId('map-marker-street-air-1').waitFor({ timeout: WAIT_MS });
    expect(pageErrors).toEqual([]);
  });

  // Last: the crowd stays in the lab (the site filter keeps the other tests to the street).
  it('clusters hundreds of devices, fewer clusters as the map zooms out, one for the lab far out', async () => {
    const crowd: string[] = [];
    for (let row = 0; row < 15; row++) {
      for (let col = 0; col < 20; col++) {
        const id = `crowd-${String(row * 20 + col).padStart(3, '0')}`;
        crowd.push(id);
        await stack.register(col % 3 === 0 ? 'air' : col % 3 === 1 ? 'traffic' : 'waste', id, { site: 'crowd', lat: 55.672 + row * 0.0003, lon: 12.56 + col * 0.0005 });
      }
    }
    const { page, pageErrors } = await open(stack, '#/map?site=crowd');
    await page.locator('[data-testid="street-map"][data-tiles="available"]').waitFor({ timeout: WAIT_MS });
    /** Devices shown: in clusters (their counts) and alone. */
    const shown = async () => {
      const counts = (await page.locator('[data-testid="map-cluster"]').evaluateAll((els) => els.map((el) => Number(el.getAttribute('data-count'))))) as number[];
      const alone = await page.locator('[data-testid^="map-marker-crowd-"]').count();
      return { clusters: counts.length, inClusters: counts.reduce((a, b) => a + b, 0), alone };
    };
    const fitted = await eventually(async () => {
      const now = await shown();
      return now.inClusters + now.alone === crowd.length ? now : undefined;
    }, WAIT_MS, 'every crowd device in a cluster or alone');
    // Fitted to the lab, 300 devices 20–30 m apart cannot all stand alone.
    expect(fitted.clusters).toBeGreaterThan(0);
    expect(fitted.alone).toBeLessThan(crowd.length);

    let zoom = await zoomOf(page);
    let previous = fitted.clusters + fitted.alone;
    for (let step = 0; step < 4; step++) {
      await page.locator('.leaflet-control-zoom-out').click();
      const expected = zoom - 1;
      await eventually(async () => ((await zoomOf(page)) === expected ? true : undefined), WAIT_MS, `zoom ${expected}`);
      zoom = expected;
      const now = await eventually(async () => {
        const s = await shown();
        return s.inClusters + s.alone === crowd.length ? s : undefined;
      }, WAIT_MS, `all devices shown at zoom ${zoom}`);
      expect(now.clusters + now.alone).toBeLessThanOrEqual(previous);
      previous = now.clusters + now.alone;
    }
    // Far out, the lab is one cluster of all its devices; a click on it zooms back in.
    await eventually(async () => {
      const s = await shown();
      return s.clusters === 1 && s.inClusters === crowd.length ? true : undefined;
    }, WAIT_MS, 'one cluster of the whole lab');
    await page.getByTestId('map-cluster').click();
    await eventually(async () => ((await zoomOf(page)) > zoom ? true : undefined), WAIT_MS, 'zoomed into the cluster');
    expect(pageErrors).toEqual([]);
  }, 120_000);
});

describe('street map without a tile server', () => {
  let stack: Stack;

  beforeAll(async () => {
    const port = await closedPort();
    stack = await startStack({ map: { tilesUrl: `http://127.0.0.1:${port}/tiles/{z}/{x}/{y}.png`, attribution: 'Unreachable tiles' } });
    for (const device of STREET) await stack.register(device.kind, device.id, { site: 'test-street', lat: device.lat, lon: device.lon });
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('falls back to the schematic and says so on the map', async () => {
    const { page, pageErrors } = await open(stack, '#/map');
    await page.locator('[data-testid="lab-map"][data-basemap="fallback"]').waitFor({ timeout: WAIT_MS });
    const note = page.getByTestId('map-fallback-note');
    await note.waitFor({ state: 'visible', timeout: WAIT_MS });
    await expect(note.textContent()).resolves.toBe('Street tiles unavailable — schematic view');
    // The note is on the map itself, and the devices are still there, at their places.
    const map = (await page.getByTestId('lab-map').boundingBox())!;
    const box = (await note.boundingBox())!;
    expect(box.y).toBeGreaterThanOrEqual(map.y);
    expect(box.y + box.height).toBeLessThanOrEqual(map.y + map.height);
    for (const device of STREET) await page.getByTestId(`map-marker-${device.id}`).waitFor({ timeout: WAIT_MS });
    const west = await centreOf(page, 'map-marker-street-air-1');
    const east = await centreOf(page, 'map-marker-street-bin-1');
    expect(east.x).toBeGreaterThan(west.x);
    expect(east.y).toBeLessThan(west.y);
    await expect(page.locator('.leaflet-container').count()).resolves.toBe(0);
    mkdirSync(SCREENSHOTS, { recursive: true });
    await page.screenshot({ path: join(SCREENSHOTS, 'street-map-fallback.png') });

    // Other views of the same page do not try again: the overview is schematic at once.
    await page.getByTestId('nav-overview').click();
    await page.locator('[data-testid="lab-map"][data-basemap="fallback"]').waitFor({ timeout: WAIT_MS });
    expect(pageErrors).toEqual([]);
  });

  it('says so in Danish in the visitor showcase', async () => {
    const { page } = await open(stack, '#/showcase?lang=da&every=3');
    await page.locator('[data-testid="showcase"][data-panel="map"]').waitFor({ timeout: WAIT_MS });
    // The panel rotates away and back: the page remembers the tiles failed, and says why in Danish.
    await page.locator('[data-testid="lab-map"][data-basemap="fallback"]').waitFor({ timeout: WAIT_MS });
    await page.getByText('Gadekort utilgængeligt — skematisk visning').waitFor({ timeout: WAIT_MS });
  });
});
