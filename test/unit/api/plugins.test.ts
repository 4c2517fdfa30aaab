/**
 * The API's parts as fastify plugins (api/plugins/): started on ready, closed by app.close()
 * in reverse order of registration; and the InfluxQL builders the query interface uses.
 */
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../../api/app.ts';
import { createScheduler, type CreateCronTask } from '../../../api/jobs/scheduler.ts';
import { alertingOf } from '../../../api/plugins/alerting.ts';
import { researchOf } from '../../../api/plugins/research.ts';
import { deviceReadingsStatement, hourlyMeansSelect, lastValueStatement, limitLiteral, rejectionsStatement } from '../../../api/query/influxql.ts';
import type { ReadingStore } from '../../../api/store.ts';
import type { QueryParams } from '../../../common/influx.ts';

const store = new Proxy({}, { get: () => async () => [] }) as unknown as ReadingStore;

describe('the API plugins', () => {
  it('start the jobs on ready, serve their routes, and close jobs before what the jobs use', async () => {
    const events: string[] = [];
    const createTask: CreateCronTask = (_schedule, _tick, name) => ({
      start: () => void events.push(`start ${name}`),
      destroy: () => void events.push(`destroy ${name}`),
      getNextRun: () => new Date(Date.UTC(2030, 0, 1)),
    });
    const scheduler = createScheduler({ createTask });
    const influx = { query: async () => [], write: async () => {}, settings: { url: 'http://127.0.0.1:1', database: 'x' } };
    // Jobs and alerts are not open data: read with the admin token.
    const admin = { authorization: `Bearer ${'plugins-admin-'.padEnd(40, 'a')}` };
    const app = await buildApp({ store, jobs: scheduler, alerts: {}, researchJob: { influx, research: { rollups: false } }, auth: { adminToken: admin.authorization.slice('Bearer '.length), publicRead: true } });
    expect(researchOf(app)?.limits.rollupsEnabled).toBe(false);
    const alerting = alertingOf(app)!;
    const engineClose = alerting.engine.close.bind(alerting.engine);
    alerting.engine.close = () => {
      events.push('alerting closed');
      engineClose();
    };
    expect(events).toEqual([]);
    await app.ready();
    expect(events).toEqual(['start streetlab-offline-detection', 'start streetlab-alert-repeats']);
    const jobs = await app.inject({ method: 'GET', url: '/api/v1/jobs', headers: admin });
    expect(jobs.json<{ jobs: { name: string }[] }>().jobs.map((j) => j.name)).toEqual(['offline-detection', 'alert-repeats']);
    expect((await app.inject({ method: 'GET', url: '/api/v1/alerts', headers: admin })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/api/v1/alerts' })).statusCode).toBe(401);
    await app.close();
    expect(events.slice(2)).toEqual(['destroy streetlab-offline-detection', 'destroy streetlab-alert-repeats', 'alerting closed']);
    expect(() => scheduler.registerJob('late', '* * * * *', () => {})).toThrow(/closed/);
  });

  it('refuse alerts without a scheduler to run their jobs', async () => {
    await expect(buildApp({ store, alerts: {} })).rejects.toThrow(/alerts need jobs/);
  });
});

describe('the InfluxQL builders behind the query interface', () => {
  it('bind values and quote only allow-listed identifiers', () => {
    const params: QueryParams = {};
    const text = rejectionsStatement({ device: `x' OR 1=1; DROP MEASUREMENT air`, kind: 'air' }, 0, 10, params);
    expect(text).not.toContain('DROP');
    expect(params).toMatchObject({ device: `x' OR 1=1; DROP MEASUREMENT air`, kind: 'air' });
    expect(deviceReadingsStatement('air', ['received_ms', 'pm25'], 'd"1', { fromMs: 0, toMs: 1000 }, params)).toContain('"device" = $device0');
    expect(params.device0).toBe('d"1');
  });

  it('refuse a metric outside the contract and a limit that is not a whole positive number', () => {
    expect(() => lastValueStatement('air', 'pm25" FROM x; DROP', 0, {})).toThrow(/not a field of air readings/);
    expect(() => hourlyMeansSelect(['cars'], 'raw')).toThrow(/not a field of air readings/);
    expect(() => deviceReadingsStatement('waste', ['pm25'], 'd', { fromMs: 0, toMs: 1 }, {})).toThrow(/not a field of waste readings/);
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) expect(() => limitLiteral(bad)).toThrow(/not a limit/);
  });
});
