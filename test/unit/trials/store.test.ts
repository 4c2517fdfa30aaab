import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openFileTrialStore, TRIALS_FILE_NAME, type TrialStore } from '../../../api/trials/store.ts';
import { isAppError } from '../../../common/errors.ts';

const dirs: string[] = [];
const stores: TrialStore[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function open(dir?: string, now = () => Date.UTC(2026, 4, 1)) {
  const dataDir = dir ?? (await mkdtemp(join(tmpdir(), 'trials-')));
  if (!dir) dirs.push(dataDir);
  const store = await openFileTrialStore({ dataDir, now });
  stores.push(store);
  return { store, dataDir };
}

const request = { id: 't1', name: 'Pilot', owner: 'acme', deviceIds: ['a', 'b'], start: '2026-05-01T00:00:00+02:00', goals: { intervalSeconds: 60 } };

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    return isAppError(error) ? `${error.code}: ${error.message}` : String(error);
  }
}

describe('the file trial store', () => {
  it('creates with defaults, refuses a taken id, and writes a 0600 document', async () => {
    const { store, dataDir } = await open();
    const trial = await store.create(request);
    expect(trial).toMatchObject({ id: 't1', status: 'open', start: '2026-04-30T22:00:00.000Z', goals: { intervalSeconds: 60, completenessPct: 95, maxRejectRatePct: 5 } });
    expect(await code(store.create(request))).toMatch(/^CONFLICT/);
    const file = join(dataDir, TRIALS_FILE_NAME);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ format: 'streetlab-trials', version: 1, revision: 1, trials: [{ id: 't1' }] });
    expect((await readdir(dataDir)).filter((n) => n.includes('.tmp-') || n.endsWith('.lock'))).toEqual([]);
  });

  it('validation errors name the field', async () => {
    const { store } = await open();
    expect(await code(store.create({ ...request, deviceIds: ['a', 'a'] }))).toMatch(/^BAD_REQUEST: deviceIds:/);
    expect(await code(store.create({ ...request, end: '2026-04-01T00:00:00Z' }))).toMatch(/^BAD_REQUEST: end:/);
    expect(await code(store.create({ ...request, goals: { intervalSeconds: 0 } }))).toMatch(/^BAD_REQUEST: goals\.intervalSeconds:/);
  });

  it('updates merge goals, clear with null, and close once', async () => {
    const { store } = await open();
    await store.create({ ...request, end: '2026-06-01T00:00:00Z', goals: { intervalSeconds: 60, maxLatencyP95Ms: 500 } });
    const updated = await store.update('t1', { goals: { completenessPct: 80, maxLatencyP95Ms: null }, end: null });
    expect(updated.goals).toEqual({ intervalSeconds: 60, completenessPct: 80, maxRejectRatePct: 5 });
    expect(updated.end).toBeUndefined();
    const closed = await store.closeTrial('t1');
    expect(closed).toMatchObject({ status: 'closed', end: '2026-05-01T00:00:00.000Z' });
    expect(await code(store.closeTrial('t1'))).toMatch(/^CONFLICT/);
    expect(await code(store.update('nope', { name: 'x' }))).toMatch(/^NOT_FOUND/);
  });

  it('two stores on one directory (API and CLI) see each other’s changes and lose none', async () => {
    const { store: a, dataDir } = await open();
    const { store: b } = await open(dataDir);
    await Promise.all([a.create({ ...request, id: 'from-a' }), b.create({ ...request, id: 'from-b' }), a.create({ ...request, id: 'from-a2' })]);
    expect((await a.list()).map((t) => t.id)).toEqual(['from-a', 'from-a2', 'from-b']);
    expect((await b.get('from-a'))?.name).toBe('Pilot');
  });

  it('refuses to start on a broken document rather than serve an empty one', async () => {
    const { dataDir } = await open();
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(dataDir, TRIALS_FILE_NAME), '{"format":"streetlab-trials","version":1');
    expect(await code(openFileTrialStore({ dataDir }))).toMatch(/^INTERNAL: the trial store .* is not valid/);
  });
});
