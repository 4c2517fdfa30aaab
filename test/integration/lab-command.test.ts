/**
 * `npm run lab` itself, as a user runs it: started as a process on free ports with its own
 * data directory, it prints where everything is, simulated readings arrive through the
 * API, Ctrl-C stops it cleanly, and the data is still there at the next start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LatestResponse } from '../../contracts/index.ts';
import { eventually } from '../helpers/stack.ts';

const ROOT = join(import.meta.dirname, '..', '..');
let dataDir: string;
const children: ChildProcess[] = [];

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

interface RunningLab {
  child: ChildProcess;
  output: () => string;
  apiUrl: string;
  exit: Promise<number | null>;
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
    detached: false,
  });
  children.push(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const apiUrl = await eventually(() => /REST API\s+(http:\/\/[^/\s]+)/.exec(output)?.[1], 60_000, `the lab banner; output so far:\n${output}`);
  return { child, output: () => output, apiUrl, exit };
}

describe('npm run lab', () => {
  it('runs the whole lab, shows simulated readings through the API, stops on Ctrl-C and keeps its data', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'streetlab-lab-'));
    const first = await startLab();
    expect(first.output()).toMatch(/Dashboard\s+http:\/\/127\.0\.0\.1:\d+\//);
    expect(first.output()).toMatch(/mosquitto_pub -h 127\.0\.0\.1 -p \d+ .*-t lab\/v1\/air\/my-sensor-1/);

    const latest = await eventually(async () => {
      const response = await fetch(`${first.apiUrl}/api/v1/latest`);
      const body = (await response.json()) as LatestResponse;
      const kinds = new Set(body.readings.map((r) => r.kind));
      return kinds.size === 3 && body.readings.length >= 5 ? body : undefined;
    }, 30_000, 'readings from every simulated kind');
    expect(latest.readings.map((r) => r.kind).sort()).toEqual(['air', 'air', 'traffic', 'waste', 'waste']);

    const page = await fetch(`${first.apiUrl}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');

    first.child.kill('SIGINT');
    expect(await first.exit).toBe(0);
    expect(first.output()).toContain('data kept in');

    const second = await startLab();
    const kept = await fetch(`${second.apiUrl}/api/v1/readings?from=-1h&limit=10000`);
    const body = (await kept.json()) as { count: number };
    expect(body.count).toBeGreaterThanOrEqual(5);
    second.child.kill('SIGTERM');
    expect(await second.exit).toBe(0);
  });
});
