/**
 * The lab map every view shows (overview, map page, visitor showcase): the street map
 * (street-map.ts, Leaflet with the deployment's tiles) when devices have coordinates and the
 * tile server answers, else the schematic drawn without internet (schematic-map.ts) — which
 * says on the map why when it stands in for missing street tiles. The legend is the same
 * under both, in the language of `strings`.
 *
 * The tile settings come once per page from GET /api/v1/dashboard-config (or the page's
 * `?tiles=` template), and the lab's area from GET /api/v1/labs/{lab}: a lab without devices
 * yet opens on its area on the street map. Once the first tiles show the server
 * out of reach, every map on the page stays schematic until the page is reloaded, instead of
 * trying again on every view.
 */
import { filteredDevices } from '../model/aggregates.ts';
import type { DashboardConfig } from '../../contracts/dashboard-config.ts';
import type { LabArea } from '../../contracts/labs.ts';
import { stringsFor, type Strings } from '../model/i18n.ts';
import { fetchDashboardConfig, mapTilesOf } from '../model/map-tiles.ts';
import type { AppContext } from './context.ts';
import { h, setAttr, type View } from './dom.ts';
import { createLegend } from './map-legend.ts';
import { createSchematicMap } from './schematic-map.ts';
import type { createStreetMap } from './street-map.ts';

export interface LabMapOptions {
  /** Smaller markers and no labels (the overview's map). */
  compact?: boolean;
  /** The legend's and notes' words; default English. */
  strings?: () => Strings;
}

/** `pending` until the tile settings are known; `fallback` is the schematic standing in for unreachable tiles. */
type Basemap = 'pending' | 'street' | 'schematic' | 'fallback';

let configLoad: Promise<DashboardConfig | undefined> | undefined;
/** The page shows one lab: its area is asked for once. */
let areaLoad: Promise<LabArea | undefined> | undefined;
let tilesUnreachable = false;
/** Leaflet is loaded when a street map is first needed: a page without one never pays for it. */
let streetMapLoad: Promise<typeof createStreetMap> | undefined;
let createStreet: typeof createStreetMap | undefined;

function loadStreetMap(): Promise<typeof createStreetMap> {
  streetMapLoad ??= import('./street-map.ts').then((module) => (createStreet = module.createStreetMap));
  return streetMapLoad;
}

function loadConfig(): Promise<DashboardConfig | undefined> {
  // An API without the route (or unreachable) means no known tile server: the schematic, with its note.
  configLoad ??= fetchDashboardConfig().catch((error: unknown) => {
    console.warn('dashboard-config unavailable, the map stays schematic:', error);
    return undefined;
  });
  return configLoad;
}

function loadArea(ctx: AppContext): Promise<LabArea | undefined> {
  // Without the lab's area the map opens on the devices, as it did before labs had one.
  areaLoad ??= ctx.api.lab().then(
    (lab) => lab?.area,
    (error: unknown) => {
      console.warn('the lab could not be read, the map opens on its devices:', error);
      return undefined;
    },
  );
  return areaLoad;
}

export function createLabMap(ctx: AppContext, options: LabMapOptions = {}): View {
  const compact = options.compact ?? false;
  const strings = options.strings ?? (() => stringsFor('en'));
  const slot = h('div', { class: 'map-slot' });
  let legendStrings = strings();
  let legend = createLegend(legendStrings);
  const el = h('section', { class: `map ${compact ? 'map-compact' : ''}`, 'data-testid': 'lab-map', 'data-basemap': 'pending', 'aria-label': legendStrings.mapLabel }, slot, legend);

  let config: DashboardConfig | undefined;
  let area: LabArea | undefined;
  let configKnown = false;
  let disposed = false;
  let current: { basemap: Basemap; view: View } | undefined;
  void Promise.all([loadConfig(), loadArea(ctx)]).then(([loaded, labArea]) => {
    config = loaded;
    area = labArea;
    configKnown = true;
    update();
  });

  function basemapNow(): Basemap {
    if (!configKnown) return 'pending';
    const devices = filteredDevices(ctx.store.get().devices, ctx.route().filter);
    const tiles = mapTilesOf(config, ctx.tileUrl) !== undefined && !tilesUnreachable;
    if (devices.some((d) => d.info.lat !== undefined && d.info.lon !== undefined)) return tiles ? 'street' : 'fallback';
    // Devices, none placed: the schematic street shows each of them in its state, which a street cannot.
    if (devices.length > 0 || !area) return 'schematic';
    // No device yet: the lab's area on the street map — once the registry has said there is none.
    if (ctx.store.get().registry === 'loading') return 'pending';
    return tiles ? 'street' : 'schematic';
  }

  function create(basemap: Basemap): View {
    const tiles = mapTilesOf(config, ctx.tileUrl);
    if (basemap === 'street' && tiles && createStreet) {
      return createStreet(ctx, {
        compact,
        tiles,
        strings,
        area,
        onTilesUnavailable: () => {
          tilesUnreachable = true;
          update();
        },
      });
    }
    return createSchematicMap(ctx, { compact, strings, ...(basemap === 'fallback' ? { overlayNote: () => strings().mapTilesUnavailable } : {}) });
  }

  function update(): void {
    if (disposed) return;
    const next = strings();
    if (next !== legendStrings) {
      legendStrings = next;
      const fresh = createLegend(next);
      legend.replaceWith(fresh);
      legend = fresh;
      setAttr(el, 'aria-label', next.mapLabel);
    }
    const basemap = basemapNow();
    if (basemap === 'pending') return;
    if (basemap === 'street' && !createStreet) {
      void loadStreetMap().then(update, (error: unknown) => {
        console.error('the street map could not be loaded, the map stays schematic:', error);
        tilesUnreachable = true;
        update();
      });
      return;
    }
    if (current?.basemap !== basemap) {
      current?.view.dispose();
      current = { basemap, view: create(basemap) };
      slot.replaceChildren(current.view.el);
      setAttr(el, 'data-basemap', basemap);
    }
    current.view.update();
  }

  return {
    el,
    update,
    dispose() {
      disposed = true;
      current?.view.dispose();
    },
  };
}
