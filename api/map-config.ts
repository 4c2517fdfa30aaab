/**
 * The street map's tile server, as configured (MAP_TILES_URL, MAP_ATTRIBUTION): validated
 * here, served to the dashboard by GET /api/v1/dashboard-config, and allowed as an image
 * source by the Content-Security-Policy. Shared by the API's and the lab's configuration.
 */
import { AttributionSchema, DEFAULT_MAP_ATTRIBUTION, DEFAULT_TILES_URL, TileUrlTemplateSchema } from '../contracts/dashboard-config.ts';

export const MapConfigShape = {
  /** Tile URL template of the dashboard's street map ({z}/{x}/{y}, optional {s}). */
  MAP_TILES_URL: TileUrlTemplateSchema.default(DEFAULT_TILES_URL),
  /** The credit the tile provider requires, shown on the map: text with <a href="https://…"> links. */
  MAP_ATTRIBUTION: AttributionSchema.default(DEFAULT_MAP_ATTRIBUTION),
};

export interface MapSettings {
  tilesUrl: string;
  attribution: string;
}

export const DEFAULT_MAP_SETTINGS: MapSettings = { tilesUrl: DEFAULT_TILES_URL, attribution: DEFAULT_MAP_ATTRIBUTION };

export function mapSettingsFromConfig(config: { MAP_TILES_URL: string; MAP_ATTRIBUTION: string }): MapSettings {
  return { tilesUrl: config.MAP_TILES_URL, attribution: config.MAP_ATTRIBUTION };
}

/**
 * The Content-Security-Policy source that lets the page load the template's tiles. https
 * tiles are allowed already (`https:`); a plain-http tile server (one in a control room's own
 * network, a test fixture) needs its origin listed, with `{s}` sub-domains as a wildcard.
 */
export function tileImageSource(template: string): string | undefined {
  if (!template.startsWith('http://')) return undefined;
  const authority = template.slice('http://'.length).split('/')[0]!;
  return `http://${authority.replaceAll('{s}', '*')}`;
}
