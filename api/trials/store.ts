/**
 * Where trials are kept. The default is one JSON document next to the device registry
 * (`DATA_DIR/trials.json`, mode 0600), written the registry's crash-safe way (temporary file,
 * fsync, rename, fsync of the directory: common/registry/atomic-write.ts), so a crash leaves
 * the old or the new document, never a torn one. A database-backed store implements the same
 * `TrialStore` interface.
 *
 * Several processes (the API and `npm run devices -- --data-dir … trial …`) may change it:
 * every change takes an exclusive lock file, re-reads the document and writes it whole;
 * reads re-read the document when its identity (inode, mtime, size) changed. Trials change a
 * few times a day, so one stat per read is all the polling there is.
 */
import { randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import {
  CloseTrialRequestSchema,
  CreateTrialRequestSchema,
  TrialSchema,
  UpdateTrialRequestSchema,
  type CloseTrialRequest,
  type CreateTrialRequest,
  type Trial,
  type UpdateTrialRequest,
} from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import { writeFileAtomic, type WrittenFileIdentity } from '../../common/registry/atomic-write.ts';
import { withFileLock } from '../../common/registry/file-lock.ts';

export const TRIALS_FILE_NAME = 'trials.json';

/** Checks that the devices a trial names exist (and the reference is an air device); throws BAD_REQUEST. */
export type TrialDeviceCheck = (trial: Pick<Trial, 'deviceIds' | 'referenceDeviceId'>) => void | Promise<void>;

export interface TrialStore {
  list(): Promise<Trial[]>;
  get(id: string): Promise<Trial | undefined>;
  /** AppError BAD_REQUEST (naming the field), CONFLICT for a taken id. */
  create(request: CreateTrialRequest): Promise<Trial>;
  /** AppError NOT_FOUND, BAD_REQUEST. */
  update(id: string, patch: UpdateTrialRequest): Promise<Trial>;
  /** Ends a trial: status closed, end set. AppError NOT_FOUND, CONFLICT when already closed. */
  closeTrial(id: string, request?: CloseTrialRequest): Promise<Trial>;
  close(): Promise<void>;
}

const TrialsFileSchema = z.object({
  format: z.literal('streetlab-trials'),
  version: z.literal(1),
  revision: z.number().int().min(0),
  updatedAt: z.iso.datetime(),
  trials: z.array(TrialSchema),
});
type TrialsFile = z.infer<typeof TrialsFileSchema>;

export interface FileTrialStoreOptions {
  dataDir?: string;
  /** Exactly this file (takes precedence). */
  file?: string;
  now?: () => number;
  lockTimeoutMs?: number;
  checkDevices?: TrialDeviceCheck | undefined;
}

export function validationMessage(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
}

const RESERVED_IDS = new Set(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf']);

function toIso(value: string): string {
  return new Date(value).toISOString();
}

function checkPeriod(trial: Pick<Trial, 'start' | 'end'>): void {
  if (trial.end !== undefined && Date.parse(trial.end) <= Date.parse(trial.start)) {
    throw new AppError('BAD_REQUEST', `end: ${trial.end} must be after start ${trial.start}`);
  }
}

export async function openFileTrialStore(options: FileTrialStoreOptions): Promise<TrialStore> {
  const file = options.file ?? (options.dataDir !== undefined ? join(options.dataDir, TRIALS_FILE_NAME) : undefined);
  if (!file) throw new AppError('CONFIG_INVALID', 'the trial store needs dataDir or file');
  const now = options.now ?? Date.now;
  const lockFile = `${file}.lock`;
  const lockTimeoutMs = options.lockTimeoutMs ?? 10_000;
  let trials = new Map<string, Trial>();
  let revision = 0;
  let known: WrittenFileIdentity | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  let closed = false;

  async function load(): Promise<void> {
    let identity: WrittenFileIdentity | undefined;
    try {
      const s = await stat(file!);
      identity = { ino: s.ino, mtimeMs: s.mtimeMs, size: s.size };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (!identity) {
      trials = new Map();
      revision = 0;
      known = undefined;
      return;
    }
    if (known && known.ino === identity.ino && known.mtimeMs === identity.mtimeMs && known.size === identity.size) return;
    let parsed: TrialsFile;
    try {
      parsed = TrialsFileSchema.parse(JSON.parse(await readFile(file!, 'utf8')));
    } catch (error) {
      const detail = error instanceof z.ZodError ? validationMessage(error) : String(error);
      throw new AppError('INTERNAL', `the trial store ${file} is not valid: ${detail}`, { cause: error });
    }
    trials = new Map(parsed.trials.map((t) => [t.id, t]));
    revision = parsed.revision;
    known = identity;
  }

  function withLock<T>(work: () => Promise<T>): Promise<T> {
    return withFileLock(lockFile, { timeoutMs: lockTimeoutMs, what: 'the trial store' }, work);
  }

  /** Applies `change` to the freshest document and persists it, one change at a time. */
  function mutate(change: (draft: Map<string, Trial>) => Trial): Promise<Trial> {
    if (closed) return Promise.reject(new AppError('INTERNAL', 'the trial store is closed'));
    const run = queue.then(() =>
      withLock(async () => {
        await load();
        const draft = new Map(trials);
        const result = change(draft);
        const document: TrialsFile = {
          format: 'streetlab-trials',
          version: 1,
          revision: revision + 1,
          updatedAt: new Date(now()).toISOString(),
          trials: [...draft.values()].sort((a, b) => a.id.localeCompare(b.id)),
        };
        known = await writeFileAtomic(file!, `${JSON.stringify(document, null, 2)}\n`, { createDir: true });
        trials = draft;
        revision = document.revision;
        return result;
      }),
    );
    queue = run.catch(() => {});
    return run;
  }

  function mustGet(draft: Map<string, Trial>, id: string): Trial {
    const trial = draft.get(id);
    if (!trial) throw new AppError('NOT_FOUND', `no trial "${id}"`);
    return trial;
  }

  function parse<T>(schema: z.ZodType<T>, input: unknown): T {
    const parsed = schema.safeParse(input);
    if (!parsed.success) throw new AppError('BAD_REQUEST', validationMessage(parsed.error));
    return parsed.data;
  }

  await load();

  return {
    async list() {
      await load();
      return [...trials.values()].sort((a, b) => a.id.localeCompare(b.id));
    },
    async get(id) {
      await load();
      return trials.get(id);
    },
    async create(request) {
      const input = parse(CreateTrialRequestSchema, request);
      const id = input.id ?? `trial-${randomBytes(4).toString('hex')}`;
      if (RESERVED_IDS.has(id)) throw new AppError('BAD_REQUEST', `id: "${id}" is reserved`);
      const at = new Date(now()).toISOString();
      const trial: Trial = {
        id,
        name: input.name,
        owner: input.owner,
        deviceIds: input.deviceIds,
        start: toIso(input.start),
        ...(input.end !== undefined ? { end: toIso(input.end) } : {}),
        status: 'open',
        goals: input.goals,
        ...(input.referenceDeviceId !== undefined ? { referenceDeviceId: input.referenceDeviceId } : {}),
        createdAt: at,
        updatedAt: at,
      };
      checkPeriod(trial);
      await options.checkDevices?.(trial);
      return mutate((draft) => {
        if (draft.has(id)) throw new AppError('CONFLICT', `a trial "${id}" already exists`);
        draft.set(id, trial);
        return trial;
      });
    },
    async update(id, patch) {
      const changes = parse(UpdateTrialRequestSchema, patch);
      await load();
      const preview = applyPatch(mustGet(trials, id), changes, now());
      checkPeriod(preview);
      await options.checkDevices?.(preview);
      return mutate((draft) => {
        const next = applyPatch(mustGet(draft, id), changes, now());
        checkPeriod(next);
        draft.set(id, next);
        return next;
      });
    },
    async closeTrial(id, request = {}) {
      const input = parse(CloseTrialRequestSchema, request);
      return mutate((draft) => {
        const current = mustGet(draft, id);
        if (current.status === 'closed') throw new AppError('CONFLICT', `trial "${id}" is already closed (ended ${current.end ?? 'unknown'})`);
        const at = now();
        const end =
          input.end !== undefined ? toIso(input.end) : current.end !== undefined && Date.parse(current.end) <= at ? current.end : new Date(at).toISOString();
        const next: Trial = { ...current, status: 'closed', end, updatedAt: new Date(at).toISOString() };
        checkPeriod(next);
        draft.set(id, next);
        return next;
      });
    },
    async close() {
      closed = true;
      await queue;
    },
  };
}

function applyPatch(current: Trial, changes: z.infer<typeof UpdateTrialRequestSchema>, nowMs: number): Trial {
  const next: Trial = { ...current, goals: { ...current.goals }, updatedAt: new Date(nowMs).toISOString() };
  if (changes.name !== undefined) next.name = changes.name;
  if (changes.owner !== undefined) next.owner = changes.owner;
  if (changes.deviceIds !== undefined) next.deviceIds = changes.deviceIds;
  if (changes.start !== undefined) next.start = toIso(changes.start);
  if (changes.end === null) delete next.end;
  else if (changes.end !== undefined) next.end = toIso(changes.end);
  if (changes.referenceDeviceId === null) delete next.referenceDeviceId;
  else if (changes.referenceDeviceId !== undefined) next.referenceDeviceId = changes.referenceDeviceId;
  if (changes.goals) {
    for (const [key, value] of Object.entries(changes.goals)) {
      if (value === null) delete (next.goals as Record<string, unknown>)[key];
      else if (value !== undefined) (next.goals as Record<string, unknown>)[key] = value;
    }
  }
  return next;
}

/**
 * The device check the API and the CLI use: every device of a trial is registered, and the
 * reference (if any) is a registered air device that is not also under test.
 */
export function createRegistryDeviceCheck(registry: { get(id: string): Promise<{ kind: string } | undefined> }): TrialDeviceCheck {
  return async (trial) => {
    for (const [i, id] of trial.deviceIds.entries()) {
      if (!(await registry.get(id))) throw new AppError('BAD_REQUEST', `deviceIds.${i}: no device "${id}" is registered`);
    }
    if (trial.referenceDeviceId !== undefined) {
      const reference = await registry.get(trial.referenceDeviceId);
      if (!reference) throw new AppError('BAD_REQUEST', `referenceDeviceId: no device "${trial.referenceDeviceId}" is registered`);
      if (reference.kind !== 'air') throw new AppError('BAD_REQUEST', `referenceDeviceId: "${trial.referenceDeviceId}" is a ${reference.kind} device; a reference station must be an air device`);
      if (trial.deviceIds.includes(trial.referenceDeviceId)) throw new AppError('BAD_REQUEST', 'referenceDeviceId: the reference station cannot also be a device under test');
    }
  };
}
