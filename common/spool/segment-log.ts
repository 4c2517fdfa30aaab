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
 * Readers read only committed frames: up to the committed offset in the segment being
 * written, to the end of older ones. Deleting segments is the owner's decision
 * (`deleteSegmentsBefore`), made once their records are safe elsewhere.
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

export interface Frame {
  records: string[];
  committedAtMs: number;
  start: LogPosition;
  end: LogPosition;
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
  /** Called when a reader meets a damaged frame and skips the rest of a segment. */
  onCorruptFrame?: (info: { segment: number; offset: number; reason: string }) => void;
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
  /** The first position of the log (start of the oldest segment). */
  start(): LogPosition;
  /** Reads committed frames from `from`, at most about `maxBytes` of payload (at least one frame). */
  read(from: LogPosition, maxBytes: number): Promise<{ frames: Frame[]; next: LogPosition }>;
  /** Counts committed records from `from` on, reading frame headers only (for a backlog at start). */
  count(from: LogPosition, onFrame?: (records: number, committedAtMs: number) => void): Promise<number>;
  /** Bytes on disk across segments. */
  totalBytes(): number;
  segments(): { id: number; bytes: number }[];
  /** Removes every segment numbered below `segment` (never the one being written). */
  deleteSegmentsBefore(segment: number): Promise<number>;
  /** Commits what is pending and continues in a new segment; returns the new segment's number. */
  rotate(): Promise<number>;
  /** Resolves on the next commit (for readers waiting for data). */
  nextCommit(): Promise<void>;
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

  let pending: string[] = [];
  let pendingChars = 0;
  let groupSeq = 0;
  let pendingGroup = new Group(++groupSeq);
  let committing: Promise<void> | undefined;
  let scheduled = false;
  let closed = false;
  let commitWaiters: (() => void)[] = [];
  const readers = new Map<number, FileHandle>();

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
      const waiters = commitWaiters;
      commitWaiters = [];
      for (const w of waiters) w();
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
      if (entry) entry.bytes = activeOffset;
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

  async function readerFor(id: number): Promise<FileHandle> {
    let handle = readers.get(id);
    if (!handle) {
      handle = await open(join(dir, segmentFileName(id)), 'r');
      readers.set(id, handle);
    }
    return handle;
  }

  function readableEnd(id: number): number {
    if (id === activeId) return committedOffset;
    return segmentEntry(id)?.bytes ?? 0;
  }

  function nextSegmentAfter(id: number): number | undefined {
    return segments.find((s) => s.id > id)?.id;
  }

