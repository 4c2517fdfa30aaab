/**
 * A time chart on uPlot (canvas, smooth with tens of thousands of points): several series
 * on one time axis, the unit on the value axis, a window that slides with the clock.
 * `data-points` on the element counts the drawn points (tests and screen readers get a number).
 */
import uPlot, { type AlignedData } from 'uplot';
import { h, setAttr, setText } from './dom.ts';
import { formatDateTime, formatNumber, timeTicks } from '../model/format.ts';

/** Distinguishable on white and for the common colour-vision deficiencies (Okabe–Ito based). */
export const SERIES_COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#B8860B', '#56B4E9', '#6A3D9A', '#3B4754'];

export interface TimeChartSeries {
  label: string;
  colour?: string;
}

export interface TimeChartOptions {
  /** Value axis label with its unit, e.g. "PM2.5 (µg/m³)". */
  yLabel: string;
  series: readonly TimeChartSeries[];
  height?: number;
  /** Fixed value range (e.g. 0–100 for %), otherwise automatic. */
  yRange?: [number, number] | undefined;
  testId?: string;
  compact?: boolean;
  /** Step-like values (counts, fill) draw as steps. */
  stepped?: boolean;
  emptyText?: string;
}

export interface TimeChart {
  el: HTMLElement;
  /** Data in uPlot's aligned form (x in seconds) and the x window in seconds. */
  setData(data: AlignedData, window: [number, number]): void;
  /** Events drawn as dashed vertical lines (x in seconds), e.g. a bin's emptyings. */
  setMarkers(markers: readonly { x: number; label: string }[]): void;
  dispose(): void;
}

export function createTimeChart(options: TimeChartOptions): TimeChart {
  const plotHost = h('div', { class: 'chart-plot' });
  const emptyNote = h('div', { class: 'chart-empty', hidden: true }, options.emptyText ?? 'No readings in this range yet.');
  const el = h(
    'figure',
    { class: `chart ${options.compact ? 'chart-compact' : ''}`, 'data-testid': options.testId ?? 'chart', 'data-points': '0', 'aria-label': `Chart of ${options.yLabel}` },
    plotHost,
    emptyNote,
  );
  const height = options.height ?? 320;
  let plot: uPlot | undefined;
  let lastData: AlignedData | undefined;
  let lastWindow: [number, number] | undefined;
  let markers: readonly { x: number; label: string }[] = [];

  const makePlot = (width: number) => {
    const opts: uPlot.Options = {
      width,
      height,
      pxAlign: 1,
      cursor: { points: { size: 7 }, drag: { x: true, y: false } },
      legend: { show: !options.compact, live: true },
      scales: {
        x: { time: true },
        y: options.yRange ? { range: options.yRange } : { range: (_u, min, max) => paddedRange(min, max) },
      },
      axes: [
        {
          stroke: '#4A5868',
          grid: { stroke: '#E6EAEF', width: 1 },
          ticks: { stroke: '#D5DBE2', width: 1 },
          font: '12px -apple-system, "Segoe UI", Roboto, Arial, "Liberation Sans", sans-serif',
          values: (_u, splits, _axis, _space, increment) => timeTicks(splits, increment),
        },
        {
          label: options.compact ? undefined : options.yLabel,
          labelSize: options.compact ? 0 : 22,
          labelFont: '600 12px -apple-system, "Segoe UI", Roboto, Arial, "Liberation Sans", sans-serif',
          stroke: '#4A5868',
          size: options.compact ? 40 : 56,
          grid: { stroke: '#E6EAEF', width: 1 },
          ticks: { stroke: '#D5DBE2', width: 1 },
          font: '12px -apple-system, "Segoe UI", Roboto, Arial, "Liberation Sans", sans-serif',
          values: (_u, splits) => splits.map((v) => formatNumber(v)),
        },
      ],
      series: [
        { value: (_u: uPlot, v: number | null) => (v === null ? '–' : formatDateTime(v * 1000)) },
        ...options.series.map((series, i) => ({
          label: series.label,
          stroke: series.colour ?? SERIES_COLOURS[i % SERIES_COLOURS.length]!,
          width: 2,
          spanGaps: false,
          points: { show: (u: uPlot, seriesIdx: number) => pointsVisible(u, seriesIdx) },
          value: (_u: uPlot, v: number | null) => (v === null || v === undefined ? '–' : formatNumber(v)),
          ...(options.stepped ? { paths: uPlot.paths.stepped!({ align: 1 }) } : {}),
        })),
      ],
    };
    opts.hooks = {
      draw: [
        (u: uPlot) => {
          if (markers.length === 0) return;
          const c = u.ctx;
          c.save();
          c.strokeStyle = '#6A3D9A';
          c.setLineDash([4, 4]);
          c.lineWidth = 1.5;
          for (const marker of markers) {
            const x = Math.round(u.valToPos(marker.x, 'x', true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            c.beginPath();
            c.moveTo(x, u.bbox.top);
            c.lineTo(x, u.bbox.top + u.bbox.height);
            c.stroke();
          }
          c.restore();
        },
      ],
    };
    plot = new uPlot(opts, lastData ?? emptyData(options.series.length), plotHost);
  };

  const resizeObserver = new ResizeObserver(() => {
    const width = Math.floor(plotHost.getBoundingClientRect().width);
    if (width <= 0) return;
    if (!plot) {
      makePlot(width);
      if (lastData && lastWindow) apply(lastData, lastWindow);
    } else if (Math.abs(plot.width - width) > 1) plot.setSize({ width, height });
  });
  resizeObserver.observe(plotHost);

  function apply(data: AlignedData, window: [number, number]): void {
    if (!plot) return;
    plot.setData(data, true);
    plot.setScale('x', { min: window[0], max: window[1] });
  }

  return {
    el,
    setData(data, window) {
      lastData = data;
      lastWindow = window;
      let points = 0;
      for (let i = 1; i < data.length; i++) {
        const ys = data[i]!;
        for (let j = 0; j < ys.length; j++) if (ys[j] !== null && ys[j] !== undefined) points += 1;
      }
      setAttr(el, 'data-points', String(points));
      emptyNote.hidden = points > 0;
      setText(emptyNote, options.emptyText ?? 'No readings in this range yet.');
      apply(data, window);
    },
    setMarkers(next) {
      markers = next;
      setAttr(el, 'data-markers', String(next.length));
      plot?.redraw(false, false);
    },
    dispose() {
      resizeObserver.disconnect();
      plot?.destroy();
      plot = undefined;
    },
  };
}

function emptyData(series: number): AlignedData {
  return [[], ...Array.from({ length: series }, () => [] as (number | null)[])] as AlignedData;
}

/** Points are drawn only when sparse enough to read (a few per 100 px). */
function pointsVisible(u: uPlot, seriesIdx: number): boolean {
  const ys = u.data[seriesIdx];
  if (!ys) return false;
  const [i0, i1] = u.series[0]?.idxs ?? [0, ys.length - 1];
  return (i1 - i0) / Math.max(1, u.bbox.width / devicePixelRatio) < 0.08;
}

/** Auto range with some headroom, never a zero-height range. */
function paddedRange(min: number | null, max: number | null): [number, number] {
  if (min === null || max === null) return [0, 1];
  if (min === max) return min === 0 ? [0, 1] : [Math.min(0, min * 0.9), Math.max(0, max * 1.1)];
  const pad = (max - min) * 0.08;
  return [min >= 0 && min - pad < 0 ? 0 : min - pad, max + pad];
}

