/**
 * The spool under ingest: group commit, reading back in order, the checkpoint that makes a
 * restart replay only what was not stored, a torn tail left by a crash, and the bound.
 */
import { mkdtemp, readdir, rm, truncate, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDurableQueue, type DurableQueue } from '../../../common/spool/durable-queue.ts';
import { openSegmentLog } from '../../../common/spool/segment-log.ts';

const dirs: string[] = [];
const queues: DurableQueue[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'streetlab-spool-test-'));
  dirs.push(dir);
  return dir;
}

async function open(dir: string, maxBytes = 64 * 1024 * 1024, segmentBytes?: number): Promise<DurableQueue> {
  const queue = await openDurableQueue({ dir, maxBytes, ...(segmentBytes ? { segmentBytes } : {}) });
  queues.push(queue);
  return queue;
}

async function readAll(queue: DurableQueue, acknowledge = true): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const batch = await queue.nextBatch(1_000, 1024 * 1024, 0);
    if (!batch) return out;
    out.push(...batch.records);
    if (acknowledge) await queue.acknowledge(batch);
  }
}

afterEach(async () => {
  for (const q of queues.splice(0)) await q.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

describe('the spool', () => {
  it('commits records appended in one turn as one group, and reads them back in order', async () => {
    const queue = await open(await tempDir());
    const groups = Array.from({ length: 500 }, (_, i) => queue.append(`air,device=d${i} pm25=${i} ${i}`)!);
    expect(new Set(groups.map((g) => g.id)).size).toBe(1);
    await groups[0]!.committed;
    expect(groups.every((g) => g.settled)).toBe(true);
    expect(queue.depth().records).toBe(500);
    const records = await readAll(queue);
    expect(records).toHaveLength(500);
    expect(records[0]).toBe('air,device=d0 pm25=0 0');
    expect(records[499]).toBe('air,device=d499 pm25=499 499');
    expect(queue.depth().records).toBe(0);
  });

  it('replays after a restart exactly what was not acknowledged', async () => {
    const dir = await tempDir();
    const first = await open(dir);
    for (let i = 0; i < 10; i += 1) first.append(`r${i}`);
    await first.commit();
    const batch = await first.nextBatch(4, 1024 * 1024, 0);
    // Frames are not split: the whole group of ten comes as one batch.
    expect(batch!.records).toHaveLength(10);
    await first.acknowledge(batch!);
    for (let i = 10; i < 15; i += 1) first.append(`r${i}`);
    await first.commit();
    // A crash now: no close, no acknowledgement of r10–r14.
    const second = await open(dir);
    expect(second.depth().records).toBe(5);
    expect(await readAll(second)).toEqual(['r10', 'r11', 'r12', 'r13', 'r14']);
  });

  it('ignores a torn frame at the end of a segment left by a crash', async () => {
    const dir = await tempDir();
    const log = await openSegmentLog({ dir });
    log.append('whole-1');
    log.append('whole-2');
    await log.commit();
    await log.close();
    const [segment] = (await readdir(dir)).filter((f) => f.endsWith('.seg'));
    // Half a frame, as a write cut short by SIGKILL leaves it.
    await appendFile(join(dir, segment!), Buffer.from([0x53, 0x4c, 0x47, 0x31, 0, 0, 0, 40, 0, 0]));
    const queue = await open(dir);
    expect(await readAll(queue)).toEqual(['whole-1', 'whole-2']);
    // And a frame cut inside its payload.
    const dir2 = await tempDir();
    const log2 = await openSegmentLog({ dir: dir2 });
    log2.append('kept');
    await log2.commit();
    log2.append('x'.repeat(100));
    await log2.commit();
    await log2.close();
    const [segment2] = (await readdir(dir2)).filter((f) => f.endsWith('.seg'));
    await truncate(join(dir2, segment2!), 24 + 4 + 24 + 50);
    const queue2 = await open(dir2);
    expect(await readAll(queue2)).toEqual(['kept']);
  });

  it('frees whole segments once their records are acknowledged', async () => {
    const dir = await tempDir();
    const queue = await open(dir, 64 * 1024 * 1024, 4 * 1024);
    for (let round = 0; round < 10; round += 1) {
      for (let i = 0; i < 50; i += 1) queue.append(`round${round}-${i}-${'x'.repeat(40)}`);
      await queue.commit();
    }
    expect((await readdir(dir)).filter((f) => f.endsWith('.seg')).length).toBeGreaterThan(3);
    expect(await readAll(queue)).toHaveLength(500);
    expect((await readdir(dir)).filter((f) => f.endsWith('.seg')).length).toBeLessThanOrEqual(2);
  });

  it('refuses appends at its bound and takes them again once drained', async () => {
    const dir = await tempDir();
    const queue = await open(dir, 8 * 1024, 2 * 1024);
    let taken = 0;
    while (queue.append(`line-${taken}-${'y'.repeat(100)}`)) {
      taken += 1;
      if (taken % 10 === 0) await queue.commit();
    }
    expect(queue.full()).toBe(true);
    expect(taken).toBeGreaterThan(40);
    expect(taken).toBeLessThan(100);
    await queue.commit();
    expect(await readAll(queue)).toHaveLength(taken);
    expect(queue.full()).toBe(false);
    expect(queue.append('again')).toBeDefined();
  });

  it('tells a waiting reader about new records at once', async () => {
    const queue = await open(await tempDir());
    const started = Date.now();
    const waiting = queue.nextBatch(100, 1024 * 1024, 5_000);
    setTimeout(() => queue.append('late'), 20);
    const batch = await waiting;
    expect(batch!.records).toEqual(['late']);
    expect(Date.now() - started).toBeLessThan(4_000);
  });

  it('resolves drained() once everything committed before it is acknowledged', async () => {
    const queue = await open(await tempDir());
    queue.append('a');
    queue.append('b');
    let drained = false;
    const done = queue.drained().then(() => (drained = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(drained).toBe(false);
    await readAll(queue);
    await done;
    expect(drained).toBe(true);
  });
});
