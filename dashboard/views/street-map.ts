/**
 * The street map: Leaflet with the deployment's tile server (MAP_TILES_URL), every device
 * with registered coordinates as a marker, clustered where they crowd (leaflet.markercluster:
 * hundreds of devices stay readable at any zoom). Pan and zoom are Leaflet's; the map fits
 * the lab's devices on first load and whenever they change until a person moves it — the lab's
 * area while no device has coordinates — and a "Fit the lab" button shows the area and every
 * device (one placed outside the area too). Markers are links to the device page, coloured like
 * the schematic's (EAQI, flow, fill, grey when offline) and restyled only when their device
 * changed. The first tiles decide whether the tile server answers (model/tile-reachability.ts);
 * when it does not, `onTilesUnavailable` lets map-view.ts fall back to the schematic.
 */
import L from 'leaflet';
import 'leaflet.markercluster';
import 'leaflet/dist/leaflet.css';
import 'leaflet.markercluster/dist/MarkerCluster.css';
import { filteredDevices } from '../model/aggregates.ts';
import { healthOf, markerStyleOf, type DeviceView, type MarkerStyle } from '../model/device-status.ts';
import { fillIn, type Strings } from '../model/i18n.ts';
import type { LabArea } from '../../contracts/labs.ts';
import { attributionHtml, type MapTiles } from '../model/map-tiles.ts';
import { createTileProbe, TILE_PROBE_TIMEOUT_MS, type TileVerdict } from '../model/tile-reachability.ts';
import type { AppContext } from './context.ts';
import { h, setAttr, setText, type View } from './dom.ts';
import { applyMarkerState, markerAriaLabel, markerInnerText, tooltipContent } from './map-markers.ts';

export interface StreetMapOptions {
  /** Smaller markers (the overview's map). */
  compact?: boolean;
  tiles: MapTiles;
  strings: () => Strings;
  /** The lab's area (GET /api/v1/labs/{lab}): the view while no device has coordinates, and part of "Fit the lab". */
  area?: LabArea | undefined;
  /** Called once, outside Leaflet's event handling, when the first tiles show the server is out of reach. */
  onTilesUnavailable: () => void;
}

interface StreetMarker {
  marker: L.Marker;
  link: HTMLAnchorElement;
  shape: HTMLSpanElement;
  text: HTMLSpanElement;
  lat: number;
  lon: number;
  device?: DeviceView | undefined;
  styleKey: string;
  warning: boolean;
}

/** OpenStreetMap's tiles go to zoom 19; a lab fitted closer than 18 shows more street than the devices need. */
const MAX_ZOOM = 19;
const FIT_MAX_ZOOM = 18;
const LONE_DEVICE_ZOOM = 17;
const FIT_PADDING_PX = 36;
/** Markers closer than this (px) are one cluster: about a marker and a half. */
const CLUSTER_RADIUS_PX = 40;

