/**
 * How the dashboard shows a kind — name, letter, headline metric, colour scale — read from
 * the kind's definition (GET /api/v1/kinds; contracts/kinds.ts), so a kind added at run time
 * appears on the map and in the lists with no code change. Pure (no DOM).
 */
import type { KindColourStop, KindDefinition } from '../../contracts/kinds.ts';
import { kindDisplayOf, setKindDefinitions } from '../../contracts/kinds-table.ts';
import type { ReadingKind } from '../../contracts/readings.ts';

export interface KindView {
  kind: ReadingKind;
  /** Display name, e.g. "Soil". */
  name: string;
  /** The letter on map markers. */
  letter: string;
  /** The metric shown on the map and in the devices list; undefined for a kind this page does not know (yet). */
  headline: string | undefined;
  /** Colour scale of the headline metric, ascending. */
  colours: readonly KindColourStop[];
}

/** Markers of a kind the page does not know yet (its definition still loading). */
export const UNKNOWN_KIND_COLOUR = '#8a8f98';

export function kindDisplay(kind: ReadingKind): KindView {
  const display = kindDisplayOf(kind);
  if (!display) return { kind, name: kind, letter: kind.charAt(0).toUpperCase(), headline: undefined, colours: [] };
  return { kind, name: display.name, letter: display.letter, headline: display.headline, colours: display.colours };
}

/** The colour of the highest stop at or below `value`; below the first stop, the first; grey without a value. */
export function kindColourOf(kind: ReadingKind, value: number | boolean | undefined): string {
  const { colours } = kindDisplay(kind);
  if (typeof value !== 'number' || colours.length === 0) return UNKNOWN_KIND_COLOUR;
  let colour = colours[0]!.colour;
  for (const stop of colours) if (value >= stop.value) colour = stop.colour;
  return colour;
}

/** The kinds the API answered with become known to the whole page (lists, units, formats). */
export function adoptKinds(definitions: readonly KindDefinition[]): void {
  setKindDefinitions(definitions);
}
