/**
 * What a device's marker says, on the street map and on the schematic alike: the short text
 * inside it, its accessible name, and the tooltip's rows. Kinds are plain strings here: a kind
 * added at run time is shown as its definition says (model/kinds.ts: name, letter, headline).
 */
import type { AppContext } from './context.ts';
import type { DeviceView, MarkerStyle } from '../model/device-status.ts';
import { formatAge, formatValue, KIND_NOUNS, metricLabel } from '../model/format.ts';
import { kindDisplay } from '../model/kinds.ts';
import { h, setAttr } from './dom.ts';

/** Key values for a marker's tooltip, per kind; other kinds show their first values. */
const TOOLTIP_METRICS: Readonly<Record<string, readonly string[]>> = {
  air: ['pm25', 'pm10', 'no2', 'o3', 'temperature'],
  traffic: ['cars', 'bicycles', 'pedestrians', 'buses', 'trucks', 'speed'],
  waste: ['fill', 'temperature', 'lidOpen', 'weight'],
};
const NOT_SHOWN = new Set(['seq', 'battery', 'rssi', 'period']);

/** A marker's state as classes and data attributes, the same on both maps (the CSS and the tests read them). */
export function applyMarkerState(el: Element, style: MarkerStyle): void {
  el.classList.toggle('is-offline', style.health === 'offline' || style.health === 'disabled');
  el.classList.toggle('is-nodata', style.health === 'nodata');
  setAttr(el, 'data-health', style.health);
  setAttr(el, 'data-level', style.eaqiLevel === undefined ? undefined : String(style.eaqiLevel));
  setAttr(el, 'data-warning', style.warning);
}

export function kindNoun(kind: string): string {
  return (KIND_NOUNS as Readonly<Record<string, string>>)[kind] ?? kindDisplay(kind).name;
}

/** Inside a marker: the EAQI level of an air sensor, the fill of a bin (not on compact maps), the letter of another kind. */
export function markerInnerText(device: DeviceView, style: MarkerStyle, compact: boolean): string {
  const { kind } = device.info;
  const fill = device.latest?.values.fill;
  if (kind === 'air') return style.eaqiLevel !== undefined && style.health !== 'offline' ? String(style.eaqiLevel) : '';
  if (kind === 'waste') return typeof fill === 'number' && !compact ? String(Math.round(fill)) : '';
  if (kind === 'traffic') return '';
  return kindDisplay(kind).letter;
}

export function markerAriaLabel(ctx: AppContext, device: DeviceView, style: MarkerStyle): string {
  const age = device.lastHeardMs === undefined ? 'no data yet' : `last heard ${formatAge((ctx.now() - device.lastHeardMs) / 1000)}`;
  return `${device.info.name}, ${kindNoun(device.info.kind)}: ${style.summary}, ${age}`;
}

/** The tooltip's content: name, kind and site, state, up to four values, last heard. */
export function tooltipContent(ctx: AppContext, device: DeviceView, style: MarkerStyle): HTMLElement[] {
  const values = device.latest?.values ?? {};
  const headline = kindDisplay(device.info.kind).headline;
  const metrics = TOOLTIP_METRICS[device.info.kind] ?? [...new Set([...(headline ? [headline] : []), ...Object.keys(values)])].filter((m) => !NOT_SHOWN.has(m));
  const rows = metrics
    .filter((m) => values[m] !== undefined)
    .slice(0, 4)
    .map((m) => h('div', { class: 'tt-row' }, h('span', {}, metricLabel(m)), h('strong', {}, formatValue(device.info.kind, m, values[m] as number | boolean | undefined))));
  return [
    h('div', { class: 'tt-title' }, device.info.name),
    h('div', { class: 'tt-sub' }, `${kindNoun(device.info.kind)}${device.info.site ? ` · ${device.info.site}` : ''}`),
    h('div', { class: 'tt-state' }, h('span', { class: 'swatch', style: `background:${style.fill}` }), style.summary),
    ...rows,
    h('div', { class: 'tt-foot' }, device.lastHeardMs === undefined ? 'No data yet' : `Last heard ${formatAge((ctx.now() - device.lastHeardMs) / 1000)}`),
  ];
}
