/**
 * What every subcommand of `npm run devices` shares: the I/O it is given, the usage error,
 * the shape of a command (its own options, its help lines, its run function) and the parsers
 * for option values.
 */
import type { ParseArgsConfig } from 'node:util';
import type { Backend } from './backend.ts';

export interface CliIo {
  env: Record<string, string | undefined>;
  out: (text: string) => void;
  err: (text: string) => void;
  fetch?: typeof fetch;
}

/** A mistake in the command line: exit status 2, with the command's usage. */
export class UsageError extends Error {}

export type OptionsConfig = NonNullable<ParseArgsConfig['options']>;

/** Options every command takes, before or after the command. */
export const GLOBAL_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  json: { type: 'boolean' },
  'data-dir': { type: 'string' },
} as const satisfies OptionsConfig;

/** What a command gets: its arguments and options, already checked against its option set. */
export interface CommandContext {
  env: Record<string, string | undefined>;
  /** The next positional argument, or a usage error naming what is missing. */
  need(what: string): string;
  /** A string option's value. */
  option(name: string): string | undefined;
  /** Whether a boolean option was given. */
  flag(name: string): boolean;
  /** Prints the human text, or with --json the machine value as JSON. */
  print(human: string, machine: unknown): void;
}

interface CommandBase {
  /** As typed: `add`, `keys add`, `trial report`. */
  name: string;
  /** Its lines in the help: usage first, then what it does (indented as in the full help). */
  help: string;
  /** Its own options (the global --json, --data-dir and --help come on top). */
  options: OptionsConfig;
}

/** A command that works on the registry (over HTTP or on the file). */
export interface RegistryCommand extends CommandBase {
  local?: false;
  run(ctx: CommandContext, backend: Backend): Promise<number>;
}

/** A command that needs no registry (service-credentials). */
export interface LocalCommand extends CommandBase {
  local: true;
  run(ctx: CommandContext): Promise<number>;
}

export type Command = RegistryCommand | LocalCommand;

export function number(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new UsageError(`--${name}: "${value}" is not a number`);
  return parsed;
}

export function json(value: string | undefined, name: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch {
    throw new UsageError(`--${name}: a JSON object, e.g. '{"firmware": "1.2"}'`);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
