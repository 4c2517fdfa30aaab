/**
 * Geometry of the schematic lab map, the one drawn without any internet (the street map's
 * fallback when no tile server answers; Leaflet does the street map's own maths): Web
 * Mercator (EPSG:3857, as on the street map, so both put a device at the same place),
 * fitting the devices into the viewport, a metric grid, a scale bar, and a schematic street
 * layout for devices without registered coordinates. Pure: no DOM.
 */
import type { ReadingKind } from '../../contracts/readings.ts';
import { kindDisplay } from './kinds.ts';

export const EARTH_RADIUS_M = 6_378_137;
const ID_COLLATOR = new Intl.Collator('en', { numeric: true });
const MAX_LAT = 85.05112878;

export interface Point {
  x: number;
  y: number;
}

/** Web Mercator metres; y grows northwards. */
export function project(lat: number, lon: number): Point {
  const clamped = Math.max(-MAX_LAT, Math.min(MAX_LAT, lat));
  const phi = (clamped * Math.PI) / 180;
  return { x: (lon * Math.PI * EARTH_RADIUS_M) / 180, y: EARTH_RADIUS_M * Math.log(Math.tan(Math.PI / 4 + phi / 2)) };
}

export function unproject(point: Point): { lat: number; lon: number } {
  return {
    lat: ((2 * Math.atan(Math.exp(point.y / EARTH_RADIUS_M)) - Math.PI / 2) * 180) / Math.PI,
    lon: (point.x / EARTH_RADIUS_M) * (180 / Math.PI),
  };
}

export interface Frame {
  width: number;
  height: number;
  /** Screen pixels per projected metre. */
  scale: number;
  /** Projected coordinates of the viewport's top-left corner. */
  left: number;
  top: number;
  /** Ground metres per screen pixel at the centre (Mercator stretches by 1/cos(lat)). */
  metersPerPixel: number;
  /** cos(latitude) at the centre: ground metres per projected metre. */
  groundFactor: number;
}

export interface Padding {
  top: number;
  right: number;
  bottom: number;
  left: number;
}

/**
 * Fits the points into the viewport with padding, north up. A lab is a street, so a lone
 * device or a tight cluster still gets `minExtentM` of ground around it.
 */
export function fitFrame(points: readonly { lat: number; lon: number }[], width: number, height: number, padding: Padding, minExtentM = 200): Frame {
  const projected = points.map((p) => project(p.lat, p.lon));
  let minX = Number.POSITIVE_INFINITY;
  let maxX = Number.NEGATIVE_INFINITY;
  let minY = Number.POSITIVE_INFINITY;
  let maxY = Number.NEGATIVE_INFINITY;
  for (const p of projected) {
    minX = Math.min(minX, p.x);
    maxX = Math.max(maxX, p.x);
    minY = Math.min(minY, p.y);
    maxY = Math.max(maxY, p.y);
  }
  if (projected.length === 0) {
    minX = maxX = minY = maxY = 0;
  }
  const centre = { x: (minX + maxX) / 2, y: (minY + maxY) / 2 };
  const centreLat = unproject(centre).lat;
  const groundFactor = Math.cos((centreLat * Math.PI) / 180);
  const minExtent = minExtentM / groundFactor;
  const spanX = Math.max(maxX - minX, minExtent);
  const spanY = Math.max(maxY - minY, minExtent);
  const innerW = Math.max(1, width - padding.left - padding.right);
  const innerH = Math.max(1, height - padding.top - padding.bottom);
  const scale = Math.min(innerW / spanX, innerH / spanY);
  // Centre the points in the padded box.
  const cx = padding.left + innerW / 2;
  const cy = padding.top + innerH / 2;
  return {
    width,
    height,
    scale,
    left: centre.x - cx / scale,
    top: centre.y + cy / scale,
    metersPerPixel: groundFactor / scale,
    groundFactor,
  };
}

export function toScreen(frame: Frame, lat: number, lon: number): Point {
  const p = project(lat, lon);
  return { x: (p.x - frame.left) * frame.scale, y: (frame.top - p.y) * frame.scale };
}

/** The nearest "nice" number at or below `value`: 1, 2 or 5 × 10ⁿ. */
export function niceStep(value: number): number {
  if (!(value > 0) || !Number.isFinite(value)) return 1;
  const exponent = Math.floor(Math.log10(value));
  const base = 10 ** exponent;
  const fraction = value / base;
  const nice = fraction >= 5 ? 5 : fraction >= 2 ? 2 : 1;
  return nice * base;
}

export function formatDistance(meters: number): string {
  return meters >= 1000 ? `${meters / 1000} km` : `${meters} m`;
}

/** A scale bar of a nice ground length that fits in `maxPx`. */
export function scaleBar(metersPerPixel: number, maxPx: number): { meters: number; px: number; label: string } {
  const meters = niceStep(maxPx * metersPerPixel);
  return { meters, px: meters / metersPerPixel, label: formatDistance(meters) };
}

