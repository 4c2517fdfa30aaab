/**
 * The schematic lab map: every device at its registered position (or on a schematic street
 * when the registry has no coordinates), drawn in SVG with no internet — a metric grid, a
 * scale bar and a north arrow. It is the map where no street tiles can be had (an air-gapped
 * control room), and then it says so in a note on the map. Markers are links to the device
 * page (keyboard reachable), coloured by state: EAQI for air, fill for bins, flow for traffic
 * counters, grey when offline. Only markers whose device changed are touched.
 *
 * Why ~400 lines: the SVG drawing (grid, scale bar, markers, hull) in one place; its geometry lives in dashboard/model/map-geometry.ts.
 */
import { filteredDevices } from '../model/aggregates.ts';
import type { AppContext } from './context.ts';
import { healthOf, markerStyleOf, type DeviceView, type MarkerStyle } from '../model/device-status.ts';
import { h, s, setAttr, setText, type View } from './dom.ts';
import { convexHull, fitFrame, gridLines, scaleBar, schematicLayout, toScreen, type Point } from '../model/map-geometry.ts';
import { applyMarkerState, markerAriaLabel, markerInnerText, tooltipContent } from './map-markers.ts';
import { fillIn, stringsFor, type Strings } from '../model/i18n.ts';

export interface SchematicMapOptions {
  /** Smaller markers and no labels (the overview's map). */
  compact?: boolean;
  /** A note shown on the map itself (why this is the schematic and not the street map); re-read on every update. */
  overlayNote?: () => string | undefined;
  /** The map's notes and labels; default English. */
  strings?: () => Strings;
}

interface Marker {
  el: SVGAElement;
  shape: SVGElement;
  text: SVGTextElement;
  label: SVGTextElement;
  badge: SVGGElement;
  pulse: SVGCircleElement;
  device?: DeviceView | undefined;
  styleKey: string;
  position?: Point | undefined;
}

const MARKER_RADIUS = 14;
const COMPACT_RADIUS = 11;

