/**
 * The benchmark harness, run as a user runs it (`npm run bench`) with the smoke profile:
 * every stage for a few seconds with tiny counts, real processes and a real InfluxDB. The
 * test checks that the harness works — every figure reported as a number, every stage
 * completed, nothing left running — and never what the numbers are: timings on a shared
 * CI machine prove nothing.
 */
import { spawn } from 'node:child_process';
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIGURE_KEYS, type BenchReport } from '../../bench/report.ts';

const ROOT = join(import.meta.dirname, '..', '..');
let dir: string | undefined;

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runBench(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), join(ROOT, 'bench', 'main.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, STREETLAB_SKIP_BOOTSTRAP: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('npm run bench (smoke profile)', () => {
  it('reports every figure as a number, completes every stage and leaves nothing running', async () => {
    dir = await mkdtemp(join(tmpdir(), 'streetlab-bench-smoke-'));
    const out = join(dir, 'results.json');
    // --cluster adds the cluster stage (Redis; 1 and 2 nodes of each service), not run by default.
    const run = await runBench(['--profile', 'smoke', '--cluster', '--out', out]);
    expect(run.code, `bench exited ${run.code}\n${run.stderr.slice(-4000)}`).toBe(0);

    const report = JSON.parse(await readFile(out, 'utf8')) as BenchReport;
    expect(report.profile).toBe('smoke');
    for (const [name, stage] of Object.entries(report.stages)) expect(stage.ok, `stage ${name}: ${stage.error}`).toBe(true);
    expect(Object.keys(report.stages).sort()).toEqual(['brokers', 'cluster', 'conformance', 'e2e', 'influx-ceiling', 'latency', 'memory', 'queries']);

    for (const key of FIGURE_KEYS) {
      const figure = report.figures[key];
      expect(figure, `figure ${key} missing`).toBeDefined();
      expect(typeof figure.value, `figure ${key} is ${figure.value}`).toBe('number');
      expect(Number.isFinite(figure.value), `figure ${key} is ${figure.value}`).toBe(true);
      if (figure.target !== null) expect(['met', 'missed']).toContain(figure.verdict);
    }
    // The exact count is the point of the end-to-end stage: QoS 1 loses nothing.
    expect(report.figures['e2e.qos1.lost'].value).toBe(0);
    expect(report.figures['e2e.lab.lost'].value).toBe(0);
    expect(report.figures['cluster.n1.lost'].value).toBe(0);
    expect(report.figures['cluster.n2.lost'].value).toBe(0);

    // The table on stdout carries every figure's label.
    for (const key of FIGURE_KEYS) expect(run.stdout).toContain(report.figures[key].label.trim());

    // No influxd, mosquitto or bench child outlives the run: the bench checks every pid it started.
    expect(report.cleanup.processesStarted).toBeGreaterThan(10);
    expect(report.cleanup.leftAlive).toEqual([]);
  }, 300_000);
});
