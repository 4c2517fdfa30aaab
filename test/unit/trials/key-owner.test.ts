import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createAuthenticator } from '../../../api/plugins/auth.ts';
import { openFileRegistry, type FileRegistry } from '../../../common/registry/index.ts';

const dirs: string[] = [];
const registries: FileRegistry[] = [];
afterEach(async () => {
  await Promise.all(registries.splice(0).map((r) => r.close()));
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('API keys with an owner', () => {
  it('round-trip through the registry file and reach the principal', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'key-owner-'));
    dirs.push(dataDir);
    const registry = await openFileRegistry({ dataDir, pollIntervalMs: 0 });
    registries.push(registry);
    const { key, token } = await registry.createApiKey({ name: 'acme portal', role: 'reader', owner: 'acme' });
    expect(key).toMatchObject({ role: 'reader', owner: 'acme' });
    const { token: plain } = await registry.createApiKey({ name: 'researcher', role: 'reader' });
    const auth = createAuthenticator({ publicRead: false, registry });
    // A key made without a lab belongs to the default lab.
    expect(auth.authenticate(token)).toEqual({ role: 'reader', id: key.id, owner: 'acme', lab: 'main' });
    expect(auth.authenticate(plain)).not.toHaveProperty('owner');
    const reopened = await openFileRegistry({ dataDir, pollIntervalMs: 0 });
    registries.push(reopened);
    expect((await reopened.listApiKeys()).find((k) => k.id === key.id)).toMatchObject({ owner: 'acme' });
  });

  it('a registry file written before owners existed still loads, its keys unchanged', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'key-owner-'));
    dirs.push(dataDir);
    const first = await openFileRegistry({ dataDir, pollIntervalMs: 0 });
    const { token } = await first.createApiKey({ name: 'old', role: 'reader' });
    await first.close();
    const file = join(dataDir, 'registry.json');
    const document = JSON.parse(await readFile(file, 'utf8')) as { apiKeys: Record<string, unknown>[] };
    expect(Object.keys(document.apiKeys[0]!).sort()).toEqual(['createdAt', 'id', 'name', 'role', 'tokenHash']);
    await writeFile(file, JSON.stringify(document));
    const registry = await openFileRegistry({ dataDir, pollIntervalMs: 0 });
    registries.push(registry);
    expect(registry.verifyApiKey(token)).toMatchObject({ name: 'old', role: 'reader' });
    expect(registry.verifyApiKey(token)).not.toHaveProperty('owner');
  });

  it('an admin key cannot have an owner', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'key-owner-'));
    dirs.push(dataDir);
    const registry = await openFileRegistry({ dataDir, pollIntervalMs: 0 });
    registries.push(registry);
    await expect(registry.createApiKey({ name: 'x', role: 'admin', owner: 'acme' })).rejects.toThrow(/^owner: only reader keys/);
  });
});
