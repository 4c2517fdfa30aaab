import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HELP, runDevicesCli } from '../../../api/cli/run.ts';

// `npm run devices` without a running API: HTTP against a fake fetch, and --data-dir on a
// temporary registry file. The commands against a real API: test/integration/api-auth.test.ts
// and trials.test.ts.

const DEVICE = {
  id: 'air-1', kind: 'air', name: 'Air 1', owner: 'acme', lat: 55.7, lon: 12.6, site: 'Bridge', intervalSeconds: 60,
  enabled: true, meta: {}, createdAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-02T00:00:00.000Z',
};
const KEY = { id: 'k1', name: 'nb', role: 'reader', owner: 'acme', createdAt: '2026-01-01T00:00:00.000Z' };

interface Request { method: string; path: string; body: unknown }

async function cli(args: string[], env: Record<string, string | undefined> = { ADMIN_TOKEN: 't'.repeat(40), API_URL: 'http://api.test' }) {
  let out = '';
  let err = '';
  const requests: Request[] = [];
  const fakeFetch = async (url: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const { pathname } = new URL(String(url));
    const method = init?.method ?? 'GET';
    requests.push({ method, path: pathname, body: init?.body === undefined ? undefined : JSON.parse(String(init.body)) });
    const reply = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
    if (pathname === '/api/v1/devices' && method === 'GET') return reply(200, { devices: [DEVICE, { ...DEVICE, id: 'air-2', enabled: false, site: undefined }] });
    if (pathname === '/api/v1/devices/air-1') return reply(200, DEVICE);
    if (pathname === '/api/v1/keys' && method === 'POST') return reply(201, { key: KEY, token: 'TOKEN' });
    return reply(404, { error: 'NOT_FOUND', message: `no ${pathname}` });
  };
  const code = await runDevicesCli(args, { env, out: (t) => (out += t), err: (t) => (err += t), fetch: fakeFetch as typeof fetch });
  return { code, out, err, requests };
}

describe('npm run devices: output', () => {
  it('lists, shows and adds a key as before', async () => {
    const list = await cli(['list']);
    expect(list.code, list.err).toBe(0);
    expect(list.out).toBe(
      'ID                       KIND     STATE     OWNER                SITE\n' +
        'air-1                    air      enabled   acme                 Bridge\n' +
        'air-2                    air      DISABLED  acme                 \n',
    );
    const show = await cli(['show', 'air-1']);
    expect(show.out).toBe(
      'air-1  (air)\n  name      Air 1\n  owner     acme\n  location  55.7, 12.6  (Bridge)\n  interval  60 s\n' +
        '  created   2026-01-01T00:00:00.000Z   updated 2026-01-02T00:00:00.000Z\n',
    );
    const key = await cli(['keys', 'add', 'nb', '--owner', 'acme']);
    expect(key.out).toBe('k1  reader  nb\n\n  token (shown only now): TOKEN\n  use it as: Authorization: Bearer TOKEN\n');
    expect(key.requests).toEqual([{ method: 'POST', path: '/api/v1/keys', body: { name: 'nb', role: 'reader', owner: 'acme' } }]);
    expect(JSON.parse((await cli(['--json', 'show', 'air-1'])).out)).toEqual(DEVICE);
  });

  it('reports API errors with status 1 and usage errors with status 2', async () => {
    const missing = await cli(['show', 'nope']);
    expect(missing).toMatchObject({ code: 1, err: '404 NOT_FOUND: no /api/v1/devices/nope\n' });
    const badNumber = await cli(['add', 'air-9', '--kind', 'air', '--owner', 'a', '--lat', 'north', '--lon', '2']);
    expect(badNumber.code).toBe(2);
    expect(badNumber.err).toMatch(/^--lat: "north" is not a number/);
    expect(badNumber.requests).toEqual([]);
    const noToken = await cli(['list'], {});
    expect(noToken.code).toBe(2);
    expect(noToken.err).toContain('ADMIN_TOKEN');
  });

  it('takes options before the command, as before', async () => {
    const key = await cli(['--owner', 'acme', '--json', 'keys', 'add', 'nb']);
    expect(key.code, key.err).toBe(0);
    expect(key.requests[0]?.body).toEqual({ name: 'nb', role: 'reader', owner: 'acme' });
    expect(JSON.parse(key.out)).toMatchObject({ token: 'TOKEN' });
  });
});

