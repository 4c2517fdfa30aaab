/**
 * Starts a private InfluxDB 1.x server (Debian's `influxd`) with its own data directory on a
 * free loopback port, for the lab and the tests. Configuration goes through `INFLUXDB_*`
 * environment variables so no root-owned path (/var/lib/influxdb, /etc) is touched.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError } from './errors.ts';
import { findFreePort } from './net.ts';

export const INFLUXD_INSTALL_HINT =
  'InfluxDB (influxd) was not found. Install it with `sudo apt-get install -y influxdb` (Debian/Ubuntu), ' +
  'or set INFLUX_URL to an InfluxDB you already run (1.x, 2.7+ with INFLUX_TOKEN, or 3.x).';

export interface InfluxServer {
  url: string;
  port: number;
  dataDir: string;
  pid: number | undefined;
  /** Stops the server (SIGTERM, then SIGKILL after `graceMs`); removes a temporary data dir. */
  stop(graceMs?: number): Promise<void>;
  /** Kills it hard, as a crash would (for fault-injection tests). */
  kill(): void;
}

export interface InfluxServerOptions {
  /** Persistent data directory; omitted = a fresh temporary one, removed on stop. */
  dataDir?: string;
  /** HTTP port; omitted or 0 = a free loopback port. */
  port?: number;
  /** Database to create once the server answers. */
  database?: string;
  startTimeoutMs?: number;
  /** Where influxd's own log goes; default: discarded. */
  logFile?: string;
  /** Largest write body influxd accepts (INFLUXDB_HTTP_MAX_BODY_SIZE); omitted = no limit. Tests use it to provoke 413. */
  maxBodySizeBytes?: number;
  /**
   * Run influxd in its own process group, so that Ctrl-C in a terminal (sent to the whole
   * foreground group) does not stop it before the services that still write to it: the
   * owner stops it last, and kills it when the owner's process exits. The lab uses this.
   */
  ownProcessGroup?: boolean;
}

const CANDIDATE_PATHS = ['/usr/bin/influxd', '/usr/local/bin/influxd', '/usr/sbin/influxd'];

/** The path of `influxd`, or undefined. */
export function findInfluxd(): string | undefined {
  if (process.env.INFLUXD_PATH && existsSync(process.env.INFLUXD_PATH)) return process.env.INFLUXD_PATH;
  for (const candidate of CANDIDATE_PATHS) if (existsSync(candidate)) return candidate;
  const which = spawnSync('sh', ['-c', 'command -v influxd'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found ? found : undefined;
}

export async function startInfluxServer(options: InfluxServerOptions = {}): Promise<InfluxServer> {
  const binary = findInfluxd();
  if (!binary) throw new AppError('INFLUXD_MISSING', INFLUXD_INSTALL_HINT);

  const temporary = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'streetlab-influx-')));
  mkdirSync(dataDir, { recursive: true });
  // An empty config file keeps influxd from reading /etc/influxdb/influxdb.conf.
  const configFile = join(dataDir, 'influxdb.conf');
  if (!existsSync(configFile)) writeFileSync(configFile, '# settings come from INFLUXDB_* variables\n');

  // A persistent data directory may hold an influxd a crashed owner left running (the lab's
  // runs in its own process group, so a SIGKILL of the lab does not reach it): stop it first,
  // or the new one could not open the same files and port.
  const pidFile = temporary ? undefined : join(dataDir, 'influxd.pid');
  if (pidFile) await stopLeftover(pidFile);

  let lastError: unknown;
  // A free port can be taken between probing and binding; try a few.
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const port = options.port && options.port > 0 ? options.port : await findFreePort();
    const rpcPort = await findFreePort();
    try {
      const child = spawnInfluxd(binary, configFile, dataDir, port, rpcPort, options.logFile, options.maxBodySizeBytes, options.ownProcessGroup === true);
      const url = `http://127.0.0.1:${port}`;
      await waitForPing(url, child, options.startTimeoutMs ?? 30_000);
      if (pidFile && child.pid !== undefined) writeFileSync(pidFile, String(child.pid));
      if (options.database) await createDatabase(url, options.database);
      return buildHandle(child, url, port, dataDir, temporary, pidFile);
    } catch (error) {
      lastError = error;
      if (options.port && options.port > 0) break;
    }
  }
  if (temporary) await rm(dataDir, { recursive: true, force: true });
  throw lastError instanceof AppError
    ? lastError
    : new AppError('INFLUXD_START_FAILED', `influxd did not start: ${String(lastError)}`, { cause: lastError });
}

