/**
 * Upgrading a registry written before labs: its devices and keys belong to the default lab
 * (LAB_ID), the default lab is created on the first start, and a second lab added later
 * stays out of sight of the old keys. Real registry file, the API in-process (no InfluxDB:
 * these routes read the registry only).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ApiConfigSchema } from '../../api/config.ts';
import { buildApp } from '../../api/app.ts';
import { defaultLabFromConfig } from '../../api/labs/config.ts';
import type { ReadingStore } from '../../api/store.ts';
import { openFileRegistry, type FileRegistry } from '../../common/registry/index.ts';

const ADMIN = 'a'.repeat(40);
const dirs: string[] = [];
const registries: FileRegistry[] = [];
/** These routes never read InfluxDB; a call would fail loudly. */
const unused = new Proxy({}, { get: () => () => Promise.reject(new Error('no readings store in this test')) }) as unknown as ReadingStore;

afterAll(async () => {
  await Promise.all(registries.map((r) => r.close()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A registry file as written before labs: no `labs`, no `lab` on devices or keys. */
async function preLabsRegistry(): Promise<{ dir: string; keyToken: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'streetlab-labs-upgrade-'));
  dirs.push(dir);
  const registry = await openFileRegistry({ dataDir: dir, pollIntervalMs: 0, scrypt: { N: 1024 } });
  await registry.create({ id: 'old-air-1', kind: 'air', owner: 'acme', lat: 55.68, lon: 12.57, intervalSeconds: 60, enabled: true, meta: {} });
  const key = await registry.createApiKey({ name: 'old reader', role: 'reader' });
  await registry.close();
  const file = join(dir, 'registry.json');
  const document = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  delete document.labs;
  await writeFile(file, JSON.stringify(document), { mode: 0o600 });
  expect(await readFile(file, 'utf8')).not.toContain('"lab');
  return { dir, keyToken: key.token };
}

describe('labs on an upgraded registry', () => {
  it('puts old devices and keys in the configured default lab and creates it on start', async () => {
    const { dir, keyToken } = await preLabsRegistry();
    const config = ApiConfigSchema.parse({ LAB_ID: 'north', LAB_NAME: 'Nørrebro', LAB_AREA: '55.68,12.53,55.71,12.57' });
    const registry = await openFileRegistry({ dataDir: dir, pollIntervalMs: 0, scrypt: { N: 1024 } });
    registries.push(registry);
    const app = await buildApp({ store: unused, registry, auth: { adminToken: ADMIN, publicRead: false }, defaultLab: defaultLabFromConfig(config) });
    await app.ready();
    const admin = { authorization: `Bearer ${ADMIN}` };
    const reader = { authorization: `Bearer ${keyToken}` };

    const labs = await app.inject({ url: '/api/v1/labs', headers: admin });
    expect(labs.json()).toMatchObject({ defaultLab: 'north', labs: [{ id: 'north', name: 'Nørrebro', area: { south: 55.68, west: 12.53, north: 55.71, east: 12.57 } }] });
    // Written to the registry, not only answered.
    expect(JSON.parse(await readFile(join(dir, 'registry.json'), 'utf8')).labs).toMatchObject([{ id: 'north' }]);
    expect((await app.inject({ url: '/api/v1/devices/old-air-1', headers: reader })).statusCode).toBe(200);
    expect((await app.inject({ url: '/api/v1/devices?lab=north', headers: reader })).json().devices.map((d: { id: string }) => d.id)).toEqual(['old-air-1']);

    // A second lab: the old key does not see it or its devices.
    const created = await app.inject({ method: 'POST', url: '/api/v1/labs', headers: admin, payload: { id: 'south', name: 'Sydhavn', area: { south: 55.64, west: 12.52, north: 55.66, east: 12.56 } } });
    expect(created.statusCode).toBe(201);
    const registered = await app.inject({ method: 'POST', url: '/api/v1/devices', headers: admin, payload: { id: 'south-air-1', kind: 'air', owner: 'acme', lat: 55.65, lon: 12.54, lab: 'south' } });
    expect(registered.statusCode).toBe(201);
    expect((await app.inject({ url: '/api/v1/devices/south-air-1', headers: reader })).statusCode).toBe(404);
    expect((await app.inject({ url: '/api/v1/devices', headers: reader })).json().devices.map((d: { id: string }) => d.id)).toEqual(['old-air-1']);
    expect((await app.inject({ url: '/api/v1/labs', headers: reader })).json().labs.map((l: { id: string }) => l.id)).toEqual(['north']);
    // The platform admin sees both, and registers into the default lab when it names none.
    const plain = await app.inject({ method: 'POST', url: '/api/v1/devices', headers: admin, payload: { id: 'north-air-2', kind: 'air', owner: 'acme', lat: 55.7, lon: 12.55 } });
    expect(plain.json().device.lab).toBe('north');
    expect((await app.inject({ url: '/api/v1/devices', headers: admin })).json().devices.map((d: { id: string }) => d.id)).toEqual(['north-air-2', 'old-air-1', 'south-air-1']);
    await app.close();

    // A restart keeps the labs and does not recreate the default one.
    const again = await buildApp({ store: unused, registry, auth: { adminToken: ADMIN, publicRead: false }, defaultLab: defaultLabFromConfig(config) });
    await again.ready();
    expect((await again.inject({ url: '/api/v1/labs', headers: admin })).json().labs.map((l: { id: string }) => l.id)).toEqual(['north', 'south']);
    await again.close();
  });

  it('refuses a bad LAB_ID or LAB_AREA with a message naming it', () => {
    const badId = ApiConfigSchema.safeParse({ LAB_ID: 'North Lab' });
    expect(badId.success).toBe(false);
    expect(JSON.stringify(badId.error?.issues)).toContain('LAB_ID');
    const badArea = ApiConfigSchema.safeParse({ LAB_AREA: '55.7,12.5,55.6' });
    expect(badArea.success).toBe(false);
    expect(badArea.error?.issues[0]).toMatchObject({ path: ['LAB_AREA'] });
    expect(badArea.error?.issues[0]?.message).toContain('south,west,north,east');
    const flipped = ApiConfigSchema.safeParse({ LAB_AREA: '55.7,12.5,55.6,12.6' });
    expect(flipped.error?.issues[0]?.message).toContain('north must be greater than south');
    expect(ApiConfigSchema.parse({}).LAB_ID).toBe('main');
  });
});
