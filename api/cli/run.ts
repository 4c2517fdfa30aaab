/**
 * `npm run devices -- …`: the device registry and API keys from a terminal.
 *
 * Two ways to reach the registry:
 *   over HTTP (default)   API_URL (default http://127.0.0.1:8080) with ADMIN_TOKEN from the
 *                         environment — what an operator uses against a running lab or API;
 *   directly              --data-dir DIR: the registry file DIR/registry.json itself, for
 *                         setting up before anything runs. Safe while the services run: writes
 *                         are atomic and locked, and the broker sees changes within a second.
 * Tokens are read from the environment, never from arguments (argument lists are visible to
 * every user of the machine in `ps`). Exit status: 0 done, 1 failed, 2 usage error.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  API_KEY_ROLES,
  READING_KINDS,
  type ApiKeyListResponse,
  type ApiKeyRecord,
  type ApiKeyRole,
  type ApiKeyWithToken,
  type CreateApiKeyRequest,
  type CreateDeviceRequest,
  type DeviceListResponse,
  type DeviceRecord,
  type DeviceWithSecret,
  type ReadingKind,
  type UpdateDeviceRequest,
} from '../../contracts/index.ts';
import { isAppError } from '../../common/errors.ts';
import {
  type CreateTrialRequest,
  type Trial,
  type TrialListResponse,
  type TrialReport,
  type UpdateTrialRequest,
} from '../../contracts/index.ts';
import { createRegistryDeviceCheck, openFileTrialStore, type TrialStore } from '../trials/store.ts';
import { SERVICE_ROLES, openFileRegistry, serviceCredentials, type DeviceRegistry, type ServiceRole } from '../../common/registry/index.ts';

export const HELP = `Usage: npm run devices -- <command> [arguments] [options]

Devices
  add <id> --kind <air|traffic|waste> --owner <owner> --lat <deg> --lon <deg>
           [--site <label>] [--name <name>] [--interval <s>] [--meta <json>] [--disabled]
                         register a device; prints its MQTT secret (shown only once)
  list                   list registered devices
  show <id>              one device
  update <id> [--name …] [--owner …] [--lat …] [--lon …] [--site …|--no-site] [--interval …] [--meta <json>]
  rotate <id>            issue a new secret; the old one stops working at once
  disable <id>           refuse the device's connections (and close the open ones)
  enable <id>            accept it again
  remove <id>            delete the device (its data stays in InfluxDB)

API keys
  keys list              list API keys (without tokens)
  keys add <name> [--role reader|admin] [--owner <owner>]
                         create a key; prints its token (shown only once); a reader key
                         with --owner sees only that owner's trials and reports
  keys revoke <key-id>   revoke a key at once

Trials
  trial add <id> --name <name> --owner <owner> --devices <id,id,…> --start <ISO time> --interval <s>
           [--end <ISO time>] [--completeness <%>] [--max-reject-rate <%>] [--max-latency-p95 <ms>]
           [--reference <air device id>]
                         create a trial (goals default: completeness 95 %, reject rate 5 %)
  trial list             list trials
  trial show <id>        one trial
  trial update <id> [--name …] [--owner …] [--devices …] [--start …] [--end …|--no-end]
           [--interval …] [--completeness …] [--max-reject-rate …] [--max-latency-p95 …]
           [--reference …|--no-reference]
  trial close <id> [--end <ISO time>]
                         end a trial (default: its planned end if past, else now)
  trial report <id> [--from <time>] [--to <time>] [--format json|html]
                         the device report (over HTTP only: it reads InfluxDB); human summary,
                         --json for the JSON report, --format html for the printable page

Services
  service-credentials <ingest|api|monitor>
                         MQTT_USERNAME / MQTT_PASSWORD for one service, derived from
                         SERVICE_TOKEN (environment): give a service only its own password

Where the registry is
  (default)              over HTTP: API_URL (default http://127.0.0.1:8080) and ADMIN_TOKEN
                         from the environment (npm run lab prints its token)
  --data-dir <dir>       directly in <dir>/registry.json (e.g. .data or .lab); works while the
                         services run: writes are atomic and locked, the broker follows within 1 s

Options
  --json                 machine-readable output
  -h, --help             this help

Examples
  ADMIN_TOKEN=… npm run devices -- add air-42 --kind air --owner acme --lat 55.6761 --lon 12.5683 --site "Nørrebrogade"
  npm run devices -- --data-dir .lab list
  mosquitto_pub -i air-42 -u air-42 -P '<secret>' -t lab/v1/air/air-42 -m '{"pm25": 8}'
`;

export interface CliIo {
  env: Record<string, string | undefined>;
  out: (text: string) => void;
  err: (text: string) => void;
  fetch?: typeof fetch;
}

class UsageError extends Error {}

/** The registry operations the CLI needs, over HTTP or on the file. */
interface Backend {
  list(): Promise<DeviceRecord[]>;
  get(id: string): Promise<DeviceRecord>;
  create(request: CreateDeviceRequest): Promise<DeviceWithSecret>;
  update(id: string, patch: UpdateDeviceRequest): Promise<DeviceRecord>;
  remove(id: string): Promise<void>;
  rotate(id: string): Promise<DeviceWithSecret>;
  listKeys(): Promise<ApiKeyRecord[]>;
  createKey(request: CreateApiKeyRequest): Promise<ApiKeyWithToken>;
  revokeKey(id: string): Promise<void>;
  listTrials(): Promise<Trial[]>;
  getTrial(id: string): Promise<Trial>;
  createTrial(request: CreateTrialRequest): Promise<Trial>;
  updateTrial(id: string, patch: UpdateTrialRequest): Promise<Trial>;
  closeTrial(id: string, end: string | undefined): Promise<Trial>;
  /** JSON report, or the HTML page as text. */
  trialReport(id: string, query: { from?: string | undefined; to?: string | undefined; format: 'json' | 'html' }): Promise<TrialReport | string>;
  close(): Promise<void>;
}

