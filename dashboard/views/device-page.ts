/**
 * The device page, the test bed's view for the startup whose device this is: is it working?
 * Last seen and age, readings per minute against its declared interval, gaps (from `seq`
 * and from time), battery and signal trends, the latest values with units, a chart, and
 * the latest rejections with their reasons and payload excerpts.
 *
 * Why one file of ~400 lines: the page's sections share one render cycle and one set of derived figures; the calculations themselves live in dashboard/model/.
 */
import { metricsOf } from '../../contracts/kinds-table.ts';
import { createTimeChart, type TimeChart } from './chart.ts';
import { defaultMetricOf, buildChartData, chartableMetrics, fixedRange, isStepped } from '../model/chart-data.ts';
import { createRangeButtons } from './charts-view.ts';
import type { AppContext } from './context.ts';
import { HEALTH_LABELS, healthOf, markerStyleOf, offlineAfterMs, sourceLabel, type DeviceView } from '../model/device-status.ts';
import { h, setAttr, setText, type View } from './dom.ts';
import { bandOf, eaqiOf } from '../model/eaqi-colours.ts';
import {
  kindNoun,
  axisLabel,
  formatAge,
  formatClock,
  formatDateTime,
  formatDuration,
  formatNumber,
  formatValue,
  metricLabel,
  signalQuality,
  unitOf,
} from '../model/format.ts';
import { analyseSeq, findTimeGaps, rateBuckets, readingRate, type SeqAnalysis, type TimeGap } from '../model/gaps.ts';
import { createRejectionFeed } from './rejection-feed.ts';
import { RANGES } from '../model/route.ts';
import { metricValue, sliceRange } from '../model/series.ts';
import { createSparkline } from './sparkline.ts';
import { rejectionId, type FeedItem } from '../model/state.ts';

/** Window for "readings per minute now". */
export const RATE_WINDOW_MS = 15 * 60_000;
const REDRAW_MS = 250;

