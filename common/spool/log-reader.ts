/**
 * Reads a segment log (segment-log.ts) from its files alone, so the consumer can be another
 * process than the writer: the edge (broker process) appends readings, the ingest worker
 * drains them into InfluxDB, each restartable on its own.
 *
 * The reader knows nothing of the writer's memory. What it trusts is in the files:
 * - a frame is whole when its header and payload are on disk and its CRC matches;
 * - the newest segment may be mid-write: a short or damaged frame at its end means "not yet",
 *   and the reader waits for it;
 * - a segment with a newer one after it is final (the writer rotates only between groups, and
 *   every start writes a new segment), so damage there is a torn tail left by a crash: frames
 *   that were never acknowledged. The reader skips to the next segment.
 *
 * A frame the reader hands out may not be fsynced yet (the writer fsyncs after writing): it
 * is whole in the page cache, and if a crash loses it the device was never acknowledged and
 * sends it again. Storing it meanwhile is at-least-once, which the store absorbs (writes are
 * idempotent on measurement, tags and timestamp).
 *
 * Each consumer has a named checkpoint file in `<dir>/consumers/`. The writer deletes a
 * segment only once every consumer's checkpoint is past it (and keeps everything while no
 * consumer has ever run), so what the edge acknowledged before the first ingest start waits
 * for it.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { open, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import { join } from 'node:path';
import { FRAME_HEADER_BYTES, FRAME_MAGIC, comparePositions, listSegments, segmentFileName, type LogPosition } from './segment-log.ts';

export const CONSUMERS_DIR = 'consumers';

export interface LogBatch {
  records: string[];
  /** Position after the batch: the checkpoint once it is acknowledged. */
  end: LogPosition;
  /** Commit time of the batch's oldest frame. */
  oldestAtMs: number;
}

export interface LogBacklog {
  /** Bytes written after the checkpoint (frames and headers). */
  bytes: number;
  /** Commit time of the oldest frame not yet acknowledged; undefined when there is none. */
  oldestAtMs: number | undefined;
}

export interface LogReaderOptions {
  dir: string;
  /**
   * The consumer's name: its checkpoint is `<dir>/consumers/<name>.json`. Omitted: a one-off
   * scan (a replay at start) that keeps no checkpoint and holds back no segment.
   */
  consumer?: string;
  /** Where a scan without a consumer starts (default: the oldest segment). */
  from?: LogPosition;
  /** How often an idle reader looks for new frames (default 20 ms); `wake()` skips the wait. */
  pollIntervalMs?: number;
  onCorruptFrame?: (info: { segment: number; offset: number; reason: string }) => void;
}

export interface LogReader {
  readonly dir: string;
  /**
   * The next whole frames after the read cursor, at most about `maxRecords` / `maxBytes`
   * (at least one frame); waits up to `waitMs` for the first. Undefined when there is none
   * yet, or the reader is closing.
   */
  nextBatch(maxRecords: number, maxBytes: number, waitMs: number): Promise<LogBatch | undefined>;
  /** Everything up to `batch.end` is safe elsewhere: moves the checkpoint (atomically, on disk). */
  acknowledge(batch: LogBatch): Promise<void>;
  /** Moves the read cursor back to the checkpoint (after a batch could not be stored). */
  rewind(): void;
  checkpoint(): LogPosition;
  /** Where the log ends on disk now. */
  end(): LogPosition;
  backlog(): LogBacklog;
  /** Resolves once the checkpoint reaches the end the log had when called (or on close). */
  drained(): Promise<void>;
  /** New frames may be there: stop waiting (a writer in the same process calls it). */
  wake(): void;
  close(): Promise<void>;
}

export function checkpointFileOf(dir: string, consumer: string): string {
  return join(dir, CONSUMERS_DIR, `${consumer}.json`);
}

/** Every consumer's checkpoint in `dir` (what the writer may delete up to). */
export function readConsumerCheckpoints(dir: string): LogPosition[] {
  const consumersDir = join(dir, CONSUMERS_DIR);
  if (!existsSync(consumersDir)) return [];
  const found: LogPosition[] = [];
  for (const name of readdirSync(consumersDir)) {
    if (!name.endsWith('.json')) continue;
    const position = readCheckpoint(join(consumersDir, name));
    if (position) found.push(position);
  }
  return found;
}

