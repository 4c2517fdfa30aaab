/**
 * One error class with stable string codes, and the retry decision every error carries.
 *
 * Like the errors of influxdb-client-js (the InfluxDB client library), an error answers for itself whether
 * sending the same request again can help (`canRetry()`) and how long to wait first
 * (`retryAfterMs(attempt)`). The decision is made once, from what the error knows: the HTTP
 * status of the failed exchange, a network error code or timeout somewhere in its `cause`
 * chain, a `Retry-After` header, and its code. Every retry loop (the InfluxDB writer, the alert
 * webhook) reads it; none keeps a status table of its own.
 */
export const ERROR_CODES = [
  'CONFIG_INVALID',
  'READING_INVALID',
  'STORE_UNAVAILABLE',
  'STORE_REJECTED',
  'STORE_QUERY_FAILED',
  'INFLUXD_MISSING',
  'INFLUXD_START_FAILED',
  'REDIS_MISSING',
  'REDIS_START_FAILED',
  'BAD_REQUEST',
  'NOT_FOUND',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'CONFLICT',
  'INTERNAL',
  /** A client (the simulator) could not register devices through the device API. */
  'REGISTRATION_FAILED',
  /** An alert webhook attempt failed (the receiver's answer or the network). */
  'WEBHOOK_FAILED',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/**
 * Which HTTP answers may succeed later unchanged, by the kind of request that got them.
 *
 * - `transient` (any HTTP peer; InfluxDB queries, the alert webhook): 408, 425, 429 and 5xx.
 * - `influx-write` (InfluxDB writes, with the durable log behind them): everything but 400, 413
 *   and 422. Those the writer answers by bisecting/splitting the batch, never by sending the
 *   same body again (422 is InfluxDB 2.x/3.x refusing points, e.g. outside retention: retried
 *   as it was, it would hold up the whole log). 401/403/404 (credentials, database missing) and any other refusal are an
 *   operator's fix, not the data's fault: the log holds the batch, so waiting is right.
 */
export const RETRY_TABLES = {
  transient: (status: number): boolean => status === 408 || status === 425 || status === 429 || status >= 500,
  'influx-write': (status: number): boolean => status !== 400 && status !== 413 && status !== 422,
} as const satisfies Record<string, (status: number) => boolean>;
export type RetryTable = keyof typeof RETRY_TABLES;

/** Network error codes (Node sockets and DNS, undici) after which trying again may help. */
export const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/**
 * Error names that mean "no answer in time" or "the answer was cut off": fetch's
 * `AbortSignal.timeout` (TimeoutError), influxdb-client's RequestTimedOutError and AbortError
 * (a response aborted mid-stream). A loop that aborts on purpose checks its own signal first.
 */
const RETRYABLE_ERROR_NAMES: ReadonlySet<string> = new Set(['TimeoutError', 'RequestTimedOutError', 'AbortError']);

/** The longest a `Retry-After` is honoured by default: beyond it the server is guessing. */
export const RETRY_AFTER_MAX_MS = 60_000;

export interface Backoff {
  /** Ceiling of the first retry's delay; doubles per attempt. Default 200 ms. */
  initialMs: number;
  /** Largest backoff ceiling. Default 5 s. */
  maxMs: number;
  /** Cap on a server's `Retry-After`. Default 60 s. */
  retryAfterMaxMs: number;
  /** Uniform in [0, 1); inject a seeded one for tests. Default Math.random. */
  random: () => number;
}

export const DEFAULT_BACKOFF: Readonly<Backoff> = { initialMs: 200, maxMs: 5_000, retryAfterMaxMs: RETRY_AFTER_MAX_MS, random: Math.random };

function resolveBackoff(backoff: Partial<Backoff>): Backoff {
  return {
    initialMs: backoff.initialMs ?? DEFAULT_BACKOFF.initialMs,
    maxMs: backoff.maxMs ?? DEFAULT_BACKOFF.maxMs,
    retryAfterMaxMs: backoff.retryAfterMaxMs ?? DEFAULT_BACKOFF.retryAfterMaxMs,
    random: backoff.random ?? DEFAULT_BACKOFF.random,
  };
}

/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And
 * Jitter"): uniform in [0, min(maxMs, initialMs · 2^(attempt-1))). `attempt` counts retries
 * from 1. Spreads the retries of many clients without any of them waiting longer than the cap.
 */
export function backoffDelayMs(attempt: number, backoff: Partial<Backoff> = {}): number {
  const { initialMs, maxMs, random } = resolveBackoff(backoff);
  const n = Number.isFinite(attempt) ? Math.max(1, Math.floor(attempt)) : 1;
  const ceiling = Math.max(0, Math.min(maxMs, initialMs * 2 ** Math.min(n - 1, 1_000)));
  const draw = random();
  const unit = Number.isFinite(draw) ? Math.min(Math.max(draw, 0), 1 - Number.EPSILON) : 0.5;
  return Math.floor(unit * ceiling);
}

const HTTP_DATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*,? +\d{1,2}[ -][A-Za-z]{3}[ -]\d{2,4} +\d{2}:\d{2}:\d{2} +GMT$|^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +[A-Za-z]{3} +\d{1,2} +\d{2}:\d{2}:\d{2} +\d{4}$/;

/**
 * Parses a `Retry-After` value (RFC 9110 §10.2.3): delta-seconds (`120`) or an HTTP-date
 * (`Wed, 21 Oct 2015 07:28:00 GMT`, or the obsolete RFC 850 and asctime forms). Returns the
 * wait in ms from `nowMs` (0 for a date already past), or undefined for anything else.
 */
export function parseRetryAfter(value: string | number | null | undefined, nowMs: number = Date.now()): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) {
    const seconds = Number(text);
    return Number.isSafeInteger(seconds) ? seconds * 1000 : undefined;
  }
  if (!HTTP_DATE.test(text)) return undefined;
  const at = Date.parse(text.endsWith('GMT') ? text : `${text} GMT`);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : undefined;
}

