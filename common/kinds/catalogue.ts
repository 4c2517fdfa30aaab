/**
 * The kind catalogue: every device kind the lab knows, built-in and custom, as one runtime
 * list every service reads (broker/edge, API, lab). Custom kinds come from two places:
 *
 * - the document store next to the device registry (`DATA_DIR/kinds.json`, or Redis key
 *   `streetlab:kinds` in cluster mode), written through `POST`/`PUT /api/v1/kinds`; every
 *   process that opened the catalogue adopts another's change through the store's change
 *   listeners, as the registry does;
 * - definition files an operator drops into `DATA_DIR/kinds/*.json` (one kind per file, the
 *   format of KindInputSchema), read at open and whenever the directory changes.
 *
 * Every change is handed to the process's kind table (contracts/kinds-table.ts), which is what
 * parsing, storage and queries read: a kind is usable the moment its definition arrives.
 * Kinds are never deleted: their readings stay stored and must stay readable.
 */
import { join } from 'node:path';
import { z } from 'zod';
import {
  BUILT_IN_KIND_DEFINITIONS,
  KindDefinitionSchema,
  isBuiltInKind,
  kindChangeProblems,
  setKindDefinitions,
  type KindDefinition,
  type KindInput,
} from '../../contracts/index.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { createSilentLogger } from '../logger.ts';
import { openDocumentStore, type DocumentStore } from '../store/document-store.ts';
import { openRedisDocumentStore } from '../store/redis-document-store.ts';
import { watchKindFiles, type KindFile, type KindFileWatcher } from './files.ts';

export const KINDS_FILE_NAME = 'kinds.json';
export const KINDS_DIR_NAME = 'kinds';
export const KINDS_REDIS_KEY = 'streetlab:kinds';

export type KindSource = 'built-in' | 'api' | 'file';

export interface KindEntry {
  definition: KindDefinition;
  source: KindSource;
  /** The definition file, for kinds from `DATA_DIR/kinds/`. */
  file?: string | undefined;
}

export interface KindCatalogueOptions {
  /** Custom kinds in `dataDir/kinds.json`, definition files in `dataDir/kinds/`; neither = in memory only (tests). */
  dataDir?: string | undefined;
  /** Cluster mode: the custom kinds in this Redis (key `streetlab:kinds`) instead of `kinds.json`. */
  redisUrl?: string | undefined;
  /** How often other processes' writes to `kinds.json` are looked for; default 250 ms (as the registry). */
  pollIntervalMs?: number;
  /** How often `dataDir/kinds/` is looked at besides file-system events; default 1 s. */
  filePollIntervalMs?: number;
  logger?: Logger | undefined;
}

/** Whether readings of a kind are stored: the versioning rules forbid rewriting their meaning. */
export type HasReadings = (kind: string) => Promise<boolean>;

export interface KindCatalogue {
  /** Every kind: the built-in ones first, then the others by id. */
  list(): KindEntry[];
  get(id: string): KindEntry | undefined;
  /** A new kind at version 1; CONFLICT for an id taken (built-in, by a file or already created). */
  create(input: KindInput): Promise<KindDefinition>;
  /**
   * The next version of a kind created through the API; BAD_REQUEST for a body naming another
   * id, NOT_FOUND for an unknown one, CONFLICT for a built-in or file kind, a stale `version`,
   * or — once `hasReadings` says readings exist — a removed field or a changed unit or type.
   */
  update(id: string, input: KindInput, hasReadings: HasReadings): Promise<KindDefinition>;
  /** Re-reads the store and the definition files now (what the pollers do). */
  refresh(): Promise<void>;
  /** Told after any kind was added or changed (by this process or another). */
  onChange(listener: () => void): () => void;
  close(): Promise<void>;
}

const StoredKindsSchema = z.object({ kinds: z.array(KindDefinitionSchema) });
type StoredKinds = z.infer<typeof StoredKindsSchema>;
type State = ReadonlyMap<string, KindDefinition>;

