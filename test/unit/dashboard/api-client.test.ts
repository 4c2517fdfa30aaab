import { describe, expect, it } from 'vitest';
import type { ReadingsResponse } from '../../../contracts/api.ts';
import { ApiError, createApiClient, fetchAllReadings, readApiKey, type ReadingsRequest } from '../../../dashboard/model/api-client.ts';
import { T0, reading } from './helpers.ts';

function fakeFetch(routes: Record<string, { status: number; body: unknown }>, seen: { url: string; headers: Record<string, string> }[] = []): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = String(input);
    seen.push({ url, headers: (init?.headers ?? {}) as Record<string, string> });
    const path = url.split('?')[0]!;
    const route = routes[path] ?? { status: 404, body: { error: 'NOT_FOUND', message: `${path} not found`, statusCode: 404 } };
    return new Response(JSON.stringify(route.body), { status: route.status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
}

describe('API client', () => {
  it('sends the key as a bearer token and repeated device parameters', async () => {
    const seen: { url: string; headers: Record<string, string> }[] = [];
    const api = createApiClient({
      token: 's3cret',
      fetch: fakeFetch({ '/api/v1/readings': { status: 200, body: { readings: [], count: 0, from: new Date(T0).toISOString(), to: new Date(T0).toISOString() } } }, seen),
    });
    await api.readings({ devices: ['a', 'b'], from: '-1h', kind: 'air' });
    expect(seen[0]?.headers.authorization).toBe('Bearer s3cret');
    expect(seen[0]?.url).toBe('/api/v1/readings?kind=air&device=a&device=b&from=-1h&limit=10000');
  });

  it('falls back when the API has no device registry', async () => {
    const api = createApiClient({ fetch: fakeFetch({}) });
    await expect(api.devices()).resolves.toBeUndefined();
  });

  it('reports API errors with their code and message', async () => {
    const api = createApiClient({
      fetch: fakeFetch({ '/api/v1/latest': { status: 503, body: { error: 'STORE_UNAVAILABLE', message: 'InfluxDB is not answering', statusCode: 503 } } }),
    });
    const error = await api.latest().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE', message: 'InfluxDB is not answering' });
  });

  it('refuses a response that does not match the contract', async () => {
    const api = createApiClient({ fetch: fakeFetch({ '/api/v1/latest': { status: 200, body: { rows: [] } } }) });
    await expect(api.latest()).rejects.toMatchObject({ code: 'BAD_RESPONSE' });
  });
});

describe('paging through readings', () => {
  /** An API over `all` (newest first) that honours `to` (exclusive) and `limit`. */
  function pagedApi(all: ReturnType<typeof reading>[]) {
    const requests: ReadingsRequest[] = [];
    return {
      requests,
      async readings(request: ReadingsRequest): Promise<ReadingsResponse> {
        requests.push(request);
        const toMs = request.to ? Date.parse(request.to) : Number.POSITIVE_INFINITY;
        const fromMs = request.from ? Date.parse(request.from) : Number.NEGATIVE_INFINITY;
        const readings = all.filter((r) => Date.parse(r.ts) < toMs && Date.parse(r.ts) >= fromMs).slice(0, request.limit);
        return { readings, count: readings.length, from: new Date(T0).toISOString(), to: new Date(T0).toISOString() };
      },
    };
  }
  const all = Array.from({ length: 25 }, (_, i) => reading('air-1', 'air', T0 - i * 1_000, { pm25: i }));

  it('pages backwards until it has everything', async () => {
    const api = pagedApi(all);
    const result = await fetchAllReadings(api, { from: new Date(T0 - 60_000).toISOString() }, 10, 10);
    expect(result.complete).toBe(true);
    expect(new Set(result.readings.map((r) => r.ts)).size).toBe(25);
    expect(api.requests.length).toBeGreaterThanOrEqual(3);
  });

  it('stops after the page limit and says so', async () => {
    const api = pagedApi(all);
    const result = await fetchAllReadings(api, { from: new Date(T0 - 60_000).toISOString() }, 2, 10);
    expect(result.complete).toBe(false);
    expect(api.requests).toHaveLength(2);
  });

  it('cannot loop on a full page within one millisecond', async () => {
    const same = Array.from({ length: 20 }, (_, i) => reading(`d${i}`, 'air', T0, { pm25: i }));
    const api = pagedApi(same);
    const result = await fetchAllReadings(api, {}, 10, 10);
    expect(result.complete).toBe(false);
    expect(api.requests.length).toBeLessThanOrEqual(3);
  });
});

describe('API key', () => {
  const storage = (value: string | null) => ({ getItem: () => value });
  it('comes from ?key= first, then from localStorage, else there is none', () => {
    expect(readApiKey({ search: '?key=abc' }, storage('stored'))).toBe('abc');
    expect(readApiKey({ search: '' }, storage('stored'))).toBe('stored');
    expect(readApiKey({ search: '' }, storage(null))).toBeUndefined();
    expect(readApiKey({ search: '' }, { getItem: () => { throw new Error('blocked'); } })).toBeUndefined();
  });
});
