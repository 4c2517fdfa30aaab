/**
 * `npm run simulate` options: command-line flags, each with an environment variable where
 * one is natural (the same names the lab and ingest use), validated with zod. A bad value
 * stops the simulator with a message naming the option.
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { AppError } from '../common/errors.ts';
import { LogLevelSchema, MqttClientConfigShape, type Env } from '../common/config.ts';
import { KIND_ID_PATTERN, isBuiltInKind } from '../contracts/readings.ts';
import { BEHAVIOUR_FAULTS, FAULT_KINDS, PAYLOAD_FAULTS, type FaultKind, type FaultOptions } from './faults.ts';
import { MAX_FLEET_DEVICES } from './plan.ts';
import type { FleetOptions } from './fleet.ts';

/** `PAYLOAD_NOT_JSON` → `payload-not-json`, `clockSkew` → `clock-skew`. */
export function faultFlag(kind: FaultKind): string {
  return `fault-${kind.replace(/_/g, '-').replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase()}`;
}

const count = z.coerce.number().int().min(0).max(MAX_FLEET_DEVICES);
const rate = z.coerce.number().min(0).max(1);

const timeSchema = z
  .string()
  .transform((value, ctx) => {
    const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
    if (!Number.isFinite(ms)) {
      ctx.addIssue({ code: 'custom', message: 'expected ISO 8601 (e.g. 2026-03-02T07:00:00+01:00) or epoch milliseconds' });
      return z.NEVER;
    }
    return ms;
  });

/**
 * Devices of kinds added at run time: entries `soil=3` (flag) or `soil:3` (SIM_KINDS=soil:3,foo:2),
 * into `{ soil: 3, foo: 2 }`. Which kinds exist is only known once their definitions are read
 * (simulators/kinds.ts); here only the form is checked.
 */
const kindCountsSchema = z
  .array(z.string())
  .transform((entries, ctx) => {
    const counts: Record<string, number> = {};
    for (const entry of entries) {
      const match = /^\s*([^=:\s]+)\s*[=:]\s*(\d+)\s*$/.exec(entry);
      if (!match) {
        ctx.addIssue({ code: 'custom', message: `expected KIND=N, e.g. soil=3 (got "${entry}")` });
        continue;
      }
      const [, kind, n] = match as unknown as [string, string, string];
      const devices = Number(n);
      if (!KIND_ID_PATTERN.test(kind)) ctx.addIssue({ code: 'custom', message: `"${kind}" is not a kind id (a lowercase letter followed by 1–31 of a–z 0–9 _)` });
      else if (isBuiltInKind(kind)) ctx.addIssue({ code: 'custom', message: `${kind} is built in: use --${kind} ${devices}` });
      else if (Object.hasOwn(counts, kind)) ctx.addIssue({ code: 'custom', message: `${kind} is given twice` });
      else if (devices > MAX_FLEET_DEVICES) ctx.addIssue({ code: 'custom', message: `${kind}: at most ${MAX_FLEET_DEVICES} devices (got ${devices})` });
      else counts[kind] = devices;
    }
    return counts;
  });

/** The devices of kinds added at run time a configuration asks for. */
function customDevices(c: { kinds: Record<string, number> }): number {
  return Object.values(c.kinds).reduce((sum, n) => sum + n, 0);
}

