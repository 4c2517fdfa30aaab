/**
 * A durable FIFO queue of text records on a segment log, with one consumer and a checkpoint:
 * the ingest spool. Producers append (group commit, fsync) and learn when their record is
 * durable; the consumer reads batches after the checkpoint and acknowledges them once they
 * are safe elsewhere (stored in InfluxDB), which moves the checkpoint and frees whole
 * segments. After a crash the consumer starts again at the checkpoint: records between the
 * checkpoint and the crash are delivered again, so the consumer's writes must be idempotent.
 *
 * Bounded: `append` refuses (returns undefined) once the segments on disk reach `maxBytes`;
 * the caller decides what refusing means (ingest stops acknowledging to the broker).
 */
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  comparePositions,
  openSegmentLog,
  type CommitGroup,
  type LogPosition,
  type SegmentLog,
  type SegmentLogOptions,
} from './segment-log.ts';

export interface DurableQueueOptions extends Omit<SegmentLogOptions, 'onCommit'> {
  /** Refuse appends once the segments on disk reach this many bytes. */
  maxBytes: number;
  onCommit?: SegmentLogOptions['onCommit'];
}

export interface QueueBatch {
  records: string[];
  /** Position after the batch: the checkpoint once it is acknowledged. */
  end: LogPosition;
  /** Commit time of the batch's oldest frame. */
  oldestAtMs: number;
}

export interface QueueDepth {
  /** Records committed and not yet acknowledged by the consumer. */
  records: number;
  /** Bytes of segments on disk (acknowledged records leave with their whole segment). */
  bytes: number;
  /** Commit time of the oldest unacknowledged record; undefined when empty. */
  oldestAtMs: number | undefined;
}

export interface DurableQueue {
  readonly dir: string;
  /** Appends a record; undefined when the queue is full (nothing was appended). */
  append(record: string): CommitGroup | undefined;
  full(): boolean;
  pendingChars(): number;
  /** Commits what is pending now. */
  commit(): Promise<void>;
  /**
   * The next records after the read cursor, at most about `maxRecords` / `maxBytes`; waits up to
   * `waitMs` for the first one. Undefined when there is nothing (or the queue is closing).
   */
  nextBatch(maxRecords: number, maxBytes: number, waitMs: number): Promise<QueueBatch | undefined>;
  /** Marks everything up to `batch.end` as consumed: moves the checkpoint, frees segments. */
  acknowledge(batch: QueueBatch): Promise<void>;
  /** Resolves once every record committed before the call is acknowledged. */
  drained(): Promise<void>;
  depth(): QueueDepth;
  /** Stops waiting readers; commits what is pending; closes files. */
  close(): Promise<void>;
}

interface AgeBucket {
  second: number;
  records: number;
}

