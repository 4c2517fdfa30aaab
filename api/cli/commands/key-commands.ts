/** API keys: keys list, keys add, keys revoke. */
import { API_KEY_ROLES, KeyLabSchema, type ApiKeyRole } from '../../../contracts/index.ts';
import { UsageError, type RegistryCommand } from '../shared.ts';

export const KEY_COMMANDS: RegistryCommand[] = [
  {
    name: 'keys list',
    help: '  keys list              list API keys (without tokens)',
    options: {},
    async run(ctx, backend) {
      const keys = await backend.listKeys();
      ctx.print(keys.length === 0 ? 'no API keys' : keys.map((k) => `${k.id}  ${k.role.padEnd(7)} ${k.createdAt}  ${k.name}${k.owner ? `  (owner ${k.owner})` : ''}${k.lab ? `  (lab ${k.lab})` : ''}`).join('\n'), { keys });
      return 0;
    },
  },
  {
    name: 'keys add',
    help: `  keys add <name> [--role reader|admin] [--owner <owner>] [--lab <lab>|*]
                         create a key; prints its token (shown only once); a reader key
                         with --owner sees only that owner's trials and reports; --lab: the
                         one lab it sees (default the default lab), * = every lab (platform key)`,
    options: { role: { type: 'string' }, owner: { type: 'string' }, lab: { type: 'string' } },
    async run(ctx, backend) {
      const name = ctx.need('name');
      const role = (ctx.option('role') ?? 'reader') as ApiKeyRole;
      if (!(API_KEY_ROLES as readonly string[]).includes(role)) throw new UsageError(`keys add: --role must be one of ${API_KEY_ROLES.join(', ')}`);
      const owner = ctx.option('owner');
      const lab = ctx.option('lab');
      if (lab !== undefined && !KeyLabSchema.safeParse(lab).success) throw new UsageError(`keys add: --lab must be a lab id (lower-case letters, digits and -) or * for every lab; got "${lab}"`);
      const created = await backend.createKey({ name, role, ...(owner !== undefined ? { owner } : {}), ...(lab !== undefined ? { lab } : {}) });
      ctx.print(`${created.key.id}  ${created.key.role}  ${created.key.name}${created.key.lab ? `  (lab ${created.key.lab})` : ''}\n\n  token (shown only now): ${created.token}\n  use it as: Authorization: Bearer ${created.token}`, created);
      return 0;
    },
  },
  {
    name: 'keys revoke',
    help: '  keys revoke <key-id>   revoke a key at once',
    options: {},
    async run(ctx, backend) {
      const id = ctx.need('key-id');
      await backend.revokeKey(id);
      ctx.print(`revoked ${id}`, { revoked: id });
      return 0;
    },
  },
];