/** Grid lines every nice number of ground metres, about `targetPx` apart on screen. */
export function gridLines(frame: Frame, targetPx = 90): { stepMeters: number; xs: number[]; ys: number[] } {
  const stepMeters = niceStep(targetPx * frame.metersPerPixel);
  const step = stepMeters / frame.groundFactor;
  const right = frame.left + frame.width / frame.scale;
  const bottom = frame.top - frame.height / frame.scale;
  const xs: number[] = [];
  for (let x = Math.ceil(frame.left / step) * step; x <= right; x += step) xs.push((x - frame.left) * frame.scale);
  const ys: number[] = [];
  for (let y = Math.floor(frame.top / step) * step; y >= bottom; y -= step) ys.push((frame.top - y) * frame.scale);
  return { stepMeters, xs, ys };
}

export interface SchematicBand {
  kind: ReadingKind;
  label: string;
  top: number;
  height: number;
}

export interface SchematicLayout {
  bands: SchematicBand[];
  /** The carriageway (traffic band) for drawing the street. */
  road?: { top: number; height: number } | undefined;
  positions: Map<string, Point>;
  /** Room per device: the side of the smallest grid cell, px (markers must fit in it). */
  cellSize: number;
}

/** The street's cross-section, north to south; a kind added at run time gets a band of its own below. */
const SCHEMATIC_ORDER: readonly { kind: ReadingKind; label: string; weight: number }[] = [
  { kind: 'air', label: 'Air-quality sensors', weight: 1 },
  { kind: 'traffic', label: 'Traffic counters', weight: 1.1 },
  { kind: 'waste', label: 'Waste bins', weight: 1 },
];

/**
 * Places devices without coordinates on a schematic street: air sensors on the north
 * pavement, counters on the carriageway, bins on the south pavement (other kinds below,
 * one band each), evenly spaced in id order (wrapping into more rows when a band is
 * crowded). Every built-in kind keeps its band even when empty, so the picture is stable
 * as devices appear.
 */
export function schematicLayout(
  devices: readonly { id: string; kind: ReadingKind }[],
  width: number,
  height: number,
  options: { left?: number; right?: number; top?: number; bottom?: number; minSpacing?: number } = {},
): SchematicLayout {
  const left = options.left ?? 150;
  const right = options.right ?? 40;
  const top = options.top ?? 24;
  const bottom = options.bottom ?? 24;
  const minSpacing = options.minSpacing ?? 56;
  const innerW = Math.max(1, width - left - right);
  const innerH = Math.max(1, height - top - bottom);
  const extraKinds = [...new Set(devices.map((d) => d.kind))].filter((kind) => !SCHEMATIC_ORDER.some((band) => band.kind === kind)).sort();
  const order = [...SCHEMATIC_ORDER, ...extraKinds.map((kind) => ({ kind, label: kindDisplay(kind).name, weight: 1 }))];
  const total = order.reduce((sum, band) => sum + band.weight, 0);
  const bands: SchematicBand[] = [];
  const positions = new Map<string, Point>();
  let cellSize = Number.POSITIVE_INFINITY;
  let y = top;
  for (const { kind, label, weight } of order) {
    const bandH = (innerH * weight) / total;
    bands.push({ kind, label, top: y, height: bandH });
    const members = devices
      .filter((d) => d.kind === kind)
      .sort((a, b) => ID_COLLATOR.compare(a.id, b.id));
    const n = members.length;
    // Few devices: one row, evenly spread. Many: a grid of roughly square cells.
    const perRow = n <= Math.floor(innerW / minSpacing) ? Math.max(1, n) : Math.max(1, Math.ceil(Math.sqrt((n * innerW) / bandH)));
    const rows = Math.max(1, Math.ceil(n / perRow));
    if (n > 0) cellSize = Math.min(cellSize, innerW / perRow, bandH / rows);
    members.forEach((device, i) => {
      const row = Math.floor(i / perRow);
      const col = i - row * perRow;
      positions.set(device.id, {
        x: left + ((col + 0.5) * innerW) / perRow,
        y: y + ((row + 0.5) * bandH) / rows,
      });
    });
    y += bandH;
  }
  const trafficBand = bands.find((b) => b.kind === 'traffic');
  return { bands, road: trafficBand ? { top: trafficBand.top, height: trafficBand.height } : undefined, positions, cellSize };
}

/** Convex hull (Andrew's monotone chain), counter-clockwise on screen as drawn (y down). */
export function convexHull(points: readonly Point[]): Point[] {
  const sorted = [...points].sort((a, b) => a.x - b.x || a.y - b.y);
  if (sorted.length < 3) return sorted;
  const cross = (o: Point, a: Point, b: Point) => (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
  const lower: Point[] = [];
  for (const p of sorted) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: Point[] = [];
  for (let i = sorted.length - 1; i >= 0; i--) {
    const p = sorted[i]!;
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, p) <= 0) upper.pop();
    upper.push(p);
  }
  return [...lower.slice(0, -1), ...upper.slice(0, -1)];
}