describe('npm run devices: each command has its own options', () => {
  it('refuses an option of another command, naming the option, the command and where it belongs', async () => {
    const result = await cli(['keys', 'add', 'nb', '--kind', 'air']);
    expect(result.code).toBe(2);
    expect(result.requests).toEqual([]);
    expect(result.err).toMatch(/^keys add: unknown option --kind \(it is an option of add\); keys add takes --role, --owner/);
    expect(result.err).toContain('Usage: npm run devices -- keys add');

    const close = await cli(['trial', 'close', 'pilot-1', '--name', 'x']);
    expect(close.code).toBe(2);
    expect(close.err).toMatch(/^trial close: unknown option --name \(it is an option of add, update, labs create, trial add, trial update\); trial close takes --end/);

    const list = await cli(['list', '--site', 'Bridge']);
    expect(list.err).toMatch(/^list: unknown option --site .*list takes no options of its own/);
    const before = await cli(['--kind', 'air', 'list']);
    expect(before.code).toBe(2);
    expect(before.err).toMatch(/^list: unknown option --kind \(it is an option of add\)/);
  });

  it('refuses options no command has, and values that do not fit', async () => {
    const unknown = await cli(['update', 'air-1', '--colour', 'red']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/^update: unknown option --colour;/);
    const missingValue = await cli(['add', 'air-9', '--kind']);
    expect(missingValue.code).toBe(2);
    expect(missingValue.err).toMatch(/^add: .*--kind/);
    const flagValue = await cli(['add', 'air-9', '--disabled=yes']);
    expect(flagValue.err).toMatch(/^add: .*--disabled/);
    const noCommand = await cli(['--role', 'admin']);
    expect(noCommand.code).toBe(2);
    expect(noCommand.err).toMatch(/unknown option --role \(it is an option of keys add\)/);
  });

  it('says which command is unknown or missing before asking for a token', async () => {
    expect(await cli(['toString'], {})).toMatchObject({ code: 2, err: expect.stringMatching(/^unknown command "toString"/) });
    expect(await cli(['frob'], {})).toMatchObject({ code: 2, err: expect.stringMatching(/^unknown command "frob"/) });
    expect(await cli(['keys'], {})).toMatchObject({ code: 2, err: expect.stringMatching(/^keys: missing <keys command: list, add or revoke>/) });
    expect(await cli(['trials', 'frob'], {})).toMatchObject({ code: 2, err: expect.stringMatching(/^trial: unknown command "frob"/) });
  });

  it('has help per command and per group', async () => {
    const add = await cli(['add', '--help']);
    expect(add.code).toBe(0);
    expect(add.requests).toEqual([]);
    expect(add.out).toContain('Usage: npm run devices -- add [arguments] [options]');
    expect(add.out).toContain('Options of add: --kind <value>');
    expect(add.out).toContain('--disabled');
    expect(add.out).not.toContain('--role');
    const keys = await cli(['keys', '-h']);
    expect(keys.out).toContain('Options of keys add: --role <value>, --owner <value>');
    expect(keys.out).not.toContain('trial add');
    expect((await cli(['help', 'trial', 'report'])).out).toContain('Options of trial report: --from <value>, --to <value>, --format <value>');
    const all = await cli(['--help']);
    expect(all).toMatchObject({ code: 0, out: HELP });
    for (const command of ['add <id>', 'keys revoke', 'trial report', 'service-credentials', '<command> --help']) expect(HELP).toContain(command);
  });
});

describe('npm run devices --data-dir', () => {
  const dir = mkdtempSync(join(tmpdir(), 'streetlab-cli-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('adds, lists, updates and removes on the registry file; a misplaced option changes nothing', async () => {
    const added = await cli(['add', 'air-7', '--kind', 'air', '--owner', 'acme', '--lat', '1', '--lon', '2', '--data-dir', dir], {});
    expect(added.code, added.err).toBe(0);
    expect(added.out).toMatch(/MQTT secret \(shown only now; store it on the device\):\n\s+\S+/);
    const misplaced = await cli(['--data-dir', dir, 'update', 'air-7', '--role', 'admin'], {});
    expect(misplaced.code).toBe(2);
    expect(misplaced.err).toMatch(/^update: unknown option --role \(it is an option of keys add\)/);
    expect((await cli(['--data-dir', dir, 'update', 'air-7', '--interval', '30'], {})).out).toContain('interval  30 s');
    expect((await cli(['--data-dir', dir, 'list'], {})).out).toMatch(/air-7\s+air\s+enabled\s+acme/);
    expect((await cli(['--data-dir', dir, 'remove', 'air-7'], {})).out).toBe('removed air-7\n');
    expect((await cli(['--data-dir', dir, 'list'], {})).out).toBe('no devices registered\n');
  });
});