function httpBackend(apiUrl: string, token: string, doFetch: typeof fetch): Backend {
  async function call<T>(method: string, path: string, body?: unknown, raw = false): Promise<T> {
    let response: Response;
    try {
      response = await doFetch(new URL(path, apiUrl), {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new Error(`cannot reach the API at ${apiUrl} (${error instanceof Error ? error.message : String(error)}); is it running? Set API_URL, or use --data-dir`);
    }
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    if (raw && response.ok) return text as T;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const message = (parsed as { message?: string } | undefined)?.message ?? text.slice(0, 200);
      throw new Error(`${response.status} ${(parsed as { error?: string } | undefined)?.error ?? response.statusText}: ${message}`);
    }
    return parsed as T;
  }
  const device = (id: string) => `/api/v1/devices/${encodeURIComponent(id)}`;
  const trial = (id: string) => `/api/v1/trials/${encodeURIComponent(id)}`;
  return {
    list: async () => (await call<DeviceListResponse>('GET', '/api/v1/devices')).devices,
    get: (id) => call('GET', device(id)),
    create: (request) => call('POST', '/api/v1/devices', request),
    update: (id, patch) => call('PATCH', device(id), patch),
    remove: (id) => call('DELETE', device(id)),
    rotate: (id) => call('POST', `${device(id)}/secret`),
    listKeys: async () => (await call<ApiKeyListResponse>('GET', '/api/v1/keys')).keys,
    createKey: (request) => call('POST', '/api/v1/keys', request),
    revokeKey: (id) => call('DELETE', `/api/v1/keys/${encodeURIComponent(id)}`),
    listTrials: async () => (await call<TrialListResponse>('GET', '/api/v1/trials')).trials,
    getTrial: (id) => call('GET', trial(id)),
    createTrial: (request) => call('POST', '/api/v1/trials', request),
    updateTrial: (id, patch) => call('PATCH', trial(id), patch),
    closeTrial: (id, end) => call('POST', `${trial(id)}/close`, end === undefined ? undefined : { end }),
    trialReport: (id, query) => {
      const search = new URLSearchParams({ format: query.format });
      if (query.from !== undefined) search.set('from', query.from);
      if (query.to !== undefined) search.set('to', query.to);
      return call('GET', `${trial(id)}/report?${search}`, undefined, query.format === 'html');
    },
    close: async () => {},
  };
}

function fileBackend(registry: DeviceRegistry, trials: TrialStore): Backend {
  return {
    list: () => registry.list(),
    async get(id) {
      const found = await registry.get(id);
      if (!found) throw new Error(`404 NOT_FOUND: no device "${id}"`);
      return found;
    },
    create: (request) => registry.create(request),
    update: (id, patch) => registry.update(id, patch),
    remove: (id) => registry.remove(id),
    rotate: (id) => registry.rotateSecret(id),
    listKeys: () => registry.listApiKeys(),
    createKey: (request) => registry.createApiKey(request),
    revokeKey: (id) => registry.revokeApiKey(id),
    listTrials: () => trials.list(),
    async getTrial(id) {
      const found = await trials.get(id);
      if (!found) throw new Error(`404 NOT_FOUND: no trial "${id}"`);
      return found;
    },
    createTrial: (request) => trials.create(request),
    updateTrial: (id, patch) => trials.update(id, patch),
    closeTrial: (id, end) => trials.closeTrial(id, end === undefined ? {} : { end }),
    trialReport: async () => {
      throw new UsageError('trial report reads InfluxDB through the API: run it over HTTP (API_URL and ADMIN_TOKEN), not with --data-dir');
    },
    async close() {
      await trials.close();
      await registry.close();
    },
  };
}

function number(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new UsageError(`--${name}: "${value}" is not a number`);
  return parsed;
}

function json(value: string | undefined, name: string): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch {
    throw new UsageError(`--${name}: a JSON object, e.g. '{"firmware": "1.2"}'`);
  }
}