export function createDevicePage(ctx: AppContext, deviceId: string): View {
  const title = h('h1', { class: 'device-title' }, deviceId);
  const subtitle = h('p', { class: 'device-sub' }, '');
  const statusPill = h('span', { class: 'status-pill', 'data-testid': 'device-status' }, '');
  const unregistered = h('span', { class: 'tag', hidden: true, title: 'The registry does not list this device; defaults apply (60 s interval).' }, 'not in registry');

  const tile = (testId: string, label: string) => {
    const value = h('strong', { class: 'tile-value' }, '–');
    const sub = h('span', { class: 'tile-sub' }, '');
    const extra = h('div', { class: 'tile-extra' });
    const el = h('div', { class: 'tile', 'data-testid': testId }, h('span', { class: 'tile-label' }, label), value, sub, extra);
    return { el, value, sub, extra };
  };
  const lastSeen = tile('device-last-seen', 'Last heard');
  const rate = tile('device-rate', 'Readings per minute');
  const gaps = tile('device-gaps', 'Gaps in range');
  const battery = tile('device-battery', 'Battery');
  const signal = tile('device-signal', 'Signal');
  const rateSpark = createSparkline({ label: 'Readings per minute over the range', className: 'spark-rate' });
  const batterySpark = createSparkline({ label: 'Battery over the range', className: 'spark-battery' });
  const signalSpark = createSparkline({ label: 'Signal strength over the range', className: 'spark-signal' });
  rate.extra.append(rateSpark.el);
  battery.extra.append(batterySpark.el);
  signal.extra.append(signalSpark.el);

  const latestBody = h('tbody');
  const latestTime = h('span', { class: 'panel-sub' }, '');
  const latestPanel = h(
    'section',
    { class: 'panel latest-panel', 'data-testid': 'latest-values', 'aria-label': 'Latest values' },
    h('header', { class: 'panel-head' }, h('h2', {}, 'Latest values'), latestTime),
    h('table', { class: 'values-table' }, latestBody),
  );

  const metricSelect = h('select', { 'data-testid': 'device-metric', 'aria-label': 'Metric' });
  metricSelect.addEventListener('change', () => ctx.navigate({ metric: metricSelect.value }, { replace: true }));
  const ranges = createRangeButtons(ctx);
  const chartStatus = h('p', { class: 'chart-status', role: 'status' }, '');
  // A bin's emptyings (GET /api/v1/waste/collections), marked on the chart and listed here.
  const emptyingsNote = h('p', { class: 'panel-note', 'data-testid': 'device-emptyings', hidden: true }, '');
  const chartHost = h('div', { class: 'chart-host' });
  const chartPanel = h(
    'section',
    { class: 'panel device-chart-panel', 'aria-label': 'History chart' },
    h('header', { class: 'panel-head' }, h('h2', {}, 'History'), h('div', { class: 'chart-tools' }, metricSelect, ranges.el)),
    chartStatus,
    emptyingsNote,
    chartHost,
  );

  const gapList = h('ol', { class: 'gap-list', 'data-testid': 'gap-list' });
  const gapPanel = h(
    'section',
    { class: 'panel gap-panel', 'aria-label': 'Gaps' },
    h('header', { class: 'panel-head' }, h('h2', {}, 'Gaps'), h('span', { class: 'panel-sub' }, 'from seq and from time')),
    gapList,
  );

  let loadedRejections: FeedItem[] = [];
  const feed = createRejectionFeed(ctx, { deviceId, limit: 20, extra: () => loadedRejections, title: 'Latest rejections' });

  const el = h(
    'div',
    { class: 'view device-page', 'data-testid': 'device-page', 'data-device': deviceId },
    h(
      'header',
      { class: 'device-head' },
      h('a', { class: 'back-link', href: ctx.href({ view: 'devices' }) }, '← All devices'),
      h('div', { class: 'device-heading' }, h('span', { class: 'kind-marker' }), title, statusPill, unregistered),
      subtitle,
    ),
    h('div', { class: 'tile-row' }, lastSeen.el, rate.el, gaps.el, battery.el, signal.el),
    h('div', { class: 'device-grid' }, chartPanel, latestPanel, feed.el, gapPanel),
  );

  let chart: TimeChart | undefined;
  let chartKey = '';
  let historyToken = 0;
  let lastDraw = 0;
  let lastVersion = -1;
  let pending: ReturnType<typeof setTimeout> | undefined;
  let analysisKey = '';
  let metricKey = '';
  let disposed = false;
  let emptyings: { atMs: number; fillBefore: number }[] = [];
  let emptyingsKey = '';

  ctx.series.track(deviceId);
  void ctx.api
    .rejections({ device: deviceId, limit: 20, from: '-7d' })
    .then((rejections) => {
      if (disposed) return;
      loadedRejections = rejections.map((rejection) => ({ id: rejectionId(rejection), type: 'rejection', atMs: Date.parse(rejection.receivedAt), deviceId, rejection }));
      feed.update();
    })
    .catch(() => {
      // The live feed still shows new rejections; the history is a nicety.
    });

  function device(): DeviceView | undefined {
    return ctx.store.get().devices.get(deviceId);
  }

  function updateHeader(dev: DeviceView | undefined, now: number): void {
    if (!dev) {
      setText(title, deviceId);
      setText(subtitle, 'No reading or registry entry for this device yet. It appears as soon as it reports.');
      setText(statusPill, 'Unknown');
      statusPill.className = 'status-pill status-nodata';
      return;
    }
    const { info } = dev;
    const health = healthOf(dev, now);
    setText(title, info.name);
    el.dataset.kind = info.kind;
    setText(
      subtitle,
      [kindNoun(info.kind), info.name !== info.id ? info.id : '', info.site, info.owner ? `tested by ${info.owner}` : '', info.registered ? sourceLabel(info.source) : '', `promises a reading every ${formatDuration(info.intervalSeconds * 1000)}`]
        .filter(Boolean)
        .join(' · '),
    );
    setText(statusPill, HEALTH_LABELS[health]);
    statusPill.className = `status-pill status-${health}`;
    setAttr(statusPill, 'data-health', health);
    unregistered.hidden = info.registered;

    if (dev.lastHeardMs === undefined) {
      setText(lastSeen.value, 'never');
      setText(lastSeen.sub, 'no reading received yet');
    } else {
      setText(lastSeen.value, formatAge((now - dev.lastHeardMs) / 1000));
      setText(lastSeen.sub, `at ${formatDateTime(dev.lastHeardMs)} · offline after ${formatDuration(offlineAfterMs(info))} of silence`);
    }
    lastSeen.el.classList.toggle('is-warning', health === 'offline');

    const reading = dev.latest;
    const b = reading?.battery;
    setText(battery.value, b === undefined ? '–' : `${formatNumber(b, 0)} %`);
    battery.el.classList.toggle('is-warning', b !== undefined && b < 20);
    const quality = signalQuality(reading?.rssi);
    setText(signal.value, reading?.rssi === undefined ? '–' : `${formatNumber(reading.rssi, 0)} dBm`);
    setText(signal.sub, reading?.rssi === undefined ? 'not reported' : `${quality.label}`);
    signal.value.dataset.bars = String(quality.bars);
  }

  let shownLatest: unknown = null;
  function updateLatest(dev: DeviceView | undefined): void {
    const reading = dev?.latest;
    if (reading === shownLatest && reading !== undefined) return;
    shownLatest = reading;
    if (!dev || !reading) {
      latestBody.replaceChildren(h('tr', {}, h('td', { class: 'feed-empty' }, 'No reading yet.')));
      setText(latestTime, '');
      return;
    }
    const { kind } = dev.info;
    setText(latestTime, `measured ${formatClock(Date.parse(reading.ts))}${reading.seq !== undefined ? ` · seq ${reading.seq}` : ''}`);
    const rows: HTMLElement[] = [];
    const eaqi = kind === 'air' ? eaqiOf(reading.values) : undefined;
    if (eaqi) {
      const band = bandOf(eaqi.level);
      rows.push(
        h(
          'tr',
          { 'data-testid': 'latest-value-eaqi' },
          h('th', { scope: 'row' }, 'EAQI (indicative)'),
          h('td', {}, h('span', { class: 'level-chip', style: `background:${band.colour};color:${band.ink}` }, `${eaqi.level} ${band.label}`)),
        ),
      );
    }
    for (const metric of [...metricsOf(kind), 'battery', 'rssi', 'seq']) {
      const v = metric === 'battery' || metric === 'rssi' || metric === 'seq' ? reading[metric] : reading.values[metric];
      if (v === undefined) continue;
      const unit = unitOf(kind, metric);
      rows.push(
        h(
          'tr',
          { 'data-testid': `latest-value-${metric}`, 'data-value': String(v) },
          h('th', { scope: 'row' }, metricLabel(metric)),
          h('td', { class: 'num' }, metric === 'seq' ? String(v) : typeof v === 'number' ? formatNumber(v) : formatValue(kind, metric, v), unit && typeof v === 'number' ? h('span', { class: 'unit' }, ` ${unit}`) : null),
        ),
      );
    }
    latestBody.replaceChildren(...rows);
  }

  function currentMetric(dev: DeviceView | undefined): string | undefined {
    if (!dev) return undefined;
    const metrics = chartableMetrics(dev.info.kind);
    const requested = ctx.route().metric;
    if (requested && metrics.includes(requested)) return requested;
    const reported = dev.latest ? metrics.filter((m) => metricValue(dev.latest!, m) !== undefined) : [];
    return reported.includes(defaultMetricOf(dev.info.kind)) ? defaultMetricOf(dev.info.kind) : (reported[0] ?? defaultMetricOf(dev.info.kind));
  }

  function renderMetricOptions(dev: DeviceView, metric: string): void {
    const key = `${dev.info.kind}|${metric}`;
    if (key === metricKey) return;
    metricKey = key;
    metricSelect.replaceChildren(
      ...chartableMetrics(dev.info.kind).map((m) => h('option', { value: m, selected: m === metric }, `${metricLabel(m)}${unitOf(dev.info.kind, m) ? ` (${unitOf(dev.info.kind, m)})` : ''}`)),
    );
    metricSelect.value = metric;
  }

  /** For a bin: its emptyings in the range, as chart markers and a line under the title. */
  async function loadEmptyings(rangeMs: number): Promise<void> {
    const key = `${rangeMs}|${Math.floor(ctx.now() / 60_000)}`;
    if (key === emptyingsKey) return;
    emptyingsKey = key;
    try {
      const found = await ctx.api.wasteCollections(deviceId, ctx.now() - rangeMs);
      if (disposed) return;
      emptyings = found.map((e) => ({ atMs: Date.parse(e.at), fillBefore: e.fillBefore }));
      chart?.setMarkers(emptyings.map((e) => ({ x: e.atMs / 1000, label: `emptied at ${Math.round(e.fillBefore)} %` })));
      emptyingsNote.hidden = false;
      setText(
        emptyingsNote,
        emptyings.length === 0
          ? 'No emptying in this range.'
          : `Emptied ${emptyings.length === 1 ? 'once' : `${emptyings.length} times`} in this range (dashed lines): ${emptyings
              .slice(-5)
              .map((e) => `${formatDateTime(e.atMs)} at ${Math.round(e.fillBefore)} %`)
              .join(', ')}.`,
      );
    } catch {
      // An API without the waste routes: no markers.
    }
  }

  async function loadHistory(): Promise<void> {
    const token = ++historyToken;
    const range = ctx.route().range;
    setText(chartStatus, 'Loading history…');
    try {
      const status = await ctx.loadHistory(deviceId, range);
      if (token !== historyToken || disposed) return;
      setText(chartStatus, status.truncated ? `Showing the most recent readings since ${formatDateTime(status.fromMs)} (the API's 10,000-reading limit).` : '');
      lastVersion = -1;
      draw();
    } catch (error) {
      if (token === historyToken) setText(chartStatus, `Could not load history: ${(error as Error).message}`);
    }
  }

  function draw(): void {
    const dev = device();
    const metric = currentMetric(dev);
    const now = ctx.now();
    const range = ctx.route().range;
    const rangeMs = RANGES[range].ms;
    if (dev && metric) {
      renderMetricOptions(dev, metric);
      const key = `${dev.info.kind}|${metric}|${range}`;
      if (key !== chartKey) {
        const rangeChanged = !chartKey.endsWith(`|${range}`);
        chartKey = key;
        chart?.dispose();
        chart = createTimeChart({
          yLabel: axisLabel(dev.info.kind, metric),
          series: [{ label: metricLabel(metric) }],
          height: 300,
          yRange: metric === 'battery' ? [0, 100] : fixedRange(dev.info.kind, metric),
          stepped: isStepped(dev.info.kind, metric),
        });
        chartHost.replaceChildren(chart.el);
        chart.setMarkers(emptyings.map((e) => ({ x: e.atMs / 1000, label: `emptied at ${Math.round(e.fillBefore)} %` })));
        if (rangeChanged) {
          emptyingsKey = '';
          void loadHistory();
        }
        lastVersion = -1;
      }
    }
    if (ctx.series.version === lastVersion && now - lastDraw < Math.max(1_000, rangeMs / 600)) return;
    lastVersion = ctx.series.version;
    lastDraw = now;
    if (dev && metric && chart) {
      const data = buildChartData(ctx.series, { deviceIds: [deviceId], metric, fromMs: now - rangeMs, intervalSeconds: () => dev.info.intervalSeconds });
      chart.setData(data, [(now - rangeMs) / 1000, now / 1000]);
    }
    updateAnalysis(dev, now, rangeMs);
    if (dev?.info.kind === 'waste') void loadEmptyings(rangeMs);
  }

  function updateAnalysis(dev: DeviceView | undefined, now: number, rangeMs: number): void {
    const series = ctx.series.get(deviceId);
    if (!dev || !series) return;
    const fromMs = now - rangeMs;
    const { t, readings } = sliceRange(series, fromMs);
    const samples = readings.map((r, i) => ({ t: t[i]!, seq: r.seq }));
    const key = `${t.length}|${t[t.length - 1] ?? ''}|${Math.floor(now / 5_000)}|${rangeMs}|${dev.info.intervalSeconds}`;
    if (key === analysisKey) return;
    analysisKey = key;
    const interval = dev.info.intervalSeconds;

    const r = readingRate(samples, interval, now, Math.min(RATE_WINDOW_MS, rangeMs));
    setText(rate.value, formatNumber(r.perMinute, r.perMinute < 10 ? 2 : 0));
    setText(rate.sub, `expected ${formatNumber(r.expectedPerMinute, r.expectedPerMinute < 10 ? 2 : 0)} · last ${formatDuration(r.windowMs)} · ${rateVerdict(r.verdict)}`);
    rate.el.dataset.verdict = r.verdict;
    rate.el.classList.toggle('is-warning', r.verdict !== 'ok');
    const buckets = 30;
    const perBucket = rateBuckets(samples, fromMs, now, buckets);
    rateSpark.set(perBucket.map((v, i) => [i, v] as const), [0, Math.max(r.expectedPerMinute * 1.5, ...perBucket)]);

    const seq = analyseSeq(samples);
    const timeGaps = findTimeGaps(samples, interval, now - offlineAfterMs(dev.info) > (t[t.length - 1] ?? now) ? now : undefined);
    setText(gaps.value, seq.counted > 0 ? `${formatNumber(seq.missing)} missing` : `${timeGaps.length} silence${timeGaps.length === 1 ? '' : 's'}`);
    setAttr(gaps.el, 'data-seq-missing', String(seq.missing));
    setAttr(gaps.el, 'data-time-gaps', String(timeGaps.length));
    setText(
      gaps.sub,
      [
        seq.counted > 0 ? `${seq.gaps.length} seq gap${seq.gaps.length === 1 ? '' : 's'}` : 'no seq reported',
        `${timeGaps.length} time gap${timeGaps.length === 1 ? '' : 's'}`,
        seq.resets > 0 ? `${seq.resets} restart${seq.resets === 1 ? '' : 's'}` : '',
        seq.duplicates > 0 ? `${seq.duplicates} duplicate${seq.duplicates === 1 ? '' : 's'}` : '',
      ]
        .filter(Boolean)
        .join(' · '),
    );
    gaps.el.classList.toggle('is-warning', seq.missing > 0 || timeGaps.length > 0);
    renderGapList(seq, timeGaps, samples.length);

    const batteryPoints = readings.map((reading, i) => [t[i]!, reading.battery ?? null] as const);
    batterySpark.set(batteryPoints, [0, 100]);
    const batteryValues = batteryPoints.filter(([, v]) => v !== null) as [number, number][];
    if (batteryValues.length >= 2) {
      const [t0, b0] = batteryValues[0]!;
      const [t1, b1] = batteryValues[batteryValues.length - 1]!;
      const perDay = t1 > t0 ? ((b1 - b0) / (t1 - t0)) * 86_400_000 : 0;
      setText(battery.sub, `${perDay >= 0 ? '+' : ''}${formatNumber(perDay, 1)} %/day over the range`);
    } else {
      setText(battery.sub, dev.latest?.battery === undefined ? 'not reported' : 'trend after more readings');
    }
    signalSpark.set(readings.map((reading, i) => [t[i]!, reading.rssi ?? null] as const), [-130, -40]);
  }

  function renderGapList(seq: SeqAnalysis, timeGaps: TimeGap[], samples: number): void {
    type Entry = { atMs: number; node: HTMLElement };
    const entries: Entry[] = [
      ...seq.gaps.map((gap) => ({
        atMs: gap.atMs,
        node: h('li', { class: 'gap is-seq' }, h('span', { class: 'gap-kind' }, 'seq'), h('span', {}, `${gap.missing} missing (seq ${gap.afterSeq} → ${gap.beforeSeq})`), h('time', {}, formatDateTime(gap.atMs))),
      })),
      ...timeGaps.map((gap) => ({
        atMs: gap.toMs,
        node: h('li', { class: 'gap is-time' }, h('span', { class: 'gap-kind' }, 'time'), h('span', {}, `silent ${formatDuration(gap.durationMs)} (~${gap.expectedMissing} expected readings)`), h('time', {}, formatDateTime(gap.fromMs))),
      })),
    ].sort((a, b) => b.atMs - a.atMs);
    gapList.replaceChildren(
      ...(entries.length > 0
        ? entries.slice(0, 12).map((e) => e.node)
        : [h('li', { class: 'gap is-none' }, samples > 0 ? `No gaps in ${formatNumber(samples)} readings over this range.` : 'No readings in this range.')]),
    );
  }

  function update(): void {
    const dev = device();
    const now = ctx.now();
    updateHeader(dev, now);
    updateLatest(dev);
    ranges.update();
    const style = dev ? markerStyleOf(dev, now) : undefined;
    el.style.setProperty('--kind-colour', style?.fill ?? '#E3E7EC');
    feed.update();
    const wait = REDRAW_MS - (now - lastDraw);
    if (wait <= 0 || chartKey === '') draw();
    else if (!pending) {
      pending = setTimeout(() => {
        pending = undefined;
        draw();
      }, wait);
    }
  }

  return {
    el,
    update,
    dispose() {
      disposed = true;
      clearTimeout(pending);
      chart?.dispose();
      feed.dispose();
    },
  };
}

function rateVerdict(verdict: ReturnType<typeof readingRate>['verdict']): string {
  switch (verdict) {
    case 'ok':
      return 'as promised';
    case 'slow':
      return 'slower than promised';
    case 'fast':
      return 'faster than promised';
    case 'silent':
      return 'silent';
  }
}
