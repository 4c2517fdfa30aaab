/**
 * `npm run devices` and labs: `labs list|create`, and `--lab` on `add` and `keys add`; over
 * HTTP against a fake fetch (what is sent), and with --data-dir on a temporary registry file
 * (what is stored, and a lab that does not exist refused as the API refuses it).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HELP, runDevicesCli } from '../../../api/cli/run.ts';

const LAB = { id: 'norrebro', name: 'Nørrebro', area: { south: 55.68, west: 12.53, north: 55.71, east: 12.57 }, createdAt: '2026-01-01T00:00:00.000Z' };

interface Sent { method: string; path: string; body: unknown }

async function overHttp(args: string[]) {
  let out = '';
  let err = '';
  const sent: Sent[] = [];
  const fakeFetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const { pathname } = new URL(String(url));
    const method = init?.method ?? 'GET';
    const body = init?.body === undefined ? undefined : (JSON.parse(String(init.body)) as Record<string, unknown>);
    sent.push({ method, path: pathname, body });
    const reply = (status: number, answer: unknown) => new Response(JSON.stringify(answer), { status, headers: { 'content-type': 'application/json' } });
    if (pathname === '/api/v1/labs' && method === 'GET') return reply(200, { labs: [{ ...LAB, id: 'main', name: 'StreetLab' }, LAB], defaultLab: 'main' });
    if (pathname === '/api/v1/labs' && method === 'POST') return reply(201, { ...body, createdAt: LAB.createdAt });
    if (pathname === '/api/v1/keys' && method === 'POST') return reply(201, { key: { id: 'k1', name: body?.name, role: body?.role, lab: body?.lab, createdAt: LAB.createdAt }, token: 'TOKEN' });
    if (pathname === '/api/v1/devices' && method === 'POST') {
      if (body?.lab === 'atlantis') return reply(400, { error: 'BAD_REQUEST', message: 'lab: no lab "atlantis"; create it first (POST /api/v1/labs)' });
      return reply(201, { device: { ...body, name: body?.id, createdAt: LAB.createdAt, updatedAt: LAB.createdAt }, secret: 'SECRET' });
    }
    return reply(404, { error: 'NOT_FOUND', message: `no ${pathname}` });
  };
  const code = await runDevicesCli(args, { env: { ADMIN_TOKEN: 't'.repeat(40), API_URL: 'http://api.test' }, out: (t) => (out += t), err: (t) => (err += t), fetch: fakeFetch as typeof fetch });
  return { code, out, err, sent };
}

describe('npm run devices: labs over the API', () => {
  it('creates a lab with its name and area, and lists the labs with the default one marked', async () => {
    const created = await overHttp(['labs', 'create', 'norrebro', '--name', 'Nørrebro', '--area', '55.68, 12.53, 55.71, 12.57']);
    expect(created.code, created.err).toBe(0);
    expect(created.sent).toEqual([{ method: 'POST', path: '/api/v1/labs', body: { id: 'norrebro', name: 'Nørrebro', area: LAB.area } }]);
    expect(created.out).toContain('area 55.68,12.53,55.71,12.57');
    expect(created.out).toContain('/labs/norrebro/');

    const list = await overHttp(['labs', 'list']);
    expect(list.out).toMatch(/^main\s+StreetLab {2}\(default lab\)\n/);
    expect(list.out).toMatch(/\nnorrebro\s+Nørrebro\n\s+area 55.68,12.53,55.71,12.57\n$/);
    expect(JSON.parse((await overHttp(['labs', 'list', '--json'])).out)).toMatchObject({ defaultLab: 'main', labs: [{ id: 'main' }, { id: 'norrebro' }] });
  });

  it('sends --lab with a new device and a new key; * makes a platform key', async () => {
    const device = await overHttp(['add', 'nb-air-1', '--kind', 'air', '--owner', 'acme', '--lat', '55.69', '--lon', '12.55', '--lab', 'norrebro']);
    expect(device.code, device.err).toBe(0);
    expect(device.sent[0]?.body).toMatchObject({ id: 'nb-air-1', lab: 'norrebro' });
    expect(device.out).toContain('  lab       norrebro');

    const scoped = await overHttp(['keys', 'add', 'Nørrebro admin', '--role', 'admin', '--lab', 'norrebro']);
    expect(scoped.sent[0]?.body).toEqual({ name: 'Nørrebro admin', role: 'admin', lab: 'norrebro' });
    expect(scoped.out).toMatch(/^k1 {2}admin {2}Nørrebro admin {2}\(lab norrebro\)\n/);
    const platform = await overHttp(['keys', 'add', 'city-wide', '--lab', '*']);
    expect(platform.sent[0]?.body).toEqual({ name: 'city-wide', role: 'reader', lab: '*' });
    // Without --lab nothing is sent: the API puts the key in the default lab (or the admin key's own).
    expect((await overHttp(['keys', 'add', 'plain'])).sent[0]?.body).toEqual({ name: 'plain', role: 'reader' });
  });

  it('refuses a bad lab id or area before sending anything, and passes on the API answer for an unknown lab', async () => {
    const badArea = await overHttp(['labs', 'create', 'x', '--name', 'X', '--area', '55.71,12.53,55.68,12.57']);
    expect(badArea.code).toBe(2);
    expect(badArea.err).toMatch(/^labs create: --area: north: north must be greater than south/);
    expect(badArea.sent).toEqual([]);
    const shortArea = await overHttp(['labs', 'create', 'x', '--name', 'X', '--area', '55.7,12.5']);
    expect(shortArea.err).toMatch(/^labs create: --area: four numbers south,west,north,east/);
    const noName = await overHttp(['labs', 'create', 'x', '--area', '55.68,12.53,55.71,12.57']);
    expect(noName).toMatchObject({ code: 2, sent: [], err: expect.stringMatching(/^labs create: --name is required/) });
    const badLab = await overHttp(['add', 'a-1', '--kind', 'air', '--owner', 'o', '--lat', '1', '--lon', '2', '--lab', 'Nørrebro']);
    expect(badLab).toMatchObject({ code: 2, sent: [], err: expect.stringMatching(/^add: --lab must be a lab id .*got "Nørrebro"/) });
    const badKeyLab = await overHttp(['keys', 'add', 'k', '--lab', 'ALL']);
    expect(badKeyLab).toMatchObject({ code: 2, sent: [], err: expect.stringMatching(/^keys add: --lab must be a lab id .* or \* for every lab; got "ALL"/) });
    const unknown = await overHttp(['add', 'a-1', '--kind', 'air', '--owner', 'o', '--lat', '1', '--lon', '2', '--lab', 'atlantis']);
    expect(unknown).toMatchObject({ code: 1, err: '400 BAD_REQUEST: lab: no lab "atlantis"; create it first (POST /api/v1/labs)\n' });
  });

  it('documents labs and --lab in the help', async () => {
    for (const text of ['labs list', 'labs create <id> --name <name> --area <south,west,north,east>', '[--lab <lab>]', '[--lab <lab>|*]']) expect(HELP).toContain(text);
    const group = await overHttp(['labs', '--help']);
    expect(group).toMatchObject({ code: 0, sent: [] });
    expect(group.out).toContain('Options of labs create: --name <value>, --area <value>');
    expect((await overHttp(['keys', 'add', '--help'])).out).toContain('Options of keys add: --role <value>, --owner <value>, --lab <value>');
    expect((await overHttp(['labs', 'frob'])).err).toMatch(/^labs: unknown command "frob"; use list or create/);
  });
});

describe('npm run devices --data-dir: labs on the registry file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'streetlab-cli-labs-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function onFile(args: string[], env: Record<string, string | undefined> = {}) {
    let out = '';
    let err = '';
    const code = await runDevicesCli([...args, '--data-dir', dir], { env, out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
  }

  it('stores labs, devices and keys in their labs; refuses a lab that does not exist and a taken lab id', async () => {
    expect((await onFile(['labs', 'create', 'norrebro', '--name', 'Nørrebro', '--area', '55.68,12.53,55.71,12.57'])).code).toBe(0);
    const again = await onFile(['labs', 'create', 'norrebro', '--name', 'Again', '--area', '55.68,12.53,55.71,12.57']);
    expect(again.code).toBe(1);
    expect(again.err).toContain('a lab "norrebro" already exists');

    expect((await onFile(['add', 'nb-air-1', '--kind', 'air', '--owner', 'acme', '--lat', '55.69', '--lon', '12.55', '--lab', 'norrebro'])).code).toBe(0);
    const missing = await onFile(['add', 'x-air-1', '--kind', 'air', '--owner', 'acme', '--lat', '55.69', '--lon', '12.55', '--lab', 'atlantis']);
    expect(missing).toMatchObject({ code: 1, err: 'BAD_REQUEST: lab: no lab "atlantis"; create it first (labs create)\n' });
    // The default lab (LAB_ID, else main) needs no record: the API creates it on its first start.
    expect((await onFile(['add', 'main-air-1', '--kind', 'air', '--owner', 'acme', '--lat', '55.69', '--lon', '12.55', '--lab', 'main'])).code).toBe(0);
    expect((await onFile(['add', 'home-air-1', '--kind', 'air', '--owner', 'acme', '--lat', '55.69', '--lon', '12.55', '--lab', 'home'], { LAB_ID: 'home' })).code).toBe(0);
    expect((await onFile(['keys', 'add', 'nb', '--lab', 'norrebro'])).code).toBe(0);
    expect((await onFile(['keys', 'add', 'everyone', '--lab', '*'])).code).toBe(0);
    expect((await onFile(['keys', 'add', 'lost', '--lab', 'atlantis'])).code).toBe(1);

    const stored = JSON.parse(readFileSync(join(dir, 'registry.json'), 'utf8')) as { devices: { id: string; lab?: string }[]; apiKeys: { name: string; lab?: string }[]; labs: { id: string; area: unknown }[] };
    const { devices, apiKeys, labs } = stored;
    expect(labs).toEqual([expect.objectContaining({ id: 'norrebro', name: 'Nørrebro', area: { south: 55.68, west: 12.53, north: 55.71, east: 12.57 } })]);
    expect(Object.fromEntries(devices.map((d) => [d.id, d.lab]))).toEqual({ 'nb-air-1': 'norrebro', 'main-air-1': 'main', 'home-air-1': 'home' });
    expect(Object.fromEntries(apiKeys.map((k) => [k.name, k.lab]))).toEqual({ nb: 'norrebro', everyone: '*' });

    const list = await onFile(['labs', 'list', '--json']);
    expect(JSON.parse(list.out)).toMatchObject({ defaultLab: 'main', labs: [{ id: 'norrebro' }] });
    expect((await onFile(['keys', 'list'])).out).toMatch(/nb {2}\(lab norrebro\)/);
  });
});
