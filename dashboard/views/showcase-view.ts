/**
 * The visitor showcase (`/showcase`, or `#/showcase`): a kiosk for the screen in the visitor
 * centre. Full screen, large type readable across a room, no controls: panels rotate by
 * themselves (air quality now with the index, traffic now, bins, the map, the devices of the
 * lab). Language from `?lang=da|en` in the hash (or the browser's), every string from
 * model/i18n.ts; `?every=<seconds>` sets the rotation (default 12 s). Pressing L switches the
 * language for people who walk up to it.
 */
import type { AppContext } from './context.ts';
import { h, setAttr, setText, type View } from './dom.ts';
import { binsByFill, eaqiNow, filteredDevices, healthCounts, trafficNow } from '../model/aggregates.ts';
import { EAQI_POLLUTANT_LABELS, bandOf } from '../model/eaqi-colours.ts';
import { TRAFFIC_MODES } from '../model/device-status.ts';
import { formatCompact } from '../model/format.ts';
import { LANGUAGES, pickLanguage, stringsFor, type Language, type Strings } from '../model/i18n.ts';
import { createLabMap } from './map-view.ts';

const PANELS = ['air', 'traffic', 'bins', 'map', 'devices'] as const;
type PanelName = (typeof PANELS)[number];

function hashParams(): URLSearchParams {
  return new URLSearchParams(location.hash.split('?')[1] ?? '');
}

export function createShowcase(ctx: AppContext): View {
  const params = hashParams();
  let language: Language = pickLanguage(params.get('lang'), navigator.languages ?? []);
  const everyMs = Math.max(2, Number(params.get('every') ?? 12) || 12) * 1000;
  let panelIndex = 0;

  const title = h('h1', { class: 'showcase-title' }, '');
  const heading = h('h2', { class: 'showcase-heading', 'data-testid': 'showcase-heading' }, '');
  const body = h('div', { class: 'showcase-body' });
  const footer = h('p', { class: 'showcase-footer' }, '');
  const dots = h('ol', { class: 'showcase-dots', 'aria-hidden': 'true' }, ...PANELS.map(() => h('li', {})));
  const el = h('div', { class: 'view showcase', 'data-testid': 'showcase', 'data-panel': PANELS[0], lang: language }, title, heading, body, dots, footer);
  // The same lab map as the dashboard's, its legend and notes in the visitor's language.
  const map = createLabMap(ctx, { compact: false, strings: () => strings() });

  function strings(): Strings {
    return stringsFor(language);
  }

  function renderPanel(name: PanelName): HTMLElement[] {
    const s = strings();
    const now = ctx.now();
    const devices = ctx.store.get().devices;
    const all = filteredDevices(devices, {}, undefined);
    switch (name) {
      case 'air': {
        const air = eaqiNow(filteredDevices(devices, {}, 'air'), now);
        if (air.level === undefined) return [h('p', { class: 'showcase-empty' }, s.airNoData)];
        const band = bandOf(air.level);
        return [
          h('div', { class: 'showcase-index', 'data-testid': 'showcase-eaqi', 'data-level': String(air.level), style: `background:${band.colour};color:${band.ink}` }, h('strong', {}, String(air.level)), h('span', {}, s[`eaqi${air.level}` as keyof Strings])),
          h('p', { class: 'showcase-sub' }, s.airIndex),
          ...(air.dominant ? [h('p', { class: 'showcase-sub' }, `${s.airDecidedBy} ${EAQI_POLLUTANT_LABELS[air.dominant]}`)] : []),
        ];
      }
      case 'traffic': {
        const traffic = trafficNow(filteredDevices(devices, {}, 'traffic'), now);
        if (traffic.reporting === 0) return [h('p', { class: 'showcase-empty' }, s.trafficNoData)];
        return [
          h('p', { class: 'showcase-big', 'data-testid': 'showcase-traffic' }, h('strong', {}, formatCompact(traffic.total)), ` ${s.trafficPerHour}`),
          h('ul', { class: 'showcase-list' }, ...TRAFFIC_MODES.map((mode) => h('li', {}, h('span', {}, s[mode]), h('strong', {}, formatCompact(traffic.perHour[mode]))))),
        ];
      }
      case 'bins': {
        const rows = binsByFill(filteredDevices(devices, {}, 'waste'));
        if (rows.length === 0) return [h('p', { class: 'showcase-empty' }, s.binsNoData)];
        const full = rows.filter((r) => r.full).length;
        return [
          h('p', { class: 'showcase-big', 'data-testid': 'showcase-bins' }, h('strong', {}, String(full)), ` / ${rows.length} ${s.binsFull}`),
          h('ul', { class: 'showcase-list' }, ...rows.slice(0, 5).map((r) => h('li', {}, h('span', {}, r.device.info.name), h('strong', {}, `${Math.round(r.fill)} %`)))),
        ];
      }
      case 'map':
        return [map.el];
      case 'devices': {
        const health = healthCounts(all, now);
        const byKind = (kind: 'air' | 'traffic' | 'waste') => all.filter((d) => d.info.kind === kind).length;
        return [
          h('p', { class: 'showcase-big', 'data-testid': 'showcase-devices' }, h('strong', {}, String(all.length)), ` · ${health.online} ${s.devicesOnline}`),
          h(
            'ul',
            { class: 'showcase-list' },
            h('li', {}, h('span', {}, s.kindAir), h('strong', {}, String(byKind('air')))),
            h('li', {}, h('span', {}, s.kindTraffic), h('strong', {}, String(byKind('traffic')))),
            h('li', {}, h('span', {}, s.kindWaste), h('strong', {}, String(byKind('waste')))),
          ),
        ];
      }
    }
  }

  function titleOf(name: PanelName): string {
    const s = strings();
    return { air: s.airTitle, traffic: s.trafficTitle, bins: s.binsTitle, map: s.mapTitle, devices: s.devicesTitle }[name];
  }

  let shownKey = '';
  let shownState: unknown;
  function update(): void {
    const name = PANELS[panelIndex]!;
    setText(title, strings().title);
    setText(footer, strings().footer);
    setText(heading, titleOf(name));
    setAttr(el, 'data-panel', name);
    setAttr(el, 'lang', language);
    [...dots.children].forEach((dot, i) => dot.classList.toggle('is-current', i === panelIndex));
    if (name === 'map') map.update();
    // The panel's content is rebuilt when what it shows changed (the state is replaced on every
    // change, a few times a second at most); the map updates itself in place.
    const state = ctx.store.get();
    const key = `${name}|${language}`;
    if (key === shownKey && (state === shownState || name === 'map')) return;
    shownKey = key;
    shownState = state;
    body.replaceChildren(...renderPanel(name));
  }

  const timer = setInterval(() => {
    panelIndex = (panelIndex + 1) % PANELS.length;
    shownKey = '';
    update();
  }, everyMs);
  const onKey = (event: KeyboardEvent) => {
    if (event.key.toLowerCase() !== 'l') return;
    language = LANGUAGES[(LANGUAGES.indexOf(language) + 1) % LANGUAGES.length]!;
    shownKey = '';
    update();
  };
  window.addEventListener('keydown', onKey);
  document.documentElement.classList.add('is-kiosk');
  update();

  return {
    el,
    update,
    dispose() {
      clearInterval(timer);
      window.removeEventListener('keydown', onKey);
      document.documentElement.classList.remove('is-kiosk');
      map.dispose();
    },
  };
}
