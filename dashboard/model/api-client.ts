/**
 * The REST client: typed by the contracts and checked against their schemas, so a server
 * that drifts from the contract fails here with a message instead of as a blank chart.
 */
import { LatestResponseSchema, ReadingsResponseSchema, RejectionsResponseSchema, type LatestResponse, type ReadingsResponse } from '../../contracts/api.ts';
import { DeviceRecordViewListResponseSchema, type DeviceRecordView } from '../../contracts/open-data.ts';
import type { LiveReading } from '../../contracts/live.ts';
import { LabListResponseSchema, LabSchema, type Lab } from '../../contracts/labs.ts';
import type { ReadingKind } from '../../contracts/readings.ts';
import { KindListResponseSchema, type KindResponse } from '../../contracts/kinds.ts';
import type { Rejection } from '../../contracts/rejections.ts';
import { AlertListResponseSchema } from '../../contracts/alerts.ts';
import type { Alert } from '../../contracts/live.ts';
import { WasteCollectionsResponseSchema, WasteForecastResponseSchema, WasteKpiResponseSchema } from '../../contracts/waste.ts';
import type { z } from 'zod';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ReadingsRequest {
  kind?: ReadingKind | undefined;
  devices?: readonly string[] | undefined;
  /** ISO 8601, epoch ms, `now`, or relative (`-1h`). */
  from?: string | undefined;
  to?: string | undefined;
  limit?: number | undefined;
}

export interface RejectionsRequest {
  device?: string | undefined;
  kind?: ReadingKind | undefined;
  from?: string | undefined;
  limit?: number | undefined;
}

/** Largest `limit` the readings endpoint accepts. */
export const READINGS_LIMIT_MAX = 10_000;

export interface ApiClient {
  latest(kind?: ReadingKind): Promise<LatestResponse['readings']>;
  readings(request: ReadingsRequest, signal?: AbortSignal): Promise<ReadingsResponse>;
  rejections(request: RejectionsRequest, signal?: AbortSignal): Promise<Rejection[]>;
  /** Alerts still active, or (with `since`) every alert active at some point since then; none without a key (alerts are not open data). */
  alerts(request: { since?: string | undefined; limit?: number | undefined }): Promise<Alert[]>;
  /** The registry (without owners and metadata when read anonymously: open data); undefined when this API has none or does not let us read it. */
  devices(): Promise<DeviceRecordView[] | undefined>;
  /** Every device kind the lab knows (GET /api/v1/kinds); undefined when this API has no catalogue or does not let us read it. */
  kinds(): Promise<KindResponse[] | undefined>;
  /** The page's lab, its name and area (GET /api/v1/labs/{lab}); undefined when the page has no lab, or the API has no labs or does not let us read it. */
  lab(): Promise<Lab | undefined>;
  /** A bin's emptyings from `fromMs` on, oldest first (/api/v1/waste/collections). */
  wasteCollections(deviceId: string, fromMs: number, signal?: AbortSignal): Promise<z.infer<typeof WasteCollectionsResponseSchema>['collections']>;
  /** When each bin reaches 80 %, soonest first (/api/v1/waste/forecast). */
  wasteForecast(signal?: AbortSignal): Promise<z.infer<typeof WasteForecastResponseSchema>>;
  /** Collection KPIs over the last `days` days, all bins together (/api/v1/waste/kpi). */
  wasteKpi(days: number, signal?: AbortSignal): Promise<z.infer<typeof WasteKpiResponseSchema>['total']>;
}

export interface ApiClientOptions {
  baseUrl?: string;
  /** Sent as `Authorization: Bearer`; absent for the lab's public read access. */
  token?: string | undefined;
  /** Every request asks for this lab's data (`?lab=`); undefined = what the key sees. */
  lab?: string | undefined;
  fetch?: typeof fetch;
}

