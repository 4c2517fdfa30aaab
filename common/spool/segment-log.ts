/**
 * An append-only log of text records in segment files, with group commit: records appended
 * while a commit is in flight form the next group, written with one `write` and made
 * durable with one `fdatasync`, after which every record of the group is committed at once.
 * So a thousand records cost one fsync (~2–3 ms on this machine's disk), not a thousand.
 *
 * On disk, a segment `<dir>/<20-digit number>.seg` is a sequence of frames:
 *
 *   magic u32 'SLG1' | payload bytes u32 | records u32 | crc32(payload) u32 | committed-at ms f64 | payload
 *
 * (big-endian; the payload is the group's records joined by '\n', UTF-8, so records never
 * contain '\n'). A crash can leave a torn frame only at the end of the segment that was being
 * written; the CRC and length catch it, and a reader treats it as that segment's end. Every
 * start writes to a fresh segment, so a torn tail is never appended to.
 *
 * This module writes; readers read the files (log-reader.ts), in this process or another.
 * Deleting segments is the writer's decision (`deleteSegmentsBefore`), made once their
 * records are safe elsewhere.
 */
import { crc32 } from 'node:zlib';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export const FRAME_MAGIC = 0x534c4731; // 'SLG1'
export const FRAME_HEADER_BYTES = 24;
const SEGMENT_PATTERN = /^(\d{20})\.seg$/;

export interface LogPosition {
  segment: number;
  offset: number;
}

export function comparePositions(a: LogPosition, b: LogPosition): number {
  return a.segment !== b.segment ? a.segment - b.segment : a.offset - b.offset;
}

/** The records of one group, committed together. */
export interface CommitGroup {
  readonly id: number;
  /** Settles when the group is durable (or its write failed). */
  readonly committed: Promise<void>;
  /** Cheaper than a promise per record: `fn(error?)` runs once the group settles. */
  onSettled(fn: (error?: Error) => void): void;
  readonly settled: boolean;
  /** Where the group's first frame starts; set once it is written. */
  readonly position: LogPosition | undefined;
}

export interface SegmentLogOptions {
  dir: string;
  /** Start a new segment once the current one reaches this size. Default 16 MiB. */
  segmentBytes?: number;
  /** fdatasync after each group write (default true). false: a process crash loses nothing, a power cut may. */
  fsync?: boolean;
  /** A group larger than this is written as several frames. Default 1 MiB. */
  maxFrameBytes?: number;
  now?: () => number;
  /** Called after each commit (for metrics). */
  onCommit?: (info: { records: number; bytes: number; seconds: number }) => void;
}

export interface SegmentLog {
  readonly dir: string;
  /** Appends one record (no '\n'); returns the group it will be committed with. */
  append(record: string): CommitGroup;
  /** Characters appended but not yet committed (a memory bound for callers). */
  pendingChars(): number;
  /** Commits whatever is pending and waits for it (and any commit in flight). */
  commit(): Promise<void>;
  /** The end of the last committed frame. */
  committedEnd(): LogPosition;
  /** Bytes on disk across segments. */
  totalBytes(): number;
  segments(): { id: number; bytes: number }[];
  /** Removes every segment numbered below `segment` (never the one being written). */
  deleteSegmentsBefore(segment: number): Promise<number>;
  /** Commits what is pending and continues in a new segment; returns the new segment's number. */
  rotate(): Promise<number>;
  close(): Promise<void>;
}

class Group implements CommitGroup {
  readonly id: number;
  readonly committed: Promise<void>;
  settled = false;
  position: LogPosition | undefined;
  private error: Error | undefined;
  private callbacks: ((error?: Error) => void)[] = [];
  private resolvePromise!: () => void;
  private rejectPromise!: (error: Error) => void;

  constructor(id: number) {
    this.id = id;
    this.committed = new Promise<void>((resolve, reject) => {
      this.resolvePromise = resolve;
      this.rejectPromise = reject;
    });
    // A group nobody awaits must not become an unhandled rejection.
    this.committed.catch(() => {});
  }

  onSettled(fn: (error?: Error) => void): void {
    if (this.settled) fn(this.error);
    else this.callbacks.push(fn);
  }

  settle(error?: Error): void {
    this.settled = true;
    this.error = error;
    const callbacks = this.callbacks;
    this.callbacks = [];
    for (const fn of callbacks) fn(error);
    if (error) this.rejectPromise(error);
    else this.resolvePromise();
  }
}

export function segmentFileName(id: number): string {
  return `${String(id).padStart(20, '0')}.seg`;
}

export function listSegments(dir: string): { id: number; bytes: number }[] {
  const found: { id: number; bytes: number }[] = [];
  for (const name of readdirSync(dir)) {
    const match = SEGMENT_PATTERN.exec(name);
    if (match) found.push({ id: Number(match[1]), bytes: statSync(join(dir, name)).size });
  }
  return found.sort((a, b) => a.id - b.id);
}

