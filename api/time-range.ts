/**
 * Strict parsing of time bounds given to the API: ISO 8601 with a zone, epoch
 * milliseconds, `now`, or relative to now (`-15m`, `-24h`, `-7d`, `-2w`). Anything else is a
 * 400 naming the parameter; nothing from the request reaches a query as text.
 */
import { AppError } from '../common/errors.ts';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const RELATIVE = /^-(\d{1,9})(ms|s|m|h|d|w)$/;
const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/;
const EPOCH_MS = /^\d{1,15}$/;
/** Earliest and latest times InfluxDB can hold, in ms. */
const MIN_MS = Date.UTC(1677, 8, 22);
const MAX_MS = Date.UTC(2262, 3, 11);

export function parseTimeBound(value: string, param: string, nowMs: number): number {
  const text = value.trim();
  let ms: number;
  if (text === 'now') ms = nowMs;
  else if (RELATIVE.test(text)) {
    const [, amount, unit] = RELATIVE.exec(text)!;
    ms = nowMs - Number(amount) * UNIT_MS[unit!]!;
  } else if (EPOCH_MS.test(text)) ms = Number(text);
  else if (ISO.test(text)) ms = Date.parse(text);
  else ms = Number.NaN;
  if (!Number.isFinite(ms) || ms < MIN_MS || ms > MAX_MS) {
    throw new AppError(
      'BAD_REQUEST',
      `${param}: "${value.slice(0, 40)}" is not a time; use ISO 8601 (2026-05-01T12:00:00Z), epoch milliseconds, now, or a relative time such as -15m, -24h, -7d`,
    );
  }
  return ms;
}

/** Parses a `from`/`to` pair with defaults; `from` must be before `to`. */
export function parseTimeRange(
  query: { from?: string | undefined; to?: string | undefined },
  nowMs: number,
  defaultSpanMs: number,
): { fromMs: number; toMs: number } {
  const toMs = query.to === undefined ? nowMs : parseTimeBound(query.to, 'to', nowMs);
  const fromMs = query.from === undefined ? toMs - defaultSpanMs : parseTimeBound(query.from, 'from', nowMs);
  if (fromMs >= toMs) {
    throw new AppError('BAD_REQUEST', `from (${new Date(fromMs).toISOString()}) must be before to (${new Date(toMs).toISOString()})`);
  }
  return { fromMs, toMs };
}

/** Parses a duration such as `5m`, `1h`, `1d` into milliseconds, or throws naming `param`. */
export function parseDuration(value: string, param: string): number {
  const match = /^(\d{1,9})(ms|s|m|h|d|w)$/.exec(value.trim());
  const ms = match ? Number(match[1]) * UNIT_MS[match[2]!]! : Number.NaN;
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new AppError('BAD_REQUEST', `${param}: "${value.slice(0, 40)}" is not a duration; use e.g. 30s, 5m, 1h, 1d`);
  }
  return ms;
}
