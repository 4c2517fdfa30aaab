/**
 * Live charts: one metric, several devices on one time axis for comparison, over the last
 * hour, day or week. History comes from the API once per device and range; live readings
 * (and back-fill after a reconnect) extend it. Redraws are throttled: the data changes up to
 * 60 times a second, a person reads it a few times a second.
 */
import type { ReadingKind } from '../../contracts/readings.ts';
import { readingKinds } from '../../contracts/kinds-table.ts';
import { filteredDevices } from '../model/aggregates.ts';
import { createTimeChart, SERIES_COLOURS, type TimeChart } from './chart.ts';
import { defaultMetricOf, buildChartData, chartableMetrics, fixedRange, isStepped, kindOfMetric, summarise } from '../model/chart-data.ts';
import type { AppContext } from './context.ts';
import { DEFAULT_INTERVAL_S, healthOf } from '../model/device-status.ts';
import { h, setText, type View } from './dom.ts';
import { kindLabel, axisLabel, formatNumber, metricLabel, unitOf } from '../model/format.ts';
import { MAX_COMPARED, RANGES, type RangeKey } from '../model/route.ts';

/** Least time between two redraws of a chart, ms. */
export const REDRAW_MS = 250;

export function createChartsView(ctx: AppContext): View {
  const metricSelect = h('select', { id: 'chart-metric', 'data-testid': 'chart-metric' });
  const rangeGroup = createRangeButtons(ctx);
  const devicePicker = h('fieldset', { class: 'device-picker', 'data-testid': 'chart-devices' }, h('legend', {}, 'Compare devices'));
  const status = h('p', { class: 'chart-status', role: 'status' }, '');
  const chartHost = h('div', { class: 'chart-host' });
  const summary = h('table', { class: 'summary-table' });
  const el = h(
    'div',
    { class: 'view charts-view', 'data-testid': 'charts-view' },
    h('h1', { class: 'view-title' }, 'Live charts'),
    h(
      'div',
      { class: 'chart-layout' },
      h(
        'aside',
        { class: 'panel chart-controls' },
        h('label', { class: 'field' }, h('span', {}, 'Metric'), metricSelect),
        h('div', { class: 'field' }, h('span', {}, 'Range'), rangeGroup.el),
        devicePicker,
      ),
      h('section', { class: 'panel chart-panel', 'aria-label': 'Chart' }, status, chartHost, summary),
    ),
  );

  let chart: TimeChart | undefined;
  let chartKey = '';
  let lastDraw = 0;
  let lastVersion = -1;
  let lastWindowEnd = 0;
  let loadToken = 0;
  let pending: ReturnType<typeof setTimeout> | undefined;
  let pickerKey = '';
  let metricKey = '';

  metricSelect.addEventListener('change', () => ctx.navigate({ metric: metricSelect.value }, { replace: true }));

  /** The metric, its kind and the compared devices the route asks for, with defaults. */
  function selection(): { kind: ReadingKind; metric: string; deviceIds: string[] } {
    const route = ctx.route();
    const state = ctx.store.get();
    const available = readingKinds().filter((k) => filteredDevices(state.devices, route.filter, k).length > 0);
    const preferred = route.filter.kind ?? available[0] ?? 'air';
    const kind = (route.metric && kindOfMetric(route.metric, preferred)) || preferred;
    const metric = route.metric && chartableMetrics(kind).includes(route.metric) ? route.metric : defaultMetricOf(kind);
    const candidates = filteredDevices(state.devices, route.filter, kind);
    let deviceIds = route.devices.filter((id) => state.devices.get(id)?.info.kind === kind);
    if (deviceIds.length === 0) {
      // Default: the first few devices that are reporting.
      const now = ctx.now();
      const online = candidates.filter((d) => healthOf(d, now) === 'online');
      deviceIds = (online.length > 0 ? online : candidates).slice(0, 4).map((d) => d.info.id);
    }
    return { kind, metric, deviceIds: deviceIds.slice(0, MAX_COMPARED) };
  }

  function renderMetricOptions(kind: ReadingKind, metric: string): void {
    const key = `${kind}|${metric}`;
    if (key === metricKey) return;
    metricKey = key;
    metricSelect.replaceChildren(
      ...readingKinds().map((k) =>
        h('optgroup', { label: kindLabel(k) }, ...chartableMetrics(k).map((m) => h('option', { value: m, selected: k === kind && m === metric }, `${metricLabel(m)}${unitOf(k, m) ? ` (${unitOf(k, m)})` : ''}`))),
      ),
    );
    // Two kinds share "temperature": select the option in the current kind's group.
    const option = [...metricSelect.querySelectorAll('option')].find((o) => o.value === metric && (o.parentElement as HTMLOptGroupElement).label === kindLabel(kind));
    if (option) option.selected = true;
  }

  function renderPicker(kind: ReadingKind, selected: readonly string[]): void {
    const state = ctx.store.get();
    const candidates = filteredDevices(state.devices, ctx.route().filter, kind);
    const key = `${kind}|${selected.join(',')}|${candidates.map((d) => d.info.id).join(',')}`;
    if (key === pickerKey) return;
    pickerKey = key;
    const items = candidates.map((device) => {
      const index = selected.indexOf(device.info.id);
      const checked = index !== -1;
      const box = h('input', {
        type: 'checkbox',
        value: device.info.id,
        checked,
        disabled: !checked && selected.length >= MAX_COMPARED,
        'data-testid': `chart-device-${device.info.id}`,
      });
      box.addEventListener('change', () => {
        const next = box.checked ? [...selected, device.info.id] : selected.filter((id) => id !== device.info.id);
        ctx.navigate({ devices: next.length > 0 ? next : [] }, { replace: true });
      });
      return h(
        'label',
        { class: 'pick' },
        box,
        h('span', { class: 'pick-swatch', style: checked ? `background:${SERIES_COLOURS[index % SERIES_COLOURS.length]}` : '' }),
        device.info.name,
      );
    });
    devicePicker.replaceChildren(
      h('legend', {}, `Compare ${kindLabel(kind).toLowerCase()} devices (up to ${MAX_COMPARED})`),
      ...(items.length > 0 ? items : [h('p', { class: 'feed-empty' }, 'No devices of this kind match the filter.')]),
    );
  }

  async function load(deviceIds: readonly string[], range: RangeKey): Promise<void> {
    const token = ++loadToken;
    setText(status, 'Loading history…');
    try {
      const results = await Promise.all(deviceIds.map((id) => ctx.loadHistory(id, range)));
      if (token !== loadToken) return;
      const truncated = results.some((r) => r.truncated);
      setText(status, truncated ? 'Showing the most recent 10,000 readings per device; older readings in this range are not loaded.' : '');
      lastVersion = -1;
      draw();
    } catch (error) {
      if (token === loadToken) setText(status, `Could not load history: ${(error as Error).message}`);
    }
  }

  function draw(): void {
    const { kind, metric, deviceIds } = selection();
    const route = ctx.route();
    const now = ctx.now();
    const rangeMs = RANGES[route.range].ms;
    const key = `${kind}|${metric}|${deviceIds.join(',')}|${route.range}`;
    if (key !== chartKey) {
      chartKey = key;
      chart?.dispose();
      chart = createTimeChart({
        yLabel: axisLabel(kind, metric),
        series: deviceIds.map((id, i) => ({ label: ctx.store.get().devices.get(id)?.info.name ?? id, colour: SERIES_COLOURS[i % SERIES_COLOURS.length]! })),
        height: 380,
        yRange: fixedRange(kind, metric),
        stepped: isStepped(kind, metric),
        emptyText: deviceIds.length === 0 ? 'Pick a device to chart.' : 'No readings in this range yet.',
      });
      chartHost.replaceChildren(chart.el);
      void load(deviceIds, route.range);
      lastVersion = -1;
    }
    if (ctx.series.version === lastVersion && now - lastWindowEnd < rangeMs / 600) return;
    lastVersion = ctx.series.version;
    lastWindowEnd = now;
    lastDraw = now;
    const devices = ctx.store.get().devices;
    const data = buildChartData(ctx.series, {
      deviceIds,
      metric,
      fromMs: now - rangeMs,
      intervalSeconds: (id) => devices.get(id)?.info.intervalSeconds ?? DEFAULT_INTERVAL_S,
    });
    chart!.setData(data, [(now - rangeMs) / 1000, now / 1000]);
    renderSummary(kind, metric, deviceIds, data);
  }

  function renderSummary(kind: ReadingKind, metric: string, deviceIds: readonly string[], data: ReturnType<typeof buildChartData>): void {
    const unit = unitOf(kind, metric);
    const devices = ctx.store.get().devices;
    summary.replaceChildren(
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Device'), ...['Latest', 'Min', 'Mean', 'Max', 'Points'].map((c) => h('th', { scope: 'col', class: 'num' }, c)))),
      h(
        'tbody',
        {},
        ...deviceIds.map((id, i) => {
          const stats = summarise(data[i + 1] ?? []);
          const cell = (v: number | undefined) => h('td', { class: 'num' }, v === undefined ? '–' : `${formatNumber(v)}${unit ? ` ${unit}` : ''}`);
          return h(
            'tr',
            { 'data-testid': `chart-summary-${id}` },
            h('th', { scope: 'row' }, h('span', { class: 'pick-swatch', style: `background:${SERIES_COLOURS[i % SERIES_COLOURS.length]}` }), h('a', { href: ctx.href({ view: 'device', deviceId: id }) }, devices.get(id)?.info.name ?? id)),
            cell(stats.latest),
            cell(stats.min),
            cell(stats.mean),
            cell(stats.max),
            h('td', { class: 'num' }, formatNumber(stats.count)),
          );
        }),
      ),
    );
  }

  return {
    el,
    update() {
      const { kind, metric, deviceIds } = selection();
      renderMetricOptions(kind, metric);
      renderPicker(kind, deviceIds);
      rangeGroup.update();
      const wait = REDRAW_MS - (ctx.now() - lastDraw);
      if (wait <= 0) draw();
      else if (!pending) {
        pending = setTimeout(() => {
          pending = undefined;
          draw();
        }, wait);
      }
    },
    dispose() {
      clearTimeout(pending);
      chart?.dispose();
    },
  };
}

/** Last hour / day / week as a segmented control of links (deep-linkable, keyboard reachable). */
export function createRangeButtons(ctx: AppContext): { el: HTMLElement; update(): void } {
  const buttons = (Object.keys(RANGES) as RangeKey[]).map((range) => {
    const button = h('button', { type: 'button', class: 'segment', 'data-testid': `range-${range}`, 'data-range': range }, RANGES[range].label);
    button.addEventListener('click', () => ctx.navigate({ range }, { replace: true }));
    return button;
  });
  const el = h('div', { class: 'segmented', role: 'group', 'aria-label': 'Time range' }, ...buttons);
  return {
    el,
    update() {
      const current = ctx.route().range;
      for (const button of buttons) {
        const active = button.dataset.range === current;
        button.classList.toggle('is-active', active);
        button.setAttribute('aria-pressed', String(active));
      }
    },
  };
}
