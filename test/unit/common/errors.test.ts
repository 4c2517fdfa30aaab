/**
 * The retry decision every AppError carries: which answers are worth sending again (one
 * table per kind of request), Retry-After parsing, and full-jitter backoff bounds.
 */
import { HttpError, RequestTimedOutError } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import { AppError, backoffDelayMs, parseRetryAfter, RETRY_TABLES } from '../../../common/errors.ts';
import { toStoreError } from '../../../common/influx.ts';
import { createRandom } from '../../../simulators/random.ts';

function httpError(status: number, headers: Record<string, string> = {}): HttpError {
  return new HttpError(status, 'status', `body ${status}`, headers['retry-after'], 'text/plain', undefined, headers);
}

const NOW = Date.parse('2026-12-03T12:00:00Z');

describe('the decision table (status → canRetry)', () => {
  // status, InfluxDB write, any other HTTP request (InfluxDB queries, the alert webhook)
  const table: [number, boolean, boolean][] = [
    [400, false, false],
    [401, true, false],
    [403, true, false],
    [404, true, false],
    [405, true, false],
    [408, true, true],
    [413, false, false],
    [422, false, false],
    [425, true, true],
    [429, true, true],
    [500, true, true],
    [501, true, true],
    [502, true, true],
    [503, true, true],
    [504, true, true],
    [599, true, true],
  ];

  it.each(table)('HTTP %i: InfluxDB write %s, other requests %s', (status, write, other) => {
    expect(RETRY_TABLES['influx-write'](status)).toBe(write);
    expect(RETRY_TABLES.transient(status)).toBe(other);
    expect(toStoreError(httpError(status), 'write').canRetry()).toBe(write);
    expect(toStoreError(httpError(status), 'query').canRetry()).toBe(other);
    expect(new AppError('WEBHOOK_FAILED', 'x', { status }).canRetry()).toBe(other);
  });

  it('keeps the codes the API answers with: transient answers are STORE_UNAVAILABLE, the rest STORE_REJECTED', () => {
    expect(toStoreError(httpError(503), 'write')).toMatchObject({ code: 'STORE_UNAVAILABLE', status: 503, details: { status: 503, body: 'body 503' } });
    expect(toStoreError(httpError(401), 'write')).toMatchObject({ code: 'STORE_REJECTED', status: 401 });
    expect(toStoreError(httpError(400), 'write')).toMatchObject({ code: 'STORE_REJECTED', status: 400 });
  });

  it('retries network errors and timeouts, found anywhere in the cause chain', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET']) {
      const network = Object.assign(new Error(`connect ${code}`), { code });
      expect(toStoreError(network, 'write').canRetry(), code).toBe(true);
      // fetch: TypeError('fetch failed') whose cause carries the code.
      expect(new AppError('WEBHOOK_FAILED', 'x', { cause: new TypeError('fetch failed', { cause: network }) }).canRetry(), code).toBe(true);
    }
    expect(toStoreError(new RequestTimedOutError(), 'write').canRetry()).toBe(true);
    expect(new AppError('WEBHOOK_FAILED', 'x', { cause: new DOMException('timed out', 'TimeoutError') }).canRetry()).toBe(true);
  });

  it('does not retry what no answer or network failure explains, unless the store is unavailable', () => {
    expect(new AppError('WEBHOOK_FAILED', 'x', { cause: new TypeError('fetch failed', { cause: new Error('unexpected redirect') }) }).canRetry()).toBe(false);
    expect(new AppError('CONFIG_INVALID', 'x').canRetry()).toBe(false);
    expect(new AppError('READING_INVALID', 'x', { cause: Object.assign(new Error('x'), { code: 'EACCES' }) }).canRetry()).toBe(false);
    // A lock held by another process, a file that could not be written: later may help.
    expect(new AppError('STORE_UNAVAILABLE', 'locked').canRetry()).toBe(true);
    // Anything unknown the InfluxDB client throws is treated as the store being unavailable.
    expect(toStoreError(new Error('socket hang up'), 'write').canRetry()).toBe(true);
  });

  it('survives a cause cycle', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b', { cause: a });
    a.cause = b;
    expect(new AppError('INTERNAL', 'x', { cause: a }).canRetry()).toBe(false);
  });
});

