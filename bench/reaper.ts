/**
 * Entry point of the reaper child (see `startReaper` in runtime.ts): when the bench's IPC
 * channel closes while it still holds pids or directories, the bench died without cleaning
 * up, so they are killed and removed here.
 */
import { rmSync } from 'node:fs';
import type { ReaperApi } from './runtime.ts';

const pids = new Set<number>();
const dirs = new Set<string>();

// Ctrl-C reaches the whole process group: the reaper stays, in case the bench cannot clean up.
process.on('SIGINT', () => {});
process.on('disconnect', () => {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  process.exit(0);
});

const api: ReaperApi = {
  track({ pid, alive }) {
    if (alive) pids.add(pid);
    else pids.delete(pid);
  },
  trackDir({ dir, present }) {
    if (present) dirs.add(dir);
    else dirs.delete(dir);
  },
  forgetAll() {
    pids.clear();
    dirs.clear();
  },
};

// Not serveWorker: it exits on disconnect before this module's own handler could run.
process.on('message', (raw: unknown) => {
  const message = raw as { kind: string; id: number; cmd: keyof ReaperApi; args: never };
  if (message?.kind !== 'call') return;
  (api[message.cmd] as (args: never) => void)(message.args);
  process.send?.({ kind: 'reply', id: message.id, ok: true });
});
process.send?.({ kind: 'ready', info: {} });
