/**
 * The street map's tile source: the deployment's settings from GET /api/v1/dashboard-config
 * (MAP_TILES_URL, MAP_ATTRIBUTION), or the page's own `?tiles=` template for someone trying
 * another server, and the attribution as safe HTML for Leaflet's attribution control.
 */
import { DashboardConfigSchema, parseAttribution, type AttributionPart, type DashboardConfig } from '../../contracts/dashboard-config.ts';

export interface MapTiles {
  /** Tile URL template ({z}/{x}/{y}, optional {s}). */
  url: string;
  attribution: AttributionPart[];
}

export const DASHBOARD_CONFIG_PATH = '/api/v1/dashboard-config';

/** The deployment's dashboard settings, checked against the contract. */
export async function fetchDashboardConfig(doFetch: typeof fetch = (input, init) => fetch(input, init), base = ''): Promise<DashboardConfig> {
  const response = await doFetch(`${base}${DASHBOARD_CONFIG_PATH}`, { headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`${DASHBOARD_CONFIG_PATH} answered ${response.status}`);
  return DashboardConfigSchema.parse(await response.json());
}

/**
 * The tiles to draw: the page's override when given (credited to its host, since the
 * deployment's attribution belongs to another server), else the deployment's; undefined
 * when neither is known.
 */
export function mapTilesOf(config: DashboardConfig | undefined, override?: string): MapTiles | undefined {
  if (override) {
    const host = /^https?:\/\/([^/]+)/.exec(override)?.[1] ?? override;
    return { url: override, attribution: [{ text: `Map tiles: ${host}` }] };
  }
  if (!config) return undefined;
  return { url: config.map.tilesUrl, attribution: parseAttribution(config.map.attribution) ?? [{ text: config.map.attribution }] };
}

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

/** The attribution as HTML with every text escaped and only http(s) links (they open in a new tab). */
export function attributionHtml(parts: readonly AttributionPart[]): string {
  return parts
    .map((part) =>
      part.href && /^https?:\/\//.test(part.href)
        ? `<a href="${escapeHtml(part.href)}" target="_blank" rel="noopener noreferrer">${escapeHtml(part.text)}</a>`
        : escapeHtml(part.text),
    )
    .join('');
}