function describeDevice(d: DeviceRecord): string {
  return [
    `${d.id}  (${d.kind}${d.enabled ? '' : ', DISABLED'})`,
    `  name      ${d.name}`,
    `  owner     ${d.owner}`,
    `  location  ${d.lat}, ${d.lon}${d.site ? `  (${d.site})` : ''}`,
    `  interval  ${d.intervalSeconds} s`,
    `  created   ${d.createdAt}   updated ${d.updatedAt}`,
    ...(Object.keys(d.meta).length > 0 ? [`  meta      ${JSON.stringify(d.meta)}`] : []),
  ].join('\n');
}

function describeSecret(issued: DeviceWithSecret): string {
  const d = issued.device;
  return [
    describeDevice(d),
    '',
    `  MQTT secret (shown only now; store it on the device):`,
    `    ${issued.secret}`,
    '',
    `  Connect with client id and username "${d.id}" and this secret as password; publish to lab/v1/${d.kind}/${d.id}`,
  ].join('\n');
}

/** Runs one CLI invocation; returns the exit status. */
export async function runDevicesCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        help: { type: 'boolean', short: 'h' },
        json: { type: 'boolean' },
        'data-dir': { type: 'string' },
        kind: { type: 'string' },
        owner: { type: 'string' },
        name: { type: 'string' },
        lat: { type: 'string' },
        lon: { type: 'string' },
        site: { type: 'string' },
        'no-site': { type: 'boolean' },
        interval: { type: 'string' },
        meta: { type: 'string' },
        disabled: { type: 'boolean' },
        role: { type: 'string' },
        devices: { type: 'string' },
        start: { type: 'string' },
        end: { type: 'string' },
        'no-end': { type: 'boolean' },
        completeness: { type: 'string' },
        'max-reject-rate': { type: 'string' },
        'max-latency-p95': { type: 'string' },
        reference: { type: 'string' },
        'no-reference': { type: 'boolean' },
        from: { type: 'string' },
        to: { type: 'string' },
        format: { type: 'string' },
      },
    });
  } catch (error) {
    io.err(`${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    io.out(HELP);
    return command === undefined && !values.help ? 2 : 0;
  }
  const print = (human: string, machine: unknown) => io.out(`${values.json ? JSON.stringify(machine, null, 2) : human}\n`);
  const need = (what: string): string => {
    const value = rest.shift();
    if (value === undefined) throw new UsageError(`${command}: missing <${what}>`);
    return value;
  };

  if (command === 'service-credentials') {
    try {
      const role = need('role');
      if (!(SERVICE_ROLES as readonly string[]).includes(role)) throw new UsageError(`service-credentials: role must be one of ${SERVICE_ROLES.join(', ')}`);
      const token = io.env.SERVICE_TOKEN;
      if (!token) throw new Error('SERVICE_TOKEN is not set in the environment');
      const credentials = serviceCredentials(token, role as ServiceRole);
      print(`MQTT_USERNAME=${credentials.username}\nMQTT_PASSWORD=${credentials.password}`, credentials);
      return 0;
    } catch (error) {
      io.err(`${error instanceof Error ? error.message : String(error)}\n`);
      return error instanceof UsageError ? 2 : 1;
    }
  }

  let backend: Backend;
  if (values['data-dir'] !== undefined) {
    const dataDir = resolve(values['data-dir']);
    const registry = await openFileRegistry({ dataDir, pollIntervalMs: 0 });
    backend = fileBackend(registry, await openFileTrialStore({ dataDir, checkDevices: createRegistryDeviceCheck(registry) }));
  } else {
    const token = io.env.ADMIN_TOKEN;
    if (!token) {
      io.err('ADMIN_TOKEN is not set: export the admin token (npm run lab prints it), or use --data-dir <dir> to edit the registry file directly\n');
      return 2;
    }
    backend = httpBackend(io.env.API_URL ?? 'http://127.0.0.1:8080', token, io.fetch ?? fetch);
  }

  try {
    switch (command) {
      case 'add': {
        const id = need('id');
        if (!values.kind || !(READING_KINDS as readonly string[]).includes(values.kind)) throw new UsageError(`add: --kind must be one of ${READING_KINDS.join(', ')}`);
        if (!values.owner) throw new UsageError('add: --owner is required');
        const lat = number(values.lat, 'lat');
        const lon = number(values.lon, 'lon');
        if (lat === undefined || lon === undefined) throw new UsageError('add: --lat and --lon are required');
        const issued = await backend.create({
          id,
          kind: values.kind as ReadingKind,
          owner: values.owner,
          lat,
          lon,
          ...(values.name ? { name: values.name } : {}),
          ...(values.site ? { site: values.site } : {}),
          intervalSeconds: number(values.interval, 'interval') ?? 60,
          enabled: !values.disabled,
          meta: json(values.meta, 'meta') ?? {},
        });
        print(describeSecret(issued), issued);
        return 0;
      }
      case 'list': {
        const devices = await backend.list();
        const lines = devices.map((d) => `${d.id.padEnd(24)} ${d.kind.padEnd(8)} ${(d.enabled ? 'enabled' : 'DISABLED').padEnd(9)} ${d.owner.padEnd(20)} ${d.site ?? ''}`);
        print(devices.length === 0 ? 'no devices registered' : [`${'ID'.padEnd(24)} ${'KIND'.padEnd(8)} ${'STATE'.padEnd(9)} ${'OWNER'.padEnd(20)} SITE`, ...lines].join('\n'), { devices });
        return 0;
      }
      case 'show': {
        const device = await backend.get(need('id'));
        print(describeDevice(device), device);
        return 0;
      }
      case 'update': {
        const id = need('id');
        const patch: UpdateDeviceRequest = {
          ...(values.name !== undefined ? { name: values.name } : {}),
          ...(values.owner !== undefined ? { owner: values.owner } : {}),
          ...(values.lat !== undefined ? { lat: number(values.lat, 'lat') } : {}),
          ...(values.lon !== undefined ? { lon: number(values.lon, 'lon') } : {}),
          ...(values.site !== undefined ? { site: values.site } : values['no-site'] ? { site: null } : {}),
          ...(values.interval !== undefined ? { intervalSeconds: number(values.interval, 'interval') } : {}),
          ...(values.meta !== undefined ? { meta: json(values.meta, 'meta') } : {}),
        };
        if (Object.keys(patch).length === 0) throw new UsageError('update: nothing to change; give --name, --owner, --lat, --lon, --site, --no-site, --interval or --meta');
        const device = await backend.update(id, patch);
        print(describeDevice(device), device);
        return 0;
      }
      case 'rotate': {
        const issued = await backend.rotate(need('id'));
        print(describeSecret(issued), issued);
        return 0;
      }
      case 'disable':
      case 'enable': {
        const device = await backend.update(need('id'), { enabled: command === 'enable' });
        print(describeDevice(device), device);
        return 0;
      }
      case 'remove': {
        const id = need('id');
        await backend.remove(id);
        print(`removed ${id}`, { removed: id });
        return 0;
      }
      case 'keys': {
        const sub = need('keys command: list, add or revoke');
        if (sub === 'list') {
          const keys = await backend.listKeys();
          print(keys.length === 0 ? 'no API keys' : keys.map((k) => `${k.id}  ${k.role.padEnd(7)} ${k.createdAt}  ${k.name}${k.owner ? `  (owner ${k.owner})` : ''}`).join('\n'), { keys });
          return 0;
        }
        if (sub === 'add') {
          const name = need('name');
          const role = (values.role ?? 'reader') as ApiKeyRole;
          if (!(API_KEY_ROLES as readonly string[]).includes(role)) throw new UsageError(`keys add: --role must be one of ${API_KEY_ROLES.join(', ')}`);
          const created = await backend.createKey({ name, role, ...(values.owner !== undefined ? { owner: values.owner } : {}) });
          print(`${created.key.id}  ${created.key.role}  ${created.key.name}\n\n  token (shown only now): ${created.token}\n  use it as: Authorization: Bearer ${created.token}`, created);
          return 0;
        }
        if (sub === 'revoke') {
          const id = need('key-id');
          await backend.revokeKey(id);
          print(`revoked ${id}`, { revoked: id });
          return 0;
        }
        throw new UsageError(`keys: unknown command "${sub}"; use list, add or revoke`);
      }
      case 'trial':
      case 'trials':
        return await runTrialCommand(need('trial command: add, list, show, update, close or report'), need, values, backend, print);
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${error.message}\n\n${HELP}`);
      return 2;
    }
    const message = isAppError(error) ? `${error.code}: ${error.message}` : error instanceof Error ? error.message : String(error);
    io.err(`${message}\n`);
    return 1;
  } finally {
    await backend.close();
  }
}

