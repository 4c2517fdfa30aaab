/**
 * The overview: the lab at a glance for city staff and visitors. Headline figures, the map,
 * air quality now and today (EAQI, indicative), traffic now by mode, bins by fill, and the
 * live feed of rejections and alerts. Every figure follows the kind/owner/site filter.
 */
import { binsByFill, eaqiNow, eaqiToday, filteredDevices, healthCounts, trafficNow, type BinRow } from '../model/aggregates.ts';
import type { AppContext } from './context.ts';
import { TRAFFIC_MODES, fillBandOf, type TrafficMode } from '../model/device-status.ts';
import { h, setAttr, setText, type View } from './dom.ts';
import { EAQI_BANDS, EAQI_DISCLAIMER, EAQI_POLLUTANT_LABELS, bandOf } from '../model/eaqi-colours.ts';
import { formatCompact, formatNumber, metricLabel, plural } from '../model/format.ts';
import { createLabMap } from './map-view.ts';
import { createRejectionFeed } from './rejection-feed.ts';

export interface OverviewOptions {
  /** Live readings per second (the app's rate meter). */
  rate(): number;
}

export function createOverview(ctx: AppContext, options: OverviewOptions): View {
  const map = createLabMap(ctx, { compact: true });
  const feed = createRejectionFeed(ctx, { limit: 30 });
  const stats = createStatStrip(ctx, options);
  const eaqi = createEaqiPanel(ctx);
  const traffic = createTrafficPanel(ctx);
  const bins = createBinsPanel(ctx);
  const mapPanel = h(
    'section',
    { class: 'panel map-panel', 'aria-label': 'Lab map' },
    h('header', { class: 'panel-head' }, h('h2', {}, 'Lab map'), h('a', { class: 'panel-link', href: ctx.href({ view: 'map' }) }, 'Open full map →')),
    map.el,
  );
  const el = h(
    'div',
    { class: 'view overview', 'data-testid': 'overview' },
    stats.el,
    h('div', { class: 'overview-grid' }, mapPanel, eaqi.el, traffic.el, bins.el, feed.el),
  );
  const parts = [map, feed, stats, eaqi, traffic, bins];
  return {
    el,
    update() {
      for (const part of parts) part.update();
    },
    dispose() {
      for (const part of parts) part.dispose();
    },
  };
}

function createStatStrip(ctx: AppContext, options: OverviewOptions): View {
  const tile = (testId: string, label: string) => {
    const value = h('strong', { class: 'stat-value' }, '–');
    const sub = h('span', { class: 'stat-sub' }, '');
    const el = h('div', { class: 'stat', 'data-testid': testId }, h('span', { class: 'stat-label' }, label), value, sub);
    return { el, value, sub };
  };
  const online = tile('stat-online', 'Devices online');
  const rate = tile('stat-rate', 'Live readings');
  const rejected = tile('stat-rejected', 'Rejected messages');
  const binsFull = tile('stat-bins', 'Bins to empty');
  const el = h('div', { class: 'stat-strip' }, online.el, rate.el, rejected.el, binsFull.el);
  return {
    el,
    update() {
      const state = ctx.store.get();
      const now = ctx.now();
      const devices = filteredDevices(state.devices, ctx.route().filter);
      const counts = healthCounts(devices, now);
      setText(online.value, `${counts.online} / ${devices.length}`);
      setText(online.sub, counts.offline > 0 ? `${counts.offline} offline` : counts.nodata > 0 ? `${counts.nodata} waiting for data` : 'all reporting');
      online.el.classList.toggle('is-warning', counts.offline > 0);
      const perSecond = options.rate();
      setText(rate.value, perSecond >= 10 ? `${formatCompact(perSecond)}/s` : `${formatNumber(perSecond * 60, 0)}/min`);
      setText(rate.sub, `${formatCompact(state.liveReadings)} since page opened`);
      const rejections = state.feed.filter((i) => i.type === 'rejection');
      const recent = rejections.filter((i) => now - i.atMs < 3_600_000).length;
      setText(rejected.value, String(recent));
      setText(rejected.sub, 'in the last hour');
      rejected.el.classList.toggle('is-warning', recent > 0);
      const full = binsByFill(devices).filter((b) => b.full || b.fireRisk);
      setText(binsFull.value, String(full.length));
      setText(binsFull.sub, full.some((b) => b.fireRisk) ? 'fire risk!' : 'over 80 % full');
      binsFull.el.classList.toggle('is-warning', full.length > 0);
      binsFull.el.classList.toggle('is-danger', full.some((b) => b.fireRisk));
    },
    dispose() {},
  };
}

