/**
 * The registry operations the CLI needs, two ways: over HTTP (API_URL with ADMIN_TOKEN) or
 * directly on the registry file (--data-dir). Opened once per invocation by run.ts.
 */
import { resolve } from 'node:path';
import type {
  ApiKeyListResponse,
  ApiKeyRecord,
  CreateApiKeyRequest,
  ApiKeyWithToken,
  CreateDeviceRequest,
  CreateIntegrationRequest,
  CreateLabRequest,
  CreateTrialRequest,
  IntegrationRecord,
  IntegrationWithSecret,
  Lab,
  LabListResponse,
  DeviceListResponse,
  DeviceRecord,
  DeviceWithSecret,
  Trial,
  TrialListResponse,
  TrialReport,
  UpdateDeviceRequest,
  UpdateTrialRequest,
} from '../../contracts/index.ts';
import { DEFAULT_LAB_ID, PLATFORM_KEY_LAB } from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import { openFileRegistry, type DeviceRegistry } from '../../common/registry/index.ts';
import { openIntegrationStore, type IntegrationStore } from '../../common/registry/integrations.ts';
import { createRegistryDeviceCheck, openFileTrialStore, type TrialStore } from '../trials/store.ts';
import { UsageError, errorMessage, type CliIo } from './shared.ts';

export interface Backend {
  list(): Promise<DeviceRecord[]>;
  get(id: string): Promise<DeviceRecord>;
  create(request: CreateDeviceRequest): Promise<DeviceWithSecret>;
  update(id: string, patch: UpdateDeviceRequest): Promise<DeviceRecord>;
  remove(id: string): Promise<void>;
  rotate(id: string): Promise<DeviceWithSecret>;
  listKeys(): Promise<ApiKeyRecord[]>;
  createKey(request: CreateApiKeyRequest): Promise<ApiKeyWithToken>;
  revokeKey(id: string): Promise<void>;
  /** The labs and the platform's default lab (over HTTP: those the token sees). */
  listLabs(): Promise<LabListResponse>;
  createLab(request: CreateLabRequest): Promise<Lab>;
  listIntegrations(): Promise<IntegrationRecord[]>;
  createIntegration(request: CreateIntegrationRequest): Promise<IntegrationWithSecret>;
  rotateIntegration(id: string): Promise<IntegrationWithSecret>;
  removeIntegration(id: string): Promise<void>;
  listTrials(): Promise<Trial[]>;
  getTrial(id: string): Promise<Trial>;
  createTrial(request: CreateTrialRequest): Promise<Trial>;
  updateTrial(id: string, patch: UpdateTrialRequest): Promise<Trial>;
  closeTrial(id: string, end: string | undefined): Promise<Trial>;
  /** JSON report, or the HTML page as text. */
  trialReport(id: string, query: { from?: string | undefined; to?: string | undefined; format: 'json' | 'html' }): Promise<TrialReport | string>;
  close(): Promise<void>;
}

/**
 * The registry file under --data-dir, or the API with ADMIN_TOKEN; undefined (after saying
 * why on stderr) when neither is given.
 */
export async function openBackend(dataDir: string | undefined, io: CliIo): Promise<Backend | undefined> {
  if (dataDir !== undefined) {
    const dir = resolve(dataDir);
    const registry = await openFileRegistry({ dataDir: dir, pollIntervalMs: 0 });
    // The default lab is the API's LAB_ID: it exists from the API's first start on, even before its record is written.
    const defaultLab = io.env.LAB_ID || DEFAULT_LAB_ID;
    return fileBackend(registry, await openFileTrialStore({ dataDir: dir, checkDevices: createRegistryDeviceCheck(registry) }), await openIntegrationStore({ dataDir: dir, pollIntervalMs: 0 }), defaultLab);
  }
  const token = io.env.ADMIN_TOKEN;
  if (!token) {
    io.err('ADMIN_TOKEN is not set: export the admin token (npm run lab prints it), or use --data-dir <dir> to edit the registry file directly\n');
    return undefined;
  }
  return httpBackend(io.env.API_URL ?? 'http://127.0.0.1:8080', token, io.fetch ?? fetch);
}