export function createSchematicMap(ctx: AppContext, options: SchematicMapOptions = {}): View {
  const baseRadius = options.compact ? COMPACT_RADIUS : MARKER_RADIUS;
  const strings = options.strings ?? (() => stringsFor('en'));
  /** Shrinks when devices crowd (hundreds on a street), so markers never overlap. */
  let radius = baseRadius;
  const base = s('g', { class: 'map-base' });
  const markerLayer = s('g', { class: 'map-markers' });
  const furniture = s('g', { class: 'map-furniture', 'aria-hidden': 'true' });
  const svg = s('svg', { class: 'map-svg', role: 'group', 'aria-label': strings().mapSchematicLabel }, base, markerLayer, furniture);
  const tooltip = h('div', { class: 'map-tooltip', role: 'tooltip', hidden: true });
  const note = h('p', { class: 'map-note', 'data-testid': 'map-note', hidden: true });
  const empty = h('p', { class: 'map-empty', hidden: true }, strings().mapSchematicEmpty);
  const overlay = h('p', { class: 'map-overlay-note', 'data-testid': 'map-fallback-note', role: 'status', hidden: true });
  const canvas = h('div', { class: 'map-canvas' }, svg, tooltip, empty, overlay);
  const el = h('div', { class: 'map-body map-schematic', 'data-testid': 'schematic-map' }, canvas, note);

  const markers = new Map<string, Marker>();
  let layoutKey = '';
  let width = 0;
  let height = 0;
  let hovered: string | undefined;
  let lastFullRefresh = 0;
  let layoutPositions = new Map<string, Point>();

  const resizeObserver = new ResizeObserver(() => {
    const rect = canvas.getBoundingClientRect();
    if (Math.round(rect.width) !== width || Math.round(rect.height) !== height) {
      width = Math.round(rect.width);
      height = Math.round(rect.height);
      layoutKey = '';
      update();
    }
  });
  resizeObserver.observe(canvas);

  function createMarker(device: DeviceView): Marker {
    const { kind } = device.info;
    const shape =
      kind === 'air'
        ? s('circle', { r: radius, class: 'marker-shape' })
        : kind === 'traffic'
          ? // A diamond whose corners reach `radius`, like the circle's edge: side r·√2.
            s('rect', { x: -radius / Math.SQRT2, y: -radius / Math.SQRT2, width: radius * Math.SQRT2, height: radius * Math.SQRT2, rx: 3, transform: 'rotate(45)', class: 'marker-shape' })
          : s('rect', { x: -radius * 0.9, y: -radius, width: radius * 1.8, height: radius * 2, rx: 3, class: 'marker-shape' });
    const pulse = s('circle', { r: radius + 2, class: 'marker-pulse' });
    const text = s('text', { class: 'marker-text', 'text-anchor': 'middle', dy: '0.35em' });
    const label = s('text', { class: 'marker-label', 'text-anchor': 'middle', y: radius + 15 });
    const badge = s(
      'g',
      { class: 'marker-badge', transform: `translate(${radius * 0.85},${-radius * 0.85})` },
      s('circle', { r: 7 }),
      s('text', { 'text-anchor': 'middle', dy: '0.35em' }, '!'),
    );
    const link = s(
      'a',
      {
        href: ctx.href({ view: 'device', deviceId: device.info.id }),
        class: `marker kind-${kind}`,
        'data-testid': `map-marker-${device.info.id}`,
        'data-device': device.info.id,
      },
      pulse,
      shape,
      text,
      badge,
      label,
    );
    const show = () => {
      hovered = device.info.id;
      showTooltip(device.info.id);
    };
    const hide = () => {
      if (hovered === device.info.id) hovered = undefined;
      tooltip.hidden = true;
    };
    link.addEventListener('pointerenter', show);
    link.addEventListener('focus', show);
    link.addEventListener('pointerleave', hide);
    link.addEventListener('blur', hide);
    return { el: link, shape, text, label, badge, pulse, styleKey: '' };
  }

  function styleMarker(marker: Marker, device: DeviceView, style: MarkerStyle, pulse: boolean): void {
    const { info } = device;
    const key = `${style.fill}|${style.ink}|${style.summary}|${style.warning ?? ''}|${style.health}|${info.name}`;
    if (key !== marker.styleKey) {
      marker.styleKey = key;
      setAttr(marker.shape, 'fill', style.fill);
      setAttr(marker.text, 'fill', style.ink);
      applyMarkerState(marker.el, style);
      marker.badge.classList.toggle('is-visible', style.warning !== undefined);
      marker.badge.classList.toggle('is-fire', style.warning === 'fire');
      setText(marker.label, info.name);
    }
    setText(marker.text, markerInnerText(device, style, options.compact ?? false));
    setAttr(marker.el, 'data-ts', device.latest?.ts);
    setAttr(marker.el, 'aria-label', markerAriaLabel(ctx, device, style));
    if (pulse && typeof marker.pulse.animate === 'function') {
      // Web Animations restart without forcing a layout (a class toggle would need a reflow).
      marker.pulse.animate(
        [
          { opacity: 0.9, transform: 'scale(1)' },
          { opacity: 0, transform: 'scale(1.9)' },
        ],
        { duration: 1_200, easing: 'ease-out' },
      );
    }
  }

  function showTooltip(id: string): void {
    const marker = markers.get(id);
    const device = ctx.store.get().devices.get(id);
    if (!marker?.position || !device) return;
    tooltip.replaceChildren(...tooltipContent(ctx, device, markerStyleOf(device, ctx.now())));
    tooltip.hidden = false;
    const tw = tooltip.offsetWidth;
    const th = tooltip.offsetHeight;
    let x = marker.position.x + radius + 10;
    let y = marker.position.y - th / 2;
    if (x + tw > width - 8) x = marker.position.x - radius - 10 - tw;
    y = Math.max(8, Math.min(height - th - 8, y));
    tooltip.style.transform = `translate(${Math.round(x)}px, ${Math.round(y)}px)`;
  }

  /** Positions for the visible devices, and the basemap under them. */
  function layout(devices: readonly DeviceView[]): Map<string, Point> {
    base.replaceChildren();
    furniture.replaceChildren();
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    svg.setAttribute('width', String(width));
    svg.setAttribute('height', String(height));
    const located = devices.filter((d) => d.info.lat !== undefined && d.info.lon !== undefined);
    const unplaced = devices.filter((d) => d.info.lat === undefined || d.info.lon === undefined);
    const positions = new Map<string, Point>();

    if (located.length === 0) {
      const schematic = schematicLayout(
        devices.map((d) => ({ id: d.info.id, kind: d.info.kind })),
        width,
        height,
        { left: options.compact ? 24 : 150, right: 24, top: 16, bottom: 16, minSpacing: options.compact ? 34 : 64 },
      );
      setRadius(schematic.cellSize);
      drawSchematic(schematic.bands, schematic.road);
      note.hidden = false;
      setText(note, strings().mapSchematicStreet);
      return schematic.positions;
    }

    note.hidden = unplaced.length === 0;
    setText(note, unplaced.length > 0 ? fillIn(strings().mapSchematicUnplaced, { count: unplaced.length }) : '');
    const stripH = unplaced.length > 0 ? 56 : 0;
    const frame = fitFrame(
      located.map((d) => ({ lat: d.info.lat!, lon: d.info.lon! })),
      width,
      height - stripH,
      { top: 44, right: 48, bottom: 52, left: 48 },
    );
    drawGrid(frame);
    for (const device of located) positions.set(device.info.id, toScreen(frame, device.info.lat!, device.info.lon!));
    // The test bed's extent: the padded hull of its devices, so the grid has a shape on it.
    if (located.length >= 3) base.append(s('path', { class: 'lab-area', d: roundedHullPath([...positions.values()], 28) }));
    setRadius(nearestNeighbour([...positions.values()]));
    if (unplaced.length > 0) {
      base.append(s('rect', { class: 'map-strip', x: 0, y: height - stripH, width, height: stripH }));
      unplaced.forEach((device, i) => positions.set(device.info.id, { x: 40 + ((i + 0.5) * (width - 80)) / unplaced.length, y: height - stripH / 2 }));
    }
    drawScaleBar(frame.metersPerPixel, height - stripH);
    drawNorthArrow();
    return positions;
  }

  /** Fits markers into `room` px per device; a new size rebuilds the markers. */
  function setRadius(room: number): void {
    const next = Math.max(4, Math.min(baseRadius, Math.floor(room * 0.42)));
    if (next === radius) return;
    radius = next;
    for (const marker of markers.values()) marker.el.remove();
    markers.clear();
    el.classList.toggle('is-dense', radius < 9);
  }

  function drawSchematic(bands: ReturnType<typeof schematicLayout>['bands'], road: { top: number; height: number } | undefined): void {
    for (const band of bands) {
      base.append(s('rect', { class: `schematic-band band-${band.kind}`, x: 0, y: band.top, width, height: band.height }));
      if (!options.compact) {
        base.append(s('text', { class: 'schematic-label', x: 16, y: band.top + band.height / 2, dy: '0.35em' }, band.label));
      }
    }
    if (road) {
      const left = options.compact ? 0 : 140;
      base.append(
        s('rect', { class: 'road', x: left, y: road.top + 6, width: width - left, height: road.height - 12, rx: 2 }),
        s('line', { class: 'road-line', x1: left + 8, x2: width - 8, y1: road.top + road.height / 2, y2: road.top + road.height / 2 }),
        s('line', { class: 'cycle-lane', x1: left, x2: width, y1: road.top + 10, y2: road.top + 10 }),
        s('line', { class: 'cycle-lane', x1: left, x2: width, y1: road.top + road.height - 10, y2: road.top + road.height - 10 }),
      );
    }
  }

  function drawGrid(frame: ReturnType<typeof fitFrame>): void {
    base.append(s('rect', { class: 'map-ground', x: 0, y: 0, width, height }));
    const grid = gridLines(frame, options.compact ? 70 : 100);
    for (const x of grid.xs) base.append(s('line', { class: 'map-grid', x1: x, x2: x, y1: 0, y2: height }));
    for (const y of grid.ys) base.append(s('line', { class: 'map-grid', x1: 0, x2: width, y1: y, y2: y }));
    if (!options.compact) {
      base.append(s('text', { class: 'map-grid-label', x: width - 10, y: height - 10, 'text-anchor': 'end' }, `grid ${grid.stepMeters} m`));
    }
  }

  function drawScaleBar(metersPerPixel: number, bottom: number): void {
    const bar = scaleBar(metersPerPixel, options.compact ? 90 : 140);
    const x = 20;
    const y = bottom - 22;
    furniture.append(
      s('rect', { class: 'scale-bg', x: x - 8, y: y - 22, width: bar.px + 16, height: 34, rx: 4 }),
      s('path', { class: 'scale-bar', d: `M${x},${y - 6} V${y} H${x + bar.px} V${y - 6}` }),
      s('text', { class: 'scale-label', x: x + bar.px / 2, y: y - 9, 'text-anchor': 'middle' }, bar.label),
    );
  }

  function drawNorthArrow(): void {
    const x = width - 30;
    const y = 34;
    furniture.append(
      s(
        'g',
        { class: 'north-arrow', transform: `translate(${x},${y})` },
        s('circle', { r: 17 }),
        s('path', { d: 'M0,-12 L6,6 L0,2 L-6,6 Z' }),
        s('text', { y: 14, 'text-anchor': 'middle', dy: '0.35em' }, 'N'),
      ),
    );
  }

  function update(): void {
    const overlayText = options.overlayNote?.();
    overlay.hidden = overlayText === undefined;
    setText(overlay, overlayText ?? '');
    if (width === 0 || height === 0) return;
    const state = ctx.store.get();
    const now = ctx.now();
    const devices = filteredDevices(state.devices, ctx.route().filter);
    empty.hidden = devices.length > 0;
    const words = strings();
    setText(empty, words.mapSchematicEmpty);
    setAttr(svg, 'aria-label', words.mapSchematicLabel);
    // The language is part of the layout: its notes are written there.
    const key = `${words.languageName}|${width}x${height}|${state.registry}|${devices.map((d) => `${d.info.id}:${d.info.lat ?? ''},${d.info.lon ?? ''}`).join(';')}`;
    let positions: Map<string, Point> | undefined;
    if (key !== layoutKey) {
      layoutKey = key;
      positions = layout(devices);
      layoutPositions = positions;
      const visible = new Set(devices.map((d) => d.info.id));
      for (const [id, marker] of markers) {
        if (!visible.has(id)) {
          marker.el.remove();
          markers.delete(id);
        }
      }
      const crowded = !options.compact && isCrowded(positions);
      el.classList.toggle('is-crowded', crowded);
    }
    let changed = 0;
    for (const device of devices) if (markers.get(device.info.id)?.device !== device) changed += 1;
    // Pulses tell a person "this one just reported"; with hundreds at once they are noise.
    const pulses = changed <= 60;
    // Unchanged devices need a redraw only when time moves their state (ages, offline): once a second.
    const full = positions !== undefined || now - lastFullRefresh >= 1_000;
    if (full) lastFullRefresh = now;
    for (const device of devices) {
      const id = device.info.id;
      let marker = markers.get(id);
      if (!marker) {
        marker = createMarker(device);
        markers.set(id, marker);
        markerLayer.append(marker.el);
        positions ??= layoutPositions;
      }
      const position = positions?.get(id);
      if (position && position !== marker.position) {
        marker.position = position;
        marker.el.setAttribute('transform', `translate(${position.x.toFixed(1)},${position.y.toFixed(1)})`);
      }
      if (!full && marker.device === device) continue;
      const fresh = marker.device !== undefined && marker.device.latestTsMs !== device.latestTsMs;
      marker.device = device;
      styleMarker(marker, device, markerStyleOf(device, now), pulses && fresh && healthOf(device, now) === 'online');
    }
    if (hovered) showTooltip(hovered);
  }

  return {
    el,
    update,
    dispose() {
      resizeObserver.disconnect();
    },
  };
}