function createEaqiPanel(ctx: AppContext): View {
  const badgeLevel = h('span', { class: 'eaqi-level' }, '–');
  const badgeLabel = h('span', { class: 'eaqi-label' }, 'No data');
  const badge = h('div', { class: 'eaqi-badge', 'data-testid': 'eaqi-now' }, badgeLevel, badgeLabel);
  const headline = h('p', { class: 'eaqi-headline' }, '');
  const pollutants = h('ul', { class: 'pollutant-list' });
  const todayCells = Array.from({ length: 24 }, (_, hour) => h('span', { class: 'hour-cell', title: `${String(hour).padStart(2, '0')}:00` }));
  const today = h(
    'div',
    { class: 'eaqi-today', 'data-testid': 'eaqi-today' },
    h('div', { class: 'today-head' }, h('h3', {}, 'Today, worst per hour'), h('span', { class: 'today-worst' })),
    h('div', { class: 'hour-strip', role: 'img', 'aria-label': 'EAQI level per hour today' }, ...todayCells),
    h('div', { class: 'hour-axis', 'aria-hidden': 'true' }, h('span', {}, '00'), h('span', {}, '06'), h('span', {}, '12'), h('span', {}, '18'), h('span', {}, '24')),
  );
  const el = h(
    'section',
    { class: 'panel eaqi-panel', 'data-testid': 'panel-eaqi', 'aria-label': 'Air quality now' },
    h('header', { class: 'panel-head' }, h('h2', {}, 'Air quality now'), h('span', { class: 'panel-sub' }, 'EAQI · ', h('abbr', { class: 'hint', title: EAQI_DISCLAIMER }, 'indicative'))),
    h('div', { class: 'eaqi-top' }, badge, headline),
    pollutants,
    today,
    h('p', { class: 'fineprint' }, EAQI_DISCLAIMER),
  );
  let pollutantKey = '';
  return {
    el,
    update() {
      const state = ctx.store.get();
      const devices = filteredDevices(state.devices, ctx.route().filter, 'air');
      const now = eaqiNow(devices, ctx.now());
      if (now.level === undefined) {
        badge.style.background = '#E3E7EC';
        badge.style.color = '#33404D';
        setText(badgeLevel, '–');
        setText(badgeLabel, devices.length === 0 ? 'No air sensors' : 'No data');
        setAttr(badge, 'data-level', undefined);
        setText(headline, devices.length === 0 ? 'No air-quality sensors match the filter.' : `${plural(devices.length, 'sensor')}, none reporting right now.`);
      } else {
        const band = bandOf(now.level);
        badge.style.background = band.colour;
        badge.style.color = band.ink;
        setText(badgeLevel, String(now.level));
        setText(badgeLabel, band.label);
        setAttr(badge, 'data-level', String(now.level));
        const dominant = now.byPollutant.find((p) => p.pollutant === now.dominant);
        setText(
          headline,
          `Worst of ${plural(now.reporting, 'reporting sensor')}${now.silent > 0 ? ` (${now.silent} silent)` : ''}. ` +
            (dominant ? `Decided by ${EAQI_POLLUTANT_LABELS[dominant.pollutant]} at ${dominant.deviceId}.` : ''),
        );
      }
      const key = now.byPollutant.map((p) => `${p.pollutant}:${p.value}:${p.deviceId}`).join('|');
      if (key !== pollutantKey) {
        pollutantKey = key;
        pollutants.replaceChildren(
          ...now.byPollutant.map((p) => {
            const band = bandOf(p.level);
            return h(
              'li',
              { class: 'pollutant', 'data-pollutant': p.pollutant },
              h('span', { class: 'pollutant-name' }, EAQI_POLLUTANT_LABELS[p.pollutant]),
              h('span', { class: 'level-chip', style: `background:${band.colour};color:${band.ink}` }, band.label),
              h('span', { class: 'pollutant-value' }, `${formatNumber(p.value)} µg/m³`),
              h('a', { class: 'pollutant-device', href: ctx.href({ view: 'device', deviceId: p.deviceId }) }, p.deviceId),
            );
          }),
        );
      }
      const hours = eaqiToday(state, devices.map((d) => d.info.id));
      let worst = 0;
      hours.forEach((level, hour) => {
        const cell = todayCells[hour]!;
        const band = level === undefined ? undefined : bandOf(level);
        const colour = band?.colour ?? '';
        if (cell.style.background !== colour) cell.style.background = colour;
        cell.classList.toggle('is-empty', band === undefined);
        setAttr(cell, 'title', `${String(hour).padStart(2, '0')}:00–${String(hour + 1).padStart(2, '0')}:00 · ${band ? band.label : 'no data'}`);
        if (level !== undefined && level > worst) worst = level;
      });
      setText(today.querySelector('.today-worst')!, worst > 0 ? `worst today: ${EAQI_BANDS[worst - 1]!.label}` : 'no readings yet today');
    },
    dispose() {},
  };
}