export function createApiClient(options: ApiClientOptions = {}): ApiClient {
  const base = options.baseUrl ?? '';
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token) headers.authorization = `Bearer ${options.token}`;

  async function get<S extends z.ZodType>(path: string, params: URLSearchParams, schema: S, signal?: AbortSignal): Promise<z.infer<S>> {
    // One place for the lab: no request of the page can forget it.
    if (options.lab) params.set('lab', options.lab);
    const query = params.toString();
    const response = await doFetch(`${base}${path}${query ? `?${query}` : ''}`, { headers, ...(signal ? { signal } : {}) });
    const body: unknown = await response.json().catch(() => undefined);
    if (!response.ok) {
      const error = body as { error?: unknown; message?: unknown } | undefined;
      throw new ApiError(
        typeof error?.message === 'string' ? error.message : `${path} answered ${response.status}`,
        response.status,
        typeof error?.error === 'string' ? error.error : `HTTP_${response.status}`,
      );
    }
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      throw new ApiError(`${path} answered with an unexpected shape: ${parsed.error.issues[0]?.message ?? 'invalid'}`, response.status, 'BAD_RESPONSE');
    }
    return parsed.data;
  }

  return {
    async latest(kind) {
      const params = new URLSearchParams();
      if (kind) params.set('kind', kind);
      return (await get('/api/v1/latest', params, LatestResponseSchema)).readings;
    },
    readings(request, signal) {
      const params = new URLSearchParams();
      if (request.kind) params.set('kind', request.kind);
      for (const device of request.devices ?? []) params.append('device', device);
      if (request.from) params.set('from', request.from);
      if (request.to) params.set('to', request.to);
      params.set('limit', String(request.limit ?? READINGS_LIMIT_MAX));
      return get('/api/v1/readings', params, ReadingsResponseSchema, signal);
    },
    async rejections(request, signal) {
      // Rejections are not open data (their payload excerpts are a company's): without a key
      // the API answers 401, so an anonymous dashboard does not ask and shows none.
      if (!options.token) return [];
      const params = new URLSearchParams();
      if (request.device) params.set('device', request.device);
      if (request.kind) params.set('kind', request.kind);
      if (request.from) params.set('from', request.from);
      params.set('limit', String(request.limit ?? 100));
      return (await get('/api/v1/rejections', params, RejectionsResponseSchema, signal)).rejections;
    },
    async alerts(request) {
      if (!options.token) return [];
      const params = new URLSearchParams({ limit: String(request.limit ?? 100) });
      if (request.since) params.set('since', request.since);
      else params.set('state', 'active');
      return (await get('/api/v1/alerts', params, AlertListResponseSchema)).alerts;
    },
    async wasteCollections(deviceId, fromMs, signal) {
      const params = new URLSearchParams({ device: deviceId, from: new Date(fromMs).toISOString() });
      return (await get('/api/v1/waste/collections', params, WasteCollectionsResponseSchema, signal)).collections;
    },
    async wasteForecast(signal) {
      return get('/api/v1/waste/forecast', new URLSearchParams(), WasteForecastResponseSchema, signal);
    },
    async wasteKpi(days, signal) {
      return (await get('/api/v1/waste/kpi', new URLSearchParams({ from: `-${days}d` }), WasteKpiResponseSchema, signal)).total;
    },
    async kinds() {
      try {
        return (await get('/api/v1/kinds', new URLSearchParams(), KindListResponseSchema)).kinds;
      } catch (error) {
        // An API without a catalogue (404) or one that needs a key: the built-in kinds still show.
        if (error instanceof ApiError && [401, 403, 404].includes(error.status)) return undefined;
        throw error;
      }
    },
    async lab() {
      if (!options.lab) return undefined;
      try {
        return await get(`/api/v1/labs/${encodeURIComponent(options.lab)}`, new URLSearchParams(), LabSchema);
      } catch (error) {
        // An API older than labs (404), or one that needs a key we do not have: the map opens on the devices.
        if (error instanceof ApiError && [401, 403, 404].includes(error.status)) return undefined;
        throw error;
      }
    },
    async devices() {
      try {
        return (await get('/api/v1/devices', new URLSearchParams(), DeviceRecordViewListResponseSchema)).devices;
      } catch (error) {
        // No registry on this API yet (404), or reading it needs a key we do not have.
        if (error instanceof ApiError && [401, 403, 404, 405, 501].includes(error.status)) return undefined;
        throw error;
      }
    },
  };
}

/**
 * All readings of a request, newest first, paging backwards with `to` past the API's
 * per-request limit (at most `maxPages` requests). `complete` is false when it stopped early.
 */
export async function fetchAllReadings(
  api: Pick<ApiClient, 'readings'>,
  request: Omit<ReadingsRequest, 'limit'>,
  maxPages = 5,
  pageSize = READINGS_LIMIT_MAX,
): Promise<{ readings: LiveReading[]; complete: boolean }> {
  const readings: LiveReading[] = [];
  const fromMs = request.from === undefined ? Number.NEGATIVE_INFINITY : Date.parse(request.from);
  let to = request.to;
  for (let page = 0; page < maxPages; page++) {
    const response = await api.readings({ ...request, ...(to === undefined ? {} : { to }), limit: pageSize });
    readings.push(...response.readings);
    const oldest = response.readings[response.readings.length - 1];
    if (response.count < pageSize || !oldest) return { readings, complete: true };
    const oldestMs = Date.parse(oldest.ts);
    if (oldestMs <= fromMs) return { readings, complete: true };
    // `to` is exclusive: re-read the oldest millisecond so readings sharing it are not
    // skipped (the duplicates merge). A full page inside one millisecond cannot progress.
    const next = new Date(oldestMs + 1).toISOString();
    if (next === to) break;
    to = next;
  }
  return { readings, complete: false };
}

/**
 * The lab the page shows: the one its path names (`/labs/{lab}/`), else the platform's default
 * lab (`/` stays the default lab), or the key's own lab when the key sees only one. Undefined
 * when the API has no labs or does not answer (older API, no key): then nothing is narrowed.
 */
export async function resolveDashboardLab(pathLab: string | undefined, options: Pick<ApiClientOptions, 'baseUrl' | 'token' | 'fetch'> = {}): Promise<string | undefined> {
  if (pathLab) return pathLab;
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init));
  try {
    const response = await doFetch(`${options.baseUrl ?? ''}/api/v1/labs`, { headers: { accept: 'application/json', ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) } });
    if (!response.ok) return undefined;
    const parsed = LabListResponseSchema.safeParse(await response.json());
    if (!parsed.success) return undefined;
    const { labs, defaultLab } = parsed.data;
    return labs.some((lab) => lab.id === defaultLab) ? defaultLab : labs[0]?.id;
  } catch {
    return undefined;
  }
}

/** The API key from `?key=` or localStorage `streetlab.apiKey`, if any. */
export function readApiKey(location: { search: string }, storage: { getItem(key: string): string | null } | undefined): string | undefined {
  const fromUrl = new URLSearchParams(location.search).get('key');
  if (fromUrl) return fromUrl;
  try {
    return storage?.getItem('streetlab.apiKey') ?? undefined;
  } catch {
    // Storage can be blocked (privacy settings); the public read needs no key.
    return undefined;
  }
}
