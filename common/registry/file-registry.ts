/**
 * The default device registry: one JSON file (`DATA_DIR/registry.json`, mode 0600) that
 * the broker, ingest and the API all read, so it needs no server.
 *
 * The file itself — versioned JSON, crash-safe writes (temporary file, fsync, rename, fsync of
 * the directory), the lease lock that lets several processes (API, `npm run devices -- --data-dir`,
 * other containers on the same volume) change it one at a time without losing anything, and
 * re-reading it when another process wrote it — is common/store/document-store.ts. Hash work
 * (scrypt) happens before a change enters the store's queue, so the lock is held only for fast
 * work.
 *
 * Other processes see a change by polling the file's identity (inode, mtime, size) every
 * `pollIntervalMs` (250 ms by default; the contract promises the broker sees API changes
 * within a second).
 *
 * Lookups by id go through Maps only: client ids such as `__proto__` have been a bug class
 * in MQTT brokers (GHSA-52qw-whmv-87c5), and such ids are refused at registration anyway.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import {
  ApiKeyRecordSchema,
  CreateApiKeyRequestSchema,
  CreateDeviceRequestSchema,
  CreateLabRequestSchema,
  DeviceRecordSchema,
  LabSchema,
  UpdateDeviceRequestSchema,
  type ApiKeyRecord,
  type ApiKeyWithToken,
  type CreateApiKeyRequest,
  type CreateDeviceRequest,
  type DeviceRecord,
  type DeviceWithSecret,
  type Lab,
  type UpdateDeviceRequest,
} from '../../contracts/index.ts';
import { AppError } from '../errors.ts';
import { applySourcePatch, assertIdentifiersFree, sourceFieldsOf } from './identifiers.ts';
import type { RegistryTags } from '../influx-schema.ts';
import type { Logger } from '../logger.ts';
import { createSilentLogger } from '../logger.ts';
import { createSecretVerifier, generateSecret, hashSecret, isSecretHash, sha256Hex, type SecretVerifierOptions } from './secrets.ts';
import { openDocumentStore } from '../store/document-store.ts';
import { openRedisDocumentStore } from '../store/redis-document-store.ts';
import type { DeviceRegistry, RegistryChange, VerifyResult } from './types.ts';

export const REGISTRY_FILE_NAME = 'registry.json';

const StoredDeviceSchema = DeviceRecordSchema.extend({
  secretHash: z.string().refine(isSecretHash, 'not a scrypt hash'),
  secretVersion: z.number().int().min(1),
});
type StoredDevice = z.infer<typeof StoredDeviceSchema>;

const StoredApiKeySchema = ApiKeyRecordSchema.extend({ tokenHash: z.string().regex(/^[0-9a-f]{64}$/) });
type StoredApiKey = z.infer<typeof StoredApiKeySchema>;

/** The document's content beside its envelope (format "streetlab-registry", version 1). */
const RegistryContentSchema = z.object({
  devices: z.array(StoredDeviceSchema),
  apiKeys: z.array(StoredApiKeySchema),
  /** Absent in registries written before labs: read as none (the API then creates the default lab). */
  labs: z.array(LabSchema).default([]),
});
type RegistryContent = z.infer<typeof RegistryContentSchema>;

interface State {
  devices: Map<string, StoredDevice>;
  apiKeys: Map<string, StoredApiKey>;
  labs: Map<string, Lab>;
}

