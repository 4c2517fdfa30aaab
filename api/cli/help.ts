/**
 * The commands of `npm run devices`, by section, and their help: the whole help
 * (`--help`), one group's (`keys --help`, `trial --help`) and one command's (`add --help`).
 */
import { DEVICE_COMMANDS } from './commands/device-commands.ts';
import { KEY_COMMANDS } from './commands/key-commands.ts';
import { LAB_COMMANDS } from './commands/lab-commands.ts';
import { INTEGRATION_COMMANDS } from './commands/integration-commands.ts';
import { SERVICE_CREDENTIALS } from './commands/service-credentials.ts';
import { TRIAL_COMMANDS } from './commands/trial-commands.ts';
import { GLOBAL_OPTIONS, type Command } from './shared.ts';

const SECTIONS: { title: string; commands: Command[] }[] = [
  { title: 'Devices', commands: DEVICE_COMMANDS },
  { title: 'API keys', commands: KEY_COMMANDS },
  { title: 'Labs', commands: LAB_COMMANDS },
  { title: 'Network-server integrations (The Things Stack, ChirpStack)', commands: INTEGRATION_COMMANDS },
  { title: 'Trials', commands: TRIAL_COMMANDS },
  { title: 'Services', commands: [SERVICE_CREDENTIALS] },
];

/** Every command by its full name (`add`, `keys add`, `trial report`). */
export const COMMANDS: ReadonlyMap<string, Command> = new Map(SECTIONS.flatMap((s) => s.commands.map((c) => [c.name, c] as const)));

/** Words that take a second word, with what goes in place of it (`trials` is `trial`). */
export const GROUPS: Readonly<Record<string, { name: string; what: string; choices: string }>> = {
  keys: { name: 'keys', what: 'keys command: list, add or revoke', choices: 'list, add or revoke' },
  labs: { name: 'labs', what: 'labs command: list or create', choices: 'list or create' },
  integrations: { name: 'integrations', what: 'integrations command: list, add, rotate or remove', choices: 'list, add, rotate or remove' },
  trial: { name: 'trial', what: 'trial command: add, list, show, update, close or report', choices: 'add, list, show, update, close or report' },
  trials: { name: 'trial', what: 'trial command: add, list, show, update, close or report', choices: 'add, list, show, update, close or report' },
};

/** The group a first word starts (`keys`, `trial`, `trials`), if any. */
export function groupOf(word: string | undefined): (typeof GROUPS)[string] | undefined {
  return word !== undefined && Object.hasOwn(GROUPS, word) ? GROUPS[word] : undefined;
}

export const HELP = `Usage: npm run devices -- <command> [arguments] [options]

${SECTIONS.map((s) => `${s.title}\n${s.commands.map((c) => c.help).join('\n')}`).join('\n\n')}

Where the registry is
  (default)              over HTTP: API_URL (default http://127.0.0.1:8080) and ADMIN_TOKEN
                         from the environment (npm run lab prints its token)
  --data-dir <dir>       directly in <dir>/registry.json (e.g. .data or .lab); works while the
                         services run: writes are atomic and locked, the broker follows within 1 s

Options
  --json                 machine-readable output
  -h, --help             this help
  <command> --help       one command's usage and its options

Examples
  ADMIN_TOKEN=… npm run devices -- add air-42 --kind air --owner acme --lat 55.6761 --lon 12.5683 --site "Nørrebrogade"
  ADMIN_TOKEN=… npm run devices -- labs create norrebro --name Nørrebro --area 55.68,12.53,55.71,12.57
  ADMIN_TOKEN=… npm run devices -- keys add "Nørrebro admin" --role admin --lab norrebro
  npm run devices -- --data-dir .lab list
  mosquitto_pub -i air-42 -u air-42 -P '<secret>' -t lab/v1/air/air-42 -m '{"pm25": 8}'
`;

/** `--kind <value>`, `--disabled`: how an option is written. */
function optionList(options: Command['options']): string {
  return Object.entries(options)
    .map(([name, config]) => `--${name}${config.type === 'string' ? ' <value>' : ''}`)
    .join(', ');
}

const EVERY_COMMAND = `Every command also takes: ${optionList(GLOBAL_OPTIONS).replace('--help', '-h, --help').replace('--data-dir <value>', '--data-dir <dir>')}
(npm run devices -- --help lists every command)`;

/** The help of a few commands: their usage lines, their own options, the global ones. */
function helpOf(label: string, commands: Command[]): string {
  const options = commands.map((c) => `Options of ${c.name}: ${Object.keys(c.options).length > 0 ? optionList(c.options) : 'none of its own'}`);
  return `Usage: npm run devices -- ${label} [arguments] [options]\n\n${commands.map((c) => c.help).join('\n')}\n\n${options.join('\n')}\n${EVERY_COMMAND}\n`;
}

export function commandHelp(command: Command): string {
  return helpOf(command.name, [command]);
}

/** The help of a group (`keys`, `trial`). */
export function groupHelp(group: string): string {
  return helpOf(`${group} <command>`, [...COMMANDS.values()].filter((c) => c.name.startsWith(`${group} `)));
}

/** Whether an option (of any command, or global) takes a value; undefined for no such option. */
export function optionType(option: string): 'string' | 'boolean' | undefined {
  if (Object.hasOwn(GLOBAL_OPTIONS, option)) return GLOBAL_OPTIONS[option as keyof typeof GLOBAL_OPTIONS].type;
  for (const command of COMMANDS.values()) if (Object.hasOwn(command.options, option)) return command.options[option]!.type;
  return undefined;
}

/** Commands that take an option (for "it belongs to …" in an error). */
export function commandsTaking(option: string): string[] {
  return [...COMMANDS.values()].filter((c) => Object.hasOwn(c.options, option)).map((c) => c.name);
}
