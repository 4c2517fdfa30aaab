/**
 * The reading log between the edge and ingest: a writer (segment-log) and a reader that knows
 * only the files (log-reader), as when they run in two processes. Group commit, reading back
 * in order, the checkpoint that makes a restart replay only what was not stored, a frame
 * still being written, a torn tail left by a crash, and the checkpoints the writer frees
 * segments by.
 */
import { appendFile, mkdtemp, readdir, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openLogReader, readConsumerCheckpoints, type LogReader } from '../../../common/spool/log-reader.ts';
import { encodeFrame, openSegmentLog, segmentFileName, type SegmentLog } from '../../../common/spool/segment-log.ts';

const dirs: string[] = [];
const open: { close(): Promise<void> }[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'streetlab-log-test-'));
  dirs.push(dir);
  return dir;
}

async function writer(dir: string, segmentBytes?: number): Promise<SegmentLog> {
  const log = await openSegmentLog({ dir, ...(segmentBytes ? { segmentBytes } : {}) });
  open.push(log);
  return log;
}

async function reader(dir: string, consumer = 'ingest'): Promise<LogReader> {
  const r = await openLogReader({ dir, consumer, pollIntervalMs: 5 });
  open.push(r);
  return r;
}

/** Reads everything there is now; acknowledges each batch unless told not to. */
async function readAll(r: LogReader, acknowledge = true): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const batch = await r.nextBatch(1_000, 1024 * 1024, 0);
    if (!batch) return out;
    out.push(...batch.records);
    if (acknowledge) await r.acknowledge(batch);
  }
}

