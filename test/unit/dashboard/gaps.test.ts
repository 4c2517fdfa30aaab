import { describe, expect, it } from 'vitest';
import { analyseSeq, findTimeGaps, rateBuckets, readingRate, type Sample } from '../../../dashboard/model/gaps.ts';
import { T0 } from './helpers.ts';

const every = (intervalMs: number, count: number, from = T0, seqFrom = 1): Sample[] =>
  Array.from({ length: count }, (_, i) => ({ t: from + i * intervalMs, seq: seqFrom + i }));

describe('gaps from seq', () => {
  it('finds none in a continuous counter', () => {
    expect(analyseSeq(every(60_000, 10))).toMatchObject({ gaps: [], missing: 0, resets: 0, duplicates: 0, counted: 10 });
  });

  it('counts the messages missing between two seqs', () => {
    const samples = [...every(60_000, 3), { t: T0 + 600_000, seq: 9 }, { t: T0 + 660_000, seq: 10 }];
    const result = analyseSeq(samples);
    expect(result.missing).toBe(5);
    expect(result.gaps).toEqual([{ afterSeq: 3, beforeSeq: 9, missing: 5, atMs: T0 + 600_000 }]);
  });

  it('treats a counter going back as a restart, not a loss', () => {
    const samples = [...every(60_000, 5, T0, 100), ...every(60_000, 3, T0 + 300_000, 0)];
    expect(analyseSeq(samples)).toMatchObject({ missing: 0, resets: 1 });
  });

  it('counts repeated seqs as duplicates', () => {
    expect(analyseSeq([{ t: T0, seq: 1 }, { t: T0 + 1, seq: 1 }, { t: T0 + 2, seq: 2 }]).duplicates).toBe(1);
  });

  it('ignores readings without a seq', () => {
    expect(analyseSeq([{ t: T0 }, { t: T0 + 1, seq: 5 }, { t: T0 + 2 }, { t: T0 + 3, seq: 6 }])).toMatchObject({ counted: 2, missing: 0 });
  });
});

describe('gaps from time', () => {
  it('tolerates jitter up to two intervals', () => {
    const samples = [{ t: T0 }, { t: T0 + 119_000 }, { t: T0 + 238_000 }];
    expect(findTimeGaps(samples, 60)).toEqual([]);
  });

  it('reports a silence longer than two intervals with the readings it should have had', () => {
    const samples = [{ t: T0 }, { t: T0 + 60_000 }, { t: T0 + 660_000 }];
    expect(findTimeGaps(samples, 60)).toEqual([{ fromMs: T0 + 60_000, toMs: T0 + 660_000, durationMs: 600_000, expectedMissing: 9 }]);
  });

  it('reports a device that went quiet until now', () => {
    const gaps = findTimeGaps(every(60_000, 3), 60, T0 + 120_000 + 300_000);
    expect(gaps).toHaveLength(1);
    expect(gaps[0]?.durationMs).toBe(300_000);
  });
});

describe('reading rate', () => {
  it('compares readings per minute with the declared interval', () => {
    const samples = every(30_000, 40);
    const now = T0 + 39 * 30_000;
    const rate = readingRate(samples, 30, now, 10 * 60_000);
    expect(rate.perMinute).toBe(2);
    expect(rate.expectedPerMinute).toBe(2);
    expect(rate.verdict).toBe('ok');
  });

  it('calls a device slow, fast or silent', () => {
    const now = T0 + 600_000;
    expect(readingRate(every(120_000, 6), 60, now, 600_000).verdict).toBe('slow');
    expect(readingRate(every(10_000, 61), 60, now, 600_000).verdict).toBe('fast');
    expect(readingRate([], 60, now, 600_000).verdict).toBe('silent');
  });

  it('buckets readings per minute over a range', () => {
    const buckets = rateBuckets(every(60_000, 10), T0, T0 + 600_000, 2);
    expect(buckets).toEqual([1, 1]);
  });
});
