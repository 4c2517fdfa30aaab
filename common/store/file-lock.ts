/**
 * A lease lock beside a shared document (`<file>.lock`), so that several processes — broker,
 * ingest, the API, the CLI, and containers that share DATA_DIR on one volume — change the
 * document one at a time.
 *
 * Why our own lock and not proper-lockfile (the usual library): proper-lockfile reclaims a
 * stale lock with rmdir + mkdir, so two waiters that judge the same lock stale can remove each
 * other's fresh one and both hold it (reported to its maintainers, still open). That is the
 * very bug this module replaces, and the fix is small, so it lives here, with no dependency
 * and no install script to vet. PIDs decide nothing: every container on a shared volume may
 * be PID 1, and a PID says nothing about another host; host and pid are written for people
 * reading the file, not for code.
 *
 * How:
 * - Acquire: create the lock file with O_CREAT|O_EXCL (atomic on local file systems and NFSv3+)
 *   and write `{ token, host, pid, leaseMs, acquiredAt }` in it. The content never changes; the
 *   token (128 random bits) says whose lock it is.
 * - Lease: a lock is alive until its mtime + its leaseMs. The holder renews it every leaseMs/5 by
 *   touching the mtime (utimes), after checking that the file still holds its token; a lost
 *   lock is noticed there and by `confirm()`.
 * - Steal: a waiter that sees an expired lock takes the steal guard `<file>.lock.steal` (also
 *   O_EXCL), reads the lock again and unlinks it only if it is the very lock it judged (same
 *   inode, mtime and token) and still expired; then it drops the guard and competes for the
 *   lock like any other waiter. A new lock can only be created once the old one is unlinked,
 *   and only the guard's holder unlinks a lock it does not own (its owner may too, but an
 *   expired owner has stalled: see below), so the lock the guard holder re-read is still the
 *   one it unlinks. A waiter therefore never deletes a fresh lock: a renewed lock has a new
 *   mtime, a replaced one a new inode and token, and both fail the re-check.
 * - Release: only by the owner: the token is compared before the unlink.
 * - `confirm()`: the document store calls it just before the rename that publishes a write; it
 *   renews the lease, or throws STORE_UNAVAILABLE when the lock is no longer ours, so a writer
 *   that lost its lock does not overwrite the new holder's work.
 *
 * Failure cases (what this lock cannot do):
 * - A holder that stalls longer than its lease (event loop blocked, SIGSTOP, a paused VM) loses
 *   the lock. Its write is refused by `confirm()` (and the new holder removes its temporary
 *   file), unless the stall falls exactly between `confirm()` and rename(2): no lock without
 *   fencing tokens checked by the storage can close that window. The same holds for a release
 *   whose compare and unlink straddle a steal.
 * - Expiry compares the holder's mtime with the waiter's clock: processes on one host share the
 *   clock; across machines (NFS) clocks must agree to well under the lease.
 * - A waiter that dies inside the steal section (a few syscalls) leaves the guard; it counts as
 *   abandoned after the waiter's lease. Only if two waiters break that abandoned guard at the
 *   same moment can both steal, and only then could one remove a lock the other just created.
 * - A holder killed after creating the lock file but before writing into it leaves an empty
 *   lock; waiters give it their own lease from its mtime.
 * - NFSv2 has no O_EXCL; not supported.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, unlink, utimes } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { AppError } from '../errors.ts';
import { readWithIdentity } from './read-file.ts';
import type { Logger } from '../logger.ts';

export const DEFAULT_LOCK_LEASE_MS = 5_000;
export const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

export interface FileLockOptions {
  /** Names the document in errors, e.g. "the device registry". */
  what: string;
  /** Longest wait for the lock before STORE_UNAVAILABLE (retryable); default 10 s. */
  timeoutMs?: number | undefined;
  /** How long the lock outlives its holder's last renewal (written into the lock); default 5 s. */
  leaseMs?: number | undefined;
  logger?: Logger | undefined;
  /** Test hook: runs when a waiter has judged the lock expired, before it takes the steal guard. */
  beforeSteal?: (() => void | Promise<void>) | undefined;
}

export interface HeldLock {
  readonly file: string;
  readonly token: string;
  /** True when an expired lock of another holder was removed to get this one. */
  readonly tookOver: boolean;
  /** Renews the lease now; throws STORE_UNAVAILABLE when the lock is no longer ours. */
  confirm(): Promise<void>;
  /** Removes the lock if it is still ours. */
  release(): Promise<void>;
}

/** What a lock (or guard) file holds, read from one open file: identity and content agree. */
interface SeenLock {
  ino: number;
  mtimeMs: number;
  token: string;
  leaseMs: number | undefined;
  host: string | undefined;
  pid: number | undefined;
}

async function inspect(file: string): Promise<SeenLock | undefined> {
  const read = await readWithIdentity(file);
  if (!read) return undefined;
  let content: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(read.text);
    if (parsed && typeof parsed === 'object') content = parsed as Record<string, unknown>;
  } catch {
    // Empty (its creator has not written yet, or died first) or foreign: no token, no lease.
  }
  return {
    ino: read.identity.ino,
    mtimeMs: read.identity.mtimeMs,
    token: typeof content.token === 'string' ? content.token : '',
    leaseMs: typeof content.leaseMs === 'number' && content.leaseMs > 0 ? content.leaseMs : undefined,
    host: typeof content.host === 'string' ? content.host : undefined,
    pid: typeof content.pid === 'number' ? content.pid : undefined,
  };
}

