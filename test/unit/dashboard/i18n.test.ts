import { describe, expect, it } from 'vitest';
import { LANGUAGES, pickLanguage, stringsFor } from '../../../dashboard/model/i18n.ts';

describe('the showcase strings', () => {
  it('has every string, non-empty, in every language, and different from English where it is Danish', () => {
    const english = stringsFor('en');
    for (const language of LANGUAGES) {
      const strings = stringsFor(language);
      expect(Object.keys(strings).sort()).toEqual(Object.keys(english).sort());
      for (const value of Object.values(strings)) expect(value.trim()).not.toBe('');
    }
    const danish = stringsFor('da');
    expect(danish.airTitle).not.toBe(english.airTitle);
    expect(danish.eaqi4).toBe('Dårlig');
  });

  it('picks the language asked for, else the browser’s, else English', () => {
    expect(pickLanguage('da')).toBe('da');
    expect(pickLanguage('DA-dk')).toBe('da');
    expect(pickLanguage(undefined, ['fr-FR', 'da'])).toBe('da');
    expect(pickLanguage('xx', ['fr'])).toBe('en');
    expect(pickLanguage(null)).toBe('en');
  });
});