  async function read(from: LogPosition, maxBytes: number): Promise<{ frames: Frame[]; next: LogPosition }> {
    let position = { ...from };
    // Positions in deleted segments move to the oldest one left.
    if (!segmentEntry(position.segment)) {
      const later = nextSegmentAfter(position.segment);
      if (later === undefined) return { frames: [], next: position };
      position = { segment: later, offset: 0 };
    }
    const frames: Frame[] = [];
    let bytes = 0;
    while (bytes < maxBytes) {
      const end = readableEnd(position.segment);
      if (position.offset >= end) {
        if (position.segment === activeId) break;
        const next = nextSegmentAfter(position.segment);
        if (next === undefined) break;
        position = { segment: next, offset: 0 };
        continue;
      }
      if (end - position.offset < FRAME_HEADER_BYTES) {
        // Less than a header left: a torn tail (committed frames are always whole).
        options.onCorruptFrame?.({ segment: position.segment, offset: position.offset, reason: 'torn frame at the end of a segment' });
        return skipSegment(frames, position);
      }
      const handle = await readerFor(position.segment);
      const want = Math.max(FRAME_HEADER_BYTES, Math.min(end - position.offset, maxBytes - bytes + FRAME_HEADER_BYTES));
      const buffer = Buffer.allocUnsafe(Math.min(want, end - position.offset));
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, position.offset);
      let cursor = 0;
      let progressed = false;
      while (cursor + FRAME_HEADER_BYTES <= bytesRead) {
        const damaged = (reason: string) => {
          options.onCorruptFrame?.({ segment: position.segment, offset: position.offset + cursor, reason });
        };
        if (buffer.readUInt32BE(cursor) !== FRAME_MAGIC) {
          damaged('bad magic');
          return skipSegment(frames, position);
        }
        const length = buffer.readUInt32BE(cursor + 4);
        const frameEnd = cursor + FRAME_HEADER_BYTES + length;
        if (position.offset + frameEnd > end) {
          // Torn tail: longer than what is in the file.
          damaged('torn frame at the end of a segment');
          return skipSegment(frames, position);
        }
        if (frameEnd > bytesRead) {
          if (cursor === 0) {
            // One frame larger than the buffer: read exactly it.
            const whole = Buffer.allocUnsafe(FRAME_HEADER_BYTES + length);
            await handle.read(whole, 0, whole.length, position.offset);
            const frame = decode(whole, 0, position, damaged);
            if (!frame) return skipSegment(frames, position);
            frames.push(frame);
            bytes += length;
            position = frame.end;
            progressed = true;
          }
          break;
        }
        const frame = decode(buffer, cursor, { segment: position.segment, offset: position.offset + cursor }, damaged);
        if (!frame) return skipSegment(frames, { segment: position.segment, offset: position.offset + cursor });
        frames.push(frame);
        bytes += length;
        cursor = frameEnd;
        progressed = true;
        if (bytes >= maxBytes) break;
      }
      if (cursor > 0) position = { segment: position.segment, offset: position.offset + cursor };
      if (!progressed) break;
    }
    return { frames, next: position };
  }

  function skipSegment(frames: Frame[], at: LogPosition): { frames: Frame[]; next: LogPosition } {
    // Nothing after damage in a segment can be trusted; its records were never acknowledged
    // (a torn tail is the write a crash interrupted), so go on with the next segment.
    if (at.segment === activeId) return { frames, next: at };
    const next = nextSegmentAfter(at.segment);
    return { frames, next: next === undefined ? at : { segment: next, offset: 0 } };
  }

  function decode(buffer: Buffer, cursor: number, start: LogPosition, damaged: (reason: string) => void): Frame | undefined {
    const length = buffer.readUInt32BE(cursor + 4);
    const count = buffer.readUInt32BE(cursor + 8);
    const crc = buffer.readUInt32BE(cursor + 12);
    const committedAtMs = buffer.readDoubleBE(cursor + 16);
    const payload = buffer.subarray(cursor + FRAME_HEADER_BYTES, cursor + FRAME_HEADER_BYTES + length);
    if (crc32(payload) !== crc) {
      damaged('checksum mismatch');
      return undefined;
    }
    const records = count === 0 ? [] : payload.toString('utf8').split('\n');
    if (records.length !== count) {
      damaged('record count mismatch');
      return undefined;
    }
    return { records, committedAtMs, start, end: { segment: start.segment, offset: start.offset + FRAME_HEADER_BYTES + length } };
  }

  async function count(from: LogPosition, onFrame?: (records: number, committedAtMs: number) => void): Promise<number> {
    let total = 0;
    for (const entry of segments) {
      if (entry.id < from.segment) continue;
      let offset = entry.id === from.segment ? from.offset : 0;
      const end = readableEnd(entry.id);
      const handle = await readerFor(entry.id);
      const chunk = Buffer.allocUnsafe(4 * 1024 * 1024);
      while (offset + FRAME_HEADER_BYTES <= end) {
        const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, end - offset), offset);
        let cursor = 0;
        while (cursor + FRAME_HEADER_BYTES <= bytesRead) {
          if (chunk.readUInt32BE(cursor) !== FRAME_MAGIC) break;
          const length = chunk.readUInt32BE(cursor + 4);
          if (offset + cursor + FRAME_HEADER_BYTES + length > end) break;
          const records = chunk.readUInt32BE(cursor + 8);
          total += records;
          onFrame?.(records, chunk.readDoubleBE(cursor + 16));
          cursor += FRAME_HEADER_BYTES + length;
        }
        if (cursor === 0) {
          // A frame larger than the chunk, or damage: step over a whole frame if it fits.
          const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
          await handle.read(header, 0, FRAME_HEADER_BYTES, offset);
          if (header.readUInt32BE(0) !== FRAME_MAGIC) break;
          const length = header.readUInt32BE(4);
          if (offset + FRAME_HEADER_BYTES + length > end) break;
          total += header.readUInt32BE(8);
          onFrame?.(header.readUInt32BE(8), header.readDoubleBE(16));
          cursor = FRAME_HEADER_BYTES + length;
        }
        offset += cursor;
      }
    }
    return total;
  }

  return {
    dir,
    count,
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
    start: () => ({ segment: segments[0]?.id ?? activeId, offset: 0 }),
    read,
    totalBytes: () => segments.reduce((sum, s) => sum + s.bytes, 0) + pendingChars,
    segments: () => segments.map((s) => ({ ...s })),
    async deleteSegmentsBefore(segment) {
      let removed = 0;
      while (segments.length > 0 && segments[0]!.id < segment && segments[0]!.id !== activeId) {
        const { id } = segments.shift()!;
        const reader = readers.get(id);
        readers.delete(id);
        await reader?.close().catch(() => {});
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
    nextCommit: () => new Promise<void>((resolve) => commitWaiters.push(resolve)),
    async close() {
      if (closed) return;
      while (committing || pending.length > 0) {
        if (!committing) startCommit();
        await committing;
      }
      closed = true;
      for (const handle of readers.values()) await handle.close().catch(() => {});
      readers.clear();
      await active.close().catch(() => {});
      const waiters = commitWaiters;
      commitWaiters = [];
      for (const w of waiters) w();
    },
  };
}