/** Whether anything in the `cause` chain is a network failure or a timeout. */
function isRetryableCause(cause: unknown): boolean {
  const seen = new Set<unknown>();
  for (let current = cause; current !== null && typeof current === 'object' && !seen.has(current); current = (current as { cause?: unknown }).cause) {
    seen.add(current);
    const { code, name } = current as { code?: unknown; name?: unknown };
    if (typeof code === 'string' && RETRYABLE_NETWORK_CODES.has(code)) return true;
    if (typeof name === 'string' && RETRYABLE_ERROR_NAMES.has(name)) return true;
  }
  return false;
}

export interface AppErrorOptions {
  cause?: unknown;
  details?: Record<string, unknown>;
  /** The HTTP status of the failed exchange, when there was one. */
  status?: number | undefined;
  /** The `Retry-After` header as received (delta-seconds or HTTP-date). */
  retryAfter?: string | number | null | undefined;
  /** Which status table decides (default `transient`). */
  retryTable?: RetryTable | undefined;
  /** The time the header is relative to (tests); default now. */
  nowMs?: number | undefined;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;
  /** The HTTP status of the failed exchange, when there was one. */
  readonly status: number | undefined;
  readonly #canRetry: boolean;
  readonly #retryAfterMs: number | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.details = options.details;
    this.status = options.status;
    this.#retryAfterMs = parseRetryAfter(options.retryAfter, options.nowMs);
    // The decision, once: the peer's answer if there was one; else the network; else the code
    // (STORE_UNAVAILABLE means "the store could not be reached or was busy": try again later).
    if (options.status !== undefined) this.#canRetry = RETRY_TABLES[options.retryTable ?? 'transient'](options.status);
    else this.#canRetry = isRetryableCause(options.cause) || code === 'STORE_UNAVAILABLE';
  }

  /** Whether the same request may succeed if sent again later, unchanged. */
  canRetry(): boolean {
    return this.#canRetry;
  }

  /** The server's `Retry-After` in ms, when it sent one that parses. */
  retryAfterHeaderMs(): number | undefined {
    return this.#retryAfterMs;
  }

  /**
   * How long to wait before retry number `attempt` (from 1): the server's `Retry-After` when it
   * sent a positive one (capped at `retryAfterMaxMs`), else full-jitter exponential backoff
   * capped at `maxMs`. Meaningful only when `canRetry()`.
   */
  retryAfterMs(attempt: number, backoff: Partial<Backoff> = {}): number {
    if (this.#retryAfterMs !== undefined && this.#retryAfterMs > 0) {
      return Math.min(this.#retryAfterMs, resolveBackoff(backoff).retryAfterMaxMs);
    }
    return backoffDelayMs(attempt, backoff);
  }
}

export function isAppError(error: unknown, code?: ErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}