export const SimulatorConfigSchema = z
  .object({
    mqttUrl: MqttClientConfigShape.MQTT_URL,
    username: z.string().min(1).optional(),
    password: z.string().optional(),
    secretsFile: z.string().min(1).optional(),
    apiUrl: z.url().optional(),
    adminToken: z.string().min(1).optional(),
    owner: z.string().min(1).max(100).default('StreetLab simulator'),
    air: count.default(4),
    traffic: count.default(3),
    waste: count.default(5),
    ttn: count.default(0),
    chirpstack: count.default(0),
    kinds: kindCountsSchema.default({}),
    kindFiles: z.array(z.string().min(1, 'a file path')).default([]),
    intervalMs: z.coerce.number().int().min(10).max(86_400_000).default(2_000),
    qos: z.enum(['0', '1']).default('1').transform((v) => (v === '1' ? 1 : 0) as 0 | 1),
    seed: z.coerce.number().int().min(0).max(4_294_967_295).default(1),
    durationS: z.coerce.number().min(0).default(0),
    multiplex: z.coerce.number().int().min(1).max(MAX_FLEET_DEVICES).default(1),
    connectConcurrency: z.coerce.number().int().min(1).max(10_000).default(100),
    timeScale: z.coerce.number().positive().max(1_000_000).default(1),
    startTime: timeSchema.optional(),
    timestamps: z.enum(['sim', 'wall', 'none']).optional(),
    faultRate: rate.default(0),
    dropoutMeanMs: z.coerce.number().int().min(1).default(60_000),
    maxPayloadBytes: z.coerce.number().int().min(1).default(16 * 1024),
    tsMaxFutureS: z.coerce.number().min(0).default(300),
    tsMaxAgeS: z.coerce.number().min(0).default(604_800),
    statusIntervalS: z.coerce.number().positive().default(5),
    logLevel: LogLevelSchema,
    faults: z.partialRecord(z.enum(FAULT_KINDS), rate).default({}),
  })
  // ADMIN_TOKEN alone is ignored: operators export it in every terminal for the other tools.
  .refine((c) => c.apiUrl === undefined || c.adminToken !== undefined, { message: 'needs --admin-token (or ADMIN_TOKEN) to register devices', path: ['apiUrl'] })
  .refine((c) => c.air + c.traffic + c.waste + c.ttn + c.chirpstack + customDevices(c) > 0, { message: 'at least one device is needed', path: ['air'] })
  // Network-server devices post webhooks to the lab's API and are registered there with their DevEUIs.
  .refine((c) => c.ttn + c.chirpstack === 0 || c.apiUrl !== undefined, { message: 'needs --api-url and --admin-token: these devices post webhooks to the API', path: ['ttn'] })
  // A kind added at run time needs its definition: from the lab's API or from a file.
  .refine((c) => customDevices(c) === 0 || c.apiUrl !== undefined || c.kindFiles.length > 0, { message: 'needs --api-url (definitions from GET /api/v1/kinds) or --kind-file', path: ['kinds'] })
  .refine((c) => c.air + c.traffic + c.waste + customDevices(c) <= MAX_FLEET_DEVICES, { message: `at most ${MAX_FLEET_DEVICES} devices in all`, path: ['air'] });
export type SimulatorConfig = z.infer<typeof SimulatorConfigSchema>;

interface OptionSpec {
  key: keyof z.input<typeof SimulatorConfigSchema> & string;
  flag: string;
  env?: string;
  help: string;
  value?: string;
  /** The flag may be given more than once; its environment variable takes a comma-separated list. */
  multiple?: true;
}

