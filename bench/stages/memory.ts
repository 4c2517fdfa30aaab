/**
 * Stage 5, memory: the broker's resident memory per 1,000 idle connected devices.
 *
 * The broker runs alone in its own process (with --expose-gc); the devices connect from
 * other processes (raw MQTT, client id = device id, each subscribed to its own `/rejected`
 * topic, keepalive answered). RSS (VmRSS from /proc) is read after a full GC before and
 * after connecting; the figure is the growth per 1,000 devices — the process's fixed cost
 * (Node, the code) is reported separately and not spread over the devices.
 *
 * Open mode: the figure is what holding a connection costs. With authentication on, every
 * connect also verifies a scrypt hash (README, "Security"), which would turn this stage into a
 * measurement of password hashing at 10,000 devices.
 */
import { buildRejectedTopic } from '../../contracts/index.ts';
import type { BenchContext } from '../context.ts';
import type { IdleDevicesApi } from '../load/idle-devices.ts';
import type { HostApi } from '../sut/host.ts';
import { readOpenFilesLimit, readRssBytes } from '../system.ts';
import { HOST_SCRIPT, benchLogDir, deviceId, kindOf, round, sleep } from './shared.ts';

export interface MemoryResult {
  devices: number;
  connected: number;
  /** Growth per 1,000 devices, MB (10^6 bytes). */
  mbPer1000: number;
  /** Growth per device, KB (10^3 bytes). */
  kbPerDevice: number;
  baselineMb: number;
  loadedMb: number;
  connectSeconds: number;
  loadProcesses: number;
  security: 'open';
}

const IDLE_SCRIPT = new URL('../load/idle-devices.ts', import.meta.url);
/** Descriptors a process needs besides its connections (stdio, IPC, listeners, libuv). */
const FD_HEADROOM = 256;

async function settledRss(broker: { call: (cmd: 'gc') => Promise<{ rssBytes: number }> }, pid: number): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 3; i += 1) {
    await broker.call('gc');
    await sleep(300);
    readings.push(readRssBytes(pid));
  }
  return readings.sort((a, b) => a - b)[1]!;
}

export async function runMemory(ctx: BenchContext): Promise<MemoryResult> {
  const { devices, settleSeconds } = ctx.profile.memory;
  const broker = await ctx.fork<HostApi>(HOST_SCRIPT, { name: 'broker-memory', nodeFlags: ['--expose-gc'] });

  const brokerLimit = readOpenFilesLimit(broker.pid);
  if (brokerLimit < devices + FD_HEADROOM) {
    throw new Error(
      `the broker process may open only ${brokerLimit} files, and ${devices} devices need ${devices + FD_HEADROOM}: ` +
        `raise the limit (ulimit -n ${devices + FD_HEADROOM * 4}, or LimitNOFILE for a service) and run again`,
    );
  }
  const started = await broker.call('start', { broker: { security: { mode: 'open' }, logDir: await benchLogDir(ctx) } });
  const url = new URL(started.mqttUrl!);
  await sleep(500);
  const baseline = await settledRss(broker, broker.pid);

  // Spread devices over as many load processes as their descriptor limit requires.
  const probe = await ctx.fork<IdleDevicesApi>(IDLE_SCRIPT, { name: 'idle-devices-0' });
  const perProcess = Math.max(1, readOpenFilesLimit(probe.pid) - FD_HEADROOM);
  const processes = Math.ceil(devices / perProcess);
  const workers = [probe];
  for (let i = 1; i < processes; i += 1) workers.push(await ctx.fork<IdleDevicesApi>(IDLE_SCRIPT, { name: `idle-devices-${i}` }));

  ctx.log(`memory: connecting ${devices} idle devices from ${processes} process(es)`);
  const connectStarted = performance.now();
  const results = await Promise.all(
    workers.map((w, p) => {
      const from = p * perProcess;
      const to = Math.min(devices, from + perProcess);
      const list = Array.from({ length: to - from }, (_, k) => {
        const index = from + k;
        const kind = kindOf(index);
        const id = deviceId(index, kind);
        return { clientId: id, subscribeTopic: buildRejectedTopic(kind, id) };
      });
      return w.call('connect', { host: url.hostname, port: Number(url.port), devices: list, concurrency: 100, keepaliveS: 300 });
    }),
  );
  const connectSeconds = (performance.now() - connectStarted) / 1000;
  const connected = results.reduce((sum, r) => sum + r.connected, 0);
  const failed = results.reduce((sum, r) => sum + r.failed, 0);
  if (failed > 0) throw new Error(`${failed} of ${devices} devices could not connect: ${results.find((r) => r.firstError)?.firstError}`);
  const stats = await broker.call('stats');
  if (stats.brokerClients !== devices) throw new Error(`the broker reports ${stats.brokerClients} clients, expected ${devices}`);

  await sleep(settleSeconds * 1000);
  const loaded = await settledRss(broker, broker.pid);
  const growth = loaded - baseline;
  return {
    devices,
    connected,
    mbPer1000: round((growth / devices) * 1000 / 1e6, 2),
    kbPerDevice: round(growth / devices / 1e3, 2),
    baselineMb: round(baseline / 1e6, 1),
    loadedMb: round(loaded / 1e6, 1),
    connectSeconds: round(connectSeconds, 1),
    loadProcesses: processes,
    security: 'open',
  };
}