const MODE_LABELS: Record<TrafficMode, string> = {
  cars: 'Cars',
  buses: 'Buses',
  trucks: 'Trucks',
  bicycles: 'Bicycles',
  pedestrians: 'Pedestrians',
};

function createTrafficPanel(ctx: AppContext): View {
  const total = h('strong', { class: 'traffic-total' }, '–');
  const rows = new Map<TrafficMode, { bar: HTMLElement; value: HTMLElement }>();
  const list = h(
    'ul',
    { class: 'mode-list' },
    ...TRAFFIC_MODES.map((mode) => {
      const bar = h('span', { class: `mode-bar mode-${mode}` });
      const value = h('span', { class: 'mode-value' }, '–');
      rows.set(mode, { bar, value });
      return h('li', { class: 'mode', 'data-testid': `traffic-${mode}` }, h('span', { class: 'mode-name' }, MODE_LABELS[mode]), h('span', { class: 'mode-track' }, bar), value);
    }),
  );
  const foot = h('p', { class: 'panel-foot' }, '');
  const el = h(
    'section',
    { class: 'panel traffic-panel', 'data-testid': 'panel-traffic', 'aria-label': 'Traffic now by mode' },
    h('header', { class: 'panel-head' }, h('h2', {}, 'Traffic now'), h('span', { class: 'panel-sub' }, total, ' road users/h')),
    list,
    foot,
  );
  return {
    el,
    update() {
      const devices = filteredDevices(ctx.store.get().devices, ctx.route().filter, 'traffic');
      const now = trafficNow(devices, ctx.now());
      const max = Math.max(1, ...TRAFFIC_MODES.map((m) => now.perHour[m]));
      setText(total, now.reporting > 0 ? formatNumber(Math.round(now.total)) : '–');
      for (const mode of TRAFFIC_MODES) {
        const row = rows.get(mode)!;
        const width = `${((now.perHour[mode] / max) * 100).toFixed(1)}%`;
        if (row.bar.style.width !== width) row.bar.style.width = width;
        setText(row.value, now.reporting > 0 ? `${formatNumber(Math.round(now.perHour[mode]))}/h` : '–');
      }
      const parts = [
        now.reporting > 0 ? `${plural(now.reporting, 'counter')} reporting` : devices.length > 0 ? 'No counter reporting right now' : 'No traffic counters match the filter',
        now.silent > 0 && now.reporting > 0 ? `${now.silent} silent` : '',
        now.meanSpeed !== undefined ? `mean speed ${formatNumber(now.meanSpeed, 0)} km/h` : '',
      ].filter(Boolean);
      setText(foot, `${parts.join(' · ')}. Rates from each counter's counts of the last five minutes.`);
    },
    dispose() {},
  };
}

/** How often the bins panel asks the API for the forecast and the collection KPIs. */
const WASTE_REFRESH_MS = 60_000;

