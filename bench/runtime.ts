/**
 * Child processes for the bench: every system under test and every load generator runs in
 * its own process (so no two share an event loop), talks to the coordinator over an IPC
 * channel with a small request/reply protocol, and is stopped when its stage ends, when
 * the bench fails, or — through the reaper — when the coordinator itself dies.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** `node --import tsx`: children are TypeScript like the rest of the bench. */
const TSX_IMPORT = import.meta.resolve('tsx');

// ---------------------------------------------------------------- the protocol

interface CallMessage {
  kind: 'call';
  id: number;
  cmd: string;
  args: unknown;
}
interface ReplyMessage {
  kind: 'reply';
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}
interface ReadyMessage {
  kind: 'ready';
  info: unknown;
}
interface EventMessage {
  kind: 'event';
  name: string;
  data: unknown;
}
type ChildMessage = ReplyMessage | ReadyMessage | EventMessage;

/** A worker's commands: each takes one argument and returns (a promise of) a value. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type WorkerApi = Record<string, (args: any) => unknown>;

/**
 * The child side: answers calls with `api`, announces itself with `info`, and exits as soon
 * as the coordinator goes away (the IPC channel closes), so an aborted bench leaves no load
 * generator or service behind. That is also how a stage ends its children: every figure is
 * counted before, so there is nothing to close gracefully, and a service that drains queues
 * on close would only slow the next measurement down.
 */
export function serveWorker(api: WorkerApi, info: unknown = {}): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error('a bench worker must be started by the bench (no IPC channel)');
  process.on('disconnect', () => process.exit(0));
  process.on('message', (raw: unknown) => {
    const message = raw as CallMessage;
    if (message?.kind !== 'call') return;
    const handler = api[message.cmd];
    const reply = (ok: boolean, value?: unknown, error?: string) => {
      if (process.connected) send({ kind: 'reply', id: message.id, ok, value, error } satisfies ReplyMessage);
    };
    if (!handler) return reply(false, undefined, `unknown command ${message.cmd}`);
    Promise.resolve()
      .then(() => handler(message.args))
      .then(
        (value) => reply(true, value),
        (error: unknown) => reply(false, undefined, error instanceof Error ? (error.stack ?? error.message) : String(error)),
      );
  });
  send({ kind: 'ready', info } satisfies ReadyMessage);
}

/** Sends an event to the coordinator (progress lines, for example). */
export function emitEvent(name: string, data: unknown): void {
  if (process.connected) process.send?.({ kind: 'event', name, data } satisfies EventMessage);
}

// ---------------------------------------------------------------- the parent side

export interface WorkerHandle<Api extends WorkerApi, Info = unknown> {
  name: string;
  pid: number;
  info: Info;
  /** Runs a command in the child; `timeoutMs` bounds the wait (a child stuck in a busy loop). */
  call<K extends keyof Api & string>(cmd: K, args?: Parameters<Api[K]>[0], timeoutMs?: number): Promise<Awaited<ReturnType<Api[K]>>>;
  onEvent(name: string, listener: (data: unknown) => void): void;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /** Asks politely (IPC disconnect), then SIGTERM, then SIGKILL. */
  stop(graceMs?: number): Promise<void>;
}

export interface ForkOptions {
  name: string;
  args?: string[];
  /** Extra node flags, e.g. --expose-gc. */
  nodeFlags?: string[];
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
  /** Called with the pid once running and when it has exited (the reaper's bookkeeping). */
  track?: (pid: number, alive: boolean) => void;
  /** Where the child's stdout/stderr go: 'inherit' (default) or 'ignore'. */
  output?: 'inherit' | 'ignore';
}

