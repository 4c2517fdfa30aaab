/**
 * The frame around every view: brand, navigation, filters (kind, owner, site), the
 * connection indicator and the main region the router fills.
 */
import type { ReadingKind } from '../../contracts/readings.ts';
import { readingKinds } from '../../contracts/kinds-table.ts';
import { filterOptions, filteredDevices } from '../model/aggregates.ts';
import type { AppContext } from './context.ts';
import { h, s, setAttr, setText } from './dom.ts';
import { kindLabel, formatAge, formatClock, plural } from '../model/format.ts';
import type { ViewName } from '../model/route.ts';

const NAV: readonly { view: ViewName; label: string }[] = [
  { view: 'overview', label: 'Overview' },
  { view: 'map', label: 'Map' },
  { view: 'charts', label: 'Charts' },
  { view: 'devices', label: 'Devices' },
];

export interface Shell {
  el: HTMLElement;
  main: HTMLElement;
  update(): void;
}

export function createShell(ctx: AppContext): Shell {
  const links = NAV.map(({ view, label }) => h('a', { class: 'tab', 'data-testid': `nav-${view}`, 'data-view': view, href: '#' }, label));
  const dot = h('span', { class: 'dot', 'aria-hidden': 'true' });
  const connectionText = h('span', { class: 'connection-text' }, 'Connecting…');
  const connection = h('div', { class: 'connection', 'data-testid': 'connection-indicator', 'data-state': 'disconnected', role: 'status', 'aria-live': 'polite' }, dot, connectionText);
  const clock = h('span', { class: 'clock', 'aria-hidden': 'true' }, '');

  const kindSelect = h('select', { 'data-testid': 'filter-kind', id: 'filter-kind' });
  const ownerSelect = h('select', { 'data-testid': 'filter-owner', id: 'filter-owner' });
  const siteSelect = h('select', { 'data-testid': 'filter-site', id: 'filter-site' });
  const clearButton = h('button', { type: 'button', class: 'link-button', 'data-testid': 'filter-clear' }, 'Clear filters');
  const deviceCount = h('span', { class: 'filter-count' }, '');
  kindSelect.addEventListener('change', () => ctx.navigate({ filter: { kind: (kindSelect.value || undefined) as ReadingKind | undefined } }));
  ownerSelect.addEventListener('change', () => ctx.navigate({ filter: { owner: ownerSelect.value || undefined } }));
  siteSelect.addEventListener('change', () => ctx.navigate({ filter: { site: siteSelect.value || undefined } }));
  clearButton.addEventListener('click', () => ctx.navigate({ filter: { kind: undefined, owner: undefined, site: undefined } }));

  const main = h('main', { id: 'main', class: 'main', tabindex: '-1' });
  const el = h(
    'div',
    { class: 'app' },
    h('a', { class: 'skip-link', href: '#main', onclick: skipToMain }, 'Skip to content'),
    h(
      'header',
      { class: 'topbar' },
      h('a', { class: 'brand', href: ctx.href({ view: 'overview' }), 'aria-label': 'StreetLab overview' }, logo(), h('span', { class: 'brand-name' }, 'StreetLab'), h('span', { class: 'brand-sub' }, 'City test bed')),
      h('nav', { class: 'tabs', 'aria-label': 'Views' }, ...links),
      h('div', { class: 'topbar-right' }, clock, connection),
    ),
    h(
      'div',
      { class: 'filterbar', role: 'search', 'aria-label': 'Filter devices' },
      h('label', { class: 'filter', for: 'filter-kind' }, h('span', {}, 'Kind'), kindSelect),
      h('label', { class: 'filter', for: 'filter-owner' }, h('span', {}, 'Owner'), ownerSelect),
      h('label', { class: 'filter', for: 'filter-site' }, h('span', {}, 'Site'), siteSelect),
      clearButton,
      deviceCount,
    ),
    main,
  );

  function skipToMain(event: Event): void {
    // The hash is the router's: focus the main region without changing it.
    event.preventDefault();
    main.focus();
  }

  let optionsKey = '';
  let kindsKey = '';
  function fillSelect(select: HTMLSelectElement, all: string, values: string[], current: string | undefined, none: string): void {
    select.replaceChildren(h('option', { value: '' }, values.length === 0 ? none : all), ...values.map((v) => h('option', { value: v }, v)));
    select.disabled = values.length === 0;
    select.value = current && values.includes(current) ? current : '';
  }

  return {
    el,
    main,
    update() {
      const route = ctx.route();
      const state = ctx.store.get();
      const now = ctx.now();
      for (const link of links) {
        const view = link.dataset.view as ViewName;
        setAttr(link, 'href', ctx.href({ view, deviceId: undefined }));
        const active = route.view === view || (route.view === 'device' && view === 'devices');
        setAttr(link, 'aria-current', active ? 'page' : undefined);
      }
      const options = filterOptions(state.devices);
      const key = `${options.owners.join('|')}#${options.sites.join('|')}#${route.filter.owner ?? ''}#${route.filter.site ?? ''}`;
      if (key !== optionsKey) {
        optionsKey = key;
        fillSelect(ownerSelect, 'All owners', options.owners, route.filter.owner, 'No owners registered');
        fillSelect(siteSelect, 'All sites', options.sites, route.filter.site, 'No sites registered');
      }
      // Kinds are data: the list follows the catalogue (a kind added at run time appears).
      const kinds = readingKinds();
      if (kinds.join('|') !== kindsKey) {
        kindsKey = kinds.join('|');
        kindSelect.replaceChildren(h('option', { value: '' }, 'All kinds'), ...kinds.map((k) => h('option', { value: k }, kindLabel(k))));
      }
      kindSelect.value = route.filter.kind ?? '';
      clearButton.hidden = !route.filter.kind && !route.filter.owner && !route.filter.site;
      const shown = filteredDevices(state.devices, route.filter).length;
      setText(deviceCount, shown === state.devices.size ? plural(state.devices.size, 'device') : `${shown} of ${plural(state.devices.size, 'device')}`);

      const { connection: info } = state;
      const connected = info.state === 'connected';
      setAttr(connection, 'data-state', connected ? 'connected' : 'disconnected');
      setAttr(connection, 'data-detail', info.state === 'connecting' && !info.everConnected ? 'connecting' : info.state);
      let text: string;
      if (connected) {
        const fill = info.lastBackfill && now - info.lastBackfill.atMs < 10_000 ? ` · back-filled ${plural(info.lastBackfill.readings, 'reading')}` : '';
        text = `Live${fill}`;
      } else if (!info.everConnected) text = 'Connecting…';
      else text = `Reconnecting… (lost ${formatAge((now - info.sinceMs) / 1000)})`;
      setText(connectionText, text);
      setAttr(connection, 'title', connected ? 'Receiving live readings' : 'Live updates paused; missed readings are fetched when the connection returns');
      setText(clock, formatClock(now));
    },
  };
}

function logo(): SVGSVGElement {
  return s(
    'svg',
    { class: 'logo', viewBox: '0 0 32 32', width: 28, height: 28, 'aria-hidden': 'true' },
    s('rect', { x: 1, y: 1, width: 30, height: 30, rx: 8, fill: '#14B8A6' }),
    s('path', { d: 'M6 22 H26', stroke: '#0B2530', 'stroke-width': 2.5, 'stroke-linecap': 'round' }),
    s('path', { d: 'M10 22 V14 M16 22 V9 M22 22 V17', stroke: '#FFFFFF', 'stroke-width': 3, 'stroke-linecap': 'round' }),
    s('circle', { cx: 16, cy: 6.5, r: 2, fill: '#FFFFFF' }),
  );
}
