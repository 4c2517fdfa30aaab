import { describe, expect, it } from 'vitest';
import { convexHull, fitFrame, gridLines, niceStep, project, scaleBar, schematicLayout, toScreen, unproject } from '../../../dashboard/model/map-geometry.ts';

// Along H.C. Andersens Boulevard, Copenhagen.
const DEVICES = [
  { lat: 55.6745, lon: 12.5663 },
  { lat: 55.6761, lon: 12.5689 },
  { lat: 55.6772, lon: 12.5712 },
];
const PAD = { top: 40, right: 40, bottom: 40, left: 40 };

describe('map geometry', () => {
  it('projects to Web Mercator and back', () => {
    const p = project(55.6761, 12.5683);
    // 12.5683° × π/180 × 6,378,137 m
    expect(p.x).toBeCloseTo(1_399_096.8, 0);
    const back = unproject(p);
    expect(back.lat).toBeCloseTo(55.6761, 9);
    expect(back.lon).toBeCloseTo(12.5683, 9);
  });

  it('fits every device inside the padded viewport, north up', () => {
    const frame = fitFrame(DEVICES, 800, 500, PAD);
    const points = DEVICES.map((d) => toScreen(frame, d.lat, d.lon));
    for (const p of points) {
      expect(p.x).toBeGreaterThanOrEqual(40 - 1e-6);
      expect(p.x).toBeLessThanOrEqual(760 + 1e-6);
      expect(p.y).toBeGreaterThanOrEqual(40 - 1e-6);
      expect(p.y).toBeLessThanOrEqual(460 + 1e-6);
    }
    // The northernmost device is drawn highest.
    expect(points[2]!.y).toBeLessThan(points[0]!.y);
  });

  it('measures ground distance, not Mercator distance', () => {
    const frame = fitFrame(DEVICES, 800, 500, PAD);
    const a = toScreen(frame, 55.675, 12.566);
    const b = toScreen(frame, 55.675, 12.567);
    // 0.001° of longitude at 55.675° N is about 62.8 m on the ground.
    expect(Math.abs(b.x - a.x) * frame.metersPerPixel).toBeCloseTo(62.8, 0);
  });

  it('gives a lone device some street around it', () => {
    const frame = fitFrame([DEVICES[0]!], 800, 500, PAD, 200);
    expect(frame.metersPerPixel * 420).toBeCloseTo(200, 0);
    const p = toScreen(frame, DEVICES[0]!.lat, DEVICES[0]!.lon);
    expect(p.x).toBeCloseTo(400);
    expect(p.y).toBeCloseTo(250);
  });

  it.each([
    [1, 1],
    [3.7, 2],
    [7, 5],
    [49, 20],
    [120, 100],
    [0.3, 0.2],
  ])('rounds %s down to the nice step %s', (value, nice) => {
    expect(niceStep(value)).toBeCloseTo(nice);
  });

  it('draws a scale bar of a nice length that fits', () => {
    const bar = scaleBar(1.7, 140);
    expect(bar.meters).toBe(200);
    expect(bar.px).toBeCloseTo(200 / 1.7);
    expect(bar.label).toBe('200 m');
    expect(scaleBar(20, 140).label).toBe('2 km');
  });

  it('spaces grid lines a nice number of metres apart', () => {
    const frame = fitFrame(DEVICES, 800, 500, PAD);
    const grid = gridLines(frame, 100);
    expect([1, 2, 5].some((n) => grid.stepMeters / 10 ** Math.floor(Math.log10(grid.stepMeters)) === n)).toBe(true);
    const gaps = grid.xs.slice(1).map((x, i) => x - grid.xs[i]!);
    for (const gap of gaps) expect(gap).toBeCloseTo(grid.stepMeters / frame.metersPerPixel, 6);
  });

  it('lays devices without coordinates out along a schematic street, by kind', () => {
    const layout = schematicLayout(
      [
        { id: 'air-2', kind: 'air' },
        { id: 'air-10', kind: 'air' },
        { id: 'bin-1', kind: 'waste' },
        { id: 'count-1', kind: 'traffic' },
      ],
      900,
      600,
    );
    expect(layout.bands.map((b) => b.kind)).toEqual(['air', 'traffic', 'waste']);
    const y = (id: string) => layout.positions.get(id)!.y;
    expect(y('air-2')).toBeLessThan(y('count-1'));
    expect(y('count-1')).toBeLessThan(y('bin-1'));
    // Natural order: air-2 before air-10.
    expect(layout.positions.get('air-2')!.x).toBeLessThan(layout.positions.get('air-10')!.x);
    expect(layout.road).toBeDefined();
  });

  it('gives a kind added at run time a band of its own below the street', () => {
    const layout = schematicLayout(
      [
        { id: 'soil-1', kind: 'soil' },
        { id: 'bin-1', kind: 'waste' },
      ],
      900,
      600,
    );
    expect(layout.bands.map((b) => b.kind)).toEqual(['air', 'traffic', 'waste', 'soil']);
    const soil = layout.bands[3]!;
    const y = layout.positions.get('soil-1')!.y;
    expect(y).toBeGreaterThan(soil.top);
    expect(y).toBeLessThan(soil.top + soil.height);
    expect(layout.positions.get('bin-1')!.y).toBeLessThan(soil.top);
  });

  it('wraps a crowded band into rows inside it', () => {
    const devices = Array.from({ length: 40 }, (_, i) => ({ id: `air-${i}`, kind: 'air' as const }));
    const layout = schematicLayout(devices, 600, 600, { left: 0, right: 0, minSpacing: 60 });
    const band = layout.bands[0]!;
    const ys = new Set([...layout.positions.values()].map((p) => Math.round(p.y)));
    expect(ys.size).toBe(4);
    for (const p of layout.positions.values()) {
      expect(p.y).toBeGreaterThan(band.top);
      expect(p.y).toBeLessThan(band.top + band.height);
      expect(p.x).toBeGreaterThan(0);
      expect(p.x).toBeLessThan(600);
    }
  });

  it('finds the convex hull of the devices, inner points left out', () => {
    const hull = convexHull([
      { x: 0, y: 0 },
      { x: 10, y: 0 },
      { x: 5, y: 5 },
      { x: 10, y: 10 },
      { x: 0, y: 10 },
      { x: 3, y: 7 },
    ]);
    expect(hull).toHaveLength(4);
    expect(hull).not.toContainEqual({ x: 5, y: 5 });
    expect(hull).toEqual(expect.arrayContaining([{ x: 0, y: 0 }, { x: 10, y: 0 }, { x: 10, y: 10 }, { x: 0, y: 10 }]));
  });
});
