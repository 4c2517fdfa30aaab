/**
 * The lab map's legend, the same under the street map and the schematic: EAQI colours for
 * air sensors, flow for traffic counters, fill for bins, and the status colours. Its words
 * come from model/i18n.ts, so the visitor showcase shows it in the visitor's language.
 */
import { FILL_BANDS, FLOW_BANDS, NODATA_COLOUR, OFFLINE_COLOUR } from '../model/device-status.ts';
import { EAQI_BANDS, EAQI_DISCLAIMER } from '../model/eaqi-colours.ts';
import type { Strings } from '../model/i18n.ts';
import { h } from './dom.ts';

export function createLegend(strings: Strings): HTMLElement {
  const item = (colour: string, label: string, extra = '') => h('li', {}, h('span', { class: `swatch ${extra}`, style: `background:${colour}` }), label);
  // The bands' labels by position: i18n holds one label per band of FLOW_BANDS and FILL_BANDS.
  const label = (key: string, fallback: string) => (strings as unknown as Readonly<Record<string, string | undefined>>)[key] ?? fallback;
  return h(
    'div',
    { class: 'map-legend', 'aria-label': strings.mapLegend, 'data-testid': 'map-legend' },
    h(
      'div',
      { class: 'legend-group' },
      h('h4', {}, h('span', { class: 'legend-shape shape-circle' }), strings.legendAir, h('abbr', { title: EAQI_DISCLAIMER, class: 'hint' }, strings.legendIndicative)),
      h('ul', {}, ...EAQI_BANDS.map((b) => item(b.colour, `${b.level} ${label(`eaqi${b.level}`, b.label)}`))),
    ),
    h(
      'div',
      { class: 'legend-group' },
      h('h4', {}, h('span', { class: 'legend-shape shape-diamond' }), strings.legendTraffic),
      h('ul', {}, ...FLOW_BANDS.map((b, i) => item(b.colour, label(`flowBand${i + 1}`, b.label)))),
    ),
    h(
      'div',
      { class: 'legend-group' },
      h('h4', {}, h('span', { class: 'legend-shape shape-square' }), strings.legendBins),
      h('ul', {}, ...FILL_BANDS.map((b, i) => item(b.colour, label(`fillBand${i + 1}`, b.label))), h('li', {}, h('span', { class: 'swatch badge-fire' }, '!'), strings.fireRisk)),
    ),
    h(
      'div',
      { class: 'legend-group' },
      h('h4', {}, strings.legendStatus),
      h('ul', {}, item(OFFLINE_COLOUR, strings.statusOffline, 'is-offline'), item(NODATA_COLOUR, strings.statusNoData)),
    ),
  );
}