function httpBackend(apiUrl: string, token: string, doFetch: typeof fetch): Backend {
  async function call<T>(method: string, path: string, body?: unknown, raw = false): Promise<T> {
    let response: Response;
    try {
      response = await doFetch(new URL(path, apiUrl), {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new Error(`cannot reach the API at ${apiUrl} (${errorMessage(error)}); is it running? Set API_URL, or use --data-dir`);
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    if (raw && response.ok) return text as T;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const message = (parsed as { message?: string } | undefined)?.message ?? text.slice(0, 200);
      throw new Error(`${response.status} ${(parsed as { error?: string } | undefined)?.error ?? response.statusText}: ${message}`);
    }
    return parsed as T;
  }
  const device = (id: string) => `/api/v1/devices/${encodeURIComponent(id)}`;
  const trial = (id: string) => `/api/v1/trials/${encodeURIComponent(id)}`;
  return {
    list: async () => (await call<DeviceListResponse>('GET', '/api/v1/devices')).devices,
    get: (id) => call('GET', device(id)),
    create: (request) => call('POST', '/api/v1/devices', request),
    update: (id, patch) => call('PATCH', device(id), patch),
    remove: (id) => call('DELETE', device(id)),
    rotate: (id) => call('POST', `${device(id)}/secret`),
    listKeys: async () => (await call<ApiKeyListResponse>('GET', '/api/v1/keys')).keys,
    createKey: (request) => call('POST', '/api/v1/keys', request),
    revokeKey: (id) => call('DELETE', `/api/v1/keys/${encodeURIComponent(id)}`),
    listLabs: () => call('GET', '/api/v1/labs'),
    createLab: (request) => call('POST', '/api/v1/labs', request),
    listIntegrations: async () => (await call<{ integrations: IntegrationRecord[] }>('GET', '/api/v1/integrations')).integrations,
    createIntegration: (request) => call('POST', '/api/v1/integrations', request),
    rotateIntegration: (id) => call('POST', `/api/v1/integrations/${encodeURIComponent(id)}/secret`),
    removeIntegration: (id) => call('DELETE', `/api/v1/integrations/${encodeURIComponent(id)}`),
    listTrials: async () => (await call<TrialListResponse>('GET', '/api/v1/trials')).trials,
    getTrial: (id) => call('GET', trial(id)),
    createTrial: (request) => call('POST', '/api/v1/trials', request),
    updateTrial: (id, patch) => call('PATCH', trial(id), patch),
    closeTrial: (id, end) => call('POST', `${trial(id)}/close`, end === undefined ? undefined : { end }),
    trialReport: (id, query) => {
      const search = new URLSearchParams({ format: query.format });
      if (query.from !== undefined) search.set('from', query.from);
      if (query.to !== undefined) search.set('to', query.to);
      return call('GET', `${trial(id)}/report?${search}`, undefined, query.format === 'html');
    },
    close: async () => {},
  };
}

function fileBackend(registry: DeviceRegistry, trials: TrialStore, integrations: IntegrationStore, defaultLab: string): Backend {
  // The registry file takes any lab id; the API refuses a lab that does not exist, and so does this.
  async function checkLab(lab: string | undefined): Promise<void> {
    if (lab === undefined || lab === defaultLab || lab === PLATFORM_KEY_LAB || (await registry.getLab(lab))) return;
    throw new AppError('BAD_REQUEST', `lab: no lab "${lab}"; create it first (labs create)`);
  }
  return {
    list: () => registry.list(),
    async get(id) {
      const found = await registry.get(id);
      if (!found) throw new Error(`404 NOT_FOUND: no device "${id}"`);
      return found;
    },
    async create(request) {
      await checkLab(request.lab);
      return registry.create(request);
    },
    update: (id, patch) => registry.update(id, patch),
    remove: (id) => registry.remove(id),
    rotate: (id) => registry.rotateSecret(id),
    listKeys: () => registry.listApiKeys(),
    async createKey(request) {
      await checkLab(request.lab);
      return registry.createApiKey(request);
    },
    listLabs: async () => ({ labs: await registry.listLabs(), defaultLab }),
    createLab: (request) => registry.createLab(request),
    revokeKey: (id) => registry.revokeApiKey(id),
    listIntegrations: () => integrations.list(),
    createIntegration: (request) => integrations.create(request),
    rotateIntegration: (id) => integrations.rotateSecret(id),
    removeIntegration: (id) => integrations.remove(id),
    listTrials: () => trials.list(),
    async getTrial(id) {
      const found = await trials.get(id);
      if (!found) throw new Error(`404 NOT_FOUND: no trial "${id}"`);
      return found;
    },
    createTrial: (request) => trials.create(request),
    updateTrial: (id, patch) => trials.update(id, patch),
    closeTrial: (id, end) => trials.closeTrial(id, end === undefined ? {} : { end }),
    trialReport: async () => {
      throw new UsageError('trial report reads InfluxDB through the API: run it over HTTP (API_URL and ADMIN_TOKEN), not with --data-dir');
    },
    async close() {
      await trials.close();
      await integrations.close();
      await registry.close();
    },
  };
}
