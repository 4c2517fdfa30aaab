/**
 * The document store (common/store/document-store.ts) that the registry, trials, alert rules
 * and alert history share: the envelope and revision, re-reading what another writer wrote,
 * refusing or setting aside a broken document, and never publishing a write whose lock was lost.
 */
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AppError, isAppError } from '../../../common/errors.ts';
import { openDocumentStore, type DocumentChangeCause, type DocumentStore, type DocumentStoreOptions } from '../../../common/store/document-store.ts';
import { rejection } from '../../helpers/assertions.ts';

const dirs: string[] = [];
const stores: DocumentStore<unknown>[] = [];
afterEach(async () => {
  await Promise.all(stores.splice(0).map((s) => s.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'streetlab-document-test-'));
  dirs.push(dir);
  return dir;
}

type Notes = ReadonlyMap<string, string>;
const NotesSchema = z.object({ notes: z.array(z.object({ id: z.string(), text: z.string() })) });

async function openNotes(file: string | undefined, extra: Partial<DocumentStoreOptions<Notes, z.infer<typeof NotesSchema>>> = {}): Promise<DocumentStore<Notes>> {
  const store = await openDocumentStore<Notes, z.infer<typeof NotesSchema>>({
    file,
    what: 'the notes',
    format: 'test-notes',
    content: NotesSchema,
    decode: (content) => new Map(content.notes.map((n) => [n.id, n.text])),
    encode: (notes) => ({ notes: [...notes].map(([id, text]) => ({ id, text })) }),
    empty: () => new Map(),
    now: () => Date.UTC(2026, 0, 1),
    ...extra,
  });
  stores.push(store as DocumentStore<unknown>);
  return store;
}

const add = (store: DocumentStore<Notes>, id: string, text: string): Promise<void> =>
  store.update((notes) => ({ result: undefined, next: new Map(notes).set(id, text) }));


describe('the document store', () => {
  it('writes the envelope with a revision, mode 0600, and leaves no temporary or lock file', async () => {
    const dir = await tempDir();
    const file = join(dir, 'notes.json');
    const store = await openNotes(file);
    expect(store.exists).toBe(false);
    await add(store, 'a', 'first');
    await add(store, 'b', 'second');
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({
      format: 'test-notes',
      version: 1,
      revision: 2,
      updatedAt: '2026-01-01T00:00:00.000Z',
      notes: [
        { id: 'a', text: 'first' },
        { id: 'b', text: 'second' },
      ],
    });
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['notes.json']);
    const again = await openNotes(file);
    expect(again.exists).toBe(true);
    expect(again.revision).toBe(2);
    expect([...again.state.keys()]).toEqual(['a', 'b']);
  });

  it('adopts another writer’s change on refresh and before its own change, and tells its listeners', async () => {
    const file = join(await tempDir(), 'notes.json');
    const a = await openNotes(file);
    const b = await openNotes(file);
    const seen: DocumentChangeCause[] = [];
    a.onChange((_state, cause) => seen.push(cause));
    await add(b, 'from-b', 'x');
    expect(await a.refresh()).toBe(true);
    expect(await a.refresh()).toBe(false);
    expect(a.state.get('from-b')).toBe('x');
    await add(b, 'from-b2', 'y');
    await add(a, 'from-a', 'z');
    expect([...a.state.keys()].sort()).toEqual(['from-a', 'from-b', 'from-b2']);
    expect(a.revision).toBe(3);
    expect(seen).toEqual(['reloaded', 'reloaded', 'written']);
  });

  it('polls for other writers when asked to', async () => {
    const file = join(await tempDir(), 'notes.json');
    const watcher = await openNotes(file, { pollIntervalMs: 20 });
    const writer = await openNotes(file);
    const reloaded = new Promise<Notes>((resolve) => watcher.onChange((state, cause) => cause === 'reloaded' && resolve(state)));
    await add(writer, 'n', 'polled');
    expect((await reloaded).get('n')).toBe('polled');
  });

  it('passes a change’s own error on and writes nothing; a failed write is STORE_UNAVAILABLE and changes nothing', async () => {
    const file = join(await tempDir(), 'notes.json');
    let failRename = false;
    const store = await openNotes(file, {
      beforeRename: () => {
        if (failRename) throw new Error('disk full');
      },
    });
    await add(store, 'a', 'kept');
    const thrown = await rejection(
      store.update(() => {
        throw new AppError('NOT_FOUND', 'no such note');
      }),
    );
    expect(isAppError(thrown, 'NOT_FOUND')).toBe(true);
    failRename = true;
    const failed = await rejection(add(store, 'b', 'lost'));
    expect(isAppError(failed, 'STORE_UNAVAILABLE') && failed.message).toBe('could not save the notes: disk full');
    expect([...store.state.keys()]).toEqual(['a']);
    expect(store.revision).toBe(1);
    expect(JSON.parse(await readFile(file, 'utf8')).revision).toBe(1);
  });

  it('does not publish a write whose lock another process took over meanwhile', async () => {
    const dir = await tempDir();
    const file = join(dir, 'notes.json');
    let steal = false;
    const store = await openNotes(file, {
      beforeRename: async () => {
        // As if this writer stalled past its lease and another process took the lock.
        if (steal) await writeFile(`${file}.lock`, JSON.stringify({ token: 'the-new-holder', leaseMs: 5_000 }));
      },
    });
    await add(store, 'a', 'first');
    steal = true;
    const error = await rejection(add(store, 'b', 'too late'));
    expect(isAppError(error, 'STORE_UNAVAILABLE') && error.message).toContain('lost the lock on the notes');
    expect(JSON.parse(await readFile(file, 'utf8')).notes).toEqual([{ id: 'a', text: 'first' }]);
    // The new holder's lock is left alone; no temporary file is left behind.
    expect((await readdir(dir)).sort()).toEqual(['notes.json', 'notes.json.lock']);
  });

  it('removes unfinished writes left by crashed writers when it next holds the lock', async () => {
    const dir = await tempDir();
    const file = join(dir, 'notes.json');
    await writeFile(`${file}.tmp-1-abcd`, '{"half":');
    await writeFile(`${file}.tmp-0123456789ab`, '{"half":');
    const store = await openNotes(file);
    await add(store, 'a', 'x');
    expect(await readdir(dir)).toEqual(['notes.json']);
  });

  it('refuses a broken document naming the file and the field, or sets it aside when asked to', async () => {
    const dir = await tempDir();
    const file = join(dir, 'notes.json');
    await writeFile(file, JSON.stringify({ format: 'test-notes', version: 1, updatedAt: '2026-01-01T00:00:00Z', notes: [{ id: 1 }] }));
    const error = await rejection(openNotes(file));
    expect(isAppError(error, 'INTERNAL') && error.message).toMatch(/^the notes .*notes\.json is not valid: notes\.0\.id: /);
    await writeFile(file, JSON.stringify({ format: 'other', version: 1, updatedAt: '2026-01-01T00:00:00Z', notes: [] }));
    expect(isAppError(await rejection(openNotes(file)), 'INTERNAL')).toBe(true);

    const store = await openNotes(file, { onInvalid: 'set-aside' });
    expect(store.state.size).toBe(0);
    expect((await readdir(dir)).some((n) => n.startsWith('notes.json.invalid-'))).toBe(true);
  });

  it('keeps the state in memory without a file', async () => {
    const store = await openNotes(undefined);
    const seen: DocumentChangeCause[] = [];
    store.onChange((_s, cause) => seen.push(cause));
    await add(store, 'a', 'x');
    expect(store.state.get('a')).toBe('x');
    expect(store.revision).toBe(1);
    expect(store.exists).toBe(false);
    expect(await store.refresh()).toBe(false);
    expect(seen).toEqual(['written']);
    await store.close();
    expect(isAppError(await rejection(add(store, 'b', 'y')), 'INTERNAL')).toBe(true);
  });
});
