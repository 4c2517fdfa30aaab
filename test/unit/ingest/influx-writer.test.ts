/**
 * The batch writer's retry loop reads the decision the error carries: which failures it
 * retries, how long it waits (Retry-After, else jittered backoff), and that it agrees with
 * the InfluxDB client's classification. A fake client and an injected sleep: nothing waits.
 */
import { HttpError, RequestTimedOutError } from '@influxdata/influxdb-client';
import { describe, expect, it } from 'vitest';
import { toStoreError } from '../../../common/influx.ts';
import { createBatchWriter, type BatchWriterOptions } from '../../../ingest/influx-writer.ts';
import { createRandom } from '../../../simulators/random.ts';

type Answer = 'ok' | Error | ((lines: readonly string[]) => 'ok' | Error);

/** A client whose writes fail as InfluxDB would (through toStoreError), answer by answer. */
function fakeClient(answers: Answer[], fallback: Answer = 'ok') {
  const calls: string[][] = [];
  let ensured = 0;
  return {
    calls,
    ensured: () => ensured,
    client: {
      async write(lines: readonly string[]) {
        calls.push([...lines]);
        let answer = answers.shift() ?? fallback;
        if (typeof answer === 'function') answer = answer(lines);
        if (answer !== 'ok') throw toStoreError(answer, 'write');
      },
      async ensureDatabase() {
        ensured += 1;
      },
    },
  };
}

function http(status: number, headers: Record<string, string> = {}, body = `HTTP ${status}`): HttpError {
  return new HttpError(status, 'x', body, headers['retry-after'], 'text/plain', undefined, headers);
}

function recordingSleep() {
  const waits: number[] = [];
  return { waits, sleep: async (ms: number) => void waits.push(ms) };
}

function writer(client: BatchWriterOptions['client'], extra: Partial<BatchWriterOptions> = {}) {
  const sleeper = recordingSleep();
  const rng = createRandom('writer-test');
  const w = createBatchWriter({ client, sleep: sleeper.sleep, random: () => rng.next(), ...extra });
  return { writer: w, waits: sleeper.waits };
}

const LINES = ['air,device=a pm25=1 1', 'air,device=b pm25=2 2', 'air,device=c pm25=3 3', 'air,device=d pm25=4 4'];

describe('the writer honours Retry-After', () => {
  it('waits exactly 2 s after a 503 with Retry-After: 2, then writes the batch', async () => {
    const fake = fakeClient([http(503, { 'retry-after': '2' })]);
    const { writer: w, waits } = writer(fake.client);
    const result = await w.write(LINES);
    expect(waits).toEqual([2_000]);
    expect(result).toMatchObject({ stored: 4, deadLetters: [], writes: 2 });
    expect(fake.calls).toEqual([LINES, LINES]);
  });

  it('honours an HTTP-date, caps a long Retry-After at retryAfterMaxMs, and falls back to the backoff without one', async () => {
    const inTen = new Date(Date.now() + 10_000).toUTCString();
    const fake = fakeClient([http(429, { 'retry-after': inTen }), http(503, { 'retry-after': '3600' }), http(503)]);
    const { writer: w, waits } = writer(fake.client, { retryAfterMaxMs: 30_000, retryInitialMs: 100, retryMaxMs: 1_000 });
    await w.write(LINES);
    expect(waits).toHaveLength(3);
    expect(waits[0]).toBeGreaterThan(8_000);
    expect(waits[0]).toBeLessThanOrEqual(10_000);
    expect(waits[1]).toBe(30_000);
    // Third retry, no header: full jitter under min(1 s, 100 ms · 2²).
    expect(waits[2]).toBeGreaterThanOrEqual(0);
    expect(waits[2]).toBeLessThan(400);
  });
});

describe('the writer backs off with jitter', () => {
  it('draws each wait from [0, min(retryMaxMs, retryInitialMs · 2^(n-1))) until InfluxDB answers', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8086'), { code: 'ECONNREFUSED' });
    const fake = fakeClient(Array.from({ length: 40 }, () => refused));
    const outages: string[] = [];
    const { writer: w, waits } = writer(fake.client, { retryInitialMs: 200, retryMaxMs: 5_000, onOutage: (state) => outages.push(state) });
    const result = await w.write(LINES);
    expect(result.stored).toBe(4);
    expect(waits).toHaveLength(40);
    waits.forEach((ms, i) => {
      expect(ms).toBeGreaterThanOrEqual(0);
      expect(ms).toBeLessThan(Math.min(5_000, 200 * 2 ** i));
    });
    // Jitter: the capped waits are not all the same.
    expect(new Set(waits.slice(10)).size).toBeGreaterThan(20);
    expect(outages).toEqual(['start', 'end']);
    expect(w.inOutage()).toBe(false);
  });

  it('is deterministic for a seeded random', async () => {
    const run = async () => {
      const fake = fakeClient([http(500), http(502), http(504), http(408)]);
      const { writer: w, waits } = writer(fake.client);
      await w.write(LINES);
      return waits;
    };
    expect(await run()).toEqual(await run());
  });
});

