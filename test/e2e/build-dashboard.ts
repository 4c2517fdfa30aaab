/**
 * Builds the dashboard with Vite when dist/dashboard is missing or older than its sources
 * (dashboard/ and contracts/), as `npm test`'s bootstrap does, so the browser tests also
 * work when run on their own. The API serves what it finds at start: build before startStack.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(import.meta.dirname, '..', '..');
export const DASHBOARD_DIST = join(ROOT, 'dist', 'dashboard');
const LOCK = join(ROOT, 'dist', '.dashboard-build.lock');

function newest(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = stat.mtimeMs;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

export function dashboardIsFresh(): boolean {
  const built = join(DASHBOARD_DIST, 'index.html');
  if (!existsSync(built)) return false;
  return statSync(built).mtimeMs >= Math.max(newest(join(ROOT, 'dashboard')), newest(join(ROOT, 'contracts')));
}

/** Builds unless fresh; concurrent callers (parallel test files) wait for one build. */
export async function ensureDashboardBuilt(timeoutMs = 110_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  for (;;) {
    if (dashboardIsFresh()) return;
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      // Another build is running (or a crashed one left its lock: take it after a while).
      if (Date.now() > deadline) throw new Error(`the dashboard build lock ${LOCK} is still held`);
      const lock = statSync(LOCK, { throwIfNoEntry: false });
      if (lock && Date.now() - lock.mtimeMs > 120_000) rmSync(LOCK, { recursive: true, force: true });
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  try {
    if (dashboardIsFresh()) return;
    await promisify(execFile)(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', 'dashboard/vite.config.ts', '--logLevel', 'warn'], {
      cwd: ROOT,
      timeout: timeoutMs,
    });
    if (!existsSync(join(DASHBOARD_DIST, 'index.html'))) throw new Error('vite build finished but dist/dashboard/index.html is missing');
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