export async function forkWorker<Api extends WorkerApi, Info = unknown>(script: URL, options: ForkOptions): Promise<WorkerHandle<Api, Info>> {
  const child: ChildProcess = fork(fileURLToPath(script), options.args ?? [], {
    // FSTDEP023: fastify's deprecation of an option the API uses; repeated by every API process.
    execArgv: ['--import', TSX_IMPORT, '--disable-warning=FSTDEP023', ...(options.nodeFlags ?? [])],
    env: options.env ?? process.env,
    serialization: 'advanced',
    stdio: options.output === 'ignore' ? ['ignore', 'ignore', 'ignore', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`${options.name}: could not start`);
  options.track?.(pid, true);

  let exitInfo: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = `exited (code ${code}, signal ${signal})`;
      options.track?.(pid, false);
      for (const { reject } of pending.values()) reject(new Error(`${options.name} ${exitInfo} during a call`));
      pending.clear();
      resolve();
    });
  });

  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  const listeners = new Map<string, ((data: unknown) => void)[]>();
  let nextId = 1;
  let readyInfo: unknown;
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${options.name}: not ready within ${options.readyTimeoutMs ?? 60_000} ms`)), options.readyTimeoutMs ?? 60_000);
    child.on('message', (raw: unknown) => {
      const message = raw as ChildMessage;
      if (message.kind === 'ready') {
        clearTimeout(timer);
        readyInfo = message.info;
        resolve();
      } else if (message.kind === 'reply') {
        const waiter = pending.get(message.id);
        pending.delete(message.id);
        if (!waiter) return;
        if (message.ok) waiter.resolve(message.value);
        else waiter.reject(new Error(`${options.name}: ${message.error}`));
      } else if (message.kind === 'event') {
        for (const listener of listeners.get(message.name) ?? []) listener(message.data);
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${options.name} ${exitInfo} before it was ready`));
    });
  });

  const handle: WorkerHandle<Api, Info> = {
    name: options.name,
    pid,
    info: undefined as Info,
    call(cmd, args, timeoutMs) {
      if (exitInfo) return Promise.reject(new Error(`${options.name} ${exitInfo}`));
      return new Promise((resolve, reject) => {
        const id = nextId++;
        const timer =
          timeoutMs === undefined
            ? undefined
            : setTimeout(() => {
                pending.delete(id);
                reject(new Error(`${options.name}: ${cmd} did not answer within ${timeoutMs} ms`));
              }, timeoutMs);
        pending.set(id, {
          resolve: (value) => {
            clearTimeout(timer);
            (resolve as (value: unknown) => void)(value);
          },
          reject: (error) => {
            clearTimeout(timer);
            reject(error);
          },
        });
        child.send({ kind: 'call', id, cmd, args } satisfies CallMessage);
      });
    },
    onEvent(name, listener) {
      listeners.set(name, [...(listeners.get(name) ?? []), listener]);
    },
    exited,
    async stop(graceMs = 5_000) {
      if (exitInfo) return;
      if (child.connected) child.disconnect();
      const term = setTimeout(() => child.kill('SIGTERM'), graceMs);
      const kill = setTimeout(() => child.kill('SIGKILL'), graceMs * 2);
      await exited;
      clearTimeout(term);
      clearTimeout(kill);
    },
  };
  try {
    await ready;
  } catch (error) {
    child.kill('SIGKILL');
    await exited;
    throw error;
  }
  handle.info = readyInfo as Info;
  return handle;
}

// ---------------------------------------------------------------- scopes

/** Cleanups run in reverse order of registration, each once, errors collected not thrown. */
export interface Scope {
  defer(cleanup: () => Promise<void> | void): void;
  close(): Promise<string[]>;
}

export function createScope(): Scope {
  const cleanups: (() => Promise<void> | void)[] = [];
  let closing: Promise<string[]> | undefined;
  return {
    defer(cleanup) {
      cleanups.push(cleanup);
    },
    // Idempotent: a second caller (Ctrl-C while the stage is unwinding) waits for the same
    // cleanups instead of returning while they are still running.
    close() {
      closing ??= (async () => {
        const errors: string[] = [];
        while (cleanups.length > 0) {
          const cleanup = cleanups.pop()!;
          try {
            await cleanup();
          } catch (error) {
            errors.push(error instanceof Error ? error.message : String(error));
          }
        }
        return errors;
      })();
      return closing;
    },
  };
}

// ---------------------------------------------------------------- the reaper

/**
 * A tiny watchdog process: it holds the pids and temporary directories the bench created and,
 * if the coordinator dies without cleaning up (SIGKILL, crash), kills and removes them.
 * influxd and mosquitto have no IPC channel to notice their parent is gone; this is theirs.
 */
export interface Reaper {
  track(pid: number, alive: boolean): void;
  trackDir(dir: string, present: boolean): void;
  close(): Promise<void>;
}

/** The reaper's commands (bench/reaper.ts implements them). */
export type ReaperApi = {
  track(args: { pid: number; alive: boolean }): void;
  trackDir(args: { dir: string; present: boolean }): void;
  forgetAll(args?: undefined): void;
};

export async function startReaper(): Promise<Reaper> {
  const worker = await forkWorker<ReaperApi>(new URL('./reaper.ts', import.meta.url), { name: 'reaper' });
  return {
    track(pid, alive) {
      void worker.call('track', { pid, alive }).catch(() => {});
    },
    trackDir(dir, present) {
      void worker.call('trackDir', { dir, present }).catch(() => {});
    },
    async close() {
      // Everything was cleaned by the bench itself: tell the reaper to forget, then let it go.
      await worker.call('forgetAll').catch(() => {});
      await worker.stop(1_000);
    },
  };
}

/** Removes a directory, ignoring one that is already gone. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}
