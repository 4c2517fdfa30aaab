/**
 * Reference-station comparison against a synthetic pair with a known relation, seeded as raw
 * line protocol into a real InfluxDB: pm25 reads the reference + 3 µg/m³ with Gaussian noise
 * (σ 2) per hour; no2 reads 0.8 × reference + 5, drifting +0.5 µg/m³ a day. The report's bias,
 * RMSE, R², fit and drift must match within statistical tolerance. Then the daily summary
 * over the same data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobListResponse, TrialReport } from '../../contracts/index.ts';
import { summariseTrialsDaily, TRIAL_DAILY_MEASUREMENT } from '../../api/trials/daily-summary.ts';
import { createReadingStore } from '../../api/store.ts';
import { createRandom } from '../../simulators/random.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DAYS = 14;
let stack: Stack;
const end = Math.floor(Date.now() / HOUR) * HOUR;
const start = end - DAYS * DAY;
// Reference pm25 varies daily and weekly: over whole periods its variance is 15²/2 + 5²/2 = 125.
const refPm25 = (h: number) => 30 + 15 * Math.sin((2 * Math.PI * h) / 24) + 5 * Math.sin((2 * Math.PI * h) / (24 * 7));
const refNo2 = (h: number) => 40 + 20 * Math.sin((2 * Math.PI * (h + 6)) / 24);

beforeAll(async () => {
  stack = await startStack({ security: 'secured' });
  await stack.register('air', 'air-ref-station', { owner: 'city' });
  await stack.register('air', 'air-dut-1', { owner: 'acme' });
  const random = createRandom('reference-pair');
  const lines: string[] = [];
  for (let h = 0; h < DAYS * 24; h++) {
    const pm25Ref = refPm25(h);
    const no2Ref = refNo2(h);
    const pm25 = pm25Ref + 3 + random.gaussian(0, 2);
    const no2 = 0.8 * no2Ref + 5 + 0.5 * (h / 24) + random.gaussian(0, 1);
    // Six readings per hour with the hour's value: the hourly mean is exactly that value.
    for (let m = 0; m < 60; m += 10) {
      const ns = `${start + h * HOUR + m * 60_000}000000`;
      lines.push(`air,device=air-ref-station,owner=city pm25=${pm25Ref},no2=${no2Ref} ${ns}`);
      lines.push(`air,device=air-dut-1,owner=acme pm25=${pm25},no2=${no2},battery=${(90 - (h / 24) * 2).toFixed(3)} ${ns}`);
    }
  }
  await stack.influx.write(lines);
  const created = await fetch(`${stack.apiUrl}/api/v1/trials`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      id: 'acme-colocation',
      name: 'Acme PM/NO2 co-location at the reference station',
      owner: 'acme',
      deviceIds: ['air-dut-1'],
      referenceDeviceId: 'air-ref-station',
      start: new Date(start).toISOString(),
      goals: { intervalSeconds: 600, completenessPct: 99 },
    }),
  });
  expect(created.status, await created.clone().text()).toBe(201);
}, 180_000);

afterAll(async () => {
  await stack?.close();
});

describe('reference comparison on paired hourly means', () => {
  let report: TrialReport;
  beforeAll(async () => {
    const response = await fetch(`${stack.apiUrl}/api/v1/trials/acme-colocation/report?to=${new Date(end).toISOString()}`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
    expect(response.status).toBe(200);
    report = (await response.json()) as TrialReport;
  });

  it('pm25 with a known bias of 3 and noise σ 2: bias, RMSE, R², slope and intercept', () => {
    const pm25 = report.devices[0]!.reference!.pollutants.find((p) => p.pollutant === 'pm25')!;
    expect(report.devices[0]!.reference!.deviceId).toBe('air-ref-station');
    expect(pm25.pairedHours).toBe(DAYS * 24);
    expect(pm25.unit).toBe('µg/m³');
    // Standard error of the bias: 2/√336 ≈ 0.11; tolerances are about 3 standard errors.
    expect(Math.abs(pm25.bias! - 3)).toBeLessThan(0.35);
    expect(Math.abs(pm25.rmse! - Math.sqrt(3 ** 2 + 2 ** 2))).toBeLessThan(0.25);
    expect(Math.abs(pm25.r2! - 125 / (125 + 4))).toBeLessThan(0.01);
    expect(Math.abs(pm25.slope! - 1)).toBeLessThan(0.03);
    expect(Math.abs(pm25.intercept! - 3)).toBeLessThan(1);
    expect(Math.abs(pm25.drift.perDay!)).toBeLessThan(0.08);
    expect(pm25.drift.windowDays).toBe(7);
    expect(pm25.pairs).toHaveLength(DAYS * 24);
  });

  it('no2 with a gain of 0.8 and a drift of +0.5 a day: slope and drift', () => {
    const no2 = report.devices[0]!.reference!.pollutants.find((p) => p.pollutant === 'no2')!;
    expect(Math.abs(no2.slope! - 0.8)).toBeLessThan(0.05);
    expect(Math.abs(no2.drift.perDay! - 0.5)).toBeLessThan(0.1);
    // Early week against late week: 7 days apart at 0.5 a day.
    expect(Math.abs(no2.drift.lateBias! - no2.drift.earlyBias! - 3.5)).toBeLessThan(0.5);
  });

  it('only pollutants both devices measure are compared, and the rest of the report is intact', () => {
    const device = report.devices[0]!;
    expect(device.reference!.pollutants.map((p) => p.pollutant)).toEqual(['pm25', 'no2']);
    expect(device.readings).toEqual({ stored: DAYS * 144, unique: DAYS * 144, expected: DAYS * 144 });
    expect(device.completenessPct).toBe(100);
    expect(device.battery!.drainPerDay).toBeCloseTo(2, 3);
    expect(device.latency.samples).toBe(0);
  });

  it('the printable page shows the comparison table and a scatter chart per pollutant', async () => {
    const response = await fetch(`${stack.apiUrl}/api/v1/trials/acme-colocation/report?format=html`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
    expect(response.status).toBe(200);
    const html = await response.text();
    expect(html).toContain('Reference comparison with air-ref-station');
    expect(html.match(/class="scatter"/g)).toHaveLength(2);
  });
});

describe('the daily trial summary', () => {
  it("computes yesterday's figures for every device of every open trial and stores them", async () => {
    const lines: string[] = [];
    const result = await summariseTrialsDaily({
      trials: stack.lab.trials,
      report: { queries: createReadingStore(stack.influx), lookupDevice: (id) => stack.registry.get(id) },
      write: async (written) => {
        lines.push(...written);
        await stack.influx.write(written);
      },
    });
    const yesterday = new Date(Math.floor(Date.now() / DAY) * DAY - DAY).toISOString().slice(0, 10);
    expect(result.day).toBe(yesterday);
    expect(result.failed).toEqual([]);
    expect(result.summaries).toHaveLength(1);
    expect(result.summaries[0]).toMatchObject({ trialId: 'acme-colocation', deviceId: 'air-dut-1', owner: 'acme', stored: 144, expected: 144, completenessPct: 100, gaps: 0, goalsMet: 3, goalsTotal: 3 });
    const rows = await stack.influx.queryRows(`SELECT * FROM "${TRIAL_DAILY_MEASUREMENT}" WHERE "trial" = $trial`, { trial: 'acme-colocation' });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ device: 'air-dut-1', completenessPct: 100, time: Date.parse(`${yesterday}T00:00:00Z`) });
    // A re-run overwrites the day's point rather than adding one.
    await summariseTrialsDaily({ trials: stack.lab.trials, report: { queries: createReadingStore(stack.influx), lookupDevice: (id) => stack.registry.get(id) }, write: (w) => stack.influx.write(w) });
    expect(await stack.influx.queryRows(`SELECT * FROM "${TRIAL_DAILY_MEASUREMENT}"`)).toHaveLength(1);
  });

  it('runs on the API scheduler as the trial-daily-summary job, visible at GET /api/v1/jobs', async () => {
    await stack.influx.query(`DROP MEASUREMENT "${TRIAL_DAILY_MEASUREMENT}"`);
    expect(await stack.lab.api.scheduler.trigger('trial-daily-summary')).toBe('ok');
    expect(await stack.influx.queryRows(`SELECT * FROM "${TRIAL_DAILY_MEASUREMENT}" WHERE "trial" = $trial`, { trial: 'acme-colocation' })).toHaveLength(1);
    const response = await fetch(`${stack.apiUrl}/api/v1/jobs`, { headers: { authorization: `Bearer ${stack.adminToken}` } });
    const { jobs } = (await response.json()) as JobListResponse;
    const job = jobs.find((j) => j.name === 'trial-daily-summary');
    expect(job).toMatchObject({ schedule: '15 0 * * *', runs: 1, failures: 0 });
    expect(job?.lastRun).toMatchObject({ outcome: 'ok' });
  });

  it('skips closed trials and days outside a trial', async () => {
    const result = await summariseTrialsDaily({ trials: stack.lab.trials, report: { queries: createReadingStore(stack.influx), lookupDevice: (id) => stack.registry.get(id) } }, { day: '2001-01-01' });
    expect(result.summaries).toEqual([]);
  });
});
