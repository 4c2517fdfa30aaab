/**
 * The `lab` query parameter in the API's own documentation: every read operation of
 * /openapi.json lists it (the auth plugin takes it off before routes validate, so no route
 * schema could), the /docs page shows it, and what it documents is what the API does — a lab
 * that exists narrows the answer, one that does not answers 404. A real registry file holds
 * the labs and devices; the readings store is a stub (no InfluxDB is read here).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../../api/app.ts';
import type { ReadingStore } from '../../../api/store.ts';
import { openFileRegistry, type FileRegistry } from '../../../common/registry/index.ts';
import { LabIdSchema } from '../../../contracts/index.ts';

const store = new Proxy({}, { get: () => async () => [] }) as unknown as ReadingStore;
const ADMIN = `openapi-labs-admin-`.padEnd(40, 'x');

interface Parameter { name: string; in: string; required?: boolean; description?: string; schema?: { pattern?: string } }
interface Spec {
  info: { description: string };
  paths: Record<string, Record<string, { parameters?: Parameter[] }>>;
  components?: { parameters?: Record<string, Parameter> };
}

describe('the lab parameter in /openapi.json and /docs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'streetlab-openapi-labs-'));
  let registry: FileRegistry;
  let app: FastifyInstance;
  let spec: Spec;

  beforeAll(async () => {
    registry = await openFileRegistry({ dataDir: dir, pollIntervalMs: 0 });
    app = await buildApp({ store, registry, auth: { adminToken: ADMIN, publicRead: true } });
    await app.ready();
    await registry.createLab({ id: 'norrebro', name: 'Nørrebro', area: { south: 55.68, west: 12.53, north: 55.71, east: 12.57 } });
    for (const [id, lab] of [['main-air-1', 'main'], ['nb-air-1', 'norrebro']] as const) {
      await registry.create({ id, kind: 'air', owner: 'acme', lat: 55.69, lon: 12.55, intervalSeconds: 60, enabled: true, meta: {}, lab });
    }
    const answer = await app.inject({ method: 'GET', url: '/openapi.json' });
    expect(answer.statusCode).toBe(200);
    spec = answer.json<Spec>();
  });

  afterAll(async () => {
    await app?.close();
    await registry?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists `lab` as an optional query parameter on every read operation, once', () => {
    const reads = Object.entries(spec.paths).filter(([, methods]) => methods.get !== undefined);
    // The read routes the labs work touched are all there (a route missing from the spec would pass vacuously).
    expect(reads.map(([path]) => path)).toEqual(expect.arrayContaining(['/api/v1/readings', '/api/v1/latest', '/api/v1/devices', '/api/v1/aqi', '/api/v1/labs', '/api/v1/labs/{lab}']));
    for (const [path, methods] of reads) {
      const named = (methods.get!.parameters ?? []).filter((p) => p.name === 'lab');
      expect(named, path).toHaveLength(1);
      if (path.includes('{lab}')) {
        expect(named[0]!.in, path).toBe('path');
        continue;
      }
      expect(named[0], path).toMatchObject({ in: 'query', required: false });
      expect(named[0]!.description, path).toContain('404');
    }
    // Writes do not pick a lab with it (their body's `lab` does).
    expect((spec.paths['/api/v1/devices']!.post!.parameters ?? []).some((p) => p.name === 'lab')).toBe(false);
  });

  it('takes its pattern from the contract and describes labs in the introduction', () => {
    const parameter = spec.components?.parameters?.lab;
    expect(parameter).toMatchObject({ name: 'lab', in: 'query' });
    const pattern = new RegExp(parameter!.schema!.pattern!);
    for (const id of ['norrebro', 'main', 'lab-2', 'Nørrebro', '-x', 'a'.repeat(33)]) expect(pattern.test(id), id).toBe(LabIdSchema.safeParse(id).success);
    expect(spec.info.description).toContain('/labs/{lab}/');
    expect(spec.info.description).toContain('`lab`');
  });

  it('shows it on the /docs page with each read route', async () => {
    const html = (await app.inject({ method: 'GET', url: '/docs' })).body;
    const readings = html.slice(html.indexOf('<section id="get-api-v1-readings">'), html.indexOf('</section>', html.indexOf('<section id="get-api-v1-readings">')));
    expect(readings).toContain('<tr><td><code>lab</code></td><td>query</td>');
  });

  it('does what it documents: a lab narrows the answer, an unknown one is 404', async () => {
    const ids = async (query: string) => {
      const answer = await app.inject({ method: 'GET', url: `/api/v1/devices${query}` });
      return { status: answer.statusCode, ids: answer.statusCode === 200 ? answer.json<{ devices: { id: string }[] }>().devices.map((d) => d.id).sort() : [] };
    };
    expect(await ids('')).toEqual({ status: 200, ids: ['main-air-1', 'nb-air-1'] });
    expect(await ids('?lab=norrebro')).toEqual({ status: 200, ids: ['nb-air-1'] });
    expect(await ids('?lab=main')).toEqual({ status: 200, ids: ['main-air-1'] });
    const unknown = await app.inject({ method: 'GET', url: '/api/v1/latest?lab=atlantis' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json<{ message: string }>().message).toContain('lab: no lab "atlantis"');
  });
});