export async function openLogReader(options: LogReaderOptions): Promise<LogReader> {
  const { dir } = options;
  const pollIntervalMs = options.pollIntervalMs ?? 20;
  mkdirSync(dir, { recursive: true });
  const checkpointFile = options.consumer === undefined ? undefined : checkpointFileOf(dir, options.consumer);
  if (checkpointFile) mkdirSync(join(dir, CONSUMERS_DIR), { recursive: true });
  let segments = listSegments(dir);
  const first = (): LogPosition => ({ segment: segments[0]?.id ?? 1, offset: 0 });
  let checkpoint = (checkpointFile ? readCheckpoint(checkpointFile) : options.from) ?? first();
  if (checkpointFile && !existsSync(checkpointFile)) await writeCheckpoint(checkpointFile, checkpoint);
  let cursor = { ...checkpoint };
  let closed = false;
  let wakeUp: (() => void) | undefined;
  let handle: { id: number; file: FileHandle } | undefined;
  let drainWaiters: { target: LogPosition; resolve: () => void }[] = [];

  function rescan(): void {
    segments = listSegments(dir);
  }

  function newestId(): number | undefined {
    return segments.at(-1)?.id;
  }

  async function fileFor(id: number): Promise<FileHandle | undefined> {
    if (handle?.id === id) return handle.file;
    await handle?.file.close().catch(() => {});
    handle = undefined;
    try {
      handle = { id, file: await open(join(dir, segmentFileName(id)), 'r') };
    } catch {
      return undefined;
    }
    return handle.file;
  }

  /** Moves a cursor that sits in a deleted or finished segment to the next one; false if there is none. */
  function advanceSegment(): boolean {
    const next = segments.find((s) => s.id > cursor.segment);
    if (!next) return false;
    cursor = { segment: next.id, offset: 0 };
    return true;
  }

  async function readFrames(maxRecords: number, maxBytes: number): Promise<LogBatch | undefined> {
    rescan();
    const records: string[] = [];
    let oldestAtMs = 0;
    let bytes = 0;
    for (;;) {
      if (segments.length === 0) return undefined;
      if (cursor.segment < segments[0]!.id) cursor = { segment: segments[0]!.id, offset: 0 };
      if (!segments.some((s) => s.id === cursor.segment)) {
        if (!advanceSegment()) break;
        continue;
      }
      const newest = cursor.segment === newestId();
      const file = await fileFor(cursor.segment);
      if (!file) {
        rescan();
        if (!advanceSegment()) break;
        continue;
      }
      const size = (await file.stat()).size;
      if (cursor.offset >= size) {
        if (newest || !advanceSegment()) break;
        continue;
      }
      const want = Math.min(size - cursor.offset, Math.max(FRAME_HEADER_BYTES, maxBytes - bytes + FRAME_HEADER_BYTES));
      let buffer = Buffer.allocUnsafe(want);
      const { bytesRead } = await file.read(buffer, 0, want, cursor.offset);
      let at = 0;
      let problem: string | undefined;
      while (at + FRAME_HEADER_BYTES <= bytesRead) {
        if (buffer.readUInt32BE(at) !== FRAME_MAGIC) {
          problem = 'bad magic';
          break;
        }
        const length = buffer.readUInt32BE(at + 4);
        const frameBytes = FRAME_HEADER_BYTES + length;
        if (cursor.offset + at + frameBytes > size) {
          problem = 'torn frame at the end of a segment';
          break;
        }
        if (at + frameBytes > bytesRead) {
          if (at > 0 || records.length > 0) break;
          // One frame larger than what was read: read exactly it.
          buffer = Buffer.allocUnsafe(frameBytes);
          const whole = await file.read(buffer, 0, frameBytes, cursor.offset);
          if (whole.bytesRead < frameBytes) {
            problem = 'torn frame at the end of a segment';
            break;
          }
        }
        const count = buffer.readUInt32BE(at + 8);
        const payload = buffer.subarray(at + FRAME_HEADER_BYTES, at + frameBytes);
        if (crc32(payload) !== buffer.readUInt32BE(at + 12)) {
          problem = 'checksum mismatch';
          break;
        }
        const frameRecords = count === 0 ? [] : payload.toString('utf8').split('\n');
        if (frameRecords.length !== count) {
          problem = 'record count mismatch';
          break;
        }
        if (records.length > 0 && records.length + count > maxRecords) {
          // This frame starts the next batch: the cursor stops at its start.
          cursor = { segment: cursor.segment, offset: cursor.offset + at };
          return finish();
        }
        if (records.length === 0) oldestAtMs = buffer.readDoubleBE(at + 16);
        for (const record of frameRecords) records.push(record);
        bytes += length;
        at += frameBytes;
        if (bytes >= maxBytes || records.length >= maxRecords) {
          cursor = { segment: cursor.segment, offset: cursor.offset + at };
          return finish();
        }
        if (buffer.length === frameBytes && at === frameBytes) break;
      }
      if (!problem && at < bytesRead && bytesRead - at < FRAME_HEADER_BYTES && cursor.offset + bytesRead >= size) {
        // Less than a header left at the end of the file.
        problem = 'torn frame at the end of a segment';
      }
      cursor = { segment: cursor.segment, offset: cursor.offset + at };
      if (problem) {
        // The newest segment may be mid-write: wait. An older one is final: its damaged tail
        // is what a crash cut short, never acknowledged; go on with the next segment.
        rescan();
        if (cursor.segment === newestId()) break;
        // A newer segment exists, so this one is final — but the size read above may be from
        // before its last write finished (the writer writes, syncs, then rotates). Look again
        // now that the newer segment is seen: a grown file means the frame was mid-write.
        if ((await file.stat()).size > size) {
          if (at > 0 || records.length > 0) break;
          continue;
        }
        options.onCorruptFrame?.({ segment: cursor.segment, offset: cursor.offset, reason: problem });
        if (!advanceSegment()) break;
        continue;
      }
      if (at === 0) break;
    }
    return finish();

    function finish(): LogBatch | undefined {
      return records.length === 0 ? undefined : { records, end: { ...cursor }, oldestAtMs };
    }
  }

  function endNow(): LogPosition {
    rescan();
    const last = segments.at(-1);
    if (!last) return { ...checkpoint };
    return { segment: last.id, offset: last.bytes };
  }

  /** No bytes between the checkpoint and `target` (empty segments in between count as nothing). */
  function drainedTo(target: LogPosition): boolean {
    if (comparePositions(checkpoint, target) >= 0) return true;
    for (const s of segments) {
      if (s.id < checkpoint.segment || s.id > target.segment) continue;
      const from = s.id === checkpoint.segment ? checkpoint.offset : 0;
      const to = s.id === target.segment ? Math.min(s.bytes, target.offset) : s.bytes;
      if (to > from) return false;
    }
    return true;
  }

  function settleDrainWaiters(): void {
    rescan();
    const still: typeof drainWaiters = [];
    for (const waiter of drainWaiters) {
      if (drainedTo(waiter.target)) waiter.resolve();
      else still.push(waiter);
    }
    drainWaiters = still;
  }

  return {
    dir,
    async nextBatch(maxRecords, maxBytes, waitMs) {
      const deadline = Date.now() + waitMs;
      for (;;) {
        if (closed) return undefined;
        const idle = comparePositions(cursor, checkpoint) === 0;
        const batch = await readFrames(maxRecords, maxBytes);
        if (batch) return batch;
        if (idle && comparePositions(cursor, checkpoint) > 0) {
          // Nothing outstanding and the cursor crossed into a later segment (or past a torn
          // tail): the checkpoint follows, so the writer may free what lies behind it.
          checkpoint = { ...cursor };
          if (checkpointFile) await writeCheckpoint(checkpointFile, checkpoint);
          settleDrainWaiters();
        }
        const remaining = deadline - Date.now();
        if (remaining <= 0) return undefined;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, Math.min(remaining, pollIntervalMs));
          function done() {
            clearTimeout(timer);
            if (wakeUp === done) wakeUp = undefined;
            resolve();
          }
          wakeUp = done;
        });
      }
    },
    async acknowledge(batch) {
      if (comparePositions(batch.end, checkpoint) <= 0) return;
      checkpoint = { ...batch.end };
      if (checkpointFile) await writeCheckpoint(checkpointFile, checkpoint);
      settleDrainWaiters();
    },
    rewind() {
      cursor = { ...checkpoint };
    },
    checkpoint: () => ({ ...checkpoint }),
    end: endNow,
    backlog() {
      rescan();
      let bytes = 0;
      for (const s of segments) {
        if (s.id < checkpoint.segment) continue;
        bytes += s.id === checkpoint.segment ? Math.max(0, s.bytes - checkpoint.offset) : s.bytes;
      }
      return { bytes, oldestAtMs: bytes > 0 ? oldestFrameTime() : undefined };
    },
    async drained() {
      const target = endNow();
      if (drainedTo(target)) return;
      await new Promise<void>((resolve) => drainWaiters.push({ target, resolve }));
    },
    wake() {
      wakeUp?.();
    },
    async close() {
      if (closed) return;
      closed = true;
      wakeUp?.();
      await handle?.file.close().catch(() => {});
      handle = undefined;
      for (const waiter of drainWaiters) waiter.resolve();
      drainWaiters = [];
    },
  };

  function oldestFrameTime(): number | undefined {
    // The header of the frame at the checkpoint: 24 bytes, read synchronously.
    let fd: number | undefined;
    try {
      fd = openSync(join(dir, segmentFileName(checkpoint.segment)), 'r');
      const header = Buffer.alloc(FRAME_HEADER_BYTES);
      if (readSync(fd, header, 0, FRAME_HEADER_BYTES, checkpoint.offset) < FRAME_HEADER_BYTES) return undefined;
      return header.readUInt32BE(0) === FRAME_MAGIC ? header.readDoubleBE(16) : undefined;
    } catch {
      return undefined;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
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
