/**
 * `npm run lab` itself, as a user runs it: started as a process on free ports with its own
 * data directory, it prints where everything is, simulated readings arrive through the
 * API, Ctrl-C stops it cleanly, and the data is still there at the next start.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LatestResponse, ReadingsResponse } from '../../contracts/index.ts';
import { eventually } from '../helpers/stack.ts';

const ROOT = join(import.meta.dirname, '..', '..');
let dataDir: string;
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) signalGroup(child, 'SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Ctrl-C (SIGINT) or a stop (SIGTERM / SIGKILL) as a terminal sends it: to the whole process group. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

interface RunningLab {
  child: ChildProcess;
  output: () => string;
  apiUrl: string;
  /**
   * Settles when every process of the lab has closed its end of the output pipes (npm, tsx,
   * node, influxd), with how npm ended: npm itself dies of the signal, as in a terminal.
   */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startLab(): Promise<RunningLab> {
  const child = spawn('npm', ['run', '--silent', 'lab'], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      HTTP_PORT: '0',
      MQTT_PORT: '0',
      MQTT_WS_PORT: '0',
      LAB_INFLUX_PORT: '0',
      SIM_AIR: '2',
      SIM_TRAFFIC: '1',
      SIM_WASTE: '2',
      SIM_INTERVAL_MS: '500',
      // The suite's own bootstrap already ran; building the dashboard again is not under test here.
      STREETLAB_SKIP_BOOTSTRAP: '1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a signal reaches npm, tsx, node and influxd together —
    // as Ctrl-C in a terminal does (npm's `sh -c` does not forward signals).
    detached: true,
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  const apiUrl = await eventually(() => /REST API\s+(http:\/\/[^/\s]+)/.exec(output)?.[1], 60_000, `the lab banner; output so far:\n${output}`);
  return { child, output: () => output, apiUrl, closed };
}

describe('npm run lab', () => {
  it('runs the whole lab, shows simulated readings through the API, stops on Ctrl-C and keeps its data', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streetlab-lab-'));
    const first = await startLab();
    expect(first.output()).toMatch(/Dashboard\s+http:\/\/127\.0\.0\.1:\d+\//);
    expect(first.output()).toMatch(/Admin token\s+\S{16,}/);

    // The banner's onboarding commands work as printed: register a device with the admin
    // token, publish as it with the secret from the answer (mosquitto_pub), read it back.
    const register = /^\s*(SECRET=\$\(curl .*)$/m.exec(first.output())?.[1];
    const publish = /^\s*(mosquitto_pub -h 127\.0\.0\.1 -p \d+ -i my-sensor-1 -u my-sensor-1 -P "\$SECRET" .*)$/m.exec(first.output())?.[1];
    expect(register, first.output()).toBeDefined();
    expect(publish, first.output()).toBeDefined();
    await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', `${register}\n${publish}`], { timeout: 20_000 });
    const mine = await eventually(async () => {
      const response = await fetch(`${first.apiUrl}/api/v1/readings?device=my-sensor-1&from=-1h`);
      const body = (await response.json()) as ReadingsResponse;
      return body.readings.find((r) => r.deviceId === 'my-sensor-1');
    }, 10_000, 'the hand-published reading');
    expect(mine.values).toMatchObject({ pm25: 12.5, no2: 31 });

    const latest = await eventually(async () => {
      const response = await fetch(`${first.apiUrl}/api/v1/latest`);
      const body = (await response.json()) as LatestResponse;
      const simulated = body.readings.filter((r) => r.deviceId !== 'my-sensor-1');
      return new Set(simulated.map((r) => r.kind)).size === 3 && simulated.length >= 5 ? simulated : undefined;
    }, 30_000, 'readings from every simulated kind');
    expect(latest.map((r) => r.kind).sort()).toEqual(['air', 'air', 'traffic', 'waste', 'waste']);

    const page = await fetch(`${first.apiUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');

    signalGroup(first.child, 'SIGINT');
    const firstEnd = await first.closed;
    expect([0, 'SIGINT']).toContain(firstEnd.code ?? firstEnd.signal);
    // Printed by the lab only after every service closed cleanly.
    expect(first.output()).toContain(`stopped; data kept in ${dataDir}`);
    expect(first.output()).not.toMatch(/error while stopping/i);

    const second = await startLab();
    const kept = await fetch(`${second.apiUrl}/api/v1/readings?from=-1h&limit=10000`);
    const body = (await kept.json()) as { count: number };
    expect(body.count).toBeGreaterThanOrEqual(5);
    signalGroup(second.child, 'SIGTERM');
    const secondEnd = await second.closed;
    expect([0, 'SIGTERM']).toContain(secondEnd.code ?? secondEnd.signal);
    expect(second.output()).toContain(`stopped; data kept in ${dataDir}`);
  }, 180_000);
});
