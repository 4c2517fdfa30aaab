/**
 * A small trend line (battery, signal, rate) in SVG: shape over precision, no axes.
 */
import { s, setAttr } from './dom.ts';

export interface Sparkline {
  el: SVGSVGElement;
  /** Points as [x, y] in any units; null y breaks the line. */
  set(points: readonly (readonly [number, number | null])[], range?: [number, number]): void;
}

export function createSparkline(options: { width?: number; height?: number; label: string; className?: string }): Sparkline {
  const width = options.width ?? 140;
  const height = options.height ?? 36;
  const area = s('path', { class: 'spark-area' });
  const line = s('path', { class: 'spark-line' });
  const dot = s('circle', { class: 'spark-dot', r: 2.5 });
  const el = s('svg', { class: `sparkline ${options.className ?? ''}`, viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': options.label }, area, line, dot);
  return {
    el,
    set(points, range) {
      const ys = points.map(([, y]) => y).filter((y): y is number => y !== null);
      if (points.length < 2 || ys.length === 0) {
        setAttr(line, 'd', '');
        setAttr(area, 'd', '');
        setAttr(dot, 'visibility', 'hidden');
        return;
      }
      const x0 = points[0]![0];
      const x1 = points[points.length - 1]![0];
      const [lo, hi] = range ?? [Math.min(...ys), Math.max(...ys)];
      const spanY = hi - lo || 1;
      const px = (x: number) => (x1 === x0 ? width / 2 : ((x - x0) / (x1 - x0)) * (width - 4) + 2);
      const py = (y: number) => height - 3 - ((y - lo) / spanY) * (height - 6);
      let d = '';
      let pen = false;
      let last: [number, number] | undefined;
      for (const [x, y] of points) {
        if (y === null) {
          pen = false;
          continue;
        }
        d += `${pen ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`;
        pen = true;
        last = [px(x), py(y)];
      }
      setAttr(line, 'd', d);
      // An area under a broken line would bridge the breaks: only for unbroken lines.
      const broken = points.some(([, y]) => y === null);
      setAttr(area, 'd', d && !broken ? `${d}L${px(x1).toFixed(1)},${height}L${px(x0).toFixed(1)},${height}Z` : '');
      if (last) {
        setAttr(dot, 'cx', last[0].toFixed(1));
        setAttr(dot, 'cy', last[1].toFixed(1));
        setAttr(dot, 'visibility', 'visible');
      }
    },
  };
}
