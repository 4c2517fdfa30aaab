/**
 * Scheduled jobs: the scheduler over real node-cron never overlaps a job with itself (skips
 * are counted), records every run's outcome, and GET /api/v1/jobs shows the API's jobs —
 * rollups, offline detection, alert repeats, and any job registered later — on the real lab.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlertRuleListResponse, ErrorResponse, JobListResponse, JobStatus } from '../../contracts/index.ts';
import { createScheduler, type Scheduler } from '../../api/jobs/scheduler.ts';
import { LAB_ALERT_RULES } from '../../api/alerts/defaults.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('the scheduler (real node-cron)', () => {
  let scheduler: Scheduler;
  afterAll(() => scheduler?.close());

  it('never runs a slow job twice at once: ticks that find it running are skipped and counted', async () => {
    scheduler = createScheduler();
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    // Every second; each run takes 2.5 s, so at least one tick lands on a running job.
    scheduler.registerJob('slow', '* * * * * *', async () => {
      running += 1;
      maxRunning = Math.max(maxRunning, running);
      await sleep(2_500);
      running -= 1;
      runs += 1;
    });
    await scheduler.start();
    const status = await eventually(() => {
      const s = scheduler.list()[0]!;
      return s.runs >= 1 && s.skips >= 1 ? s : undefined;
    }, 15_000, 'a finished run and a skipped tick');
    expect(maxRunning).toBe(1);
    expect(status).toMatchObject({ name: 'slow', schedule: '* * * * * *', failures: 0 });
    expect(status.lastRun).toMatchObject({ outcome: 'ok' });
    expect(status.lastRun!.durationMs).toBeGreaterThanOrEqual(2_000);
    expect(Date.parse(status.nextRunAt!)).toBeGreaterThan(Date.parse(status.lastRun!.startedAt));
    expect(runs).toBe(status.runs);
    await scheduler.close();
    expect(maxRunning).toBe(1);
  });

  it('trigger runs a job like a tick: skipped while it runs; a failure is recorded and the job keeps its schedule', async () => {
    scheduler = createScheduler();
    let release!: () => void;
    let calls = 0;
    scheduler.registerJob('manual', '0 0 1 1 *', async () => {
      calls += 1;
      if (calls === 1) await new Promise<void>((resolve) => (release = resolve));
      if (calls === 2) throw new Error('InfluxDB unreachable');
    });
    await scheduler.start();
    const first = scheduler.trigger('manual');
    await eventually(() => (scheduler.list()[0]!.running ? true : undefined));
    expect(scheduler.list()[0]!.runningSince).toBeDefined();
    expect(await scheduler.trigger('manual')).toBe('skipped');
    release();
    expect(await first).toBe('ok');
    expect(await scheduler.trigger('manual')).toBe('error');
    const status = scheduler.list()[0]!;
    expect(status).toMatchObject({ runs: 2, failures: 1, skips: 1, running: false });
    expect(status.lastRun).toMatchObject({ outcome: 'error', message: 'InfluxDB unreachable' });
    const next = new Date(status.nextRunAt!);
    expect([next.getMonth(), next.getDate(), next.getHours(), next.getMinutes()]).toEqual([0, 1, 0, 0]);
    expect(await scheduler.trigger('manual')).toBe('ok');
    await expect(scheduler.trigger('nope')).rejects.toThrow(/no job "nope"/);
    await scheduler.close();
  });

  it('refuses a bad cron expression or a taken name, naming the job', () => {
    scheduler = createScheduler();
    scheduler.registerJob('a', '* * * * *', () => {});
    expect(() => scheduler.registerJob('a', '* * * * *', () => {})).toThrow(/"a" is already registered/);
    expect(() => scheduler.registerJob('b', 'every minute', () => {})).toThrow(/job "b": "every minute" is not a cron expression/);
  });
});

describe('GET /api/v1/jobs on the lab', () => {
  let stack: Stack;
  beforeAll(async () => {
    // Rollups on (every 5 minutes, one run at start) and the lab's default alert rules.
    stack = await startStack({ security: 'secured', publicRead: false });
  });
  afterAll(() => stack?.close());

  async function jobs(token: string | undefined): Promise<{ status: number; body: JobListResponse & ErrorResponse }> {
    const response = await fetch(`${stack.apiUrl}/api/v1/jobs`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: response.status, body: (await response.json()) as JobListResponse & ErrorResponse };
  }
  const byName = (list: JobStatus[], name: string) => list.find((j) => j.name === name);

  it('lists rollups, offline detection, alert repeats and the trial summary with schedule, last run and next run', async () => {
    const list = await eventually(async () => {
      const found = (await jobs(stack.adminToken)).body.jobs;
      // The rollups run once at start, through the scheduler.
      return byName(found, 'rollups')?.lastRun ? found : undefined;
    }, 30_000, 'the start-up rollup run');
    expect(list.map((j) => j.name).sort()).toEqual(['alert-repeats', 'offline-detection', 'rollups', 'trial-daily-summary']);
    expect(byName(list, 'trial-daily-summary')).toMatchObject({ schedule: '15 0 * * *', runs: 0 });
    expect(byName(list, 'rollups')).toMatchObject({ schedule: '*/5 * * * *', runs: 1, failures: 0, lastRun: { outcome: 'ok' } });
    expect(byName(list, 'offline-detection')).toMatchObject({ schedule: '* * * * *', running: false });
    for (const job of list) expect(Date.parse(job.nextRunAt!)).toBeGreaterThan(Date.now() - 1_000);

    expect(await stack.lab.api.scheduler.trigger('offline-detection')).toBe('ok');
    const after = byName((await jobs(stack.adminToken)).body.jobs, 'offline-detection')!;
    expect(after.lastRun).toMatchObject({ outcome: 'ok' });
    expect(after.lastRun!.durationMs).toBeGreaterThanOrEqual(0);
    expect(Date.parse(after.lastRun!.finishedAt)).toBeGreaterThanOrEqual(Date.parse(after.lastRun!.startedAt));
  });

  it('shows a job registered later (registerJob)', async () => {
    stack.lab.api.scheduler.registerJob('weekly-export', '0 6 * * *', async () => {}, { description: 'a job added after start' });
    const job = byName((await jobs(stack.adminToken)).body.jobs, 'weekly-export');
    expect(job).toMatchObject({ schedule: '0 6 * * *', description: 'a job added after start', runs: 0 });
    expect(new Date(job!.nextRunAt!).getMinutes()).toBe(0);
  });

  it('is documented in the OpenAPI document with the alert routes', async () => {
    const spec = (await (await fetch(`${stack.apiUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining(['/api/v1/jobs', '/api/v1/alerts', '/api/v1/alert-rules', '/api/v1/alert-rules/{id}']));
  });

  it('needs read access', async () => {
    expect((await jobs(undefined)).status).toBe(401);
  });

  it('the lab seeds its example alert rules into a new rule store', async () => {
    const response = await fetch(`${stack.apiUrl}/api/v1/alert-rules`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
    const { rules } = (await response.json()) as AlertRuleListResponse;
    expect(rules.map((r) => r.id)).toEqual(LAB_ALERT_RULES.map((r) => r.id));
    expect(rules.find((r) => r.id === 'device-offline')).toMatchObject({ type: 'offline', intervals: 3 });
    expect(rules.find((r) => r.id === 'air-poor')).toMatchObject({ type: 'eaqi', level: 4 });
  });
});