type TrialOptions = {
  json?: boolean | undefined;
  name?: string | undefined;
  owner?: string | undefined;
  interval?: string | undefined;
  devices?: string | undefined;
  start?: string | undefined;
  end?: string | undefined;
  'no-end'?: boolean | undefined;
  completeness?: string | undefined;
  'max-reject-rate'?: string | undefined;
  'max-latency-p95'?: string | undefined;
  reference?: string | undefined;
  'no-reference'?: boolean | undefined;
  from?: string | undefined;
  to?: string | undefined;
  format?: string | undefined;
};

function describeTrial(t: Trial): string {
  const g = t.goals;
  return [
    `${t.id}  (${t.status})`,
    `  name       ${t.name}`,
    `  owner      ${t.owner}`,
    `  devices    ${t.deviceIds.join(', ')}`,
    `  period     ${t.start} – ${t.end ?? 'open-ended'}`,
    `  goals      every ${g.intervalSeconds} s; completeness ≥ ${g.completenessPct} %; reject rate ≤ ${g.maxRejectRatePct} %${g.maxLatencyP95Ms !== undefined ? `; latency p95 ≤ ${g.maxLatencyP95Ms} ms` : ''}`,
    ...(t.referenceDeviceId ? [`  reference  ${t.referenceDeviceId}`] : []),
  ].join('\n');
}

