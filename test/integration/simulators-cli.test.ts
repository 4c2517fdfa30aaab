/**
 * `npm run simulate` as a user runs it: the process against a real broker on a free port.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { createBroker } from '../../broker/broker.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function simulate(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'simulators/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, MQTT_URL: '', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  closers.push(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exit, out: () => stdout, err: () => stderr };
}

async function brokerWithWatcher() {
  const broker = await createBroker({ port: 0 });
  closers.push(() => broker.close());
  const watcher = await mqtt.connectAsync(broker.url, { clientId: 'watcher', reconnectPeriod: 0 });
  closers.push(() => watcher.endAsync());
  const topics = new Map<string, number>();
  watcher.on('message', (topic) => topics.set(topic, (topics.get(topic) ?? 0) + 1));
  await watcher.subscribeAsync('lab/v1/+/+', { qos: 1 });
  return { broker, topics };
}

describe('npm run simulate', () => {
  it('prints its options with --help', async () => {
    const run = simulate(['--help']);
    expect(await run.exit).toBe(0);
    expect(run.out()).toContain('Usage: npm run simulate -- [options]');
    expect(run.out()).toContain('--fault-payload-not-json');
  });

  it('stops with exit code 1 and names a bad option', async () => {
    const run = simulate(['--interval-ms', 'soon']);
    expect(await run.exit).toBe(1);
    expect(run.err()).toMatch(/--interval-ms: .*\(got "soon"\)/);
    const env = simulate([], { SIM_QOS: '2' });
    expect(await env.exit).toBe(1);
    expect(env.err()).toContain('SIM_QOS (environment)');
  });

  it('runs a fleet for --duration-s, shows its status and a summary, and exits 0', async () => {
    const { broker, topics } = await brokerWithWatcher();
    const run = simulate(['--mqtt-url', broker.url, '--air', '1', '--traffic', '1', '--waste', '1', '--interval-ms', '100', '--duration-s', '2', '--status-interval-s', '0.5']);
    expect(await run.exit).toBe(0);
    expect(run.err()).toMatch(/3\/3 devices connected · sent [\d.]+\/s/);
    expect(run.err()).toContain('simulation summary');
    expect(run.err()).toMatch(/devices {6}3 on 3 connections/);
    expect([...topics.keys()].sort()).toEqual(['lab/v1/air/air-001', 'lab/v1/traffic/traffic-001', 'lab/v1/waste/bin-001']);
    expect(broker.connectedClients()).toBe(1);
  });

  it('stops cleanly on SIGTERM', async () => {
    const { broker, topics } = await brokerWithWatcher();
    // Faults on, but no minute-long dropouts: the device must be heard from before the signal.
    const run = simulate(['--interval-ms', '100', '--air', '2', '--traffic', '0', '--waste', '0', '--fault-rate', '0.01', '--fault-dropout', '0'], { MQTT_URL: broker.url });
    const deadline = Date.now() + 20_000;
    while ((topics.get('lab/v1/air/air-002') ?? 0) < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(topics.get('lab/v1/air/air-002')).toBeGreaterThanOrEqual(3);
    run.child.kill('SIGTERM');
    expect(await run.exit).toBe(0);
    expect(run.err()).toContain('simulation summary');
    expect(run.err()).toMatch(/faults {7}\d+ injected:/);
  });
});
