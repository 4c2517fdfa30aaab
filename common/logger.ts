import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Paths whose values never reach a log line. */
export const REDACTED_PATHS = [
  'password',
  'secret',
  'token',
  '*.password',
  '*.secret',
  '*.token',
  'req.headers.authorization',
  'headers.authorization',
  'config.INFLUX_TOKEN',
  'config.INFLUX_PASSWORD',
  'config.ADMIN_TOKEN',
  // Device secrets, API keys, service credentials and their hashes (README, "Security").
  'config.SERVICE_TOKEN',
  'config.MQTT_PASSWORD',
  'authorization',
  '*.authorization',
  'req.headers.cookie',
  'headers.cookie',
  'adminToken',
  '*.adminToken',
  'serviceToken',
  '*.serviceToken',
  'mqttPassword',
  '*.mqttPassword',
  'secretHash',
  '*.secretHash',
  'tokenHash',
  '*.tokenHash',
  'auth.token',
  '*.auth.token',
];

export function createLogger(options: { level?: string; name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const pinoOptions: LoggerOptions = {
    level: options.level ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(options.name === undefined ? {} : { name: options.name }),
  };
  return options.destination === undefined
    ? pino(pinoOptions)
    : pino(pinoOptions, options.destination as unknown as pino.DestinationStream);
}

/** A logger that drops everything: the default for factories built by tests. */
export function createSilentLogger(): Logger {
  return pino({ level: 'silent' });
}
