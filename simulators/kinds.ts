/**
 * Definitions of the kinds added at run time that a simulator is asked to play (`--kind soil=3`):
 * read from the lab's API (GET /api/v1/kinds, what the broker will check the readings
 * against) or from definition files (`--kind-file`, the format of POST /api/v1/kinds and
 * `DATA_DIR/kinds/*.json`). The simulator hands them to its process's kind table
 * (contracts/kinds-table.ts), after which the device models and the fleet know the kind.
 */
import { readFile } from 'node:fs/promises';
import { KindDefinitionSchema, KindListResponseSchema, type KindDefinition } from '../contracts/index.ts';
import { AppError } from '../common/errors.ts';
import { parseKindFile } from '../common/kinds/files.ts';

export interface KindSources {
  /** The lab's API; its kinds are fetched when given. */
  apiUrl?: string | undefined;
  /** Sent as a bearer token: needed when the lab does not serve open data. */
  token?: string | undefined;
  /** Definition files; a kind in a file wins over the API's definition of the same id. */
  files?: readonly string[];
  fetch?: typeof fetch;
}

const invalid = (option: string, message: string) => new AppError('CONFIG_INVALID', `invalid options:\n  ${option}: ${message}`);

/** Every kind definition the sources hold (built-in kinds included when the API lists them). */
export async function loadKindDefinitions(sources: KindSources): Promise<KindDefinition[]> {
  const byId = new Map<string, KindDefinition>();
  if (sources.apiUrl !== undefined) {
    for (const definition of await fetchKinds(sources.apiUrl, sources.token, sources.fetch ?? fetch)) byId.set(definition.id, definition);
  }
  for (const file of sources.files ?? []) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw invalid('--kind-file', `cannot read ${file} (${error instanceof Error ? error.message : String(error)})`);
    }
    const parsed = parseKindFile(text);
    if (!parsed.ok) throw invalid('--kind-file', `${file} is not a kind definition: ${parsed.error}`);
    byId.set(parsed.definition.id, parsed.definition);
  }
  return [...byId.values()];
}

async function fetchKinds(apiUrl: string, token: string | undefined, doFetch: typeof fetch): Promise<KindDefinition[]> {
  const url = `${apiUrl.replace(/\/+$/, '')}/api/v1/kinds`;
  let response: Response;
  try {
    response = await doFetch(url, token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } });
  } catch (error) {
    throw new AppError('REGISTRATION_FAILED', `cannot reach the lab's API for the kind definitions at ${url} (${error instanceof Error ? error.message : String(error)})`);
  }
  const text = await response.text();
  if (response.status !== 200) throw new AppError('REGISTRATION_FAILED', `reading the kind definitions: GET ${url} answered ${response.status} ${text.slice(0, 300)}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new AppError('REGISTRATION_FAILED', `reading the kind definitions: GET ${url} did not answer JSON`);
  }
  const list = KindListResponseSchema.safeParse(json);
  if (!list.success) throw new AppError('REGISTRATION_FAILED', `reading the kind definitions: GET ${url} did not answer a kind list`);
  // The answer's `builtIn` flag is not part of a definition.
  return list.data.kinds.map(({ builtIn: _builtIn, ...definition }) => KindDefinitionSchema.parse(definition));
}

/** Throws CONFIG_INVALID naming every requested kind that is not among `known`, and the known ones. */
export function requireKnownKinds(requested: readonly string[], known: readonly string[]): void {
  const unknown = requested.filter((kind) => !known.includes(kind));
  if (unknown.length === 0) return;
  const names = unknown.map((kind) => `"${kind}"`).join(', ');
  throw invalid('--kind', `unknown kind${unknown.length > 1 ? 's' : ''} ${names}; known kinds: ${known.join(', ')} (add one with POST /api/v1/kinds or --kind-file)`);
}
