/**
 * Every string of the visitor showcase (views/showcase-view.ts), in each of the lab's languages.
 * English is the reference: the type makes every other language carry every key.
 */
export const LANGUAGES = ['en', 'da'] as const;
export type Language = (typeof LANGUAGES)[number];

const EN = {
  languageName: 'English',
  title: 'StreetLab — a street that measures itself',
  airTitle: 'Air quality now',
  airIndex: 'European Air Quality Index (indicative)',
  airDecidedBy: 'Decided by',
  airNoData: 'No air sensor is reporting right now.',
  eaqi1: 'Good',
  eaqi2: 'Fair',
  eaqi3: 'Moderate',
  eaqi4: 'Poor',
  eaqi5: 'Very poor',
  eaqi6: 'Extremely poor',
  trafficTitle: 'Traffic now',
  trafficPerHour: 'road users per hour',
  cars: 'Cars',
  buses: 'Buses',
  trucks: 'Trucks',
  bicycles: 'Bicycles',
  pedestrians: 'Pedestrians',
  trafficNoData: 'No traffic counter is reporting right now.',
  binsTitle: 'Waste bins',
  binsFull: 'over 80 % full',
  binsNoData: 'No bin has reported yet.',
  mapTitle: 'The lab',
  devicesTitle: 'Devices in this lab',
  devicesOnline: 'online',
  kindAir: 'Air quality sensors',
  kindTraffic: 'Traffic counters',
  kindWaste: 'Waste bins',
  footer: 'Live data from the street, updated every few seconds',
} as const;

export type Strings = { readonly [K in keyof typeof EN]: string };

const DA: Strings = {
  languageName: 'Dansk',
  title: 'StreetLab — en gade, der måler sig selv',
  airTitle: 'Luftkvalitet lige nu',
  airIndex: 'Europæisk luftkvalitetsindeks (vejledende)',
  airDecidedBy: 'Afgjort af',
  airNoData: 'Ingen luftsensor sender data lige nu.',
  eaqi1: 'God',
  eaqi2: 'Rimelig',
  eaqi3: 'Moderat',
  eaqi4: 'Dårlig',
  eaqi5: 'Meget dårlig',
  eaqi6: 'Ekstremt dårlig',
  trafficTitle: 'Trafik lige nu',
  trafficPerHour: 'trafikanter i timen',
  cars: 'Biler',
  buses: 'Busser',
  trucks: 'Lastbiler',
  bicycles: 'Cykler',
  pedestrians: 'Fodgængere',
  trafficNoData: 'Ingen trafiktæller sender data lige nu.',
  binsTitle: 'Affaldsspande',
  binsFull: 'over 80 % fyldt',
  binsNoData: 'Ingen affaldsspand har sendt data endnu.',
  mapTitle: 'Laboratoriet',
  devicesTitle: 'Enheder i laboratoriet',
  devicesOnline: 'online',
  kindAir: 'Luftkvalitetssensorer',
  kindTraffic: 'Trafiktællere',
  kindWaste: 'Affaldsspande',
  footer: 'Live data fra gaden, opdateret med få sekunders mellemrum',
};

const STRINGS: Record<Language, Strings> = { en: EN, da: DA };

export function stringsFor(language: Language): Strings {
  return STRINGS[language];
}

/** A language from a URL parameter or the browser's languages; English when none fits. */
export function pickLanguage(requested: string | null | undefined, browser: readonly string[] = []): Language {
  for (const candidate of [requested ?? '', ...browser]) {
    const base = candidate.toLowerCase().split('-')[0];
    if ((LANGUAGES as readonly string[]).includes(base ?? '')) return base as Language;
  }
  return 'en';
}
