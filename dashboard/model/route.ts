/**
 * Deep links: the URL hash holds the view, the device, the range, the compared devices and
 * the filters, so any screen can be bookmarked or sent to someone.
 *
 *   #/overview?kind=air&site=Nørrebrogade
 *   #/map
 *   #/charts?metric=pm25&devices=air-01,air-02&range=24h
 *   #/devices?owner=Acme
 *   #/device/air-01?range=7d&metric=no2
 *
 * A hash (not a path) because the API serves the built page as static files at `/`.
 * Pure: no DOM.
 */
import { DEVICE_ID_PATTERN, type ReadingKind } from '../../contracts/readings.ts';
import { readingKinds } from '../../contracts/kinds-table.ts';
import type { Filter } from './aggregates.ts';

/** A lab's dashboard is served at `/labs/{lab}/` (the API serves the same page there). */
const LAB_PATH = /^\/labs\/([a-z0-9][a-z0-9-]{0,31})\/?$/;

/** The lab a page path names (`/labs/{lab}/`), or undefined for `/`. */
export function labFromPath(pathname: string): string | undefined {
  return LAB_PATH.exec(pathname)?.[1];
}

export const VIEWS = ['overview', 'map', 'charts', 'devices', 'device', 'showcase'] as const;
export type ViewName = (typeof VIEWS)[number];

export const RANGES = {
  '1h': { label: 'Last hour', ms: 3_600_000, api: '-1h' },
  '24h': { label: 'Last day', ms: 86_400_000, api: '-24h' },
  '7d': { label: 'Last week', ms: 7 * 86_400_000, api: '-7d' },
} as const;
export type RangeKey = keyof typeof RANGES;
export const DEFAULT_RANGE: RangeKey = '1h';

/** Devices one chart compares at most (beyond that lines are unreadable). */
export const MAX_COMPARED = 8;

export interface Route {
  view: ViewName;
  deviceId?: string | undefined;
  range: RangeKey;
  metric?: string | undefined;
  /** Devices compared on the charts view. */
  devices: string[];
  filter: Filter;
}

export function defaultRoute(): Route {
  return { view: 'overview', range: DEFAULT_RANGE, devices: [], filter: {} };
}

const METRIC_PATTERN = /^[A-Za-z0-9]{1,32}$/;
const FILTER_TEXT_MAX = 100;

function isRange(value: string | null): value is RangeKey {
  return value !== null && Object.hasOwn(RANGES, value);
}

function isKind(value: string | null): value is ReadingKind {
  return value !== null && (readingKinds() as readonly string[]).includes(value);
}

function safeDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

/** Parses a location hash; anything unknown or malformed falls back to the default. */
export function parseHash(hash: string): Route {
  const route = defaultRoute();
  const text = hash.replace(/^#/, '').replace(/^\//, '');
  const queryAt = text.indexOf('?');
  const path = queryAt === -1 ? text : text.slice(0, queryAt);
  const params = new URLSearchParams(queryAt === -1 ? '' : text.slice(queryAt + 1));
  const [viewPart, idPart] = path.split('/');

  if (viewPart === 'device') {
    const id = idPart === undefined ? undefined : safeDecode(idPart);
    if (id !== undefined && DEVICE_ID_PATTERN.test(id)) {
      route.view = 'device';
      route.deviceId = id;
    }
  } else if (viewPart && (VIEWS as readonly string[]).includes(viewPart)) {
    route.view = viewPart as ViewName;
  }

  const range = params.get('range');
  if (isRange(range)) route.range = range;
  const metric = params.get('metric');
  if (metric !== null && METRIC_PATTERN.test(metric)) route.metric = metric;
  const devices = params.get('devices');
  if (devices) {
    route.devices = [...new Set(devices.split(',').filter((id) => DEVICE_ID_PATTERN.test(id)))].slice(0, MAX_COMPARED);
  }
  const kind = params.get('kind');
  if (isKind(kind)) route.filter.kind = kind;
  const owner = params.get('owner');
  if (owner) route.filter.owner = owner.slice(0, FILTER_TEXT_MAX);
  const site = params.get('site');
  if (site) route.filter.site = site.slice(0, FILTER_TEXT_MAX);
  return route;
}

/** The hash for a route; defaults are left out so links stay short. */
export function formatHash(route: Route): string {
  const path = route.view === 'device' && route.deviceId ? `device/${encodeURIComponent(route.deviceId)}` : route.view === 'device' ? 'overview' : route.view;
  const params = new URLSearchParams();
  if (route.view === 'charts' || route.view === 'device') {
    if (route.range !== DEFAULT_RANGE) params.set('range', route.range);
    if (route.metric) params.set('metric', route.metric);
  }
  if (route.view === 'charts' && route.devices.length > 0) params.set('devices', route.devices.join(','));
  if (route.filter.kind) params.set('kind', route.filter.kind);
  if (route.filter.owner) params.set('owner', route.filter.owner);
  if (route.filter.site) params.set('site', route.filter.site);
  const query = params.toString();
  return `#/${path}${query ? `?${query}` : ''}`;
}

/** A route changed by `patch`, keeping the filters unless the patch sets them. */
export function withRoute(route: Route, patch: Partial<Route>): Route {
  return { ...route, ...patch, filter: { ...route.filter, ...patch.filter } };
}