/** Every option, with its environment variable and help text. */
export const SIMULATOR_OPTIONS: readonly OptionSpec[] = [
  { key: 'mqttUrl', flag: 'mqtt-url', env: 'MQTT_URL', value: 'URL', help: 'broker to connect to (default mqtt://127.0.0.1:1883)' },
  { key: 'username', flag: 'username', env: 'MQTT_USERNAME', value: 'NAME', help: 'one MQTT account for every device (an open or shared-account broker)' },
  { key: 'password', flag: 'password', env: 'MQTT_PASSWORD', value: 'SECRET', help: 'password of --username' },
  { key: 'secretsFile', flag: 'secrets-file', env: 'SIM_SECRETS_FILE', value: 'FILE', help: 'JSON {"deviceId": "secret", …}: per-device credentials (username = device id)' },
  { key: 'apiUrl', flag: 'api-url', env: 'SIM_API_URL', value: 'URL', help: 'register the devices through this device API (needs --admin-token); each logs in with its own secret' },
  { key: 'adminToken', flag: 'admin-token', env: 'ADMIN_TOKEN', value: 'TOKEN', help: 'admin token of the device API, for --api-url' },
  { key: 'owner', flag: 'owner', env: 'SIM_OWNER', value: 'NAME', help: 'owner of devices registered with --api-url (default "StreetLab simulator")' },
  { key: 'air', flag: 'air', env: 'SIM_AIR', value: 'N', help: 'air-quality nodes (default 4)' },
  { key: 'traffic', flag: 'traffic', env: 'SIM_TRAFFIC', value: 'N', help: 'traffic counters (default 3)' },
  { key: 'waste', flag: 'waste', env: 'SIM_WASTE', value: 'N', help: 'waste bins (default 5)' },
  { key: 'kinds', flag: 'kind', env: 'SIM_KINDS', value: 'KIND=N', multiple: true, help: 'devices of a kind added at run time, e.g. soil=3; repeatable (env: soil:3,foo:2); needs --api-url or --kind-file' },
  { key: 'kindFiles', flag: 'kind-file', value: 'FILE', multiple: true, help: 'a kind definition (JSON, the format of POST /api/v1/kinds) for --kind; repeatable' },
  { key: 'ttn', flag: 'ttn', env: 'SIM_TTN', value: 'N', help: 'air nodes on The Things Stack: TTS v3 webhook uplinks to --api-url (default 0)' },
  { key: 'chirpstack', flag: 'chirpstack', env: 'SIM_CHIRPSTACK', value: 'N', help: 'bins on ChirpStack: v4 HTTP integration up events to --api-url (default 0)' },
  { key: 'intervalMs', flag: 'interval-ms', env: 'SIM_INTERVAL_MS', value: 'MS', help: 'reporting interval per device (default 2000)' },
  { key: 'qos', flag: 'qos', env: 'SIM_QOS', value: '0|1', help: 'MQTT QoS of readings (default 1)' },
  { key: 'seed', flag: 'seed', env: 'SIM_SEED', value: 'N', help: 'random seed: same seed, same street (default 1)' },
  { key: 'durationS', flag: 'duration-s', env: 'SIM_DURATION_S', value: 'S', help: 'stop after this many seconds (default 0: until Ctrl-C)' },
  { key: 'multiplex', flag: 'multiplex', env: 'SIM_MULTIPLEX', value: 'N', help: 'devices per MQTT connection (default 1: one each; >1 needs an open broker)' },
  { key: 'connectConcurrency', flag: 'connect-concurrency', env: 'SIM_CONNECT_CONCURRENCY', value: 'N', help: 'connections opened at once while starting (default 100)' },
  { key: 'timeScale', flag: 'time-scale', env: 'SIM_TIME_SCALE', value: 'X', help: 'simulated time per wall time (default 1; 60 = an hour a minute)' },
  { key: 'startTime', flag: 'start-time', env: 'SIM_START_TIME', value: 'TIME', help: 'simulated start, ISO 8601 or epoch ms (default now)' },
  { key: 'timestamps', flag: 'timestamps', env: 'SIM_TIMESTAMPS', value: 'sim|wall|none', help: 'clock of payload ts (default sim at real time, wall otherwise)' },
  { key: 'faultRate', flag: 'fault-rate', env: 'SIM_FAULT_RATE', value: 'P', help: 'probability per message of every fault kind (default 0)' },
  { key: 'dropoutMeanMs', flag: 'dropout-mean-ms', value: 'MS', help: 'mean dropout length in simulated ms (default 60000)' },
  { key: 'maxPayloadBytes', flag: 'max-payload-bytes', env: 'MAX_PAYLOAD_BYTES', value: 'B', help: "ingest's payload limit, which oversized faults exceed (default 16384)" },
  { key: 'tsMaxFutureS', flag: 'ts-max-future-s', env: 'TS_MAX_FUTURE_S', value: 'S', help: "ingest's future allowance, which TS_IN_FUTURE faults exceed (default 300)" },
  { key: 'tsMaxAgeS', flag: 'ts-max-age-s', env: 'TS_MAX_AGE_S', value: 'S', help: "ingest's age limit, which TS_TOO_OLD faults exceed (default 604800)" },
  { key: 'statusIntervalS', flag: 'status-interval-s', value: 'S', help: 'status line period when stderr is not a terminal (default 5)' },
  { key: 'logLevel', flag: 'log-level', env: 'LOG_LEVEL', value: 'LEVEL', help: 'fatal|error|warn|info|debug|trace|silent (default info)' },
];

export const HELP_TEXT = [
  'Usage: npm run simulate -- [options]',
  '',
  'Simulated StreetLab devices (air-quality nodes, traffic counters, waste bins) publishing',
  'readings to lab/v1/{kind}/{deviceId} over MQTT, with optional fault injection.',
  'Flags win over environment variables.',
  '',
  'Options:',
  ...SIMULATOR_OPTIONS.map((o) => {
    const left = `  --${o.flag}${o.value ? ` ${o.value}` : ''}`;
    return `${left.padEnd(34)} ${o.help}${o.env ? ` [${o.env}]` : ''}`;
  }),
  '',
  'Fault rates (probability per message, 0–1; override --fault-rate for one kind):',
  `  payload faults, each rejected by ingest with that reason code:`,
  ...PAYLOAD_FAULTS.map((kind) => `    --${faultFlag(kind)} P`),
  `  behaviour faults (episodes start with this probability; messages stay valid):`,
  ...BEHAVIOUR_FAULTS.map((kind) => `    --${faultFlag(kind)} P`),
  '',
  '  -h, --help                       this text',
  '',
  'Examples:',
  '  npm run simulate -- --air 4 --traffic 3 --waste 5',
  '  npm run simulate -- --air 20000 --traffic 0 --waste 0 --interval-ms 10000 --multiplex 50',
  '  npm run simulate -- --time-scale 120 --start-time 2026-03-02T06:00:00+01:00 --duration-s 60',
  '  npm run simulate -- --fault-rate 0.01 --fault-dropout 0.002',
  '  npm run simulate -- --kind soil=3 --api-url http://127.0.0.1:8080   # kinds from GET /api/v1/kinds',
  '  npm run simulate -- --air 0 --traffic 0 --waste 0 --ttn 3 --chirpstack 2 --api-url http://127.0.0.1:8080',
  '',
].join('\n');

