/**
 * Network-server integrations (The Things Stack, ChirpStack): one per application whose
 * uplinks come to the lab, in `DATA_DIR/integrations.json`, written like the registry (the
 * document store: atomic write, lease lock, re-read when another process wrote it) — or, in
 * cluster mode (REDIS_URL), in Redis under `streetlab:integrations` like the registry's
 * `streetlab:registry`, so an integration created through any API node opens the webhook of
 * every broker node as soon as the change is published. The API manages them
 * (/api/v1/integrations); the broker reads them to check webhook secrets and to run the MQTT
 * bridges, following changes within a second.
 *
 * The webhook secret is 256 random bits, shown once, stored as SHA-256 (like API keys: at that
 * entropy a slow hash adds nothing, and every webhook call checks it). The bridge's MQTT
 * password (a TTS API key) must be stored as given, since the broker logs in with it: the
 * file is mode 0600 and no response ever shows it.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import {
  CreateIntegrationRequestSchema,
  IntegrationMqttSchema,
  IntegrationRecordSchema,
  UpdateIntegrationRequestSchema,
  type CreateIntegrationRequest,
  type IntegrationMqtt,
  type IntegrationRecord,
  type IntegrationWithSecret,
  type UpdateIntegrationRequest,
} from '../../contracts/index.ts';
import { AppError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { openDocumentStore, type DocumentStore } from '../store/document-store.ts';
import { openRedisDocumentStore } from '../store/redis-document-store.ts';
import { sha256Hex } from './secrets.ts';

export const INTEGRATIONS_FILE_NAME = 'integrations.json';
/** The Redis key of the integrations in cluster mode. */
export const INTEGRATIONS_REDIS_KEY = 'streetlab:integrations';

const StoredIntegrationSchema = IntegrationRecordSchema.omit({ mqtt: true }).extend({
  mqtt: IntegrationMqttSchema.optional(),
  secretHash: z.string().regex(/^[0-9a-f]{64}$/),
});
export type StoredIntegration = z.infer<typeof StoredIntegrationSchema>;
const ContentSchema = z.object({ integrations: z.array(StoredIntegrationSchema) });
type Content = z.infer<typeof ContentSchema>;
type State = Map<string, StoredIntegration>;

export interface IntegrationStore {
  list(): Promise<IntegrationRecord[]>;
  get(id: string): Promise<IntegrationRecord | undefined>;
  /** AppError CONFLICT for a taken id, BAD_REQUEST naming the field. */
  create(request: CreateIntegrationRequest): Promise<IntegrationWithSecret>;
  /** AppError NOT_FOUND. */
  update(id: string, patch: UpdateIntegrationRequest): Promise<IntegrationRecord>;
  remove(id: string): Promise<void>;
  /** A new webhook secret; the old one stops working at once. */
  rotateSecret(id: string): Promise<IntegrationWithSecret>;
  /** The integration a webhook secret opens (constant-time compare), or why not. */
  verifySecret(id: string, secret: string): { ok: true; integration: StoredIntegration } | { ok: false; reason: 'UNKNOWN' | 'BAD_SECRET' | 'DISABLED' };
  /** Every integration with its bridge settings, password included (the broker's bridges only). */
  stored(): StoredIntegration[];
  refresh(): Promise<void>;
  onChange(listener: () => void): () => void;
  close(): Promise<void>;
}

export interface IntegrationStoreOptions {
  /** `dataDir/integrations.json`; undefined = in memory (tests). */
  dataDir?: string | undefined;
  /** Cluster mode: keep them in this Redis (key `streetlab:integrations`) instead; dataDir is then not used. */
  redisUrl?: string | undefined;
  pollIntervalMs?: number;
  logger?: Logger;
  now?: () => number;
}

export function toPublicIntegration(stored: StoredIntegration): IntegrationRecord {
  const { secretHash: _hash, mqtt, ...record } = stored;
  if (!mqtt) return record;
  const { password, ...settings } = mqtt;
  return { ...record, mqtt: { ...settings, passwordSet: password !== undefined } };
}

