/**
 * Alert rules as data: `DATA_DIR/alert-rules.json`, next to the device registry and written
 * the same crash-safe way (common/registry/atomic-write.ts: temp file, fsync, rename, fsync
 * the directory). Rules change rarely and only through the API, so each change is written
 * before the request is answered: an acknowledged rule survives a crash. The API process is
 * the file's only writer; without a file (tests, `createApiServer` without a data dir) the
 * rules live in memory.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import {
  AlertRuleSchema,
  CreateAlertRuleRequestSchema,
  UpdateAlertRuleRequestSchema,
  type AlertRule,
  type CreateAlertRuleRequest,
  type UpdateAlertRuleRequest,
} from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import { readFileIfExists, writeFileAtomic } from '../../common/registry/index.ts';

export const ALERT_RULES_FILE_NAME = 'alert-rules.json';

const RulesFileSchema = z.object({
  format: z.literal('streetlab-alert-rules'),
  version: z.literal(1),
  updatedAt: z.iso.datetime(),
  rules: z.array(AlertRuleSchema),
});

export type RuleChange = { type: 'created' | 'removed'; rule: AlertRule } | { type: 'updated'; rule: AlertRule; before: AlertRule };

export interface AlertRuleStore {
  /** undefined = in memory. */
  readonly file: string | undefined;
  /** True when the store had never been written (no file yet): the lab seeds its defaults then. */
  readonly fresh: boolean;
  list(): AlertRule[];
  get(id: string): AlertRule | undefined;
  /** BAD_REQUEST naming the field; CONFLICT for a taken id. */
  create(request: CreateAlertRuleRequest): Promise<AlertRule>;
  /** NOT_FOUND; BAD_REQUEST naming the field (the merged rule is validated as a whole). */
  update(id: string, patch: UpdateAlertRuleRequest): Promise<AlertRule>;
  /** NOT_FOUND. */
  remove(id: string): Promise<void>;
  onChange(listener: (change: RuleChange) => void): () => void;
}

export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((i) => (i.code === 'unrecognized_keys' ? `${i.keys.join(', ')}: not a field of this rule type` : `${i.path.join('.') || 'body'}: ${i.message}`))
    .join('; ');
}

export interface AlertRuleStoreOptions {
  /** The rules live in `dataDir/alert-rules.json`; omitted = in memory. */
  dataDir?: string | undefined;
  now?: () => number;
}

export async function openAlertRuleStore(options: AlertRuleStoreOptions = {}): Promise<AlertRuleStore> {
  const file = options.dataDir === undefined ? undefined : join(options.dataDir, ALERT_RULES_FILE_NAME);
  const now = options.now ?? Date.now;
  const rules = new Map<string, AlertRule>();
  const listeners = new Set<(change: RuleChange) => void>();
  let queue: Promise<unknown> = Promise.resolve();
  let fresh = true;

  if (file) {
    const text = await readFileIfExists(file);
    if (text !== undefined) {
      fresh = false;
      // A broken file stops the process: better than silently running without the city's rules.
      let parsed: z.infer<typeof RulesFileSchema>;
      try {
        parsed = RulesFileSchema.parse(JSON.parse(text));
      } catch (error) {
        const detail = error instanceof z.ZodError ? describeIssues(error) : String(error);
        throw new AppError('INTERNAL', `the alert rules ${file} are not valid: ${detail}`, { cause: error });
      }
      for (const rule of parsed.rules) rules.set(rule.id, rule);
    }
  }

  async function persist(): Promise<void> {
    if (!file) return;
    const document = {
      format: 'streetlab-alert-rules',
      version: 1,
      updatedAt: new Date(now()).toISOString(),
      rules: [...rules.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id)),
    };
    await writeFileAtomic(file, `${JSON.stringify(document, null, 2)}\n`, { createDir: true });
    fresh = false;
  }

  /** One change at a time; a failed write undoes the change in memory. */
  function mutate<T>(change: () => { result: T; undo: () => void; event: RuleChange | undefined }): Promise<T> {
    const run = queue.then(async () => {
      const { result, undo, event } = change();
      try {
        await persist();
      } catch (error) {
        undo();
        throw new AppError('STORE_UNAVAILABLE', `could not save the alert rules: ${(error as Error).message}`, { cause: error, retryable: true });
      }
      if (event) for (const listener of listeners) listener(event);
      return result;
    });
    queue = run.catch(() => {});
    return run;
  }

  function validated(candidate: unknown): AlertRule {
    const parsed = AlertRuleSchema.safeParse(candidate);
    if (!parsed.success) throw new AppError('BAD_REQUEST', describeIssues(parsed.error));
    return parsed.data;
  }

  return {
    file,
    get fresh() {
      return fresh;
    },
    list: () => [...rules.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id)),
    get: (id) => rules.get(id),
    create(request) {
      const parsed = CreateAlertRuleRequestSchema.safeParse(request);
      if (!parsed.success) return Promise.reject(new AppError('BAD_REQUEST', describeIssues(parsed.error)));
      return mutate(() => {
        const id = parsed.data.id ?? `rule-${randomBytes(5).toString('hex')}`;
        if (rules.has(id)) throw new AppError('CONFLICT', `an alert rule "${id}" already exists`);
        const at = new Date(now()).toISOString();
        const rule = validated({ ...parsed.data, id, createdAt: at, updatedAt: at });
        rules.set(id, rule);
        return { result: rule, undo: () => rules.delete(id), event: { type: 'created', rule } };
      });
    },
    update(id, patch) {
      const parsedPatch = UpdateAlertRuleRequestSchema.safeParse(patch);
      if (!parsedPatch.success) return Promise.reject(new AppError('BAD_REQUEST', describeIssues(parsedPatch.error)));
      return mutate(() => {
        const before = rules.get(id);
        if (!before) throw new AppError('NOT_FOUND', `no alert rule "${id}"`);
        const merged: Record<string, unknown> = { ...before };
        for (const [key, value] of Object.entries(parsedPatch.data)) {
          if (value === undefined) continue;
          if (value === null) delete merged[key];
          else merged[key] = value;
        }
        merged.updatedAt = new Date(now()).toISOString();
        const rule = validated(merged);
        rules.set(id, rule);
        return { result: rule, undo: () => rules.set(id, before), event: { type: 'updated', rule, before } };
      });
    },
    remove(id) {
      return mutate(() => {
        const rule = rules.get(id);
        if (!rule) throw new AppError('NOT_FOUND', `no alert rule "${id}"`);
        rules.delete(id);
        return { result: undefined, undo: () => rules.set(id, rule), event: { type: 'removed', rule } };
      });
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
