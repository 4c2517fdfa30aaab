/**
 * The lease lock (common/store/file-lock.ts) across real processes: read-modify-write by
 * several processes loses no increment; a SIGKILLed holder's lock is taken over after its
 * lease and not before; a live holder keeps its lock however long it holds it; a waiter never
 * removes a fresh lock of another, even when it judged an older one stale; only the owner
 * releases.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isAppError } from '../../../common/errors.ts';
import { acquireFileLock, withFileLock } from '../../../common/store/file-lock.ts';
import { rejection } from '../../helpers/assertions.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const CHILD = join(import.meta.dirname, 'lock-child.ts');
const dirs: string[] = [];
const children: ChildProcess[] = [];

afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'streetlab-lock-test-'));
  dirs.push(dir);
  return dir;
}

interface Child {
  process: ChildProcess;
  /** Resolves with the first stdout line that satisfies `match`. */
  line(match: (line: string) => boolean): Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

function spawnChild(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    let newline: number;
    while ((newline = stdout.indexOf('\n')) >= 0) {
      lines.push(stdout.slice(0, newline));
      stdout = stdout.slice(newline + 1);
    }
    for (const wake of waiters.splice(0)) wake();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      resolve({ code, signal, stderr });
      for (const wake of waiters.splice(0)) wake();
    });
  });
  return {
    process: child,
    exited,
    async line(match) {
      for (;;) {
        const found = lines.find(match);
        if (found !== undefined) return found;
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`child exited (${child.exitCode ?? child.signalCode}) before the line: ${stderr}`);
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}


const tokenOf = async (file: string): Promise<string> => (JSON.parse(await readFile(file, 'utf8')) as { token: string }).token;

describe('the lock across processes', () => {
  it('loses no increment when three processes read-modify-write one document at once', async () => {
    const dir = await tempDir();
    const file = join(dir, 'counter.json');
    const goFile = join(dir, 'go');
    const perChild = 40;
    const workers = Array.from({ length: 3 }, () => spawnChild(['increment', file, String(perChild), goFile]));
    await Promise.all(workers.map((w) => w.line((l) => l === 'ready')));
    await writeFile(goFile, '');
    const written = await Promise.all(workers.map(async (w) => JSON.parse(await w.line((l) => l.startsWith('['))) as number[]));
    for (const w of workers) expect((await w.exited).code).toBe(0);

    const document = JSON.parse(await readFile(file, 'utf8')) as { count: number; revision: number };
    expect(document.count).toBe(3 * perChild);
    expect(document.revision).toBe(3 * perChild);
    // Every revision was written by exactly one process, and the processes did take turns.
    expect(written.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 3 * perChild }, (_, i) => i + 1));
    const interrupted = written.reduce((n, revs) => n + revs.filter((r, i) => i > 0 && r !== revs[i - 1]! + 1).length, 0);
    console.info(`${interrupted} times a process found the document changed by another between two of its increments`);
    expect(interrupted).toBeGreaterThan(2);
    expect((await readdir(dir)).sort()).toEqual(['counter.json', 'go']);
  });

  it('takes over the lock of a SIGKILLed holder after its lease, not before', async () => {
    const dir = await tempDir();
    const lockFile = join(dir, 'doc.json.lock');
    const leaseMs = 1_500;
    const holder = spawnChild(['hold', lockFile, String(leaseMs)]);
    await holder.line((l) => l === 'held');
    const token = await tokenOf(lockFile);
    holder.process.kill('SIGKILL');
    expect((await holder.exited).signal).toBe('SIGKILL');
    const lastRenewal = (await stat(lockFile)).mtimeMs;

    // Within the lease the dead holder's lock stands: the waiter gives up, the lock untouched.
    const early = await rejection(acquireFileLock(lockFile, { what: 'the test document', timeoutMs: 200 }));
    expect(isAppError(early, 'STORE_UNAVAILABLE')).toBe(true);
    expect(Date.now()).toBeLessThan(lastRenewal + leaseMs);
    expect(await tokenOf(lockFile)).toBe(token);

    const lock = await acquireFileLock(lockFile, { what: 'the test document', timeoutMs: 10_000 });
    expect(Date.now()).toBeGreaterThanOrEqual(lastRenewal + leaseMs);
    expect(lock.tookOver).toBe(true);
    expect(await tokenOf(lockFile)).toBe(lock.token);
    await lock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('leaves a live holder its lock long past the lease, because the holder renews it', async () => {
    const dir = await tempDir();
    const lockFile = join(dir, 'doc.json.lock');
    const holder = spawnChild(['hold', lockFile, '800']);
    await holder.line((l) => l === 'held');
    const token = await tokenOf(lockFile);
    const started = Date.now();
    const error = await rejection(acquireFileLock(lockFile, { what: 'the test document', timeoutMs: 2_500, leaseMs: 800 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_500);
    expect(isAppError(error, 'STORE_UNAVAILABLE') && error.message).toContain('the test document is locked by');
    expect(await tokenOf(lockFile)).toBe(token);
  });
});

describe('the lock within one process', () => {
  it('a waiter that judged a lock stale never removes the fresh lock that replaced it', async () => {
    const dir = await tempDir();
    const lockFile = join(dir, 'doc.json.lock');
    // An abandoned lock, expired long ago.
    await writeFile(lockFile, JSON.stringify({ token: 'dead', host: 'elsewhere', pid: 1, leaseMs: 100 }));
    const past = new Date(Date.now() - 60_000);
    await utimes(lockFile, past, past);

    // B sees it expired and is held up right before stealing it…
    let sawStale!: () => void;
    const bSawStale = new Promise<void>((resolve) => (sawStale = resolve));
    let openGate!: () => void;
    const gate = new Promise<void>((resolve) => (openGate = resolve));
    let bHolds = false;
    const b = acquireFileLock(lockFile, {
      what: 'the test document',
      timeoutMs: 10_000,
      beforeSteal: async () => {
        sawStale();
        await gate;
      },
    }).then((lock) => {
      bHolds = true;
      return lock;
    });
    await bSawStale;
    // …while A takes the same stale lock over and holds a fresh one.
    const a = await acquireFileLock(lockFile, { what: 'the test document', timeoutMs: 1_000 });
    expect(a.tookOver).toBe(true);
    openGate();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(bHolds).toBe(false);
    expect(await tokenOf(lockFile)).toBe(a.token);
    await a.confirm();

    await a.release();
    const bLock = await b;
    expect(await tokenOf(lockFile)).toBe(bLock.token);
    await bLock.release();
    expect(await readdir(dir)).toEqual([]);
  });

  it('only the owner releases: a holder whose lock was taken leaves the new one and is told at confirm()', async () => {
    const dir = await tempDir();
    const lockFile = join(dir, 'doc.json.lock');
    const lock = await acquireFileLock(lockFile, { what: 'the test document' });
    await writeFile(lockFile, JSON.stringify({ token: 'someone-else', leaseMs: 5_000 }));
    const error = await rejection(lock.confirm());
    expect(isAppError(error, 'STORE_UNAVAILABLE') && error.message).toContain('lost the lock');
    await lock.release();
    expect(await tokenOf(lockFile)).toBe('someone-else');
  });

  it('serialises work and releases the lock however the work ends', async () => {
    const dir = await tempDir();
    const lockFile = join(dir, 'doc.json.lock');
    let inside = 0;
    let most = 0;
    const work = async (): Promise<void> => {
      inside += 1;
      most = Math.max(most, inside);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inside -= 1;
    };
    await Promise.all(Array.from({ length: 8 }, () => withFileLock(lockFile, { what: 'the test document' }, work)));
    expect(most).toBe(1);
    await expect(withFileLock(lockFile, { what: 'the test document' }, async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await readdir(dir)).toEqual([]);
  });
});
