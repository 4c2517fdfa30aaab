/**
 * One versioned JSON document on disk, shared by several processes: the pattern behind the
 * device registry (`DATA_DIR/registry.json`), trials, alert rules and alert history. Each of
 * them keeps its schema and domain logic; this module keeps the file:
 *
 * - Format: `{ format, version, revision, updatedAt, ...content }`, the envelope checked here,
 *   the content by the store's zod schema. `revision` increments with every write.
 * - Crash safety: a write goes to a temporary file in the same directory (`<file>.tmp-<random>`),
 *   is fsynced, renamed over the document and the directory is fsynced. rename(2) is atomic on
 *   POSIX file systems, so a crash leaves the old or the new document, never a torn one.
 * - Concurrency: within a process, changes go through one queue; across processes each change
 *   holds the lease lock `<file>.lock` (./file-lock.ts: why, and its failure cases), re-reads
 *   the document if it changed on disk, applies the change to the freshest state and writes
 *   the whole document. Just before the rename the lock is confirmed, so a writer that lost it
 *   does not publish. Temporary files are only written under the lock, so the holder removes
 *   any it finds: they are what a crashed (or displaced) writer left.
 * - Seeing other processes' writes: by file identity (inode, mtime, size), compared with a
 *   stat on `refresh()` and every `pollIntervalMs`; identity and content are taken from one
 *   open file, and our own writes record the identity of the file we renamed, so they do not
 *   count as changes. A stat is one syscall and, unlike inotify, survives rename-replace and
 *   works on every file system.
 * - `onChange`: after our own writes (`written`) and after adopting another process's
 *   (`reloaded`).
 *
 * Without a file (`file: undefined`) the same store keeps its state in memory only (tests,
 * the API without a data dir).
 *
 * Why ~400 lines in one module: the write path, the re-read and the lock hand-over are one protocol; split across files its invariant (publish only while holding the lock) would be harder to check.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { AppError, isAppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { createSilentLogger } from '../logger.ts';
import { withFileLock, type HeldLock } from './file-lock.ts';
import { readWithIdentity, type FileIdentity } from './read-file.ts';

/** A file's identity: a write by anyone changes at least one of these. */
export type { FileIdentity } from './read-file.ts';
/** @deprecated the name of FileIdentity before common/store existed. */
export type WrittenFileIdentity = FileIdentity;

export interface AtomicWriteOptions {
  /** File mode of a new file; default 0600 (these documents may hold hashes and tokens). */
  mode?: number;
  /** Create the directory first. */
  createDir?: boolean;
  /** Runs after the temporary file is synced, before the rename (crash tests; lock confirmation). */
  beforeRename?: ((temporaryFile: string) => void | Promise<void>) | undefined;
}

const TEMPORARY_INFIX = '.tmp-';

/**
 * Crash-safe replacement of a whole file: temporary file, fsync, rename, fsync of the
 * directory. Returns the identity of the written file, taken from our own handle before the
 * rename (a rename keeps inode and mtime; a stat of the path afterwards could already see
 * another process's newer file).
 */
