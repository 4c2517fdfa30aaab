import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isKnownKind, metricsOf, type KindInput } from '../../../contracts/index.ts';
import { isAppError } from '../../../common/errors.ts';
import { openKindCatalogue, type KindCatalogue } from '../../../common/kinds/index.ts';

const SOIL = JSON.parse(await readFile(join(import.meta.dirname, '..', '..', 'fixtures', 'kinds', 'soil.json'), 'utf8')) as KindInput;
/** Each test gets its own kind ids: the kind table is the process's. */
let n = 0;
const fresh = (prefix: string): KindInput => ({ ...SOIL, id: `${prefix}_${process.pid}_${(n += 1)}`.slice(0, 32) });
const noReadings = async () => false;
const withReadings = async () => true;

async function refusal(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (isAppError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a refusal');
}

let dir: string;
let open: KindCatalogue[] = [];
const catalogue = async (options: Parameters<typeof openKindCatalogue>[0] = {}) => {
  const c = await openKindCatalogue({ dataDir: dir, pollIntervalMs: 0, filePollIntervalMs: 60_000, ...options });
  open.push(c);
  return c;
};

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'streetlab-kinds-'));
});
afterEach(async () => {
  for (const c of open) await c.close();
  open = [];
  await rm(dir, { recursive: true, force: true });
});

describe('the kind catalogue', () => {
  it('lists the built-in kinds first, unchangeable', async () => {
    const kinds = await catalogue();
    expect(kinds.list().slice(0, 3).map((e) => [e.definition.id, e.source])).toEqual([['air', 'built-in'], ['traffic', 'built-in'], ['waste', 'built-in']]);
    expect(await refusal(kinds.create({ ...SOIL, id: 'air' }))).toMatchObject({ code: 'CONFLICT', message: 'kind "air" is built in and cannot be changed' });
    expect(await refusal(kinds.update('waste', { ...SOIL, id: 'waste' }, noReadings))).toMatchObject({ code: 'CONFLICT' });
  });

  it('creates a kind at version 1, known to the whole process at once and kept in DATA_DIR/kinds.json', async () => {
    const kinds = await catalogue();
    const input = fresh('soil');
    const created = await kinds.create(input);
    expect(created).toMatchObject({ id: input.id, version: 1 });
    expect(isKnownKind(input.id)).toBe(true);
    expect(kinds.get(input.id)?.source).toBe('api');
    const stored = JSON.parse(await readFile(join(dir, 'kinds.json'), 'utf8')) as { kinds: { id: string }[] };
    expect(stored.kinds.map((k) => k.id)).toEqual([input.id]);
    expect(await refusal(kinds.create(input))).toMatchObject({ code: 'CONFLICT' });
  });

  it('shows another process’s new kind through the store', async () => {
    const writer = await catalogue();
    const reader = await catalogue();
    const input = fresh('shared');
    await writer.create(input);
    const seen: string[] = [];
    reader.onChange(() => seen.push('changed'));
    await reader.refresh();
    expect(reader.get(input.id)?.definition.version).toBe(1);
    expect(seen.length).toBeGreaterThan(0);
  });

  it('versions every change and lets a field be added even with readings stored', async () => {
    const kinds = await catalogue();
    const input = fresh('grow');
    await kinds.create(input);
    const ph = { name: 'ph', unit: 'pH', type: 'number' as const, min: 0, max: 14, required: false, description: 'acidity' };
    const v2 = await kinds.update(input.id, { ...input, fields: [...input.fields, ph] }, withReadings);
    expect(v2.version).toBe(2);
    expect(metricsOf(input.id)).toContain('ph');
    const v3 = await kinds.update(input.id, { ...input, fields: [...input.fields, { ...ph, max: 15 }], name: 'Soil v3' }, withReadings);
    expect(v3).toMatchObject({ version: 3, name: 'Soil v3' });
  });

  it('refuses removing a field or changing its unit or type once readings exist, and allows it before', async () => {
    const kinds = await catalogue();
    const input = fresh('strict');
    await kinds.create(input);
    const withoutLight = { ...input, fields: input.fields.filter((f) => f.name !== 'light') };
    const otherUnit = { ...input, fields: input.fields.map((f) => (f.name === 'moisture' ? { ...f, unit: '%' } : f)) };
    expect(await refusal(kinds.update(input.id, withoutLight, withReadings))).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('field "light" cannot be removed') });
    expect(await refusal(kinds.update(input.id, otherUnit, withReadings))).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('cannot change its unit from %VWC to %') });
    expect(kinds.get(input.id)?.definition.version).toBe(1);
    expect((await kinds.update(input.id, withoutLight, noReadings)).version).toBe(2);
  });

  it('refuses a stale version, another id in the body and an unknown kind', async () => {
    const kinds = await catalogue();
    const input = fresh('race');
    await kinds.create(input);
    await kinds.update(input.id, input, noReadings);
    expect(await refusal(kinds.update(input.id, { ...input, version: 1 }, noReadings))).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('is at version 2, not 1') });
    expect(await refusal(kinds.update(input.id, { ...input, id: 'other_kind' }, noReadings))).toMatchObject({ code: 'BAD_REQUEST' });
    expect(await refusal(kinds.update('nothing_here', { ...input, id: 'nothing_here' }, noReadings))).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('reads DATA_DIR/kinds/*.json at start and on change, leaving out an invalid file', async () => {
    const first = fresh('filed');
    const second = fresh('dropped');
    await mkdir(join(dir, 'kinds'));
    await writeFile(join(dir, 'kinds', 'first.json'), JSON.stringify(first));
    await writeFile(join(dir, 'kinds', 'broken.json'), JSON.stringify({ ...first, id: 'broken_kind', fields: [{ name: 'x', type: 'number', min: 0, max: 1, description: 'no unit' }] }));
    const kinds = await catalogue();
    expect(kinds.get(first.id)).toMatchObject({ source: 'file', definition: { version: 1 } });
    expect(kinds.get('broken_kind')).toBeUndefined();
    expect(await refusal(kinds.update(first.id, first, noReadings))).toMatchObject({ code: 'CONFLICT', message: expect.stringContaining('change the file instead') });

    await writeFile(join(dir, 'kinds', 'second.json'), JSON.stringify(second));
    await kinds.refresh();
    expect(isKnownKind(second.id)).toBe(true);
    expect(kinds.list().map((e) => e.definition.id)).toEqual(expect.arrayContaining([first.id, second.id]));
  });
});
