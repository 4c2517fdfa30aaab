/**
 * `npm run broker` as its own process, configured only through the environment, sharing
 * the registry file with another process (`npm run devices -- --data-dir`): a device added
 * there can publish without a restart, and a disabled one is refused.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceWithSecret } from '../../contracts/index.ts';
import { findFreePort } from '../../common/net.ts';
import { runDevicesCli } from '../../api/cli/run.ts';
import { eventually } from '../helpers/stack.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const MOSQUITTO_PUB = '/usr/bin/mosquitto_pub';
let dir: string;
let port: number;
let broker: ChildProcess | undefined;
let output = '';

beforeAll(async () => {
  if (!existsSync(MOSQUITTO_PUB)) throw new Error(`${MOSQUITTO_PUB} is missing: install it with \`sudo apt-get install -y mosquitto-clients\``);
  dir = await mkdtemp(join(tmpdir(), 'streetlab-broker-process-'));
  port = await findFreePort();
  broker = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'broker', 'main.ts')], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATA_DIR: dir,
      MQTT_PORT: String(port),
      MQTT_WS_ENABLED: 'false',
      BROKER_HTTP_PORT: 'off',
      BROKER_PERSISTENCE: 'memory',
      SERVICE_TOKEN: 'process-test-service-token-0123456789abcdef',
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  broker.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  broker.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await eventually(() => (output.includes('broker listening') ? true : undefined), 30_000, `the broker to listen; output:\n${output}`);
});

afterAll(async () => {
  if (broker && broker.exitCode === null) {
    const exited = new Promise((resolve) => broker!.once('exit', resolve));
    broker.kill('SIGTERM');
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

function publish(id: string, secret: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(MOSQUITTO_PUB, ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-i', id, '-u', id, '-P', secret, '-q', '1', '-t', `lab/v1/air/${id}`, '-m', '{"pm25": 3}'], { timeout: 5_000 }, (error, stdout, stderr) => {
      const code = error ? Number((error as { code?: number }).code ?? 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

async function devices(args: string[]): Promise<string> {
  let out = '';
  let err = '';
  const code = await runDevicesCli(['--data-dir', dir, ...args], { env: {}, out: (t) => (out += t), err: (t) => (err += t) });
  expect(code, err).toBe(0);
  return out;
}

describe('npm run broker with a registry changed by another process', () => {
  // How soon the broker sees a change (the registry's poll, "within a second") is unit-tested
  // in test/unit/registry/file-registry.test.ts; here: that it does, without a restart.
  it('accepts a device added there, and refuses it once disabled, without a restart', async () => {
    const added = JSON.parse(await devices(['add', 'air-proc-1', '--kind', 'air', '--owner', 'acme', '--lat', '55.7', '--lon', '12.6', '--json'])) as DeviceWithSecret;
    await eventually(async () => ((await publish('air-proc-1', added.secret)).code === 0 ? true : undefined), 20_000, 'the broker to accept the new device');

    await devices(['disable', 'air-proc-1']);
    await eventually(async () => ((await publish('air-proc-1', added.secret)).code !== 0 ? true : undefined), 20_000, 'the broker to refuse the disabled device');
    const refused = await publish('air-proc-1', added.secret);
    expect(refused.output).toMatch(/not authori[sz]ed/i);
    // The broker's log reaches this process through a pipe, a moment after the refusal.
    await eventually(() => (output.includes('"reason":"DISABLED"') ? true : undefined), 20_000, 'the refusal in the broker log');
    expect(output).not.toContain(added.secret);
  });
});