function describeReport(report: TrialReport): string {
  const lines = [`Trial ${report.trial.id} (${report.trial.name}), ${report.period.from} – ${report.period.to}: ${report.allGoalsMet ? 'every goal met' : 'NOT every goal met'}`];
  for (const d of report.devices) {
    lines.push('', `${d.deviceId}: completeness ${d.completenessPct} %, uptime ${d.uptimePct} %, ${d.gaps.count} gaps (${d.gaps.missing} missing), ${d.duplicates.count} duplicates, ${d.outOfOrder.count} out of order, ${d.rejections.total} rejected`);
    for (const v of d.verdicts) lines.push(`  ${v.met ? 'met    ' : 'NOT MET'}  ${v.text}`);
    for (const c of d.reference?.pollutants ?? []) lines.push(`  vs ${d.reference!.deviceId} ${c.pollutant}: bias ${c.bias}, RMSE ${c.rmse}, R² ${c.r2}, ${c.pairedHours} paired hours`);
  }
  return lines.join('\n');
}

async function runTrialCommand(
  sub: string,
  need: (what: string) => string,
  values: TrialOptions,
  backend: Backend,
  print: (human: string, machine: unknown) => void,
): Promise<number> {
  const goals = {
    ...(values.interval !== undefined ? { intervalSeconds: number(values.interval, 'interval') } : {}),
    ...(values.completeness !== undefined ? { completenessPct: number(values.completeness, 'completeness') } : {}),
    ...(values['max-reject-rate'] !== undefined ? { maxRejectRatePct: number(values['max-reject-rate'], 'max-reject-rate') } : {}),
    ...(values['max-latency-p95'] !== undefined ? { maxLatencyP95Ms: number(values['max-latency-p95'], 'max-latency-p95') } : {}),
  };
  const devices = values.devices?.split(',').map((d) => d.trim()).filter(Boolean);
  switch (sub) {
    case 'list': {
      const trials = await backend.listTrials();
      print(trials.length === 0 ? 'no trials' : trials.map((t) => `${t.id.padEnd(24)} ${t.status.padEnd(7)} ${t.owner.padEnd(20)} ${t.start} – ${t.end ?? '…'}  ${t.name}`).join('\n'), { trials });
      return 0;
    }
    case 'show': {
      const trial = await backend.getTrial(need('id'));
      print(describeTrial(trial), trial);
      return 0;
    }
    case 'add': {
      const id = need('id');
      if (!values.name || !values.owner || !devices || !values.start || goals.intervalSeconds === undefined) {
        throw new UsageError('trial add: --name, --owner, --devices, --start and --interval are required');
      }
      const trial = await backend.createTrial({
        id,
        name: values.name,
        owner: values.owner,
        deviceIds: devices,
        start: values.start,
        ...(values.end !== undefined ? { end: values.end } : {}),
        goals: { ...goals, intervalSeconds: goals.intervalSeconds },
        ...(values.reference !== undefined ? { referenceDeviceId: values.reference } : {}),
      });
      print(describeTrial(trial), trial);
      return 0;
    }
    case 'update': {
      const id = need('id');
      const patch: UpdateTrialRequest = {
        ...(values.name !== undefined ? { name: values.name } : {}),
        ...(values.owner !== undefined ? { owner: values.owner } : {}),
        ...(devices !== undefined ? { deviceIds: devices } : {}),
        ...(values.start !== undefined ? { start: values.start } : {}),
        ...(values.end !== undefined ? { end: values.end } : values['no-end'] ? { end: null } : {}),
        ...(Object.keys(goals).length > 0 ? { goals } : {}),
        ...(values.reference !== undefined ? { referenceDeviceId: values.reference } : values['no-reference'] ? { referenceDeviceId: null } : {}),
      };
      if (Object.keys(patch).length === 0) throw new UsageError('trial update: nothing to change');
      const trial = await backend.updateTrial(id, patch);
      print(describeTrial(trial), trial);
      return 0;
    }
    case 'close': {
      const trial = await backend.closeTrial(need('id'), values.end);
      print(describeTrial(trial), trial);
      return 0;
    }
    case 'report': {
      const id = need('id');
      const format = values.format ?? 'json';
      if (format !== 'json' && format !== 'html') throw new UsageError('trial report: --format must be json or html');
      const report = await backend.trialReport(id, { from: values.from, to: values.to, format });
      if (typeof report === 'string') print(report, report);
      else print(describeReport(report), report);
      return 0;
    }
    default:
      throw new UsageError(`trial: unknown command "${sub}"; use add, list, show, update, close or report`);
  }
}