function spawnInfluxd(
  binary: string,
  configFile: string,
  dataDir: string,
  port: number,
  rpcPort: number,
  logFile: string | undefined,
  maxBodySizeBytes: number | undefined,
  ownProcessGroup: boolean,
): ChildProcess {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? dataDir,
    INFLUXDB_META_DIR: join(dataDir, 'meta'),
    INFLUXDB_DATA_DIR: join(dataDir, 'data'),
    INFLUXDB_DATA_WAL_DIR: join(dataDir, 'wal'),
    INFLUXDB_HTTP_BIND_ADDRESS: `127.0.0.1:${port}`,
    INFLUXDB_BIND_ADDRESS: `127.0.0.1:${rpcPort}`,
    INFLUXDB_REPORTING_DISABLED: 'true',
    INFLUXDB_HTTP_LOG_ENABLED: 'false',
    INFLUXDB_DATA_QUERY_LOG_ENABLED: 'false',
    INFLUXDB_MONITOR_STORE_ENABLED: 'false',
    INFLUXDB_HTTP_MAX_BODY_SIZE: String(maxBodySizeBytes ?? 0),
  };
  const out = logFile ? ('pipe' as const) : ('ignore' as const);
  const child = spawn(binary, ['run', '-config', configFile], { env, stdio: ['ignore', out, out], detached: ownProcessGroup });
  if (ownProcessGroup) {
    // Outside our process group nothing else stops it: never leave it running after we exit
    // (also when a shutdown overruns its grace and the process exits early).
    const killOnExit = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    };
    process.once('exit', killOnExit);
    child.once('exit', () => process.removeListener('exit', killOnExit));
  }
  if (logFile && child.stdout && child.stderr) {
    void import('node:fs').then(({ createWriteStream }) => {
      const stream = createWriteStream(logFile, { flags: 'a' });
      child.stdout?.pipe(stream);
      child.stderr?.pipe(stream);
    });
  }
  return child;
}

async function waitForPing(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    exited = `influxd exited early (code ${code}, signal ${signal})`;
  });
  while (Date.now() < deadline) {
    if (exited) throw new AppError('INFLUXD_START_FAILED', exited);
    try {
      const response = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(1_000) });
      if (response.status === 204) return;
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  child.kill('SIGKILL');
  throw new AppError('INFLUXD_START_FAILED', `influxd did not answer /ping at ${url} within ${timeoutMs} ms`);
}

async function createDatabase(url: string, database: string): Promise<void> {
  const body = new URLSearchParams({ q: `CREATE DATABASE "${database.replace(/"/g, '\\"')}"` });
  const response = await fetch(`${url}/query`, { method: 'POST', body });
  if (!response.ok) throw new AppError('INFLUXD_START_FAILED', `CREATE DATABASE failed: HTTP ${response.status}`);
}

/** Stops the influxd named by a pid file if it is still running (and is influxd). */
async function stopLeftover(pidFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  const isInfluxd = () => {
    try {
      return Number.isSafeInteger(pid) && pid > 1 && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('influxd');
    } catch {
      return false;
    }
  };
  if (!isInfluxd()) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (isInfluxd() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (isInfluxd()) process.kill(pid, 'SIGKILL');
  while (isInfluxd()) await new Promise((resolve) => setTimeout(resolve, 50));
}

function buildHandle(child: ChildProcess, url: string, port: number, dataDir: string, temporary: boolean, pidFile: string | undefined): InfluxServer {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    url,
    port,
    dataDir,
    pid: child.pid,
    async stop(graceMs = 5_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      if (pidFile) await rm(pidFile, { force: true });
      if (temporary) await rm(dataDir, { recursive: true, force: true });
    },
    kill() {
      child.kill('SIGKILL');
    },
  };
}
