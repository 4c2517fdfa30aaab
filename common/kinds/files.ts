/**
 * Kind definitions dropped as files into `DATA_DIR/kinds/*.json`: read at start, and again
 * whenever the directory changes — on a file-system event when the platform gives one, and on
 * a poll of the directory's names, sizes and modification times (events are not delivered on
 * every file system, e.g. network volumes). A file that is not a valid definition is logged
 * with the reason and left out; the other kinds stay.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { KindDefinitionSchema, KindInputSchema, type KindDefinition } from '../../contracts/index.ts';
import type { Logger } from '../logger.ts';
import { describeZodIssues } from '../store/document-store.ts';

export interface KindFile {
  file: string;
  definition: KindDefinition;
}

export interface KindFileWatcher {
  /** The valid definitions as last read. */
  files(): readonly KindFile[];
  /** Looks at the directory now; re-reads it when anything changed. */
  scan(): Promise<void>;
  close(): void;
}

/** A definition file's content: a kind input; without `version`, version 1. */
export function parseKindFile(text: string): { ok: true; definition: KindDefinition } | { ok: false; error: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `not valid JSON (${error instanceof Error ? error.message : String(error)})` };
  }
  const input = KindInputSchema.safeParse(json);
  if (!input.success) return { ok: false, error: describeZodIssues(input.error.issues) };
  return { ok: true, definition: KindDefinitionSchema.parse({ ...input.data, version: input.data.version ?? 1 }) };
}

export async function watchKindFiles(options: { dir: string; pollIntervalMs: number; logger: Logger; onChange: (files: readonly KindFile[]) => void }): Promise<KindFileWatcher> {
  const { dir, logger } = options;
  let current: readonly KindFile[] = [];
  let signature = '';
  let scanning: Promise<void> | undefined;
  let again = false;
  let closed = false;

  async function listing(): Promise<{ names: string[]; signature: string }> {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { names: [], signature: '' };
      throw error;
    }
    const parts: string[] = [];
    for (const name of names) {
      const s = await stat(join(dir, name)).catch(() => undefined);
      if (s) parts.push(`${name}:${s.size}:${s.mtimeMs}`);
    }
    return { names, signature: parts.join('|') };
  }

  async function read(names: readonly string[]): Promise<KindFile[]> {
    const out: KindFile[] = [];
    for (const name of names) {
      const file = join(dir, name);
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const parsed = parseKindFile(text);
      if (!parsed.ok) {
        logger.error({ file }, `kind file ${file} left out: ${parsed.error}`);
        continue;
      }
      out.push({ file, definition: parsed.definition });
    }
    return out;
  }

  async function scanOnce(notify: boolean): Promise<void> {
    const seen = await listing();
    if (seen.signature === signature) return;
    signature = seen.signature;
    current = await read(seen.names);
    if (notify && !closed) options.onChange(current);
  }

  /** One scan at a time; a request during a scan runs one more afterwards. */
  function scan(): Promise<void> {
    if (scanning) {
      again = true;
      return scanning;
    }
    scanning = (async () => {
      try {
        do {
          again = false;
          await scanOnce(true);
        } while (again && !closed);
      } catch (error) {
        logger.warn({ err: error, dir }, 'could not read the kind definition files');
      } finally {
        scanning = undefined;
      }
    })();
    return scanning;
  }

  await scanOnce(false);
  const timer = setInterval(() => void scan(), options.pollIntervalMs);
  timer.unref();
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dir, () => void scan());
    watcher.on('error', () => watcher?.close());
  } catch {
    // No directory yet, or no events on this file system: the poll sees it.
  }

  return {
    files: () => current,
    scan,
    close() {
      closed = true;
      clearInterval(timer);
      watcher?.close();
    },
  };
}