export async function openDurableQueue(options: DurableQueueOptions): Promise<DurableQueue> {
  let backlog = 0;
  // Commit times by second, oldest first, with how many unacknowledged records each holds:
  // bounded by the age of the backlog in seconds, however many records it has.
  const ages: AgeBucket[] = [];
  const addAge = (atMs: number, records: number) => {
    const second = Math.floor(atMs / 1000);
    const last = ages.at(-1);
    if (last && last.second >= second) last.records += records;
    else ages.push({ second, records });
  };

  const log: SegmentLog = await openSegmentLog({
    ...options,
    onCommit(info) {
      backlog += info.records;
      addAge(Date.now(), info.records);
      options.onCommit?.(info);
      wakeReaders();
    },
  });
  const checkpointFile = join(options.dir, 'checkpoint.json');
  let checkpoint = readCheckpoint(checkpointFile) ?? log.start();
  if (comparePositions(checkpoint, log.start()) < 0) checkpoint = log.start();
  let cursor = { ...checkpoint };
  backlog = await log.count(checkpoint, (records, atMs) => addAge(atMs, records));
  await log.deleteSegmentsBefore(checkpoint.segment);

  let closed = false;
  let readerWake: (() => void) | undefined;
  let drainWaiters: { target: LogPosition; resolve: () => void }[] = [];
  function wakeReaders() {
    const wake = readerWake;
    readerWake = undefined;
    wake?.();
  }

  function settleDrainWaiters() {
    const still: typeof drainWaiters = [];
    for (const waiter of drainWaiters) {
      if (comparePositions(checkpoint, waiter.target) >= 0 || backlog === 0) waiter.resolve();
      else still.push(waiter);
    }
    drainWaiters = still;
  }

  const full = () => log.totalBytes() >= options.maxBytes;

  return {
    dir: options.dir,
    append(record) {
      if (full()) return undefined;
      return log.append(record);
    },
    full,
    pendingChars: () => log.pendingChars(),
    commit: () => log.commit(),
    async nextBatch(maxRecords, maxBytes, waitMs) {
      const deadline = Date.now() + waitMs;
      for (;;) {
        if (closed) return undefined;
        const { frames, next } = await log.read(cursor, maxBytes);
        if (frames.length > 0) {
          const records: string[] = [];
          let end = cursor;
          for (const frame of frames) {
            if (records.length > 0 && records.length + frame.records.length > maxRecords) break;
            for (const r of frame.records) records.push(r);
            end = frame.end;
          }
          cursor = end;
          return { records, end, oldestAtMs: frames[0]!.committedAtMs };
        }
        // Skipped damage (or a deleted segment) without records: move on.
        if (comparePositions(next, cursor) > 0) cursor = next;
        const remaining = deadline - Date.now();
        if (remaining <= 0) return undefined;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            if (readerWake === wake) readerWake = undefined;
            resolve();
          }, remaining);
          const wake = () => {
            clearTimeout(timer);
            resolve();
          };
          readerWake = wake;
        });
      }
    },
    async acknowledge(batch) {
      if (comparePositions(batch.end, checkpoint) <= 0) return;
      checkpoint = batch.end;
      backlog = Math.max(0, backlog - batch.records.length);
      let left = batch.records.length;
      while (left > 0 && ages.length > 0) {
        const head = ages[0]!;
        const take = Math.min(head.records, left);
        head.records -= take;
        left -= take;
        if (head.records === 0) ages.shift();
      }
      await writeCheckpoint(checkpointFile, checkpoint);
      await log.deleteSegmentsBefore(checkpoint.segment);
      settleDrainWaiters();
    },
    async drained() {
      await log.commit();
      const target = log.committedEnd();
      if (backlog === 0 || comparePositions(checkpoint, target) >= 0) return;
      await new Promise<void>((resolve) => drainWaiters.push({ target, resolve }));
    },
    depth: () => ({
      records: backlog,
      bytes: log.totalBytes(),
      oldestAtMs: backlog > 0 && ages.length > 0 ? ages[0]!.second * 1000 : undefined,
    }),
    async close() {
      if (closed) return;
      closed = true;
      wakeReaders();
      await log.close();
      for (const waiter of drainWaiters) waiter.resolve();
      drainWaiters = [];
    },
  };
}

function readCheckpoint(file: string): LogPosition | undefined {
  if (!existsSync(file)) return undefined;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<LogPosition>;
    if (Number.isSafeInteger(parsed.segment) && Number.isSafeInteger(parsed.offset)) return { segment: parsed.segment!, offset: parsed.offset! };
  } catch {
    // A damaged checkpoint means "from the start": replaying more is safe (idempotent writes).
  }
  return undefined;
}

async function writeCheckpoint(file: string, position: LogPosition): Promise<void> {
  // write + rename: a crash leaves the old checkpoint or the new one, never half of one.
  const tmp = `${file}.tmp`;
  await writeFile(tmp, JSON.stringify({ segment: position.segment, offset: position.offset, at: new Date().toISOString() }));
  await rename(tmp, file);
}
