/**
 * One error class with stable string codes. `retryable` travels with the error so callers
 * (the InfluxDB writer above all) decide from the error itself whether trying again can help.
 */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'READING_INVALID',
  'STORE_UNAVAILABLE',
  'STORE_REJECTED',
  'STORE_QUERY_FAILED',
  'INFLUXD_MISSING',
  'INFLUXD_START_FAILED',
  'BAD_REQUEST',
  'NOT_FOUND',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'CONFLICT',
  'INTERNAL',
  /** A client (the simulator) could not register devices through the device API. */
  'REGISTRATION_FAILED',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; retryable?: boolean; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }
}

export function isAppError(error: unknown, code?: ErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}
