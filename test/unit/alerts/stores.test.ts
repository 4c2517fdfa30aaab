/** The rule store and alert history on disk: survive a reopen, stay bounded, refuse bad input naming the field. */
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../../contracts/index.ts';
import { isAppError } from '../../../common/errors.ts';
import { openAlertHistory } from '../../../api/alerts/history.ts';
import { ALERT_RULES_FILE_NAME, openAlertRuleStore } from '../../../api/alerts/rule-store.ts';
import { LAB_ALERT_RULES } from '../../../api/alerts/defaults.ts';
import { createAlerting } from '../../../api/alerts/index.ts';
import { createScheduler } from '../../../api/jobs/scheduler.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'streetlab-alerts-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isAppError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a failure');
}

function alert(id: string, state: Alert['state'], atMs: number): Alert {
  const at = new Date(atMs).toISOString();
  return { id, rule: 'r', ruleName: 'r', ruleType: 'threshold', severity: 'info', state, deviceId: 'd', message: id, at, openedAt: at, repeats: 0, ...(state === 'cleared' ? { clearedAt: at } : {}) };
}

describe('the rule store', () => {
  it('keeps rules across a reopen in DATA_DIR/alert-rules.json (mode 0600, no temporary files left)', async () => {
    const store = await openAlertRuleStore({ dataDir: dir });
    expect(store.fresh).toBe(true);
    const created = await store.create({ name: 'Bin full', type: 'threshold', kind: 'waste', metric: 'fill', op: '>=', value: 80 });
    expect(created.id).toMatch(/^rule-[0-9a-f]{10}$/);
    expect(created).toMatchObject({ severity: 'warning', enabled: true, repeatEveryMinutes: 60 });
    await store.update(created.id, { value: 85, site: 'Nørrebro' });
    const again = await openAlertRuleStore({ dataDir: dir });
    expect(again.fresh).toBe(false);
    expect(again.get(created.id)).toMatchObject({ value: 85, site: 'Nørrebro' });
    expect((await stat(join(dir, ALERT_RULES_FILE_NAME))).mode & 0o777).toBe(0o600);
    expect((await readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
    await again.update(created.id, { site: null });
    expect(again.get(created.id)?.site).toBeUndefined();
  });

  it('an emptied store is not fresh: the lab does not seed again what an admin removed', async () => {
    const store = await openAlertRuleStore({ dataDir: dir });
    const rule = await store.create({ id: 'x', name: 'x', type: 'offline' });
    await store.remove(rule.id);
    expect((await openAlertRuleStore({ dataDir: dir })).fresh).toBe(false);
  });

  it('refuses bad rules naming the field, taken ids, unknown ids', async () => {
    const store = await openAlertRuleStore();
    expect(await failure(store.create({ name: 'x', type: 'threshold', kind: 'air', metric: 'fill', op: '>=', value: 1 }))).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('metric') });
    await store.create({ id: 'a', name: 'a', type: 'eaqi', level: 4 });
    expect(await failure(store.create({ id: 'a', name: 'a', type: 'eaqi', level: 4 }))).toMatchObject({ code: 'CONFLICT' });
    expect(await failure(store.update('a', { percent: 5 }))).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('percent') });
    expect(await failure(store.update('a', { level: 9 }))).toMatchObject({ code: 'BAD_REQUEST', message: expect.stringContaining('level') });
    expect(await failure(store.update('nope', { name: 'x' }))).toMatchObject({ code: 'NOT_FOUND' });
    expect(await failure(store.remove('nope'))).toMatchObject({ code: 'NOT_FOUND' });
    expect(store.get('a')).toMatchObject({ level: 4 });
  });

  it('a broken rules file stops the start with a message naming the file', async () => {
    await writeFile(join(dir, ALERT_RULES_FILE_NAME), '{"format":"streetlab-alert-rules","version":1,"updatedAt":"x","rules":[]}');
    expect(await failure(openAlertRuleStore({ dataDir: dir }))).toMatchObject({ message: expect.stringContaining(ALERT_RULES_FILE_NAME) });
  });

  it('the lab defaults are valid rules, seeded only into a fresh store', async () => {
    const scheduler = createScheduler();
    const options = { dataDir: dir, seedRules: LAB_ALERT_RULES };
    const first = await createAlerting(options, { scheduler, emit: () => {} });
    expect(first.rules.list().map((r) => r.id)).toEqual(['bin-full', 'bin-fire-risk', 'air-poor', 'congestion', 'device-offline']);
    await first.rules.remove('congestion');
    await first.close();
    const second = await createAlerting(options, { scheduler: createScheduler(), emit: () => {} });
    expect(second.rules.list().map((r) => r.id)).not.toContain('congestion');
    await second.close();
    await scheduler.close();
  });
});

describe('the alert history', () => {
  it('keeps the latest transition of each alert across a reopen', async () => {
    const history = await openAlertHistory({ dataDir: dir });
    history.record(alert('a', 'open', 1_000));
    history.record(alert('b', 'open', 2_000));
    history.record({ ...alert('a', 'cleared', 3_000), openedAt: new Date(1_000).toISOString() });
    await history.close();
    const again = await openAlertHistory({ dataDir: dir });
    expect(again.query().map((a) => `${a.id}:${a.state}`)).toEqual(['a:cleared', 'b:open']);
    expect(again.active().map((a) => a.id)).toEqual(['b']);
    expect(JSON.parse(await readFile(join(dir, 'alerts.json'), 'utf8')).format).toBe('streetlab-alerts');
  });

  it('is bounded: the oldest cleared alerts go first, active ones stay', async () => {
    const history = await openAlertHistory({ max: 3 });
    history.record(alert('active-old', 'open', 0));
    for (let i = 1; i <= 5; i++) history.record(alert(`c${i}`, 'cleared', i * 1_000));
    expect(history.size()).toBe(3);
    expect(history.query().map((a) => a.id)).toEqual(['c5', 'c4', 'active-old']);
  });

  it('filters by state, device, rule and since (still active, or cleared since)', async () => {
    const history = await openAlertHistory();
    history.record(alert('old-cleared', 'cleared', 1_000));
    history.record(alert('old-active', 'open', 2_000));
    history.record({ ...alert('new', 'cleared', 10_000), deviceId: 'e' });
    expect(history.query({ state: 'active' }).map((a) => a.id)).toEqual(['old-active']);
    expect(history.query({ state: 'cleared' }).map((a) => a.id)).toEqual(['new', 'old-cleared']);
    expect(history.query({ deviceId: 'e' }).map((a) => a.id)).toEqual(['new']);
    expect(history.query({ sinceMs: 5_000 }).map((a) => a.id)).toEqual(['new', 'old-active']);
    expect(history.query({ limit: 1 })).toHaveLength(1);
  });

  it('a broken history file is moved aside and the start goes on', async () => {
    await writeFile(join(dir, 'alerts.json'), 'not json');
    const history = await openAlertHistory({ dataDir: dir });
    expect(history.size()).toBe(0);
    expect((await readdir(dir)).some((n) => n.startsWith('alerts.json.invalid-'))).toBe(true);
  });
});