export async function openKindCatalogue(options: KindCatalogueOptions = {}): Promise<KindCatalogue> {
  const log = options.logger ?? createSilentLogger();
  const listeners = new Set<() => void>();
  const codec = {
    what: 'the kind catalogue',
    format: 'streetlab-kinds',
    content: StoredKindsSchema,
    decode: (content: StoredKinds): State => new Map(content.kinds.map((k) => [k.id, k])),
    encode: (state: State): StoredKinds => ({ kinds: [...state.values()].sort((a, b) => a.id.localeCompare(b.id)) }),
    empty: (): State => new Map(),
    logger: log,
  };
  const store: DocumentStore<State> = options.redisUrl
    ? await openRedisDocumentStore<State, StoredKinds>({ ...codec, redisUrl: options.redisUrl, key: KINDS_REDIS_KEY })
    : await openDocumentStore<State, StoredKinds>({
        ...codec,
        file: options.dataDir === undefined ? undefined : join(options.dataDir, KINDS_FILE_NAME),
        pollIntervalMs: options.pollIntervalMs ?? 250,
      });

  let files: readonly KindFile[] = [];
  let entries = new Map<string, KindEntry>();

  /** Built-in kinds, then the store's, then files whose id nobody else took; handed to the kind table. */
  function rebuild(): void {
    const next = new Map<string, KindEntry>();
    for (const definition of BUILT_IN_KIND_DEFINITIONS) next.set(definition.id, { definition, source: 'built-in' });
    for (const definition of store.state.values()) {
      if (!next.has(definition.id)) next.set(definition.id, { definition, source: 'api' });
    }
    for (const file of files) {
      const taken = next.get(file.definition.id);
      if (taken) {
        log.warn({ file: file.file, kind: file.definition.id }, `kind file ignored: kind "${file.definition.id}" is already defined (${taken.source})`);
        continue;
      }
      next.set(file.definition.id, { definition: file.definition, source: 'file', file: file.file });
    }
    entries = next;
    setKindDefinitions([...next.values()].map((e) => e.definition));
    for (const listener of listeners) {
      try {
        listener();
      } catch (error) {
        log.error({ err: error }, 'a kind catalogue listener failed');
      }
    }
  }

  const watcher: KindFileWatcher | undefined =
    options.dataDir === undefined
      ? undefined
      : await watchKindFiles({
          dir: join(options.dataDir, KINDS_DIR_NAME),
          pollIntervalMs: options.filePollIntervalMs ?? 1_000,
          logger: log,
          onChange: (next) => {
            files = next;
            rebuild();
          },
        });
  files = watcher?.files() ?? [];
  rebuild();
  store.onChange(() => rebuild());

  function list(): KindEntry[] {
    const builtIn = [...entries.values()].filter((e) => e.source === 'built-in');
    const custom = [...entries.values()].filter((e) => e.source !== 'built-in').sort((a, b) => a.definition.id.localeCompare(b.definition.id));
    return [...builtIn, ...custom];
  }

  function refuseUnchangeable(id: string): void {
    const entry = entries.get(id);
    if (isBuiltInKind(id)) throw new AppError('CONFLICT', `kind "${id}" is built in and cannot be changed`);
    if (entry?.source === 'file') throw new AppError('CONFLICT', `kind "${id}" is defined by the file ${entry.file}; change the file instead`);
  }

  return {
    list,
    get: (id) => entries.get(id),

    async create(input) {
      refuseUnchangeable(input.id);
      const { version: _ignored, ...rest } = input;
      const definition = KindDefinitionSchema.parse({ ...rest, version: 1 });
      await store.update((current) => {
        if (current.has(definition.id)) throw new AppError('CONFLICT', `kind "${definition.id}" already exists; change it with PUT /api/v1/kinds/${definition.id}`);
        return { result: undefined, next: new Map(current).set(definition.id, definition) };
      });
      rebuild();
      log.info({ kind: definition.id }, 'kind created');
      return definition;
    },

    async update(id, input, hasReadings) {
      if (input.id !== id) throw new AppError('BAD_REQUEST', `id: the body names kind "${input.id}" but the path kind "${id}"`);
      refuseUnchangeable(id);
      await store.refresh();
      const current = store.state.get(id);
      if (!current) throw new AppError('NOT_FOUND', `no kind "${id}"; create it with POST /api/v1/kinds`);
      if (input.version !== undefined && input.version !== current.version) {
        throw new AppError('CONFLICT', `version: kind "${id}" is at version ${current.version}, not ${input.version}; read it again and apply the change to it`);
      }
      const problems = kindChangeProblems(current, input);
      if (problems.length > 0 && (await hasReadings(id))) {
        throw new AppError('CONFLICT', `readings of kind "${id}" are stored, so ${problems.join('; ')} (add a field instead, or define a new kind)`);
      }
      const definition = KindDefinitionSchema.parse({ ...input, version: current.version + 1 });
      await store.update((latest) => {
        // Someone else changed it while we asked InfluxDB: our checks were about an older version.
        if (latest.get(id)?.version !== current.version) throw new AppError('CONFLICT', `kind "${id}" changed meanwhile; read it again and retry`);
        return { result: undefined, next: new Map(latest).set(id, definition) };
      });
      rebuild();
      log.info({ kind: id, version: definition.version }, 'kind changed');
      return definition;
    },

    async refresh() {
      await store.refresh();
      await watcher?.scan();
    },

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    async close() {
      listeners.clear();
      watcher?.close();
      await store.close();
    },
  };
}
