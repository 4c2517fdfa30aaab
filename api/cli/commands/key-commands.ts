/** API keys: keys list, keys add, keys revoke. */
import { API_KEY_ROLES, type ApiKeyRole } from '../../../contracts/index.ts';
import { UsageError, type RegistryCommand } from '../shared.ts';

export const KEY_COMMANDS: RegistryCommand[] = [
  {
    name: 'keys list',
    help: '  keys list              list API keys (without tokens)',
    options: {},
    async run(ctx, backend) {
      const keys = await backend.listKeys();
      ctx.print(keys.length === 0 ? 'no API keys' : keys.map((k) => `${k.id}  ${k.role.padEnd(7)} ${k.createdAt}  ${k.name}${k.owner ? `  (owner ${k.owner})` : ''}`).join('\n'), { keys });
      return 0;
    },
  },
  {
    name: 'keys add',
    help: `  keys add <name> [--role reader|admin] [--owner <owner>]
                         create a key; prints its token (shown only once); a reader key
                         with --owner sees only that owner's trials and reports`,
    options: { role: { type: 'string' }, owner: { type: 'string' } },
    async run(ctx, backend) {
      const name = ctx.need('name');
      const role = (ctx.option('role') ?? 'reader') as ApiKeyRole;
      if (!(API_KEY_ROLES as readonly string[]).includes(role)) throw new UsageError(`keys add: --role must be one of ${API_KEY_ROLES.join(', ')}`);
      const owner = ctx.option('owner');
      const created = await backend.createKey({ name, role, ...(owner !== undefined ? { owner } : {}) });
      ctx.print(`${created.key.id}  ${created.key.role}  ${created.key.name}\n\n  token (shown only now): ${created.token}\n  use it as: Authorization: Bearer ${created.token}`, created);
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
