/**
 * A lock file beside a shared document (`<file>.lock`, holding the holder's pid), so that
 * several processes — broker, ingest, API, the CLI — change the document one at a time. A
 * lock whose holder died (or that is older than `staleMs`) is broken, because a crashed
 * writer must not block every other writer forever.
 */
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { AppError } from '../errors.ts';

export interface FileLockOptions {
  /** Longest wait for the lock before STORE_UNAVAILABLE (retryable); default 10 s. */
  timeoutMs?: number;
  /** A lock older than this is taken to be abandoned; default 30 s. */
  staleMs?: number;
  /** Names the document in the error, e.g. "the device registry". */
  what: string;
}

export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Runs `work` holding `lockFile`, and releases it however `work` ends. */
export async function withFileLock<T>(lockFile: string, options: FileLockOptions, work: () => Promise<T>): Promise<T> {
  await mkdir(dirname(lockFile), { recursive: true });
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const staleMs = options.staleMs ?? 30_000;
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(await readFile(lockFile, 'utf8').catch(() => ''));
      const age = await stat(lockFile).then((s) => Date.now() - s.mtimeMs, () => 0);
      if ((Number.isInteger(holder) && holder > 0 && !isProcessAlive(holder)) || age > staleMs) {
        await unlink(lockFile).catch(() => {});
        continue;
      }
      if (Date.now() > deadline) {
        throw new AppError('STORE_UNAVAILABLE', `${options.what} is locked by process ${holder} (${lockFile})`, { retryable: true });
      }
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 15));
    }
  }
  try {
    return await work();
  } finally {
    await unlink(lockFile).catch(() => {});
  }
}
