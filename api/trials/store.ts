/**
 * Where trials are kept. The default is one JSON document next to the device registry
 * (`DATA_DIR/trials.json`, mode 0600), kept by common/store/document-store.ts: crash-safe
 * writes (a crash leaves the old or the new document, never a torn one) and a lease lock, so
 * several processes (the API and `npm run devices -- --data-dir … trial …`) can change it
 * without losing each other's changes. Reads re-read the document when its identity (inode,
 * mtime, size) changed: trials change a few times a day, so one stat per read is all the
 * polling there is. A database-backed store implements the same `TrialStore` interface.
 */
import { randomBytes } from 'node:crypto';
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
import { openDocumentStore } from '../../common/store/document-store.ts';

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

/** The document's content beside its envelope (format "streetlab-trials", version 1). */
const TrialsContentSchema = z.object({ trials: z.array(TrialSchema) });
type TrialsContent = z.infer<typeof TrialsContentSchema>;

export interface FileTrialStoreOptions {
  dataDir?: string;
  /** Exactly this file (takes precedence). */
  file?: string;
  now?: () => number;
  lockTimeoutMs?: number;
  /** How long a lock outlives its holder's last renewal; default 5 s. */
  lockLeaseMs?: number;
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
  const store = await openDocumentStore<Map<string, Trial>, TrialsContent>({
    file,
    what: 'the trial store',
    format: 'streetlab-trials',
    content: TrialsContentSchema,
    decode: (content) => new Map(content.trials.map((t) => [t.id, t])),
    encode: (trials) => ({ trials: [...trials.values()].sort((a, b) => a.id.localeCompare(b.id)) }),
    empty: () => new Map(),
    lockTimeoutMs: options.lockTimeoutMs,
    lockLeaseMs: options.lockLeaseMs,
    now,
  });

  /** Re-reads the document if another process changed it; the trials as they are now. */
  async function load(): Promise<Map<string, Trial>> {
    await store.refresh();
    return store.state;
  }

  /** Applies `change` to the freshest document and persists it, one change at a time. */
  function mutate(change: (draft: Map<string, Trial>) => Trial): Promise<Trial> {
    return store.update((current) => {
      const draft = new Map(current);
      return { result: change(draft), next: draft };
    });
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

  return {
    async list() {
      return [...(await load()).values()].sort((a, b) => a.id.localeCompare(b.id));
    },
    async get(id) {
      return (await load()).get(id);
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
        ...(input.lab !== undefined ? { lab: input.lab } : {}),
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
      const preview = applyPatch(mustGet(await load(), id), changes, now());
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
    close: () => store.close(),
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