function invalid(error: z.ZodError): AppError {
  return new AppError('BAD_REQUEST', error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '));
}

export async function openIntegrationStore(options: IntegrationStoreOptions = {}): Promise<IntegrationStore> {
  const now = options.now ?? Date.now;
  const codec = {
    what: 'the integration store',
    format: 'streetlab-integrations',
    content: ContentSchema,
    decode: (content: Content): State => new Map(content.integrations.map((i) => [i.id, i])),
    encode: (state: State): Content => ({ integrations: [...state.values()].sort((a, b) => a.id.localeCompare(b.id)) }),
    empty: (): State => new Map(),
    now,
    logger: options.logger,
  };
  const store: DocumentStore<State> = options.redisUrl
    ? await openRedisDocumentStore<State, Content>({ ...codec, redisUrl: options.redisUrl, key: INTEGRATIONS_REDIS_KEY })
    : await openDocumentStore<State, Content>({
        ...codec,
        file: options.dataDir === undefined ? undefined : join(options.dataDir, INTEGRATIONS_FILE_NAME),
        pollIntervalMs: options.pollIntervalMs ?? 250,
      });

  function mutate<R>(change: (draft: State) => R): Promise<R> {
    return store.update((current) => {
      const draft = new Map(current);
      return { result: change(draft), next: draft };
    });
  }
  function mustGet(draft: State, id: string): StoredIntegration {
    const found = draft.get(id);
    if (!found) throw new AppError('NOT_FOUND', `no integration "${id}"`);
    return found;
  }
  function newSecret(): { secret: string; secretHash: string } {
    const secret = `sli_${randomBytes(32).toString('base64url')}`;
    return { secret, secretHash: sha256Hex(secret) };
  }

  return {
    async list() {
      await store.refresh();
      return [...store.state.values()].map(toPublicIntegration).sort((a, b) => a.id.localeCompare(b.id));
    },
    async get(id) {
      await store.refresh();
      const found = store.state.get(id);
      return found ? toPublicIntegration(found) : undefined;
    },
    async create(request) {
      const parsed = CreateIntegrationRequestSchema.safeParse(request);
      if (!parsed.success) throw invalid(parsed.error);
      const input = parsed.data;
      const { secret, secretHash } = newSecret();
      return mutate((draft) => {
        if (draft.has(input.id)) throw new AppError('CONFLICT', `an integration "${input.id}" already exists`);
        const at = new Date(now()).toISOString();
        const stored: StoredIntegration = {
          id: input.id,
          type: input.type,
          name: input.name ?? input.id,
          ...(input.owner !== undefined ? { owner: input.owner } : {}),
          enabled: input.enabled,
          ...(input.mqtt ? { mqtt: input.mqtt } : {}),
          createdAt: at,
          updatedAt: at,
          secretHash,
        };
        draft.set(stored.id, stored);
        return { integration: toPublicIntegration(stored), secret };
      });
    },
    async update(id, patch) {
      const parsed = UpdateIntegrationRequestSchema.safeParse(patch);
      if (!parsed.success) throw invalid(parsed.error);
      const changes = parsed.data;
      return mutate((draft) => {
        const next: StoredIntegration = { ...mustGet(draft, id), updatedAt: new Date(now()).toISOString() };
        if (changes.name !== undefined) next.name = changes.name;
        if (changes.owner === null) delete next.owner;
        else if (changes.owner !== undefined) next.owner = changes.owner;
        if (changes.enabled !== undefined) next.enabled = changes.enabled;
        if (changes.mqtt === null) delete next.mqtt;
        else if (changes.mqtt !== undefined) next.mqtt = keepPassword(changes.mqtt, next.mqtt);
        draft.set(id, next);
        return toPublicIntegration(next);
      });
    },
    async remove(id) {
      await mutate((draft) => {
        mustGet(draft, id);
        draft.delete(id);
      });
    },
    async rotateSecret(id) {
      const { secret, secretHash } = newSecret();
      return mutate((draft) => {
        const next: StoredIntegration = { ...mustGet(draft, id), secretHash, updatedAt: new Date(now()).toISOString() };
        draft.set(id, next);
        return { integration: toPublicIntegration(next), secret };
      });
    },
    verifySecret(id, secret) {
      const found = store.state.get(id);
      if (!found) return { ok: false, reason: 'UNKNOWN' };
      const ok = timingSafeEqual(Buffer.from(sha256Hex(secret), 'hex'), Buffer.from(found.secretHash, 'hex'));
      if (!ok) return { ok: false, reason: 'BAD_SECRET' };
      if (!found.enabled) return { ok: false, reason: 'DISABLED' };
      return { ok: true, integration: found };
    },
    stored: () => [...store.state.values()],
    async refresh() {
      await store.refresh();
    },
    onChange(listener) {
      return store.onChange(() => listener());
    },
    close: () => store.close(),
  };
}

/** A PATCH of the bridge settings without a password keeps the one stored (it is never shown, so never sent back). */
function keepPassword(next: IntegrationMqtt, previous: IntegrationMqtt | undefined): IntegrationMqtt {
  return next.password === undefined && previous?.password !== undefined ? { ...next, password: previous.password } : next;
}
