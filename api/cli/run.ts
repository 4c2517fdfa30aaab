/**
 * `npm run devices -- …`: the device registry, API keys and trials from a terminal.
 *
 * Two ways to reach the registry:
 *   over HTTP (default)   API_URL (default http://127.0.0.1:8080) with ADMIN_TOKEN from the
 *                         environment — what an operator uses against a running lab or API;
 *   directly              --data-dir DIR: the registry file DIR/registry.json itself, for
 *                         setting up before anything runs. Safe while the services run: writes
 *                         are atomic and locked, and the broker sees changes within a second.
 * Tokens are read from the environment, never from arguments (argument lists are visible to
 * every user of the machine in `ps`). Exit status: 0 done, 1 failed, 2 usage error.
 *
 * Each command (commands/*.ts) has its own options; --json, --data-dir and --help go with
 * every command, before or after it. An option the command does not take is a usage error
 * naming the option, the command and the commands it belongs to.
 */
import { parseArgs } from 'node:util';
import { isAppError } from '../../common/errors.ts';
import { openBackend } from './backend.ts';
import { COMMANDS, HELP, commandHelp, commandsTaking, groupHelp, groupOf, optionType } from './help.ts';
import { GLOBAL_OPTIONS, UsageError, errorMessage, type CliIo, type Command, type CommandContext, type OptionsConfig } from './shared.ts';

export { HELP } from './help.ts';
export type { CliIo } from './shared.ts';

/**
 * Splits the command words (`add`, `keys add`) from the rest: options, wherever they are (as
 * before the split, `--data-dir .lab list` and `list --data-dir .lab` both work), and the
 * command's arguments. Whether an option belongs to the command is checked afterwards.
 */
function splitCommand(argv: readonly string[]): { words: string[]; rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  const complete = () => words.length >= 2 || (words.length === 1 && groupOf(words[0]) === undefined);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (complete()) {
      rest.push(arg);
    } else if (arg.startsWith('-') && arg !== '-') {
      rest.push(arg);
      // An option before the command: its value (if it takes one) is not a command word.
      if (arg.startsWith('--') && !arg.includes('=') && optionType(arg.slice(2)) === 'string' && i + 1 < argv.length) rest.push(argv[++i]!);
    } else {
      words.push(arg);
    }
  }
  return { words, rest };
}

/** Parses a command's arguments against its own options and the global ones. */
function parseCommand(name: string, own: OptionsConfig, args: string[]) {
  const options: OptionsConfig = { ...GLOBAL_OPTIONS, ...own };
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help')) return { help: true as const };
  for (const token of tokens) {
    if (token.kind !== 'option' || Object.hasOwn(options, token.name)) continue;
    const owners = commandsTaking(token.name).filter((c) => c !== name);
    const ownList = Object.keys(own).map((o) => `--${o}`);
    throw new UsageError(
      `${name}: unknown option ${token.rawName}${owners.length > 0 ? ` (it is an option of ${owners.join(', ')})` : ''}; ` +
        `${name} takes ${ownList.length > 0 ? ownList.join(', ') : 'no options of its own'}, besides --json, --data-dir and --help`,
    );
  }
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { help: false as const, values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    throw new UsageError(`${name}: ${errorMessage(error)}`);
  }
}

/** Runs one CLI invocation; returns the exit status. */
export async function runDevicesCli(argv: readonly string[], io: CliIo): Promise<number> {
  const { words, rest } = splitCommand(argv);
  const [first, second] = words;

  // No command, or `help [command]`: the help, for everything or for what follows `help`.
  if (first === undefined || first === 'help') {
    let parsed;
    try {
      parsed = parseCommand('npm run devices', {}, rest);
    } catch (error) {
      io.err(`${errorMessage(error)}\n\n${HELP}`);
      return 2;
    }
    if (first === 'help') {
      const topic = parsed.help ? [] : parsed.positionals;
      const command = COMMANDS.get([groupOf(topic[0])?.name ?? topic[0], ...topic.slice(1)].join(' '));
      const group = topic.length === 1 ? groupOf(topic[0]) : undefined;
      io.out(command ? commandHelp(command) : group ? groupHelp(group.name) : HELP);
      return 0;
    }
    io.out(HELP);
    return parsed.help ? 0 : 2;
  }

  const group = groupOf(first);
  if (group && second === undefined) {
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(groupHelp(group.name));
      return 0;
    }
    io.err(`${first}: missing <${group.what}>\n\n${groupHelp(group.name)}`);
    return 2;
  }
  const command = COMMANDS.get(group ? `${group.name} ${second}` : first);
  if (!command) {
    if (group) io.err(`${group.name}: unknown command "${second}"; use ${group.choices}\n\n${groupHelp(group.name)}`);
    else io.err(`unknown command "${first}"\n\n${HELP}`);
    return 2;
  }

  let parsed;
  try {
    parsed = parseCommand(command.name, command.options, rest);
  } catch (error) {
    io.err(`${errorMessage(error)}\n\n${commandHelp(command)}`);
    return 2;
  }
  if (parsed.help) {
    io.out(commandHelp(command));
    return 0;
  }
  return await execute(command, first, parsed.values, parsed.positionals, io);
}

async function execute(command: Command, word: string, values: Record<string, string | boolean | undefined>, positionals: string[], io: CliIo): Promise<number> {
  const args = [...positionals];
  const ctx: CommandContext = {
    env: io.env,
    need(what) {
      const value = args.shift();
      if (value === undefined) throw new UsageError(`${word}: missing <${what}>`);
      return value;
    },
    option: (name) => (typeof values[name] === 'string' ? values[name] : undefined),
    flag: (name) => values[name] === true,
    print: (human, machine) => io.out(`${values.json ? JSON.stringify(machine, null, 2) : human}\n`),
  };

  if (command.local) {
    try {
      return await command.run(ctx);
    } catch (error) {
      io.err(`${errorMessage(error)}\n`);
      return error instanceof UsageError ? 2 : 1;
    }
  }

  const dataDir = values['data-dir'];
  const backend = await openBackend(typeof dataDir === 'string' ? dataDir : undefined, io);
  if (!backend) return 2;
  try {
    return await command.run(ctx, backend);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${commandHelp(command)}`);
      return 2;
    }
    io.err(`${isAppError(error) ? `${error.code}: ${error.message}` : errorMessage(error)}\n`);
    return 1;
  } finally {
    await backend.close();
  }
}
