import { describe, expect, it } from 'vitest';
import { createBatcher, createRateMeter } from '../../../dashboard/model/batcher.ts';

/** A scheduler the test fires by hand, like animation frames. */
function fakeFrames() {
  let queued: (() => void)[] = [];
  return {
    schedule(callback: () => void) {
      queued.push(callback);
      return () => {
        queued = queued.filter((c) => c !== callback);
      };
    },
    get waiting() {
      return queued.length;
    },
    frame() {
      const run = queued;
      queued = [];
      for (const callback of run) callback();
    },
  };
}

describe('frame batcher', () => {
  it('delivers everything pushed between two frames as one batch', () => {
    const frames = fakeFrames();
    const batches: number[][] = [];
    const batcher = createBatcher<number>({ schedule: frames.schedule, onFlush: (items) => batches.push(items) });
    for (let i = 0; i < 1_000; i++) batcher.push(i);
    expect(frames.waiting).toBe(1);
    expect(batches).toHaveLength(0);
    frames.frame();
    expect(batches).toHaveLength(1);
    expect(batches[0]).toHaveLength(1_000);
    expect(batches[0]![999]).toBe(999);
    batcher.push(1_000);
    frames.frame();
    expect(batches.map((b) => b.length)).toEqual([1_000, 1]);
    expect(batcher.flushes).toBe(2);
  });

  it('schedules nothing while idle', () => {
    const frames = fakeFrames();
    createBatcher<number>({ schedule: frames.schedule, onFlush: () => {} });
    expect(frames.waiting).toBe(0);
  });

  it('flushes at once when too much waits (no frames in a background tab)', () => {
    const frames = fakeFrames();
    const batches: number[][] = [];
    const batcher = createBatcher<number>({ schedule: frames.schedule, onFlush: (items) => batches.push(items), maxPending: 100 });
    for (let i = 0; i < 250; i++) batcher.push(i);
    expect(batches.map((b) => b.length)).toEqual([100, 100]);
    expect(batcher.pending).toBe(50);
    frames.frame();
    expect(batches.map((b) => b.length)).toEqual([100, 100, 50]);
  });

  it('flushes on demand and cancels the pending frame', () => {
    const frames = fakeFrames();
    const batches: string[][] = [];
    const batcher = createBatcher<string>({ schedule: frames.schedule, onFlush: (items) => batches.push(items) });
    batcher.push('a');
    batcher.flush();
    expect(batches).toEqual([['a']]);
    expect(frames.waiting).toBe(0);
  });

  it('drops everything after dispose', () => {
    const frames = fakeFrames();
    const batches: string[][] = [];
    const batcher = createBatcher<string>({ schedule: frames.schedule, onFlush: (items) => batches.push(items) });
    batcher.push('a');
    batcher.dispose();
    batcher.push('b');
    frames.frame();
    expect(batches).toEqual([]);
  });
});

describe('rate meter', () => {
  it('reports events per second over its window', () => {
    const meter = createRateMeter(10_000, 10);
    const t0 = 1_000_000;
    for (let s = 0; s < 10; s++) meter.add(100, t0 + s * 1_000);
    expect(meter.perSecond(t0 + 9_500)).toBe(100);
  });

  it('forgets events older than the window', () => {
    const meter = createRateMeter(10_000, 10);
    meter.add(500, 1_000_000);
    expect(meter.perSecond(1_000_000 + 30_000)).toBe(0);
  });
});