describe('Retry-After', () => {
  it('parses delta-seconds', () => {
    expect(parseRetryAfter('2', NOW)).toBe(2_000);
    expect(parseRetryAfter(' 120 ', NOW)).toBe(120_000);
    expect(parseRetryAfter('0', NOW)).toBe(0);
    expect(parseRetryAfter(3, NOW)).toBe(3_000);
  });

  it('parses an HTTP-date in all three forms, relative to now; a past date is 0', () => {
    expect(parseRetryAfter('Thu, 03 Dec 2026 12:00:30 GMT', NOW)).toBe(30_000);
    expect(parseRetryAfter('Thursday, 03-Dec-26 12:01:00 GMT', NOW)).toBe(60_000);
    expect(parseRetryAfter('Thu Dec  3 12:00:05 2026', NOW)).toBe(5_000);
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', NOW)).toBe(0);
  });

  it('ignores garbage', () => {
    for (const garbage of ['', 'soon', '-5', '1.5', '2s', '0x10', 'Infinity', 'NaN', '1e3', 'Thu, 03 Dec 2026', '2026-12-03T12:00:30Z', 'foo 1', '99999999999999999999']) {
      expect(parseRetryAfter(garbage, NOW), garbage).toBeUndefined();
    }
    expect(parseRetryAfter(null, NOW)).toBeUndefined();
    expect(parseRetryAfter(undefined, NOW)).toBeUndefined();
    expect(parseRetryAfter(-1, NOW)).toBeUndefined();
  });

  it('is carried by the error from the response header, and wins over the backoff, capped', () => {
    const error = toStoreError(httpError(503, { 'retry-after': '2' }), 'write');
    expect(error.retryAfterHeaderMs()).toBe(2_000);
    expect(error.retryAfterMs(1, { random: () => 0.999 })).toBe(2_000);
    expect(error.retryAfterMs(7)).toBe(2_000);
    const dated = new AppError('STORE_UNAVAILABLE', 'x', { status: 503, retryAfter: 'Thu, 03 Dec 2026 12:00:10 GMT', nowMs: NOW });
    expect(dated.retryAfterMs(1)).toBe(10_000);
    const huge = toStoreError(httpError(429, { 'retry-after': '3600' }), 'write');
    expect(huge.retryAfterMs(1)).toBe(60_000);
    expect(huge.retryAfterMs(1, { retryAfterMaxMs: 5_000 })).toBe(5_000);
  });

  it('falls back to the backoff when absent, zero or garbage', () => {
    for (const header of [undefined, '0', 'later']) {
      const error = toStoreError(httpError(503, header === undefined ? {} : { 'retry-after': header }), 'write');
      expect(error.retryAfterMs(3, { initialMs: 100, maxMs: 1_000, random: () => 0.5 }), String(header)).toBe(200);
    }
  });
});

describe('backoff with full jitter', () => {
  it('stays within [0, min(max, initial · 2^(attempt-1))) over many seeded draws, and uses the range', () => {
    const rng = createRandom('backoff-jitter');
    const backoff = { initialMs: 200, maxMs: 5_000, random: () => rng.next() };
    for (let attempt = 1; attempt <= 12; attempt++) {
      const ceiling = Math.min(5_000, 200 * 2 ** (attempt - 1));
      const draws = Array.from({ length: 2_000 }, () => backoffDelayMs(attempt, backoff));
      expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...draws)).toBeLessThan(ceiling);
      // Spread over the whole range, not bunched: both ends are reached, the mean is near half.
      expect(Math.min(...draws)).toBeLessThan(ceiling * 0.05);
      expect(Math.max(...draws)).toBeGreaterThan(ceiling * 0.95);
      const mean = draws.reduce((sum, d) => sum + d, 0) / draws.length;
      expect(mean / ceiling).toBeGreaterThan(0.45);
      expect(mean / ceiling).toBeLessThan(0.55);
    }
  });

  it('is deterministic for a seed, and bounded for odd inputs', () => {
    const seq = (seed: string) => {
      const rng = createRandom(seed);
      return Array.from({ length: 10 }, (_, i) => backoffDelayMs(i + 1, { random: () => rng.next() }));
    };
    expect(seq('same')).toEqual(seq('same'));
    expect(backoffDelayMs(10_000, { initialMs: 200, maxMs: 5_000, random: () => 0.999_999 })).toBeLessThan(5_000);
    expect(backoffDelayMs(0, { initialMs: 200, random: () => 0.999_999 })).toBeLessThan(200);
    expect(backoffDelayMs(Number.NaN, { initialMs: 200, random: () => 0.5 })).toBe(100);
    expect(backoffDelayMs(3, { random: () => 1 })).toBeLessThan(800);
    expect(backoffDelayMs(3, { random: () => -1 })).toBe(0);
  });

  it('is what an error without Retry-After answers', () => {
    const error = new AppError('STORE_UNAVAILABLE', 'down');
    expect(error.retryAfterMs(2, { initialMs: 100, maxMs: 1_000, random: () => 0.25 })).toBe(50);
    expect(error.retryAfterMs(9, { initialMs: 100, maxMs: 1_000, random: () => 0.25 })).toBe(250);
  });
});