afterEach(async () => {
  for (const o of open.splice(0)) await o.close().catch(() => {});
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

describe('the reading log', () => {
  it('commits records appended in one turn as one group, and a reader of the files alone gets them in order', async () => {
    const dir = await tempDir();
    const log = await writer(dir);
    const groups = new Set(Array.from({ length: 500 }, (_, i) => log.append(`air,device=d v=${i}`).id));
    await log.commit();
    expect(groups.size).toBe(1);
    const r = await reader(dir);
    const records = await readAll(r);
    expect(records).toEqual(Array.from({ length: 500 }, (_, i) => `air,device=d v=${i}`));
  });

  it('replays after a restart of the reader exactly what was not acknowledged', async () => {
    const dir = await tempDir();
    const log = await writer(dir);
    for (let i = 0; i < 10; i += 1) log.append(`r${i}`);
    await log.commit();
    const first = await reader(dir);
    const batch = await first.nextBatch(1_000, 1024 * 1024, 0);
    await first.acknowledge(batch!);
    for (let i = 10; i < 15; i += 1) log.append(`r${i}`);
    await log.commit();
    // Read but not acknowledged (a crash before InfluxDB had it):
    expect(await readAll(first, false)).toEqual(['r10', 'r11', 'r12', 'r13', 'r14']);
    await first.close();
    const second = await reader(dir);
    expect(await readAll(second)).toEqual(['r10', 'r11', 'r12', 'r13', 'r14']);
  });

  it('splits a backlog of many frames into batches of at most the records asked for, each frame once', async () => {
    const dir = await tempDir();
    const log = await writer(dir);
    const expected: string[] = [];
    for (let group = 0; group < 100; group += 1) {
      for (let i = 0; i < 7; i += 1) {
        expected.push(`g${group}r${i}`);
        log.append(`g${group}r${i}`);
      }
      await log.commit();
    }
    const r = await reader(dir);
    const got: string[] = [];
    const sizes: number[] = [];
    for (;;) {
      const batch = await r.nextBatch(20, 1024 * 1024, 0);
      if (!batch) break;
      sizes.push(batch.records.length);
      got.push(...batch.records);
      await r.acknowledge(batch);
      if (got.length > expected.length) break;
    }
    expect(got).toEqual(expected);
    // Whole frames of 7: at most 20 records, so 14 per batch.
    expect(Math.max(...sizes)).toBe(14);
  });

  it('waits for a frame still being written in the newest segment, then reads it whole', async () => {
    const dir = await tempDir();
    const log = await writer(dir);
    log.append('before');
    await log.commit();
    await log.close();
    // A second writer run: segment 2. Write half of a frame by hand, as a write in progress.
    const frame = encodeFrame(['in-flight-1', 'in-flight-2'], Date.now());
    const segment = join(dir, segmentFileName(2));
    await appendFile(segment, frame.subarray(0, 30));
    const r = await reader(dir);
    expect(await readAll(r)).toEqual(['before']);
    expect(await readAll(r)).toEqual([]);
    await appendFile(segment, frame.subarray(30));
    expect(await readAll(r)).toEqual(['in-flight-1', 'in-flight-2']);
  });

  it('skips a torn tail in a segment a restart left behind, and reads the next segment', async () => {
    const dir = await tempDir();
    const log = await writer(dir);
    log.append('kept-1');
    await log.commit();
    log.append('torn');
    await log.commit();
    await log.close();
    // The crash cut the second frame short.
    const segment = join(dir, segmentFileName(1));
    const frame = encodeFrame(['torn'], 0);
    const { size } = await import('node:fs').then((fs) => fs.statSync(segment));
    await truncate(segment, size - Math.floor(frame.length / 2));
    const restarted = await writer(dir);
    restarted.append('after-restart');
    await restarted.commit();
    const damaged: string[] = [];
    const r = await openLogReader({ dir, consumer: 'ingest', onCorruptFrame: (info) => damaged.push(info.reason) });
    open.push(r);
    expect(await readAll(r)).toEqual(['kept-1', 'after-restart']);
    expect(damaged).toEqual(['torn frame at the end of a segment']);
  });

  it('keeps each consumer checkpoint on disk, moving it past finished segments, and resolves drained() once all is acknowledged', async () => {
    const dir = await tempDir();
    const log = await writer(dir, 100);
    for (let round = 0; round < 5; round += 1) {
      for (let i = 0; i < 10; i += 1) log.append(`round-${round}-record-${i}`);
      await log.commit();
    }
    expect((await readdir(dir)).filter((f) => f.endsWith('.seg')).length).toBeGreaterThan(3);
    const r = await reader(dir);
    let drained = false;
    const waiting = r.drained().then(() => (drained = true));
    const batch = await r.nextBatch(15, 1024 * 1024, 0);
    await r.acknowledge(batch!);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(drained).toBe(false);
    expect(await readAll(r)).toHaveLength(50 - batch!.records.length);
    await readAll(r);
    await waiting;
    const [checkpoint] = readConsumerCheckpoints(dir);
    // Past every segment the writer filled: the newest (empty, after rotation) is where it stands.
    expect(checkpoint).toEqual(r.checkpoint());
    expect(checkpoint!.segment).toBe(log.committedEnd().segment);
    expect(r.backlog().bytes).toBe(0);
  });

  it('reads everything, in order, while the writer writes and rotates segments under it', async () => {
    const dir = await tempDir();
    // Tiny segments: a rotation every few groups, so the reader often meets a frame still
    // being written just before the writer moves on to the next segment.
    const log = await writer(dir, 32 * 1024);
    const damaged: string[] = [];
    const r = await openLogReader({ dir, consumer: 'ingest', pollIntervalMs: 1, onCorruptFrame: (info) => damaged.push(info.reason) });
    open.push(r);
    const expected: string[] = [];
    const got: string[] = [];
    let writing = true;
    const reading = (async () => {
      while (writing || got.length < expected.length) {
        const batch = await r.nextBatch(500, 64 * 1024, 5);
        if (!batch) continue;
        got.push(...batch.records);
        await r.acknowledge(batch);
      }
    })();
    for (let group = 0; group < 400; group += 1) {
      for (let i = 0; i < 1 + (group % 80); i += 1) {
        const record = `air,device=d${group % 7},site=${'s'.repeat(150)} v=${group}.${i} ${1_000_000 + group * 100 + i}`;
        expected.push(record);
        log.append(record);
      }
      if (group % 3 === 0) await log.commit();
      else await new Promise((resolve) => setImmediate(resolve));
    }
    await log.commit();
    writing = false;
    await reading;
    expect(damaged).toEqual([]);
    expect(got).toEqual(expected);
  });

  it('wakes a waiting reader as soon as it is told of a commit', async () => {
    const dir = await tempDir();
    const log = await writer(dir);
    const r = await openLogReader({ dir, consumer: 'ingest', pollIntervalMs: 60_000 });
    open.push(r);
    const started = Date.now();
    const next = r.nextBatch(10, 1024, 30_000);
    log.append('late');
    await log.commit();
    r.wake();
    const batch = await next;
    expect(batch?.records).toEqual(['late']);
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