export function createStreetMap(ctx: AppContext, options: StreetMapOptions): View {
  const compact = options.compact ?? false;
  const size = compact ? 20 : 26;
  const container = h('div', { class: 'map-canvas street-map-canvas', 'data-testid': 'street-map', 'data-tiles': 'pending' });
  const unplacedNote = h('p', { class: 'map-note', 'data-testid': 'map-note', hidden: true });
  const unplacedList = h('ul', { class: 'map-unplaced', hidden: true });
  const el = h('div', { class: 'map-body map-street' }, container, unplacedNote, unplacedList);

  const map = L.map(container, { maxZoom: MAX_ZOOM, zoomControl: true, attributionControl: true });
  map.attributionControl.setPrefix('<a href="https://leafletjs.com" target="_blank" rel="noopener noreferrer">Leaflet</a>');
  const tileLayer = L.tileLayer(options.tiles.url, { attribution: attributionHtml(options.tiles.attribution), maxZoom: MAX_ZOOM });
  const markers = new Map<string, StreetMarker>();
  const byLeaflet = new WeakMap<L.Marker, StreetMarker>();
  const clusters = L.markerClusterGroup({
    chunkedLoading: true,
    showCoverageOnHover: false,
    spiderfyOnMaxZoom: true,
    maxClusterRadius: CLUSTER_RADIUS_PX,
    iconCreateFunction: (cluster) => {
      const children = cluster.getAllChildMarkers();
      const warning = children.some((m) => byLeaflet.get(m)?.warning);
      const count = cluster.getChildCount();
      const badge = h('span', { 'data-testid': 'map-cluster', 'data-count': String(count), 'aria-label': fillIn(options.strings().mapCluster, { count }) }, String(count));
      return L.divIcon({ html: badge, className: `map-cluster${warning ? ' has-warning' : ''}`, iconSize: L.point(36, 36) });
    },
  });

  const fitButton = h('button', { type: 'button', class: 'map-fit', 'data-testid': 'map-fit' }, options.strings().mapFit);
  const FitControl = L.Control.extend({ onAdd: () => fitButton });
  new FitControl({ position: 'topleft' }).addTo(map);
  L.DomEvent.disableClickPropagation(fitButton);

  // Tiles: the first ones decide whether the server answers.
  const probe = createTileProbe();
  let probeTimer: ReturnType<typeof setTimeout> | undefined;
  let disposed = false;
  function judge(verdict: TileVerdict): void {
    setAttr(container, 'data-tiles', verdict);
    if (verdict === 'pending') return;
    clearTimeout(probeTimer);
    tileLayer.off('tileloadstart tileload tileerror');
    // After Leaflet's handler has returned: the fallback removes this map.
    if (verdict === 'unavailable') setTimeout(() => disposed || options.onTilesUnavailable(), 0);
  }
  tileLayer.on('tileloadstart', () => {
    probeTimer ??= setTimeout(() => judge(probe.timedOut()), TILE_PROBE_TIMEOUT_MS);
    judge(probe.started());
  });
  tileLayer.on('tileload', () => judge(probe.loaded()));
  tileLayer.on('tileerror', () => judge(probe.failed()));

  // Fitting: on first load, and whenever the devices change until a person moves the map.
  let started = false;
  let userMoved = false;
  let boundsKey = '';
  for (const type of ['pointerdown', 'wheel', 'keydown']) container.addEventListener(type, () => (userMoved = true), { passive: true });
  fitButton.addEventListener('click', () => {
    userMoved = false;
    fitLab();
  });
  map.on('zoomend moveend', () => setAttr(container, 'data-zoom', String(map.getZoom())));

  function hasSize(): boolean {
    return container.clientWidth > 0 && container.clientHeight > 0;
  }

  const area = options.area ? L.latLngBounds([options.area.south, options.area.west], [options.area.north, options.area.east]) : undefined;

  function deviceBounds(): L.LatLngBounds | undefined {
    return markers.size === 0 ? undefined : L.latLngBounds([...markers.values()].map((m) => L.latLng(m.lat, m.lon)));
  }

  /** `what` is what the view shows (`data-fitted`): the devices, the area, or both ("Fit the lab"). */
  function fitTo(what: 'devices' | 'area' | 'lab', bounds: L.LatLngBounds, maxZoom: number, animate: boolean): void {
    map.fitBounds(bounds, { padding: [FIT_PADDING_PX, FIT_PADDING_PX], maxZoom, animate });
    setAttr(container, 'data-zoom', String(map.getZoom()));
    setAttr(container, 'data-fitted', what);
  }

  /** The automatic view: the devices, or the lab's area while none has coordinates. */
  function fit(): void {
    if (!hasSize()) return;
    const devices = deviceBounds();
    if (devices) fitTo('devices', devices, markers.size === 1 ? LONE_DEVICE_ZOOM : FIT_MAX_ZOOM, false);
    else if (area) fitTo('area', area, FIT_MAX_ZOOM, false);
  }

  /** "Fit the lab": the lab's area and every device, wherever it stands. */
  function fitLab(): void {
    if (!hasSize()) return;
    const devices = deviceBounds();
    if (!area) {
      if (devices) fitTo('lab', devices, markers.size === 1 ? LONE_DEVICE_ZOOM : FIT_MAX_ZOOM, true);
      return;
    }
    const union = L.latLngBounds(area.getSouthWest(), area.getNorthEast());
    if (devices) union.extend(devices);
    fitTo('lab', union, FIT_MAX_ZOOM, true);
  }

  /** Layers go on once the map has a size and a view: tiles are asked for the lab, not the world. */
  function start(): void {
    if (started || (markers.size === 0 && !area) || !hasSize()) return;
    started = true;
    fit();
    tileLayer.addTo(map);
    clusters.addTo(map);
  }

  const resizeObserver = new ResizeObserver(() => {
    if (!hasSize()) return;
    map.invalidateSize();
    if (!started) start();
    else if (!userMoved) fit();
  });
  resizeObserver.observe(container);

  function createMarker(device: DeviceView, lat: number, lon: number): StreetMarker {
    const { id, kind } = device.info;
    const shape = h('span', { class: 'street-marker-shape' });
    const text = h('span', { class: 'street-marker-text' });
    const link = h(
      'a',
      { href: ctx.href({ view: 'device', deviceId: id }), class: `street-marker kind-${kind}`, 'data-testid': `map-marker-${id}`, 'data-device': id, 'data-lat': String(lat), 'data-lon': String(lon) },
      shape,
      text,
      h('span', { class: 'street-marker-badge', 'aria-hidden': 'true' }, '!'),
    );
    // One icon per marker holding the link itself: it survives clustering (Leaflet re-attaches it) and is restyled in place.
    const icon = L.divIcon({ html: link, className: 'street-marker-icon', iconSize: L.point(size, size) });
    const marker = L.marker([lat, lon], { icon, keyboard: false, riseOnHover: true });
    marker.bindTooltip(
      () => {
        const current = ctx.store.get().devices.get(id);
        return h('div', { class: 'street-tooltip-body' }, ...(current ? tooltipContent(ctx, current, markerStyleOf(current, ctx.now())) : []));
      },
      { direction: 'top', offset: L.point(0, -size / 2), className: 'street-tooltip' },
    );
    const entry: StreetMarker = { marker, link, shape, text, lat, lon, styleKey: '', warning: false };
    byLeaflet.set(marker, entry);
    return entry;
  }

  function styleMarker(entry: StreetMarker, device: DeviceView, style: MarkerStyle, pulse: boolean): boolean {
    const key = `${style.fill}|${style.ink}|${style.summary}|${style.warning ?? ''}|${style.health}`;
    const warningBefore = entry.warning;
    if (key !== entry.styleKey) {
      entry.styleKey = key;
      entry.shape.style.background = style.fill;
      entry.text.style.color = style.ink;
      applyMarkerState(entry.link, style);
      entry.link.classList.toggle('has-warning', style.warning !== undefined);
      entry.link.classList.toggle('is-fire', style.warning === 'fire');
      entry.warning = style.warning !== undefined;
    }
    setText(entry.text, markerInnerText(device, style, compact));
    setAttr(entry.link, 'data-ts', device.latest?.ts);
    setAttr(entry.link, 'aria-label', markerAriaLabel(ctx, device, style));
    if (pulse && entry.link.isConnected && typeof entry.shape.animate === 'function') {
      entry.shape.animate([{ boxShadow: '0 0 0 0 rgba(15,118,110,0.8)' }, { boxShadow: '0 0 0 12px rgba(15,118,110,0)' }], { duration: 1_200, easing: 'ease-out' });
    }
    return entry.warning !== warningBefore;
  }

  let lastFullRefresh = 0;
  let unplacedKey = '';
  function update(): void {
    if (disposed) return;
    setText(fitButton, options.strings().mapFit);
    setAttr(fitButton, 'title', options.strings().mapFitTitle);
    const now = ctx.now();
    const devices = filteredDevices(ctx.store.get().devices, ctx.route().filter);
    const unplaced: DeviceView[] = [];
    const visible = new Set<string>();
    const added: L.Marker[] = [];
    let changed = 0;
    for (const device of devices) if (markers.get(device.info.id)?.device !== device) changed += 1;
    // Pulses tell a person "this one just reported"; with hundreds at once they are noise.
    const pulses = changed <= 60;
    // Unchanged devices need a restyle only when time moves their state (ages, offline): once a second.
    const full = now - lastFullRefresh >= 1_000;
    if (full) lastFullRefresh = now;
    let warningsChanged = false;
    for (const device of devices) {
      const { id, lat, lon } = device.info;
      if (lat === undefined || lon === undefined) {
        unplaced.push(device);
        continue;
      }
      visible.add(id);
      let entry = markers.get(id);
      if (!entry) {
        entry = createMarker(device, lat, lon);
        markers.set(id, entry);
        added.push(entry.marker);
      } else if (entry.lat !== lat || entry.lon !== lon) {
        // A clustered marker moves by leaving its cluster and joining again.
        clusters.removeLayer(entry.marker);
        entry.marker.setLatLng([lat, lon]);
        entry.lat = lat;
        entry.lon = lon;
        setAttr(entry.link, 'data-lat', String(lat));
        setAttr(entry.link, 'data-lon', String(lon));
        added.push(entry.marker);
      }
      if (!full && entry.device === device) continue;
      const fresh = entry.device !== undefined && entry.device.latestTsMs !== device.latestTsMs;
      entry.device = device;
      if (styleMarker(entry, device, markerStyleOf(device, now), pulses && fresh && healthOf(device, now) === 'online')) warningsChanged = true;
    }
    const gone: L.Marker[] = [];
    for (const [id, entry] of markers) {
      if (!visible.has(id)) {
        gone.push(entry.marker);
        markers.delete(id);
      }
    }
    if (gone.length > 0) clusters.removeLayers(gone);
    if (added.length > 0) clusters.addLayers(added);
    else if (warningsChanged) clusters.refreshClusters();

    const nextBoundsKey = [...markers.values()].map((m) => `${m.lat},${m.lon}`).sort().join(';');
    if (!started) start();
    else if (nextBoundsKey !== boundsKey && !userMoved) fit();
    boundsKey = nextBoundsKey;
    showUnplaced(unplaced);
  }

  /** Devices without a registered position cannot be on a street map: listed under it, still links. */
  function showUnplaced(unplaced: readonly DeviceView[]): void {
    const strings = options.strings();
    // The language is part of the key: the showcase switches it while the list stays.
    const key = [strings.mapUnplacedMany, ...unplaced.map((d) => `${d.info.id}|${d.info.name}`)].join('\n');
    if (key === unplacedKey) return;
    unplacedKey = key;
    unplacedNote.hidden = unplaced.length === 0;
    unplacedList.hidden = unplaced.length === 0;
    setText(unplacedNote, unplaced.length === 0 ? '' : unplaced.length === 1 ? strings.mapUnplacedOne : fillIn(strings.mapUnplacedMany, { count: unplaced.length }));
    unplacedList.replaceChildren(
      ...unplaced.slice(0, 40).map((d) =>
        h('li', {}, h('a', { href: ctx.href({ view: 'device', deviceId: d.info.id }), class: `unplaced-device kind-${d.info.kind}`, 'data-testid': `map-marker-${d.info.id}`, 'data-device': d.info.id }, d.info.name)),
      ),
      ...(unplaced.length > 40 ? [h('li', {}, fillIn(strings.mapUnplacedMore, { count: unplaced.length - 40 }))] : []),
    );
  }

  return {
    el,
    update,
    dispose() {
      disposed = true;
      clearTimeout(probeTimer);
      resizeObserver.disconnect();
      map.remove();
    },
  };
}
