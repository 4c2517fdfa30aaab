/**
 * The dashboard learns its lab's name and area (GET /api/v1/labs/{lab}) through the REST client:
 * checked against the contract, absent when the page has no lab or the API cannot say.
 */
import { describe, expect, it } from 'vitest';
import { ApiError, createApiClient } from '../../../dashboard/model/api-client.ts';

const LAB = { id: 'harbour', name: 'Harbour', area: { south: 55.664, west: 12.578, north: 55.679, east: 12.602 }, createdAt: '2026-01-01T00:00:00.000Z' };

function fakeFetch(status: number, body: unknown, asked: string[]): typeof fetch {
  return (async (input: string | URL | Request) => {
    asked.push(String(input));
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
}

describe('the REST client and the page lab', () => {
  it("reads the page's lab, with its area", async () => {
    const asked: string[] = [];
    const api = createApiClient({ lab: 'harbour', token: 'k', fetch: fakeFetch(200, LAB, asked) });
    await expect(api.lab()).resolves.toEqual(LAB);
    expect(asked).toEqual(['/api/v1/labs/harbour?lab=harbour']);
  });

  it('has no lab without one, or when the API has none or will not say', async () => {
    const asked: string[] = [];
    await expect(createApiClient({ fetch: fakeFetch(200, LAB, asked) }).lab()).resolves.toBeUndefined();
    expect(asked).toEqual([]);
    for (const status of [401, 403, 404]) await expect(createApiClient({ lab: 'harbour', fetch: fakeFetch(status, { error: 'X', message: 'no' }, asked) }).lab()).resolves.toBeUndefined();
  });

  it('fails loudly on a server error or an answer outside the contract', async () => {
    await expect(createApiClient({ lab: 'harbour', fetch: fakeFetch(500, { error: 'INTERNAL', message: 'boom' }, []) }).lab()).rejects.toThrow(ApiError);
    await expect(createApiClient({ lab: 'harbour', fetch: fakeFetch(200, { ...LAB, area: { south: 1 } }, []) }).lab()).rejects.toThrow(/unexpected shape/);
  });
});
