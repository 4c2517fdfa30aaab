/**
 * `npm run simulate` as a user runs it: the process against a real broker on a free port.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { createBroker } from '../../broker/broker.ts';
import type { KindInput, LatestResponse, ReadingsResponse, RejectionsResponse } from '../../contracts/index.ts';
import { eventually, startStack } from '../helpers/stack.ts';

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

describe('npm run simulate against a secured lab', () => {
  it('registers its devices through the device API and each publishes with its own secret', async () => {
    const stack = await startStack({ security: 'secured' });
    closers.push(() => stack.close());
    const args = ['--mqtt-url', stack.mqttUrl, '--air', '1', '--traffic', '1', '--waste', '1', '--interval-ms', '200', '--duration-s', '3', '--seed', '7'];
    const run = simulate(args, { SIM_API_URL: stack.apiUrl, ADMIN_TOKEN: stack.adminToken });
    expect(await run.exit, run.err() + run.out()).toBe(0);
    expect(run.err()).toContain('registering 3 devices');

    const registered = (await stack.registry.list()).filter((d) => d.owner === 'StreetLab simulator');
    expect(registered.map((d) => d.kind).sort()).toEqual(['air', 'traffic', 'waste']);
    await stack.flush();
    const latest = (await (await fetch(`${stack.apiUrl}/api/v1/latest`, { headers: { authorization: `Bearer ${stack.adminToken}` } })).json()) as LatestResponse;
    expect(latest.readings.map((r) => r.deviceId).sort()).toEqual(registered.map((d) => d.id).sort());

    // A second run finds its devices registered and rotates their secrets instead of failing.
    const again = simulate(args, { SIM_API_URL: stack.apiUrl, ADMIN_TOKEN: stack.adminToken });
    expect(await again.exit, again.err()).toBe(0);
    expect(again.err()).not.toMatch(/refused|not authori[sz]ed/i);
  });

  it('stops with a clear message when the admin token is wrong or missing', async () => {
    const stack = await startStack({ security: 'secured' });
    closers.push(() => stack.close());
    const wrong = simulate(['--mqtt-url', stack.mqttUrl, '--air', '1', '--traffic', '0', '--waste', '0', '--duration-s', '1'], { SIM_API_URL: stack.apiUrl, ADMIN_TOKEN: 'not-the-admin-token-at-all' });
    expect(await wrong.exit).toBe(1);
    expect(wrong.err()).toMatch(/registering air-\S+: the device API answered 401/);
    const half = simulate(['--api-url', stack.apiUrl], { ADMIN_TOKEN: '' });
    expect(await half.exit).toBe(1);
    expect(half.err()).toMatch(/--api-url: needs --admin-token/);
  });
});

describe('npm run simulate with a kind added at run time', () => {
  it('reads the kind from the API, registers its devices and their readings are stored inside the ranges', async () => {
    const stack = await startStack({ security: 'secured' });
    closers.push(() => stack.close());
    const soil = JSON.parse(readFileSync(join(ROOT, 'test', 'fixtures', 'kinds', 'soil.json'), 'utf8')) as KindInput;
    const auth = { authorization: `Bearer ${stack.adminToken}` };
    const created = await fetch(`${stack.apiUrl}/api/v1/kinds`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(soil) });
    expect(created.status, await created.text()).toBe(201);

    // An unknown kind stops the simulator before anything is registered, naming the kinds the lab has.
    const unknown = simulate(['--mqtt-url', stack.mqttUrl, '--air', '0', '--traffic', '0', '--waste', '0', '--duration-s', '1'], { SIM_API_URL: stack.apiUrl, ADMIN_TOKEN: stack.adminToken, SIM_KINDS: 'soil:1,compost:2' });
    expect(await unknown.exit).toBe(1);
    expect(unknown.err()).toMatch(/--kind: unknown kind "compost"; known kinds: air, traffic, waste, soil/);
    expect(await stack.registry.list()).toEqual([]);

    const run = simulate(['--mqtt-url', stack.mqttUrl, '--air', '0', '--traffic', '0', '--waste', '0', '--kind', 'soil=2', '--interval-ms', '200', '--duration-s', '3', '--seed', '5'], { SIM_API_URL: stack.apiUrl, ADMIN_TOKEN: stack.adminToken });
    expect(await run.exit, run.err() + run.out()).toBe(0);
    expect(run.err()).toContain('registering 2 devices');
    const registered = await stack.registry.list();
    expect(registered.map((d) => [d.id, d.kind, d.owner]).sort()).toEqual([['soil-001', 'soil', 'StreetLab simulator'], ['soil-002', 'soil', 'StreetLab simulator']]);

    await stack.flush();
    const page = await eventually(async () => {
      const answer = await fetch(`${stack.apiUrl}/api/v1/readings?kind=soil&from=-1h&limit=1000`, { headers: auth });
      if (answer.status !== 200) return undefined;
      const body = (await answer.json()) as ReadingsResponse;
      return new Set(body.readings.map((r) => r.deviceId)).size === 2 ? body : undefined;
    }, 10_000, 'readings of both soil devices from the API');
    // A few seconds at 200 ms each: several readings per device, every one inside the definition.
    expect(page.readings.length).toBeGreaterThanOrEqual(6);
    for (const reading of page.readings) {
      expect(reading.kind).toBe('soil');
      const values = reading.values as Record<string, number>;
      expect(values.moisture, 'moisture is required').toBeTypeOf('number');
      for (const field of soil.fields) {
        const value = values[field.name];
        if (value === undefined) continue;
        expect(value).toBeGreaterThanOrEqual(field.min!);
        expect(value).toBeLessThanOrEqual(field.max!);
      }
    }
    const rejections = await fetch(`${stack.apiUrl}/api/v1/rejections?from=-1h`, { headers: auth });
    expect(rejections.status).toBe(200);
    expect(((await rejections.json()) as RejectionsResponse).rejections).toEqual([]);
  });
});
