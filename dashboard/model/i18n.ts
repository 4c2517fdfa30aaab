/**
 * Every string of the visitor showcase (views/showcase-view.ts), in each of the lab's languages,
 * and those of the lab map it shows (its legend, its notes, its buttons — the street map's and
 * the schematic's; the dashboard's own map uses the English ones). English is the reference:
 * the type makes every other language carry every key.
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
  // The lab map's legend: one label per band of model/device-status.ts (FLOW_BANDS, FILL_BANDS).
  mapLegend: 'Map legend',
  legendAir: 'Air quality (EAQI)',
  legendIndicative: 'indicative',
  legendTraffic: 'Traffic flow',
  flowBand1: 'Light (< 300/h)',
  flowBand2: 'Moderate (300–900/h)',
  flowBand3: 'Busy (900–1,800/h)',
  flowBand4: 'Heavy (> 1,800/h)',
  legendBins: 'Bin fill',
  fillBand1: 'Room (≤ 50 %)',
  fillBand2: 'Filling (50–80 %)',
  fillBand3: 'Full (> 80 %)',
  fireRisk: 'Fire risk (≥ 60 °C)',
  legendStatus: 'Status',
  statusOffline: 'Offline (silent > 3 intervals)',
  statusNoData: 'No data yet',
  // The lab map's own notes ({count} is filled in by fillIn).
  mapLabel: 'Lab map',
  mapFit: 'Fit the lab',
  mapFitTitle: "Show the lab's whole area and every device",
  mapTilesUnavailable: 'Street tiles unavailable — schematic view',
  mapCluster: '{count} devices here; zoom in to see them',
  mapUnplacedOne: '1 device without a registered position, not on the map:',
  mapUnplacedMany: '{count} devices without a registered position, not on the map:',
  mapUnplacedMore: 'and {count} more',
  mapSchematicLabel: 'Lab map: devices at their locations',
  mapSchematicEmpty: 'No devices yet. Devices appear here as soon as they report or are registered.',
  mapSchematicStreet: 'Schematic layout: no device positions are registered yet, so devices are shown by kind along a street.',
  mapSchematicUnplaced: '{count} device(s) without a registered position are shown along the bottom edge.',
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
  mapLegend: 'Kortforklaring',
  legendAir: 'Luftkvalitet (EAQI)',
  legendIndicative: 'vejledende',
  legendTraffic: 'Trafikmængde',
  flowBand1: 'Let (< 300/t)',
  flowBand2: 'Moderat (300–900/t)',
  flowBand3: 'Tæt (900–1.800/t)',
  flowBand4: 'Meget tæt (> 1.800/t)',
  legendBins: 'Fyldning af affaldsspande',
  fillBand1: 'Plads (≤ 50 %)',
  fillBand2: 'Fyldes (50–80 %)',
  fillBand3: 'Fuld (> 80 %)',
  fireRisk: 'Brandfare (≥ 60 °C)',
  legendStatus: 'Status',
  statusOffline: 'Offline (tavs > 3 intervaller)',
  statusNoData: 'Ingen data endnu',
  mapLabel: 'Kort over laboratoriet',
  mapFit: 'Vis hele laboratoriet',
  mapFitTitle: 'Vis laboratoriets hele område og alle enheder',
  mapTilesUnavailable: 'Gadekort utilgængeligt — skematisk visning',
  mapCluster: '{count} enheder her; zoom ind for at se dem',
  mapUnplacedOne: '1 enhed uden registreret position, ikke på kortet:',
  mapUnplacedMany: '{count} enheder uden registreret position, ikke på kortet:',
  mapUnplacedMore: 'og {count} flere',
  mapSchematicLabel: 'Kort over laboratoriet: enhederne, hvor de står',
  mapSchematicEmpty: 'Ingen enheder endnu. Enhederne vises her, så snart de sender data eller registreres.',
  mapSchematicStreet: 'Skematisk visning: ingen enheder har registreret position endnu, så de vises efter type langs en gade.',
  mapSchematicUnplaced: '{count} enhed(er) uden registreret position vises langs den nederste kant.',
};

const STRINGS: Record<Language, Strings> = { en: EN, da: DA };

/** A string with its `{name}` places filled: `fillIn(strings.mapCluster, { count: 12 })`. */
export function fillIn(template: string, values: Readonly<Record<string, string | number>>): string {
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (Object.hasOwn(values, name) ? String(values[name]) : whole));
}

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