function createBinsPanel(ctx: AppContext): View {
  const list = h('ol', { class: 'bin-list' });
  const empty = h('p', { class: 'feed-empty' }, 'No bin has reported a fill level yet.');
  const summary = h('span', { class: 'panel-sub' }, '');
  // Collection analytics (GET /api/v1/waste/kpi, /forecast): are bins emptied nearly empty?
  const kpi = h('p', { class: 'panel-note', 'data-testid': 'bins-kpi' }, '');
  const el = h(
    'section',
    { class: 'panel bins-panel', 'data-testid': 'panel-bins', 'aria-label': 'Waste bins by fill level' },
    h('header', { class: 'panel-head' }, h('h2', {}, 'Waste bins by fill'), summary),
    kpi,
    empty,
    list,
  );
  let key = '';
  let fullAt = new Map<string, number>();
  let disposed = false;
  const refresh = async () => {
    try {
      const [forecast, week] = await Promise.all([ctx.api.wasteForecast(), ctx.api.wasteKpi(7)]);
      if (disposed) return;
      fullAt = new Map(forecast.bins.filter((b) => b.fullAt !== undefined).map((b) => [b.deviceId, Date.parse(b.fullAt!)]));
      setText(
        kpi,
        week.emptyings === 0
          ? 'No emptying seen in the last 7 days.'
          : `Last 7 days: ${plural(week.emptyings, 'emptying')}, ${Math.round((week.lowFillShare ?? 0) * 100)} % below 25 % full, median fill at emptying ${Math.round(week.medianFillAtEmptying ?? 0)} %.`,
      );
      key = '';
      update();
    } catch {
      // An API without the waste routes, or one we may not read: the panel stays as it is.
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), WASTE_REFRESH_MS);
  function update() {
    const devices = filteredDevices(ctx.store.get().devices, ctx.route().filter, 'waste');
    const rows = binsByFill(devices);
    const full = rows.filter((r) => r.full).length;
    setText(summary, rows.length === 0 ? '' : full > 0 ? `${full} over 80 %` : 'none over 80 %');
    empty.hidden = rows.length > 0;
    const nextKey = rows.map((r) => `${r.device.info.id}:${r.fill}:${r.temperature ?? ''}:${r.device.info.name}:${fullAt.get(r.device.info.id) ?? ''}`).join('|');
    if (nextKey === key) return;
    key = nextKey;
    list.replaceChildren(...rows.slice(0, 40).map((row) => renderBin(ctx, row, fullAt.get(row.device.info.id))));
  }
  return {
    el,
    update,
    dispose() {
      disposed = true;
      clearInterval(timer);
    },
  };
}

/** "80 % in 5 h" / "in 2 d" for a forecast; undefined when none. */
function dueText(fullAtMs: number | undefined, nowMs: number): string | undefined {
  if (fullAtMs === undefined) return undefined;
  const hours = (fullAtMs - nowMs) / 3_600_000;
  if (hours <= 0) return undefined;
  return hours < 48 ? `80 % in ${Math.max(1, Math.round(hours))} h` : `80 % in ${Math.round(hours / 24)} d`;
}

function renderBin(ctx: AppContext, row: BinRow, fullAtMs?: number): HTMLElement {
  const band = fillBandOf(row.fill);
  const due = dueText(fullAtMs, ctx.now());
  return h(
    'li',
    { class: `bin ${row.full ? 'is-full' : ''} ${row.fireRisk ? 'is-fire' : ''}`, 'data-testid': `bin-row-${row.device.info.id}`, 'data-fill': String(row.fill) },
    h('a', { class: 'bin-name', href: ctx.href({ view: 'device', deviceId: row.device.info.id }) }, row.device.info.name),
    h('span', { class: 'bin-track', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(row.fill), 'aria-label': `${metricLabel('fill')} ${Math.round(row.fill)} %` }, h('span', { class: 'bin-bar', style: `width:${Math.min(100, row.fill)}%;background:${band.colour}` })),
    h('span', { class: 'bin-value' }, `${Math.round(row.fill)} %`),
    row.fireRisk
      ? h('span', { class: 'fire-badge', title: 'Temperature at or above 60 °C: possible fire' }, `⚠ Fire risk ${formatNumber(row.temperature ?? 0, 0)} °C`)
      : row.full
        ? h('span', { class: 'full-badge' }, 'Empty soon')
        : due
          ? h('span', { class: 'bin-due', 'data-testid': `bin-due-${row.device.info.id}` }, due)
          : h('span', { class: 'bin-spacer' }),
  );
}
