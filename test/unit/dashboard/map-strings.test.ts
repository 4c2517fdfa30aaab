/**
 * The lab map's own words (dashboard/model/i18n.ts): the places a count goes into, filled in,
 * and the same places in every language, so no Danish note shows a raw `{count}`.
 */
import { describe, expect, it } from 'vitest';
import { LANGUAGES, fillIn, stringsFor } from '../../../dashboard/model/i18n.ts';

const placesOf = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe("the lab map's strings", () => {
  it('fill their places and leave unknown ones as written', () => {
    expect(fillIn(stringsFor('en').mapCluster, { count: 12 })).toBe('12 devices here; zoom in to see them');
    expect(fillIn(stringsFor('da').mapUnplacedMany, { count: 3 })).toBe('3 enheder uden registreret position, ikke på kortet:');
    expect(fillIn('{count} of {total}', { count: 2 })).toBe('2 of {total}');
    expect(fillIn('{toString}', {})).toBe('{toString}');
  });

  it('have the same places in every language as in English, and the notes in Danish differ', () => {
    const english = stringsFor('en');
    for (const language of LANGUAGES) {
      const strings = stringsFor(language);
      for (const key of Object.keys(english) as (keyof typeof english)[]) expect(placesOf(strings[key]), `${language}.${key}`).toEqual(placesOf(english[key]));
    }
    const danish = stringsFor('da');
    for (const key of ['mapLabel', 'mapFitTitle', 'mapCluster', 'mapUnplacedOne', 'mapUnplacedMany', 'mapUnplacedMore', 'mapSchematicEmpty', 'mapSchematicStreet', 'mapSchematicUnplaced'] as const) {
      expect(danish[key], key).not.toBe(english[key]);
    }
  });
});
