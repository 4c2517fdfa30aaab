/**
 * Configuration comes from the environment, is validated with zod once at start, and a bad
 * value stops the process with a message that names the variable.
 */
import cron from 'node-cron';
import { z } from 'zod';
import { AppError } from './errors.ts';

export type Env = Record<string, string | undefined>;

/** Parses `env` with `schema`; throws CONFIG_INVALID naming every bad variable. */
export function parseConfig<S extends z.ZodType>(schema: S, env: Env): z.infer<S> {
  // Empty strings mean "not set": `FOO= npm run api` should fall back to the default.
  const cleaned: Env = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && value !== '') cleaned[key] = value;
  const result = schema.safeParse(cleaned);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)';
    const given = issue.path.length > 0 ? cleaned[String(issue.path[0])] : undefined;
    return `  ${name}: ${issue.message}${given === undefined ? '' : ` (got "${given}")`}`;
  });
  throw new AppError('CONFIG_INVALID', `invalid configuration:\n${lines.join('\n')}`);
}

/** A TCP port; 0 means "any free port" (what tests use). */
export const portSchema = (defaultPort: number) => z.coerce.number().int().min(0).max(65_535).default(defaultPort);

export const booleanSchema = (defaultValue: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(defaultValue ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

export const positiveIntSchema = (defaultValue: number) => z.coerce.number().int().positive().default(defaultValue);

export const LogLevelSchema = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info');

/** Settings every service reading InfluxDB shares. */
export const InfluxConfigShape = {
  INFLUX_URL: z.url().default('http://127.0.0.1:8086'),
  INFLUX_DB: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - only').default('streetlab'),
  INFLUX_TOKEN: z.string().optional(),
  INFLUX_USERNAME: z.string().optional(),
  INFLUX_PASSWORD: z.string().optional(),
  INFLUX_ORG: z.string().default('streetlab'),
  INFLUX_WRITE_API: z.enum(['auto', 'v1', 'v2']).default('auto'),
};

export const MqttClientConfigShape = {
  MQTT_URL: z.string().regex(/^(mqtts?|wss?|tcp):\/\/.+/, 'an mqtt://, mqtts://, ws:// or wss:// URL').default('mqtt://127.0.0.1:1883'),
  MQTT_USERNAME: z.string().optional(),
  MQTT_PASSWORD: z.string().optional(),
  /**
   * Shared with the broker: this service's MQTT credentials derive from it (username
   * `svc:{role}`); MQTT_USERNAME/MQTT_PASSWORD win when set. See common/registry/service-credentials.ts.
   */
  SERVICE_TOKEN: z.string().min(32, 'at least 32 characters (e.g. `openssl rand -base64 32`)').optional(),
};

/** Runs `main`; a config error prints its message and exits 1, anything else is logged and exits 1. */
export function exitOnConfigError(error: unknown): never {
  if (error instanceof AppError && error.code === 'CONFIG_INVALID') {
    process.stderr.write(`${error.message}\nSee .env.example for every variable and its default.\n`);
  } else {
    process.stderr.write(`fatal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
  process.exit(1);
}

/** A port that may be turned off: a number (0 = any free port) or `off`; `off` gives undefined. */
export const optionalPortSchema = (defaultPort: number | 'off') =>
  z
    .union([z.literal('off'), z.coerce.number().int().min(0).max(65_535)])
    .default(defaultPort)
    .transform((v) => (v === 'off' ? undefined : v));

/** A size in bytes, optionally with a unit: `1073741824`, `512MiB`, `1GiB`, `64KB`. */
export const byteSizeSchema = (defaultBytes: number) =>
  z
    .union([z.number(), z.string()])
    .default(defaultBytes)
    .transform((v, ctx) => {
      const match = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib)?\s*$/i.exec(String(v));
      const units: Record<string, number> = { b: 1, kb: 1e3, kib: 1024, mb: 1e6, mib: 1024 ** 2, gb: 1e9, gib: 1024 ** 3 };
      const bytes = match ? Math.floor(Number(match[1]) * units[(match[2] ?? 'b').toLowerCase()]!) : Number.NaN;
      if (!Number.isFinite(bytes) || bytes <= 0) {
        ctx.addIssue({ code: 'custom', message: 'a size in bytes such as 1073741824, 512MiB or 1GiB' });
        return z.NEVER;
      }
      return bytes;
    });

/** A node-cron expression (five fields, or six with seconds first), checked at start. */
export const cronSchema = (defaultValue: string) =>
  z
    .string()
    .refine((v) => cron.validate(v), 'a cron expression, e.g. */5 * * * * (every 5 minutes) or */30 * * * * * (every 30 s)')
    .default(defaultValue);