function expired(seen: SeenLock, fallbackLeaseMs: number, nowMs: number): boolean {
  return nowMs > seen.mtimeMs + (seen.leaseMs ?? fallbackLeaseMs);
}

function sameLock(a: SeenLock, b: SeenLock): boolean {
  return a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.token === b.token;
}

/** Creates `file` exclusively with `content`; false when it exists. */
async function createExclusive(file: string, content: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
  return true;
}

/** Unlinks `file` if it still holds `token` (the owner's release). */
async function unlinkIfOwned(file: string, token: string): Promise<void> {
  const seen = await inspect(file).catch(() => undefined);
  if (seen?.token === token) await unlink(file).catch(() => {});
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Removes `judged` (an expired lock) under the steal guard, if it is still exactly that lock.
 * Returns true when it removed it.
 */
async function steal(lockFile: string, judged: SeenLock, leaseMs: number, token: string, log: Logger | undefined): Promise<boolean> {
  const guard = `${lockFile}.steal`;
  if (!(await createExclusive(guard, JSON.stringify({ token, host: hostname(), pid: process.pid })))) {
    // Another waiter is stealing; a guard left by one that died is broken after a lease.
    const held = await inspect(guard);
    if (held && expired(held, leaseMs, Date.now())) {
      const again = await inspect(guard);
      if (again && sameLock(again, held)) await unlink(guard).catch(() => {});
    }
    return false;
  }
  try {
    const now = await inspect(lockFile);
    if (!now || !sameLock(now, judged) || !expired(now, leaseMs, Date.now())) return false;
    try {
      await unlink(lockFile);
    } catch (error) {
      // Gone already: its expired holder woke up and released it.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    log?.warn(
      { lockFile, holder: { host: now.host, pid: now.pid }, expiredForMs: Math.round(Date.now() - now.mtimeMs - (now.leaseMs ?? leaseMs)) },
      'took over an expired lock (its holder stopped renewing it)',
    );
    return true;
  } finally {
    await unlinkIfOwned(guard, token);
  }
}

export async function acquireFileLock(lockFile: string, options: FileLockOptions): Promise<HeldLock> {
  await mkdir(dirname(lockFile), { recursive: true });
  const leaseMs = options.leaseMs ?? DEFAULT_LOCK_LEASE_MS;
  const deadline = Date.now() + (options.timeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS);
  const token = randomBytes(16).toString('hex');
  const content = JSON.stringify({ token, host: hostname(), pid: process.pid, leaseMs, acquiredAt: new Date().toISOString() });
  let tookOver = false;
  let attempt = 0;
  for (;;) {
    if (await createExclusive(lockFile, content)) break;
    const seen = await inspect(lockFile);
    if (!seen) continue; // released in between: try again at once
    if (expired(seen, leaseMs, Date.now())) {
      await options.beforeSteal?.();
      if (await steal(lockFile, seen, leaseMs, token, options.logger)) {
        tookOver = true;
        continue;
      }
    }
    if (Date.now() > deadline) {
      const holder = seen.host !== undefined ? ` by ${seen.host} (pid ${seen.pid ?? '?'})` : '';
      throw new AppError('STORE_UNAVAILABLE', `${options.what} is locked${holder} (${lockFile}); try again`, {
        details: { lockFile, leaseExpiresAt: new Date(seen.mtimeMs + (seen.leaseMs ?? leaseMs)).toISOString() },
      });
    }
    attempt += 1;
    await sleep(Math.min(100, 5 + attempt * 2) * (0.5 + Math.random()));
  }

  let lost = false;
  let renewing: Promise<void> = Promise.resolve();
  async function renew(): Promise<void> {
    const seen = await inspect(lockFile);
    if (seen?.token !== token) {
      if (!lost) options.logger?.error({ lockFile }, `lost the lock on ${options.what}: another process took it over`);
      lost = true;
      return;
    }
    // If a steal slipped in between the check and here, this touches the new holder's lock: harmless.
    const at = new Date();
    await utimes(lockFile, at, at);
  }
  const timer = setInterval(() => {
    renewing = renewing.then(renew).catch((error: unknown) => options.logger?.warn({ err: error, lockFile }, 'could not renew a lock'));
  }, Math.max(20, Math.floor(leaseMs / 5)));
  timer.unref();

  return {
    file: lockFile,
    token,
    tookOver,
    async confirm() {
      await renewing;
      await renew();
      if (lost) throw new AppError('STORE_UNAVAILABLE', `lost the lock on ${options.what} (${lockFile}) to another process; try again`);
    },
    async release() {
      clearInterval(timer);
      await renewing;
      await unlinkIfOwned(lockFile, token);
    },
  };
}

/** Runs `work` holding the lock on `lockFile`, and releases it however `work` ends. */
export async function withFileLock<T>(lockFile: string, options: FileLockOptions, work: (lock: HeldLock) => Promise<T>): Promise<T> {
  const lock = await acquireFileLock(lockFile, options);
  try {
    return await work(lock);
  } finally {
    await lock.release();
  }
}
