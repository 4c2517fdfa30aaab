/**
 * What the dashboard needs to know about its deployment before it draws the map:
 * `GET /api/v1/dashboard-config` (public). The street map's tile server and the attribution
 * its licence requires come from the API's configuration (MAP_TILES_URL, MAP_ATTRIBUTION), so
 * an air-gapped control room can point at its own tile server without rebuilding anything.
 */
import { z } from 'zod';

/**
 * A slippy-map tile URL template: http(s), with `{z}`, `{x}` and `{y}` (and optionally `{s}`
 * for a/b/c sub-domains). Only http(s): the value ends up in image URLs.
 */
export const TileUrlTemplateSchema = z
  .string()
  .trim()
  .regex(/^https?:\/\/[^\s]+$/, 'an http:// or https:// URL without spaces')
  .refine((v) => ['{z}', '{x}', '{y}'].every((p) => v.includes(p)), 'a tile URL template with {z}, {x} and {y}, e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png');

/** One piece of an attribution: text, or a link (http/https only). */
export interface AttributionPart {
  text: string;
  href?: string | undefined;
}

const LINK = /<a\s+href="(https?:\/\/[^"<>\s]+)"\s*>([^<]*)<\/a>/gi;
const ENTITIES: Readonly<Record<string, string>> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&copy;': '©', '&#39;': "'" };

function decode(text: string): string {
  return text.replace(/&(?:amp|lt|gt|quot|copy|#39);/g, (entity) => ENTITIES[entity]!);
}

/**
 * Splits an attribution into text and links. The format is plain text with links written as
 * `<a href="https://…">text</a>` (what tile providers publish); any other markup is refused,
 * so an attribution can never carry a script into the page. undefined = not that format.
 */
export function parseAttribution(source: string): AttributionPart[] | undefined {
  const parts: AttributionPart[] = [];
  let at = 0;
  for (const match of source.matchAll(LINK)) {
    if (match.index > at) parts.push({ text: decode(source.slice(at, match.index)) });
    parts.push({ text: decode(match[2]!), href: match[1]! });
    at = match.index + match[0].length;
  }
  if (at < source.length) parts.push({ text: decode(source.slice(at)) });
  return parts.some((p) => p.href === undefined && /[<>]/.test(p.text)) ? undefined : parts;
}

export const AttributionSchema = z
  .string()
  .trim()
  .min(1, 'the attribution the tile provider requires (it is shown on the map)')
  .max(500)
  .refine((v) => parseAttribution(v) !== undefined, 'plain text with links written as <a href="https://…">text</a>; no other markup');

export const DEFAULT_TILES_URL = 'https://tile.openstreetmap.org/{z}/{x}/{y}.png';
/** What OpenStreetMap's tile usage policy requires: the credit, linking to the copyright page. */
export const DEFAULT_MAP_ATTRIBUTION = '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap contributors</a>';

export const DashboardConfigSchema = z.object({
  map: z.object({
    /** Tile URL template of the street map. */
    tilesUrl: TileUrlTemplateSchema,
    /** Shown in the map's corner; text with `<a href="https://…">` links only (parseAttribution). */
    attribution: AttributionSchema,
  }),
});
export type DashboardConfig = z.infer<typeof DashboardConfigSchema>;