describe('the writer and the InfluxDB client agree on what is retried', () => {
  // Every status the writer may see: retried in place, or answered by bisecting/splitting.
  const statuses = [400, 401, 403, 404, 405, 408, 409, 413, 422, 425, 429, 500, 501, 502, 503, 504, 507];

  it.each(statuses)('HTTP %i', async (status) => {
    const error = toStoreError(http(status), 'write');
    // Once only: a bisected batch then writes its halves fine.
    const fake = fakeClient([http(status)]);
    const { writer: w, waits } = writer(fake.client);
    const result = await w.write(LINES);
    const retriedInPlace = fake.calls.length === 2 && fake.calls[1]!.length === LINES.length;
    expect(retriedInPlace).toBe(error.canRetry());
    expect(waits.length).toBe(error.canRetry() ? 1 : 0);
    expect(result.stored).toBe(4);
    if (!error.canRetry()) {
      // 400 / 413 / 422: bisected, never the same body again.
      expect([400, 413, 422]).toContain(status);
      expect(fake.calls.slice(1).map((c) => c.length)).toEqual([2, 2]);
    }
  });

  it('network errors and timeouts are retried; 404 asks for the database first', async () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const fake = fakeClient([reset, http(404), new RequestTimedOutError()]);
    const { writer: w, waits } = writer(fake.client);
    const result = await w.write(LINES);
    expect(result.stored).toBe(4);
    expect(waits).toHaveLength(3);
    expect(fake.ensured()).toBe(1);
  });
});

describe('what the writer does not retry in place', () => {
  it('400: bisects to the bad line and dead-letters it, storing the rest', async () => {
    const fake = fakeClient([], (lines) =>
      lines.some((l) => l.includes('device=c')) ? http(400, {}, 'partial write: field type conflict: input field "pm25" on measurement "air" is type float, already exists as type integer') : 'ok',
    );
    const { writer: w, waits } = writer(fake.client);
    const result = await w.write(LINES);
    expect(waits).toEqual([]);
    expect(result.stored).toBe(3);
    expect(result.deadLetters).toMatchObject([{ line: 'air,device=c pm25=3 3', reason: 'FIELD_TYPE_CONFLICT', status: 400 }]);
  });

  it('413: splits until the parts fit; a single line too large is a dead letter', async () => {
    const fake = fakeClient([], (lines) => (lines.length > 1 || lines[0]!.includes('device=d') ? http(413) : 'ok'));
    const { writer: w, waits } = writer(fake.client);
    const result = await w.write(LINES);
    expect(waits).toEqual([]);
    expect(result.stored).toBe(3);
    expect(result.deadLetters.map((d) => d.reason)).toEqual(['LINE_TOO_LARGE']);
  });
});

describe('stopping', () => {
  it('gives up with a retryable STORE_UNAVAILABLE when stop() says so', async () => {
    const fake = fakeClient([], http(503));
    let stopping = false;
    const { writer: w, waits } = writer(fake.client, {
      sleep: async (ms) => {
        waits.push(ms);
        if (waits.length === 3) stopping = true;
      },
    });
    const error = await w.write(LINES, () => stopping).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect((error as { canRetry(): boolean }).canRetry()).toBe(true);
    expect(fake.calls).toHaveLength(3);
  });

  it('interrupt() wakes a writer waiting out a Retry-After', async () => {
    const fake = fakeClient([http(503, { 'retry-after': '60' })]);
    let slept: AbortSignal | undefined;
    const w = createBatchWriter({
      client: fake.client,
      sleep: (_ms, signal) => {
        slept = signal;
        return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      },
    });
    const writing = w.write(LINES);
    await new Promise((resolve) => setImmediate(resolve));
    expect(slept?.aborted).toBe(false);
    w.interrupt();
    await expect(writing).resolves.toMatchObject({ stored: 4 });
    expect(slept?.aborted).toBe(true);
  });
});

describe('points InfluxDB 2.x/3.x will not take (422)', () => {
  it('dead-letters the refused point as OUTSIDE_RETENTION and stores the rest, instead of retrying the batch for ever', async () => {
    const beyond = 'air,device=old pm25=9 1';
    const refusal = http(422, {}, 'partial write: points beyond retention policy dropped=1');
    const client = {
      calls: [] as string[][],
      async write(lines: readonly string[]) {
        this.calls.push([...lines]);
        if (lines.includes(beyond)) throw toStoreError(refusal, 'write');
      },
    };
    const { writer: w, waits } = writer(client);
    const result = await w.write([...LINES, beyond]);
    expect(result.stored).toBe(4);
    expect(result.deadLetters.map((d) => [d.line, d.reason, d.status])).toEqual([[beyond, 'OUTSIDE_RETENTION', 422]]);
    expect(waits).toEqual([]);
  });
});