function isCrowded(positions: Map<string, Point>): boolean {
  const points = [...positions.values()];
  if (points.length > 80) return true;
  for (let i = 0; i < points.length; i++) {
    for (let j = i + 1; j < points.length; j++) {
      const a = points[i]!;
      const b = points[j]!;
      if (Math.abs(a.x - b.x) < 60 && Math.abs(a.y - b.y) < 34) return true;
    }
  }
  return false;
}

/**
 * Room per marker on the geographic map: a low percentile of each device's distance to its
 * nearest neighbour, so one pair sharing a lamp post does not shrink every marker.
 */
function nearestNeighbour(points: readonly Point[]): number {
  if (points.length < 2) return Number.POSITIVE_INFINITY;
  const nearest = points.map((p, i) => {
    let best = Number.POSITIVE_INFINITY;
    for (let j = 0; j < points.length; j++) {
      if (j !== i) best = Math.min(best, Math.hypot(p.x - points[j]!.x, p.y - points[j]!.y));
    }
    return best;
  });
  nearest.sort((a, b) => a - b);
  return Math.max(1, nearest[Math.floor(nearest.length * 0.2)]!);
}

/** A hull grown by `pad` px with round corners: arcs around each vertex, lines between. */
function roundedHullPath(points: readonly Point[], pad: number): string {
  const hull = convexHull(points);
  if (hull.length < 3) return '';
  const n = hull.length;
  const offset = (a: Point, b: Point) => {
    const dx = b.x - a.x;
    const dy = b.y - a.y;
    const len = Math.hypot(dx, dy) || 1;
    // Monotone chain turns left in numbers, which on screen (y down) is clockwise:
    // outward is to the left of a→b as seen, and corners are rounded clockwise (sweep 1).
    return { x: (dy / len) * pad, y: (-dx / len) * pad };
  };
  let d = '';
  for (let i = 0; i < n; i++) {
    const a = hull[i]!;
    const b = hull[(i + 1) % n]!;
    const o = offset(a, b);
    const start = { x: a.x + o.x, y: a.y + o.y };
    const end = { x: b.x + o.x, y: b.y + o.y };
    d += i === 0 ? `M${start.x.toFixed(1)},${start.y.toFixed(1)}` : `A${pad},${pad} 0 0 1 ${start.x.toFixed(1)},${start.y.toFixed(1)}`;
    d += `L${end.x.toFixed(1)},${end.y.toFixed(1)}`;
  }
  const first = hull[0]!;
  const o = offset(first, hull[1]!);
  return `${d}A${pad},${pad} 0 0 1 ${(first.x + o.x).toFixed(1)},${(first.y + o.y).toFixed(1)}Z`;
}
