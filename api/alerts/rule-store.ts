/**
 * Alert rules as data: `DATA_DIR/alert-rules.json`, next to the device registry and kept the
 * same way (common/store/document-store.ts: crash-safe writes under a lease lock). Rules change
 * rarely and only through the API, so each change is written before the request is answered:
 * an acknowledged rule survives a crash. Without a file (tests, `createApiServer` without a
 * data dir) the rules live in memory.
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
import { openDocumentStore } from '../../common/store/document-store.ts';

export const ALERT_RULES_FILE_NAME = 'alert-rules.json';

/** The document's content beside its envelope (format "streetlab-alert-rules", version 1). */
const RulesContentSchema = z.object({ rules: z.array(AlertRuleSchema) });
type RulesContent = z.infer<typeof RulesContentSchema>;

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
  const listeners = new Set<(change: RuleChange) => void>();
  // A broken file stops the process: better than silently running without the city's rules.
  const store = await openDocumentStore<ReadonlyMap<string, AlertRule>, RulesContent>({
    file,
    what: 'the alert rules',
    format: 'streetlab-alert-rules',
    content: RulesContentSchema,
    decode: (content) => new Map(content.rules.map((rule) => [rule.id, rule])),
    encode: (rules) => ({ rules: sorted(rules) }),
    empty: () => new Map(),
    now,
  });

  /** One change at a time, on a copy: a failed write changes nothing. */
  async function mutate<T>(change: (draft: Map<string, AlertRule>) => { result: T; event: RuleChange }): Promise<T> {
    const { result, event } = await store.update((current) => {
      const draft = new Map(current);
      return { result: change(draft), next: draft };
    });
    for (const listener of listeners) listener(event);
    return result;
  }

  function validated(candidate: unknown): AlertRule {
    const parsed = AlertRuleSchema.safeParse(candidate);
    if (!parsed.success) throw new AppError('BAD_REQUEST', describeIssues(parsed.error));
    return parsed.data;
  }

  return {
    file,
    /** Never written: no file yet (in memory, always). */
    get fresh() {
      return !store.exists;
    },
    list: () => sorted(store.state),
    get: (id) => store.state.get(id),
    create(request) {
      const parsed = CreateAlertRuleRequestSchema.safeParse(request);
      if (!parsed.success) return Promise.reject(new AppError('BAD_REQUEST', describeIssues(parsed.error)));
      return mutate((rules) => {
        const id = parsed.data.id ?? `rule-${randomBytes(5).toString('hex')}`;
        if (rules.has(id)) throw new AppError('CONFLICT', `an alert rule "${id}" already exists`);
        const at = new Date(now()).toISOString();
        const rule = validated({ ...parsed.data, id, createdAt: at, updatedAt: at });
        rules.set(id, rule);
        return { result: rule, event: { type: 'created', rule } };
      });
    },
    update(id, patch) {
      const parsedPatch = UpdateAlertRuleRequestSchema.safeParse(patch);
      if (!parsedPatch.success) return Promise.reject(new AppError('BAD_REQUEST', describeIssues(parsedPatch.error)));
      return mutate((rules) => {
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
        return { result: rule, event: { type: 'updated', rule, before } };
      });
    },
    remove(id) {
      return mutate((rules) => {
        const rule = rules.get(id);
        if (!rule) throw new AppError('NOT_FOUND', `no alert rule "${id}"`);
        rules.delete(id);
        return { result: undefined, event: { type: 'removed', rule } };
      });
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

function sorted(rules: ReadonlyMap<string, AlertRule>): AlertRule[] {
  return [...rules.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
}