export type CliResult = { help: true } | { help: false; config: SimulatorConfig };

/** Parses argv (without node and script) and the environment; throws CONFIG_INVALID naming the option. */
export function parseSimulatorCli(argv: readonly string[], env: Env): CliResult {
  const optionDefs: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = { help: { type: 'boolean', short: 'h' } };
  for (const o of SIMULATOR_OPTIONS) optionDefs[o.flag] = o.multiple ? { type: 'string', multiple: true } : { type: 'string' };
  for (const kind of FAULT_KINDS) optionDefs[faultFlag(kind)] = { type: 'string' };

  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options: optionDefs, strict: true, allowPositionals: false }));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new AppError('CONFIG_INVALID', `invalid options: ${message}\nRun with --help to see every option.`);
  }
  if (values.help === true) return { help: true };

  const raw: Record<string, unknown> = {};
  const origin: Record<string, string> = {};
  for (const o of SIMULATOR_OPTIONS) {
    const flagValue = values[o.flag];
    const envValue = o.env ? env[o.env] : undefined;
    if (typeof flagValue === 'string' || (Array.isArray(flagValue) && flagValue.length > 0)) {
      raw[o.key] = flagValue;
      origin[o.key] = `--${o.flag}`;
    } else if (envValue !== undefined && envValue !== '') {
      raw[o.key] = o.multiple ? envValue.split(',').filter((part) => part.trim() !== '') : envValue;
      origin[o.key] = `${o.env} (environment)`;
    }
  }
  const faults: Record<string, string> = {};
  for (const kind of FAULT_KINDS) {
    const value = values[faultFlag(kind)];
    if (typeof value === 'string') {
      faults[kind] = value;
      origin[`faults.${kind}`] = `--${faultFlag(kind)}`;
    }
  }
  raw.faults = faults;

  const result = SimulatorConfigSchema.safeParse(raw);
  if (result.success) return { help: false, config: result.data };
  const lines = result.error.issues.map((issue) => {
    const key = issue.path.map(String).join('.');
    const where = origin[key] ?? optionName(key);
    const given = issue.path.reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[String(k)] : undefined), raw);
    return `  ${where}: ${issue.message}${typeof given === 'string' ? ` (got "${given}")` : ''}`;
  });
  throw new AppError('CONFIG_INVALID', `invalid options:\n${lines.join('\n')}\nRun with --help to see every option.`);
}

function optionName(key: string): string {
  if (key.startsWith('faults.')) return `--${faultFlag(key.slice('faults.'.length) as FaultKind)}`;
  const spec = SIMULATOR_OPTIONS.find((o) => o.key === key);
  return spec ? `--${spec.flag}` : key || '(options)';
}

/** The fault settings a configuration asks for. */
export function faultOptionsOf(config: SimulatorConfig): FaultOptions {
  return {
    defaultRate: config.faultRate,
    rates: config.faults,
    dropoutMeanMs: config.dropoutMeanMs,
    maxPayloadBytes: config.maxPayloadBytes,
    maxFutureMs: config.tsMaxFutureS * 1_000,
    maxAgeMs: config.tsMaxAgeS * 1_000,
  };
}

/** Fleet options from a configuration (credentials and logger are the caller's). */
export function fleetOptionsOf(config: SimulatorConfig): FleetOptions {
  return {
    mqttUrl: config.mqttUrl,
    devices: { ...config.kinds, air: config.air, traffic: config.traffic, waste: config.waste },
    intervalMs: config.intervalMs,
    qos: config.qos,
    seed: config.seed,
    multiplex: config.multiplex,
    connectConcurrency: config.connectConcurrency,
    timeScale: config.timeScale,
    ...(config.startTime === undefined ? {} : { startTimeMs: config.startTime }),
    ...(config.timestamps === undefined ? {} : { timestamps: config.timestamps }),
    faults: faultOptionsOf(config),
  };
}

/** The per-device secrets file: `{ "air-001": "secret", … }`. */
export const SecretsFileSchema = z.record(z.string(), z.string().min(1));