export async function writeFileAtomic(file: string, content: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<FileIdentity> {
  const dir = dirname(file);
  if (options.createDir) await mkdir(dir, { recursive: true });
  const temporary = `${file}${TEMPORARY_INFIX}${randomBytes(6).toString('hex')}`;
  const handle = await open(temporary, 'wx', options.mode ?? 0o600);
  let written: FileIdentity;
  try {
    try {
      await handle.writeFile(content);
      await handle.sync();
      const s = await handle.stat();
      written = { ino: s.ino, mtimeMs: s.mtimeMs, size: s.size };
    } finally {
      await handle.close();
    }
    await options.beforeRename?.(temporary);
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw error;
  }
  // The rename is durable only once the directory entry is on disk.
  const dirHandle = await open(dir, 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
  return written;
}

/** A file's text, or undefined when it does not exist (any other error is thrown). */
export async function readFileIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function sameIdentity(a: FileIdentity | undefined, b: FileIdentity | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.size === b.size;
}

async function identityOf(file: string): Promise<FileIdentity | undefined> {
  try {
    const s = await stat(file);
    return { ino: s.ino, mtimeMs: s.mtimeMs, size: s.size };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export function describeZodIssues(issues: z.ZodError['issues']): string {
  return issues.map((i) => `${i.path.join('.') || 'document'}: ${i.message}`).join('; ');
}

export type DocumentChangeCause = 'written' | 'reloaded';

/** What a change returns: its result, and the next state to write (none: nothing is written). */
export interface DocumentUpdate<S, R> {
  result: R;
  next?: S | undefined;
}

export interface DocumentStoreOptions<S, C> {
  /** The document; undefined keeps the state in memory only. */
  file: string | undefined;
  /** Names the document in messages, e.g. "the device registry". */
  what: string;
  /** The envelope: `format` (e.g. "streetlab-registry") and `version` must match on read. */
  format: string;
  version?: number;
  /** The content beside the envelope, validated on every read. */
  content: z.ZodType<C>;
  /** Content → the store's state (e.g. Maps), and back. The state is replaced, never mutated. */
  decode: (content: C) => S;
  encode: (state: S) => C;
  /** The state while there is no document. */
  empty: () => S;
  /** Indented JSON (default true; false for documents rewritten often). */
  pretty?: boolean;
  /** A document that is not valid on open: `fail` (default) throws; `set-aside` renames it to `<file>.invalid-<ms>` and starts empty. */
  onInvalid?: 'fail' | 'set-aside';
  /** Look for other processes' writes this often; 0 or omitted = only on refresh() and before each change. */
  pollIntervalMs?: number;
  lockTimeoutMs?: number | undefined;
  lockLeaseMs?: number | undefined;
  /** File mode; default 0600. */
  mode?: number;
  now?: () => number;
  logger?: Logger | undefined;
  /** Fault injection for crash tests: after the temporary file is synced, before the rename. */
  beforeRename?: ((temporaryFile: string) => void | Promise<void>) | undefined;
}

export interface DocumentStore<S> {
  readonly file: string | undefined;
  /** The state as last read or written (replaced on every change; do not mutate it). */
  readonly state: S;
  /** The document's revision (0 before the first write). */
  readonly revision: number;
  /** Whether the document was on disk when last looked at (always false in memory). */
  readonly exists: boolean;
  /** Adopts the document if another process changed it; true when the content changed. */
  refresh(): Promise<boolean>;
  /**
   * Runs `change` on the freshest state, holding the lock, and writes `next` if it returns one;
   * one change at a time. An error thrown by `change` rejects as it is and writes nothing; a
   * failed write rejects with STORE_UNAVAILABLE (retryable) and leaves the state as it was.
   */
  update<R>(change: (current: S) => DocumentUpdate<S, R>): Promise<R>;
  /** Replaces the state with `next` (the last writer wins). */
  write(next: S): Promise<void>;
  onChange(listener: (state: S, cause: DocumentChangeCause) => void): () => void;
  /** Stops polling and waits for queued changes; later changes are refused. */
  close(): Promise<void>;
}

/** What a document's envelope and content are, for any backend (the file here, Redis in redis-document-store.ts). */
export type DocumentCodec<S, C> = Pick<DocumentStoreOptions<S, C>, 'what' | 'format' | 'version' | 'content' | 'decode' | 'encode' | 'pretty'>;

/** The document as text: `{ format, version, revision, updatedAt, ...content }`. */
export function encodeDocument<S, C>(codec: DocumentCodec<S, C>, state: S, revision: number, atMs: number): string {
  const document = { format: codec.format, version: codec.version ?? 1, revision, updatedAt: new Date(atMs).toISOString(), ...codec.encode(state) };
  return `${codec.pretty === false ? JSON.stringify(document) : JSON.stringify(document, null, 2)}\n`;
}

/** The state and revision in a document's text; AppError INTERNAL, naming `where`, when it is not valid. */
export function decodeDocument<S, C>(codec: DocumentCodec<S, C>, where: string, text: string): { state: S; revision: number } {
  const Envelope = z.object({
    format: z.literal(codec.format),
    version: z.literal(codec.version ?? 1),
    revision: z.number().int().min(0).optional(),
    updatedAt: z.iso.datetime(),
  });
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new AppError('INTERNAL', `${codec.what} ${where} is not valid: ${String(error)}`, { cause: error });
  }
  const envelope = Envelope.safeParse(json);
  const content = codec.content.safeParse(json);
  if (!envelope.success || !content.success) {
    const issues = [...(envelope.error?.issues ?? []), ...(content.error?.issues ?? [])];
    throw new AppError('INTERNAL', `${codec.what} ${where} is not valid: ${describeZodIssues(issues)}`, { cause: envelope.error ?? content.error });
  }
  return { state: codec.decode(content.data), revision: envelope.data.revision ?? 0 };
}

/** Change listeners of a document store: one failing listener is logged and never stops the others. */
export function createChangeListeners<S>(log: Logger, describe: Record<string, unknown>, what: string) {
  const listeners = new Set<(state: S, cause: DocumentChangeCause) => void>();
  return {
    emit(state: S, cause: DocumentChangeCause): void {
      for (const listener of listeners) {
        try {
          listener(state, cause);
        } catch (error) {
          log.error({ err: error, ...describe }, `a change listener of ${what} failed`);
        }
      }
    },
    add(listener: (state: S, cause: DocumentChangeCause) => void): () => void {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

export async function openDocumentStore<S, C>(options: DocumentStoreOptions<S, C>): Promise<DocumentStore<S>> {
  const { file, what } = options;
  const now = options.now ?? Date.now;
  const log = options.logger ?? createSilentLogger();
  const lockFile = file === undefined ? undefined : `${file}.lock`;
  const listeners = createChangeListeners<S>(log, { file }, what);
  let state = options.empty();
  let revision = 0;
  let known: FileIdentity | undefined;
  /** Bumped on every adoption: a reload that read before a newer adoption is dropped. */
  let generation = 0;
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;
  let cleaned = false;

  function emit(cause: DocumentChangeCause): void {
    listeners.emit(state, cause);
  }

  function parse(text: string): { state: S; revision: number } {
    return decodeDocument(options, String(file), text);
  }

  /** Adopts the file if its identity differs from the last one seen; true when the content changed. */
  async function reload(): Promise<boolean> {
    if (file === undefined) return false;
    if (sameIdentity(await identityOf(file), known)) return false;
    const started = generation;
    const read = await readWithIdentity(file);
    if (generation !== started) return false; // our own write (or another reload) got there first
    const hadDocument = known !== undefined;
    const before = revision;
    if (!read) {
      known = undefined;
      state = options.empty();
      revision = 0;
    } else {
      const parsed = parse(read.text);
      known = read.identity;
      state = parsed.state;
      revision = parsed.revision;
    }
    generation += 1;
    const changed = hadDocument !== (read !== undefined) || before !== revision;
    if (changed) emit('reloaded');
    return changed;
  }

  /** Under the lock, temporary files are leftovers of writers that crashed or lost the lock. */
  async function removeTemporaries(): Promise<void> {
    const prefix = `${basename(file!)}${TEMPORARY_INFIX}`;
    const dir = dirname(file!);
    let names: string[];
    try {
      names = await readdir(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (!name.startsWith(prefix)) continue;
      await unlink(join(dir, name)).catch(() => {});
      log.warn({ file: join(dir, name) }, `removed an unfinished write of ${what} left by a crashed process`);
    }
  }

  async function persist(next: S, lock: HeldLock): Promise<void> {
    if (!cleaned || lock.tookOver) {
      await removeTemporaries();
      cleaned = true;
    }
    const text = encodeDocument(options, next, revision + 1, now());
    known = await writeFileAtomic(file!, text, {
      mode: options.mode ?? 0o600,
      beforeRename: async (temporary) => {
        await options.beforeRename?.(temporary);
        await lock.confirm();
      },
    });
    state = next;
    revision += 1;
    generation += 1;
  }

  function update<R>(change: (current: S) => DocumentUpdate<S, R>): Promise<R> {
    if (closed) return Promise.reject(new AppError('INTERNAL', `${what} is closed`));
    const run = queue.then(async () => {
      if (file === undefined || lockFile === undefined) {
        const { result, next } = change(state);
        if (next === undefined) return result;
        state = next;
        revision += 1;
        generation += 1;
        emit('written');
        return result;
      }
      let fromChange = false;
      try {
        return await withFileLock(lockFile, { what, timeoutMs: options.lockTimeoutMs, leaseMs: options.lockLeaseMs, logger: log }, async (lock) => {
          // Under the lock nobody else writes: reload until what we hold is what is on disk
          // (a concurrent poll may have adopted an older read).
          do await reload();
          while (!sameIdentity(await identityOf(file), known));
          let outcome: DocumentUpdate<S, R>;
          try {
            outcome = change(state);
          } catch (error) {
            fromChange = true;
            throw error;
          }
          if (outcome.next === undefined) return outcome.result;
          await persist(outcome.next, lock);
          emit('written');
          return outcome.result;
        });
      } catch (error) {
        if (fromChange || isAppError(error)) throw error;
        throw new AppError('STORE_UNAVAILABLE', `could not save ${what}: ${(error as Error).message}`, { cause: error });
      }
    });
    queue = run.catch(() => {});
    return run;
  }

  // First load.
  if (file !== undefined) {
    try {
      await reload();
    } catch (error) {
      if (options.onInvalid !== 'set-aside' || !isAppError(error, 'INTERNAL')) throw error;
      const aside = `${file}.invalid-${Date.now()}`;
      await rename(file, aside).catch(() => {});
      log.error({ err: error, file: aside }, `${what} is not valid; moved aside, starting empty`);
      known = undefined;
    }
  }

  let polling = false;
  const poller =
    file !== undefined && (options.pollIntervalMs ?? 0) > 0
      ? setInterval(() => {
          if (polling || closed) return;
          polling = true;
          reload()
            .catch((error: unknown) => log.error({ err: error, file }, `could not reload ${what}; keeping the last good copy`))
            .finally(() => {
              polling = false;
            });
        }, options.pollIntervalMs)
      : undefined;
  poller?.unref();

  return {
    file,
    get state() {
      return state;
    },
    get revision() {
      return revision;
    },
    get exists() {
      return known !== undefined;
    },
    refresh: reload,
    update,
    write: (next) => update(() => ({ result: undefined, next })),
    onChange: (listener) => listeners.add(listener),
    async close() {
      closed = true;
      if (poller) clearInterval(poller);
      await queue;
    },
  };
}
