/**
 * Crash-safe replacement of a whole file, shared by every document kept under DATA_DIR (the
 * device registry, alert rules and alert history): write a temporary file in the same
 * directory, fsync it, rename it over the old one and fsync the directory. rename(2) is atomic
 * on POSIX file systems, so a crash at any point leaves either the old or the new file, never
 * a torn one. Temporary files are named `<file>.tmp-<pid>-<random>` so an opener can remove
 * those of dead processes (see removeStaleTemporaries in file-registry.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

/** The written file's identity, taken from our own handle (not the path) before the rename. */
export interface WrittenFileIdentity {
  ino: number;
  mtimeMs: number;
  size: number;
}

export interface AtomicWriteOptions {
  /** File mode of a new file; default 0600 (these documents may hold hashes and tokens). */
  mode?: number;
  /** Create the directory first (default false: the registry's directory already exists). */
  createDir?: boolean;
  /** Fault injection for crash tests: runs after the temporary file is synced, before the rename. */
  beforeRename?: ((temporaryFile: string) => void | Promise<void>) | undefined;
}

export async function writeFileAtomic(file: string, content: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<WrittenFileIdentity> {
  const dir = dirname(file);
  if (options.createDir) await mkdir(dir, { recursive: true });
  const temporary = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  const handle = await open(temporary, 'wx', options.mode ?? 0o600);
  let written: WrittenFileIdentity;
  try {
    try {
      await handle.writeFile(content);
      await handle.sync();
      // Taken from our own file, not the path: a rename keeps inode and mtime, and a stat of
      // the path after the rename could already see another process's newer file.
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

/** A document's text, or undefined when it does not exist yet (any other error is thrown). */
export async function readFileIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
