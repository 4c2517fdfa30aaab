/**
 * Starts a private Redis (Debian's `redis-server` 7) on a free loopback port with its own
 * directory, for the tests and the lab's cluster mode — as influx-server.ts does for
 * InfluxDB. Append-only persistence is on, so a restart of the same directory keeps state.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from './errors.ts';
import { findFreePort } from './net.ts';

export const REDIS_INSTALL_HINT = 'Redis (redis-server) was not found. Install it with `sudo apt-get install -y redis-server` (Debian/Ubuntu), or set REDIS_URL to a Redis 7 you already run.';

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  /** SIGTERM and wait; removes a temporary directory. */
  stop(): Promise<void>;
  /** SIGKILL, as a crash (fault-injection tests). */
  kill(): Promise<void>;
}

export function findRedisServer(): string | undefined {
  for (const candidate of ['/usr/bin/redis-server', '/usr/local/bin/redis-server']) if (existsSync(candidate)) return candidate;
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : undefined;
}

export async function startRedisServer(options: { dir?: string; port?: number; startTimeoutMs?: number } = {}): Promise<RedisServer> {
  const binary = findRedisServer();
  if (!binary) throw new AppError('REDIS_MISSING', REDIS_INSTALL_HINT);
  const temporary = options.dir === undefined;
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'streetlab-redis-')));
  mkdirSync(dir, { recursive: true });
  const port = options.port && options.port > 0 ? options.port : await findFreePort();
  const child: ChildProcess = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'yes', '--protected-mode', 'yes'], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
  for (;;) {
    if (child.exitCode !== null) throw new AppError('REDIS_START_FAILED', `redis-server exited early (code ${child.exitCode}) on port ${port}`);
    if (await answersPing(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new AppError('REDIS_START_FAILED', `redis-server did not answer PING on port ${port}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const stopWith = async (signal: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      await exited;
    }
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async stop() {
      await stopWith('SIGTERM');
      if (temporary) await rm(dir, { recursive: true, force: true });
    },
    kill: () => stopWith('SIGKILL'),
  };
}

/** One inline PING over RESP, without a client library. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
  });
}