/** Ids that name prototype members, and the prefix reserved for service client ids. */
const RESERVED_IDS = new Set(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf']);
export const RESERVED_ID_PREFIX = 'streetlab-';

const API_KEY_TOKEN = /^slk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export interface FileRegistryOptions {
  /** The registry lives in `dataDir/registry.json`… */
  dataDir?: string;
  /** …or exactly here (takes precedence). */
  file?: string;
  /** How often other processes' changes are looked for; default 250 ms. 0 = never (tests). */
  pollIntervalMs?: number;
  /** How long to wait for another process's lock before failing; default 10 s. */
  lockTimeoutMs?: number;
  /** How long a lock outlives its holder's last renewal (a crashed writer's lock is taken over after it); default 5 s. */
  lockLeaseMs?: number;
  verifier?: SecretVerifierOptions;
  logger?: Logger;
  now?: () => number;
  /** scrypt cost for new hashes (tests may lower it; verification reads it from each hash). */
  scrypt?: { N?: number; r?: number; p?: number };
  /** Fault injection for crash tests: runs after the temporary file is synced, before the rename. */
  beforeRename?: (temporaryFile: string) => void | Promise<void>;
  /**
   * Cluster mode: keep the registry in this Redis (key `streetlab:registry`) instead of the
   * file, so broker and API nodes on different machines share it; a change made on any node
   * is seen on every other at once (pub/sub). dataDir/file are then not used.
   */
  redisUrl?: string | undefined;
}

/** The Redis key of the registry in cluster mode. */
export const REGISTRY_REDIS_KEY = 'streetlab:registry';

export interface FileRegistry extends DeviceRegistry {
  readonly file: string;
  /** The document's revision (increments on every change). */
  revision(): number;
  /** Re-reads the file now if it changed on disk (what the poller does). */
  refresh(): Promise<void>;
}

function emptyState(): State {
  return { devices: new Map(), apiKeys: new Map(), labs: new Map() };
}

function toPublic(device: StoredDevice): DeviceRecord {
  const { secretHash: _hash, secretVersion: _version, ...record } = device;
  return record;
}

function toPublicKey(key: StoredApiKey): ApiKeyRecord {
  return {
    id: key.id,
    name: key.name,
    role: key.role,
    ...(key.owner !== undefined ? { owner: key.owner } : {}),
    ...(key.lab !== undefined ? { lab: key.lab } : {}),
    createdAt: key.createdAt,
  };
}

function validationMessage(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
}

export async function openFileRegistry(options: FileRegistryOptions): Promise<FileRegistry> {
  const configured = options.redisUrl ? `redis:${REGISTRY_REDIS_KEY}` : (options.file ?? (options.dataDir !== undefined ? join(options.dataDir, REGISTRY_FILE_NAME) : undefined));
  if (!configured) throw new AppError('CONFIG_INVALID', 'the file registry needs dataDir or file');
  const file: string = configured;
  const log = options.logger ?? createSilentLogger();
  const now = options.now ?? Date.now;
  const verifier = createSecretVerifier(options.verifier);
  const listeners = new Set<(change: RegistryChange) => void>();
  let tags = new Map<string, RegistryTags>();

  function emit(change: RegistryChange): void {
    for (const listener of listeners) {
      try {
        listener(change);
      } catch (error) {
        log.error({ err: error }, 'registry change listener failed');
      }
    }
  }

  function deriveTags(state: State): void {
    const nextTags = new Map<string, RegistryTags>();
    for (const device of state.devices.values()) {
      nextTags.set(device.id, { owner: device.owner, ...(device.site ? { site: device.site } : {}) });
    }
    tags = nextTags;
  }

  // First load: a broken file stops the process (better than serving an empty registry).
  const codec = {
    what: 'the device registry',
    format: 'streetlab-registry',
    content: RegistryContentSchema,
    decode: (content: RegistryContent): State => ({
      devices: new Map(content.devices.map((d) => [d.id, d])),
      apiKeys: new Map(content.apiKeys.map((k) => [k.id, k])),
      labs: new Map(content.labs.map((l) => [l.id, l])),
    }),
    encode: (state: State): RegistryContent => ({
      devices: [...state.devices.values()].sort((a, b) => a.id.localeCompare(b.id)),
      apiKeys: [...state.apiKeys.values()].sort((a, b) => a.createdAt.localeCompare(b.createdAt)),
      labs: [...state.labs.values()].sort((a, b) => a.id.localeCompare(b.id)),
    }),
    empty: emptyState,
    now,
    logger: log,
  };
  const store = options.redisUrl
    ? await openRedisDocumentStore<State, RegistryContent>({ ...codec, redisUrl: options.redisUrl, key: REGISTRY_REDIS_KEY })
    : await openDocumentStore<State, RegistryContent>({
        ...codec,
        file,
        pollIntervalMs: options.pollIntervalMs ?? 250,
        lockTimeoutMs: options.lockTimeoutMs,
        lockLeaseMs: options.lockLeaseMs,
        beforeRename: options.beforeRename,
      });
  deriveTags(store.state);
  store.onChange((state, cause) => {
    deriveTags(state);
    if (cause === 'reloaded') {
      log.debug({ revision: store.revision }, 'registry reloaded');
      emit({ type: 'reloaded' });
    }
  });

  /** Runs `change` on a copy of the freshest document and persists it, one change at a time. */
  async function mutate<T>(change: (draft: State) => { result: T; event: RegistryChange | undefined }): Promise<T> {
    const { result, event } = await store.update((current) => {
      const draft: State = { devices: new Map(current.devices), apiKeys: new Map(current.apiKeys), labs: new Map(current.labs) };
      return { result: change(draft), next: draft };
    });
    if (event) emit(event);
    return result;
  }

  function checkNewId(id: string): void {
    if (RESERVED_IDS.has(id)) throw new AppError('BAD_REQUEST', `id: "${id}" is reserved`);
    if (id.startsWith(RESERVED_ID_PREFIX)) throw new AppError('BAD_REQUEST', `id: ids starting with "${RESERVED_ID_PREFIX}" are reserved for services`);
  }

  function mustGet(draft: State, id: string): StoredDevice {
    const device = draft.devices.get(id);
    if (!device) throw new AppError('NOT_FOUND', `no device "${id}"`);
    return device;
  }

  const registry: FileRegistry = {
    file,
    revision: () => store.revision,
    async refresh() {
      await store.refresh();
    },

    async list() {
      return [...store.state.devices.values()].map(toPublic).sort((a, b) => a.id.localeCompare(b.id));
    },
    async get(id) {
      const device = store.state.devices.get(id);
      return device ? toPublic(device) : undefined;
    },

    async create(request: CreateDeviceRequest) {
      const parsed = CreateDeviceRequestSchema.safeParse(request);
      if (!parsed.success) throw new AppError('BAD_REQUEST', validationMessage(parsed.error));
      const input = parsed.data;
      checkNewId(input.id);
      if (store.state.devices.has(input.id)) throw new AppError('CONFLICT', `a device "${input.id}" is already registered`);
      const secret = generateSecret();
      const secretHash = await hashSecret(secret, options.scrypt);
      return mutate((draft) => {
        if (draft.devices.has(input.id)) throw new AppError('CONFLICT', `a device "${input.id}" is already registered`);
        const at = new Date(now()).toISOString();
        const stored: StoredDevice = {
          id: input.id,
          kind: input.kind,
          name: input.name ?? input.id,
          owner: input.owner,
          lat: input.lat,
          lon: input.lon,
          ...(input.site ? { site: input.site } : {}),
          intervalSeconds: input.intervalSeconds,
          enabled: input.enabled,
          createdAt: at,
          updatedAt: at,
          meta: input.meta,
          ...(input.lab !== undefined ? { lab: input.lab } : {}),
          ...sourceFieldsOf(input),
          secretHash,
          secretVersion: 1,
        };
        assertIdentifiersFree(draft.devices.values(), stored);
        draft.devices.set(stored.id, stored);
        const device = toPublic(stored);
        return { result: { device, secret }, event: { type: 'created', deviceId: stored.id, device } };
      });
    },

    async update(id, patch: UpdateDeviceRequest) {
      const parsed = UpdateDeviceRequestSchema.safeParse(patch);
      if (!parsed.success) throw new AppError('BAD_REQUEST', validationMessage(parsed.error));
      const changes = parsed.data;
      return mutate((draft) => {
        const current = mustGet(draft, id);
        const next: StoredDevice = { ...current, updatedAt: new Date(now()).toISOString() };
        if (changes.name !== undefined) next.name = changes.name;
        if (changes.owner !== undefined) next.owner = changes.owner;
        if (changes.lat !== undefined) next.lat = changes.lat;
        if (changes.lon !== undefined) next.lon = changes.lon;
        if (changes.site === null) delete next.site;
        else if (changes.site !== undefined) next.site = changes.site;
        if (changes.intervalSeconds !== undefined) next.intervalSeconds = changes.intervalSeconds;
        if (changes.enabled !== undefined) next.enabled = changes.enabled;
        if (changes.meta !== undefined) next.meta = changes.meta;
        applySourcePatch(next, changes);
        assertIdentifiersFree(draft.devices.values(), next);
        draft.devices.set(id, next);
        const device = toPublic(next);
        return { result: device, event: { type: 'updated', deviceId: id, device } };
      });
    },

    async remove(id) {
      await mutate((draft) => {
        const current = mustGet(draft, id);
        draft.devices.delete(id);
        return { result: undefined, event: { type: 'removed', deviceId: id, device: toPublic(current) } };
      });
      verifier.forget(id);
    },

    async rotateSecret(id) {
      if (!store.state.devices.has(id)) throw new AppError('NOT_FOUND', `no device "${id}"`);
      const secret = generateSecret();
      const secretHash = await hashSecret(secret, options.scrypt);
      const result = await mutate((draft) => {
        const current = mustGet(draft, id);
        const next: StoredDevice = { ...current, secretHash, secretVersion: current.secretVersion + 1, updatedAt: new Date(now()).toISOString() };
        draft.devices.set(id, next);
        const device = toPublic(next);
        return { result: { device, secret } satisfies DeviceWithSecret, event: { type: 'rotated', deviceId: id, device } };
      });
      verifier.forget(id);
      return result;
    },

    async verifySecret(id, secret): Promise<VerifyResult> {
      const stored = store.state.devices.get(id);
      if (!stored) return { ok: false, reason: 'UNKNOWN_DEVICE' };
      const check = await verifier.verify(id, secret, stored.secretHash);
      if (check === 'busy') return { ok: false, reason: 'BUSY' };
      // A rotation while scrypt ran makes the checked hash history: the old secret must not pass.
      const current = store.state.devices.get(id);
      if (check === 'mismatch' || !current || current.secretHash !== stored.secretHash) return { ok: false, reason: 'BAD_SECRET' };
      const device = toPublic(current);
      if (!current.enabled) return { ok: false, reason: 'DISABLED', device };
      return { ok: true, device, secretVersion: current.secretVersion };
    },

    peek(id) {
      const device = store.state.devices.get(id);
      return device ? toPublic(device) : undefined;
    },
    secretVersionOf(id) {
      return store.state.devices.get(id)?.secretVersion;
    },
    tagsOf(id) {
      return tags.get(id);
    },

    async listApiKeys() {
      return [...store.state.apiKeys.values()].map(toPublicKey);
    },
    async createApiKey(request: CreateApiKeyRequest) {
      const parsed = CreateApiKeyRequestSchema.safeParse(request);
      if (!parsed.success) throw new AppError('BAD_REQUEST', validationMessage(parsed.error));
      const id = randomBytes(6).toString('hex');
      const token = `slk_${id}_${randomBytes(32).toString('base64url')}`;
      return mutate((draft) => {
        const stored: StoredApiKey = {
          id,
          name: parsed.data.name,
          role: parsed.data.role,
          ...(parsed.data.owner !== undefined ? { owner: parsed.data.owner } : {}),
          ...(parsed.data.lab !== undefined ? { lab: parsed.data.lab } : {}),
          createdAt: new Date(now()).toISOString(),
          tokenHash: sha256Hex(token),
        };
        draft.apiKeys.set(id, stored);
        return { result: { key: toPublicKey(stored), token } satisfies ApiKeyWithToken, event: undefined };
      });
    },
    async revokeApiKey(id) {
      await mutate((draft) => {
        if (!draft.apiKeys.has(id)) throw new AppError('NOT_FOUND', `no API key "${id}"`);
        draft.apiKeys.delete(id);
        return { result: undefined, event: undefined };
      });
    },
    verifyApiKey(token) {
      const match = API_KEY_TOKEN.exec(token);
      if (!match) return undefined;
      const key = store.state.apiKeys.get(match[1]!);
      if (!key) return undefined;
      const ok = timingSafeEqual(Buffer.from(sha256Hex(token), 'hex'), Buffer.from(key.tokenHash, 'hex'));
      return ok ? toPublicKey(key) : undefined;
    },

    async listLabs() {
      return [...store.state.labs.values()].sort((a, b) => a.id.localeCompare(b.id));
    },
    async getLab(id) {
      return store.state.labs.get(id);
    },
    async createLab(request) {
      const parsed = CreateLabRequestSchema.safeParse(request);
      if (!parsed.success) throw new AppError('BAD_REQUEST', validationMessage(parsed.error));
      const input = parsed.data;
      return mutate((draft) => {
        if (draft.labs.has(input.id)) throw new AppError('CONFLICT', `a lab "${input.id}" already exists`);
        const lab: Lab = { id: input.id, name: input.name, area: input.area, createdAt: new Date(now()).toISOString() };
        draft.labs.set(lab.id, lab);
        return { result: lab, event: undefined };
      });
    },
    async ensureLab(request) {
      const existing = store.state.labs.get(request.id);
      if (existing) return existing;
      const parsed = CreateLabRequestSchema.safeParse(request);
      if (!parsed.success) throw new AppError('BAD_REQUEST', validationMessage(parsed.error));
      return mutate((draft) => {
        // Another process (a second API node) may have created it meanwhile: keep theirs.
        const current = draft.labs.get(parsed.data.id);
        if (current) return { result: current, event: undefined };
        const lab: Lab = { ...parsed.data, createdAt: new Date(now()).toISOString() };
        draft.labs.set(lab.id, lab);
        return { result: lab, event: undefined };
      });
    },

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      await store.close();
      listeners.clear();
    },
  };
  return registry;
}