export function encodeFrame(records: readonly string[], committedAtMs: number): Buffer {
  const payload = Buffer.from(records.join('\n'), 'utf8');
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(FRAME_MAGIC, 0);
  frame.writeUInt32BE(payload.length, 4);
  frame.writeUInt32BE(records.length, 8);
  frame.writeUInt32BE(crc32(payload), 12);
  frame.writeDoubleBE(committedAtMs, 16);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

export async function openSegmentLog(options: SegmentLogOptions): Promise<SegmentLog> {
  const { dir } = options;
  const segmentBytes = options.segmentBytes ?? 16 * 1024 * 1024;
  const maxFrameBytes = options.maxFrameBytes ?? 1024 * 1024;
  const doFsync = options.fsync ?? true;
  const now = options.now ?? Date.now;
  mkdirSync(dir, { recursive: true });

  const segments = listSegments(dir);
  let activeId = (segments.at(-1)?.id ?? 0) + 1;
  let active: FileHandle = await open(join(dir, segmentFileName(activeId)), 'a');
  segments.push({ id: activeId, bytes: 0 });
  let activeOffset = 0;
  let committedOffset = 0;
  // Bytes of all segments, kept as they change: totalBytes() is read for every append (the bound).
  let segmentBytesTotal = segments.reduce((sum, s) => sum + s.bytes, 0);

  let pending: string[] = [];
  let pendingChars = 0;
  let groupSeq = 0;
  let pendingGroup = new Group(++groupSeq);
  let committing: Promise<void> | undefined;
  let scheduled = false;
  let closed = false;

  function segmentEntry(id: number) {
    return segments.find((s) => s.id === id);
  }

  function schedule(): void {
    if (scheduled || committing) return;
    scheduled = true;
    // setImmediate lets every record that arrived in the same I/O turn join the group.
    setImmediate(startCommit);
  }

  function startCommit(): void {
    scheduled = false;
    if (committing || pending.length === 0) return;
    const records = pending;
    const group = pendingGroup;
    pending = [];
    pendingChars = 0;
    pendingGroup = new Group(++groupSeq);
    committing = writeGroup(records, group).finally(() => {
      committing = undefined;
      if (pending.length > 0) startCommit();
    });
  }

  async function writeGroup(records: string[], group: Group): Promise<void> {
    const started = process.hrtime.bigint();
    const at = now();
    const frames: Buffer[] = [];
    let chunk: string[] = [];
    let chunkChars = 0;
    for (const record of records) {
      if (chunk.length > 0 && chunkChars + record.length > maxFrameBytes) {
        frames.push(encodeFrame(chunk, at));
        chunk = [];
        chunkChars = 0;
      }
      chunk.push(record);
      chunkChars += record.length + 1;
    }
    if (chunk.length > 0) frames.push(encodeFrame(chunk, at));
    const buffer = frames.length === 1 ? frames[0]! : Buffer.concat(frames);
    group.position = { segment: activeId, offset: activeOffset };
    try {
      let written = 0;
      while (written < buffer.length) {
        const { bytesWritten } = await active.write(buffer, written, buffer.length - written);
        written += bytesWritten;
      }
      activeOffset += buffer.length;
      if (doFsync) await active.datasync();
      committedOffset = activeOffset;
      const entry = segmentEntry(activeId);
      if (entry) {
        segmentBytesTotal += activeOffset - entry.bytes;
        entry.bytes = activeOffset;
      }
      options.onCommit?.({ records: records.length, bytes: buffer.length, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
      group.settle();
      if (activeOffset >= segmentBytes) await rotate();
    } catch (error) {
      group.settle(error instanceof Error ? error : new Error(String(error)));
      // The segment's tail is in an unknown state now: continue in a fresh one. Frames of
      // the failed write that did reach the disk are whole (CRC) and merely repeat records
      // their senders will send again, which the store absorbs (idempotent writes).
      try {
        await rotate();
      } catch {
        // the next write reports the problem again
      }
    }
  }

  async function rotate(): Promise<void> {
    const old = active;
    activeId += 1;
    active = await open(join(dir, segmentFileName(activeId)), 'a');
    segments.push({ id: activeId, bytes: 0 });
    activeOffset = 0;
    committedOffset = 0;
    await old.close().catch(() => {});
  }

  return {
    dir,
    append(record) {
      if (closed) throw new Error('segment log closed');
      if (record.includes('\n')) throw new Error('a record must not contain a newline');
      pending.push(record);
      pendingChars += record.length + 1;
      schedule();
      return pendingGroup;
    },
    pendingChars: () => pendingChars,
    async commit() {
      if (pending.length > 0 && !committing) startCommit();
      while (committing || pending.length > 0) {
        if (!committing) startCommit();
        await committing;
      }
    },
    committedEnd: () => ({ segment: activeId, offset: committedOffset }),
    totalBytes: () => segmentBytesTotal + pendingChars,
    segments: () => segments.map((s) => ({ ...s })),
    async deleteSegmentsBefore(segment) {
      let removed = 0;
      while (segments.length > 0 && segments[0]!.id < segment && segments[0]!.id !== activeId) {
        const { id, bytes } = segments.shift()!;
        segmentBytesTotal -= bytes;
        await unlink(join(dir, segmentFileName(id))).catch(() => {});
        removed += 1;
      }
      return removed;
    },
    async rotate() {
      for (;;) {
        if (!committing && pending.length > 0) startCommit();
        if (!committing) break;
        await committing;
      }
      // Idle now (this continuation runs before any scheduled commit): rotate inside the chain.
      committing = rotate().finally(() => {
        committing = undefined;
        if (pending.length > 0) startCommit();
      });
      await committing;
      return activeId;
    },
    async close() {
      if (closed) return;
      while (committing || pending.length > 0) {
        if (!committing) startCommit();
        await committing;
      }
      closed = true;
      await active.close().catch(() => {});
    },
  };
}
