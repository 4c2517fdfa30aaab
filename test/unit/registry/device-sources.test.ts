/**
 * Device sources in the registry: identifiers stored normalised and unique platform-wide (a
 * clash is a CONFLICT naming the device that has it, on registration and on change, and two
 * registries writing one file at once cannot both take one DevEUI), PATCH null clears, and the
 * integration store keeps webhook secrets as hashes and bridge passwords out of every answer.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CreateDeviceRequest } from '../../../contracts/index.ts';
import { isAppError } from '../../../common/errors.ts';
import { openFileRegistry, type FileRegistry } from '../../../common/registry/index.ts';
import { openIntegrationStore, type IntegrationStore } from '../../../common/registry/integrations.ts';

const dirs: string[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(closers.splice(0).map((close) => close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'streetlab-sources-test-'));
  dirs.push(dir);
  return dir;
}
async function registryIn(dataDir: string): Promise<FileRegistry> {
  const registry = await openFileRegistry({ dataDir, scrypt: { N: 1024 }, pollIntervalMs: 0 });
  closers.push(() => registry.close());
  return registry;
}
async function integrationsIn(dataDir: string | undefined): Promise<IntegrationStore> {
  const store = await openIntegrationStore({ dataDir, pollIntervalMs: 0 });
  closers.push(() => store.close());
  return store;
}
const device = (id: string, extra: Partial<CreateDeviceRequest> = {}): CreateDeviceRequest => ({ id, kind: 'air', owner: 'acme', lat: 55.68, lon: 12.57, intervalSeconds: 60, enabled: true, meta: {}, ...extra });
async function conflict(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isAppError(error, 'CONFLICT')) return error.message;
    throw error;
  }
  throw new Error('expected a CONFLICT');
}

describe('device identifiers in the registry', () => {
  it('stores source, identifiers (DevEUI upper-case) and field map, and refuses a taken identifier in any case', async () => {
    const registry = await registryIn(await tempDir());
    const { device: created } = await registry.create(device('lora-1', { source: 'ttn', devEui: '70b3d57ed005a1b2', ttnDeviceId: 'node-1', fieldMap: { t: { to: 'temperature' } } }));
    expect(created).toMatchObject({ source: 'ttn', devEui: '70B3D57ED005A1B2', ttnDeviceId: 'node-1', fieldMap: { t: { to: 'temperature' } } });
    expect(await conflict(registry.create(device('lora-2', { devEui: '70B3D57ED005A1B2' })))).toContain('"lora-1"');
    expect(await conflict(registry.create(device('lora-3', { ttnDeviceId: 'node-1' })))).toContain('ttnDeviceId');
    expect(await registry.get('lora-2')).toBeUndefined();
  });

  it('checks a change too, lets a device keep its own identifier, and clears with null', async () => {
    const registry = await registryIn(await tempDir());
    await registry.create(device('sc-1', { source: 'airrohr', airrohrChipId: '13972394' }));
    await registry.create(device('sc-2', { source: 'airrohr' }));
    expect(await conflict(registry.update('sc-2', { airrohrChipId: '13972394' }))).toContain('"sc-1"');
    expect(await registry.update('sc-1', { airrohrChipId: '13972394', name: 'renamed' })).toMatchObject({ name: 'renamed', airrohrChipId: '13972394' });
    const cleared = await registry.update('sc-1', { airrohrChipId: null, source: null });
    expect(cleared.airrohrChipId).toBeUndefined();
    expect(cleared.source).toBeUndefined();
    expect((await registry.update('sc-2', { airrohrChipId: '13972394' })).airrohrChipId).toBe('13972394');
  });

  it('two registries on one file cannot both take one DevEUI', async () => {
    const dir = await tempDir();
    const [a, b] = [await registryIn(dir), await registryIn(dir)];
    const results = await Promise.allSettled([a.create(device('race-a', { devEui: '0011223344556677' })), b.create(device('race-b', { devEui: '0011223344556677' }))]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    await a.refresh();
    expect((await a.list()).filter((d) => d.devEui === '0011223344556677')).toHaveLength(1);
  });

  it('refuses malformed identifiers with the field named', async () => {
    const registry = await registryIn(await tempDir());
    await expect(registry.create(device('bad-1', { devEui: 'XYZ' }))).rejects.toThrow(/devEui/);
    await expect(registry.create(device('bad-2', { fieldMap: { a: { to: 'pm25', scale: 0 } } }))).rejects.toThrow(/scale/);
  });
});

describe('the integration store', () => {
  it('answers the webhook secret once, keeps only its hash, and never answers the bridge password', async () => {
    const dir = await tempDir();
    const store = await integrationsIn(dir);
    const { integration, secret } = await store.create({ id: 'tts-1', type: 'ttn', enabled: true, mqtt: { url: 'mqtts://eu1.cloud.thethings.network:8883', username: 'app@ttn', password: 'NNSXS.KEY' } });
    expect(integration.mqtt).toEqual({ url: 'mqtts://eu1.cloud.thethings.network:8883', username: 'app@ttn', passwordSet: true });
    const file = await readFile(join(dir, 'integrations.json'), 'utf8');
    expect(file).not.toContain(secret);
    expect(store.verifySecret('tts-1', secret)).toMatchObject({ ok: true });
    expect(store.verifySecret('tts-1', `${secret}x`)).toEqual({ ok: false, reason: 'BAD_SECRET' });
    expect(store.verifySecret('nope', secret)).toEqual({ ok: false, reason: 'UNKNOWN' });
    expect(JSON.stringify(await store.list())).not.toContain('NNSXS.KEY');
  });

  it('keeps the bridge password when a PATCH of the MQTT settings leaves it out; rotation retires the old secret; disabled is refused', async () => {
    const store = await integrationsIn(undefined);
    const { secret } = await store.create({ id: 'cs-1', type: 'chirpstack', enabled: true, mqtt: { url: 'mqtt://cs:1883', username: 'u', password: 'p' } });
    await store.update('cs-1', { mqtt: { url: 'mqtt://cs2:1883', username: 'u' } });
    expect(store.stored()[0]!.mqtt).toEqual({ url: 'mqtt://cs2:1883', username: 'u', password: 'p' });
    const rotated = await store.rotateSecret('cs-1');
    expect(store.verifySecret('cs-1', secret)).toEqual({ ok: false, reason: 'BAD_SECRET' });
    await store.update('cs-1', { enabled: false });
    expect(store.verifySecret('cs-1', rotated.secret)).toEqual({ ok: false, reason: 'DISABLED' });
    await expect(store.create({ id: 'cs-1', type: 'ttn', enabled: true })).rejects.toThrow(/already exists/);
  });
});
