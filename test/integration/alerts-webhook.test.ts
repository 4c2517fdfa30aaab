/**
 * The alert webhook against a real local HTTP server: retries with backoff until the server
 * accepts, the same idempotency key on every attempt, final answers not retried, a hanging
 * server cut off by the timeout, and a bounded queue.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Alert } from '../../contracts/index.ts';
import { createWebhookSender, type WebhookSender } from '../../api/alerts/webhook.ts';
import { eventually } from '../helpers/stack.ts';

interface Received {
  body: Alert;
  headers: IncomingMessage['headers'];
}

type Handler = (request: IncomingMessage, response: ServerResponse, n: number) => void;

const servers: Server[] = [];
const senders: WebhookSender[] = [];
afterEach(async () => {
  await Promise.all(senders.splice(0).map((s) => s.close()));
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function hookServer(handler: Handler): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => {
      received.push({ body: JSON.parse(text) as Alert, headers: request.headers });
      handler(request, response, received.length);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, received };
}

function sender(url: string, extra: Partial<Parameters<typeof createWebhookSender>[0]> = {}): WebhookSender {
  const s = createWebhookSender({ url, backoffMs: 20, maxBackoffMs: 200, timeoutMs: 2_000, ...extra });
  senders.push(s);
  return s;
}

function alert(id: string): Alert {
  const at = new Date().toISOString();
  return { id, rule: 'bin-full', ruleName: 'Bin full', ruleType: 'threshold', severity: 'warning', state: 'open', deviceId: 'bin-1', kind: 'waste', message: 'bin-1: fill 90 % ≥ 80 %', value: 90, at, openedAt: at, repeats: 0 };
}

describe('the alert webhook', () => {
  it('retries a failing server with backoff until it accepts, with one idempotency key', async () => {
    const hook = await hookServer((_req, res, n) => {
      res.statusCode = n <= 2 ? 503 : 204;
      res.end();
    });
    const s = sender(hook.url);
    s.enqueue(alert('a1'));
    await s.idle();
    expect(hook.received).toHaveLength(3);
    expect(hook.received.map((r) => r.body.id)).toEqual(['a1', 'a1', 'a1']);
    expect(new Set(hook.received.map((r) => r.headers['idempotency-key']))).toEqual(new Set(['a1:open:0']));
    expect(hook.received[0]!.headers['content-type']).toBe('application/json');
    expect(hook.received[0]!.body).toMatchObject({ id: 'a1', state: 'open', rule: 'bin-full', deviceId: 'bin-1', value: 90, message: 'bin-1: fill 90 % ≥ 80 %' });
    expect(s.stats()).toMatchObject({ sent: 1, failed: 0, retries: 2, queued: 0 });
  });

  it('delivers events in order', async () => {
    const hook = await hookServer((_req, res, n) => {
      res.statusCode = n === 1 ? 500 : 200;
      res.end();
    });
    const s = sender(hook.url);
    for (const id of ['e1', 'e2', 'e3']) s.enqueue(alert(id));
    await s.idle();
    expect(hook.received.map((r) => r.body.id)).toEqual(['e1', 'e1', 'e2', 'e3']);
  });

  it('gives up after maxAttempts, and does not retry a final 4xx', async () => {
    const hook = await hookServer((req, res) => {
      res.statusCode = String(req.headers['idempotency-key']).startsWith('bad') ? 400 : 503;
      res.end();
    });
    const s = sender(hook.url, { maxAttempts: 3 });
    s.enqueue(alert('down'));
    s.enqueue(alert('bad'));
    await s.idle();
    expect(hook.received.map((r) => r.body.id)).toEqual(['down', 'down', 'down', 'bad']);
    expect(s.stats()).toMatchObject({ sent: 0, failed: 2, retries: 2 });
  });

  it('cuts off a hanging server with the timeout and retries', async () => {
    const hook = await hookServer((_req, res, n) => {
      if (n === 1) return; // never answers
      res.end('ok');
    });
    const s = sender(hook.url, { timeoutMs: 200 });
    s.enqueue(alert('slow'));
    await s.idle();
    expect(hook.received).toHaveLength(2);
    expect(s.stats()).toMatchObject({ sent: 1, retries: 1 });
  });

  it('an unreachable webhook is retried, then given up, and enqueue never waits', async () => {
    const hook = await hookServer((_req, res) => res.end());
    const closed = servers.pop()!;
    await new Promise((resolve) => closed.close(resolve));
    const s = sender(hook.url, { maxAttempts: 2 });
    for (let i = 0; i < 3; i++) s.enqueue(alert(`x${i}`));
    expect(s.stats().queued).toBe(3);
    await s.idle();
    expect(s.stats()).toMatchObject({ failed: 3, sent: 0, queued: 0 });
  });

  it('keeps the queue bounded: the oldest waiting events are dropped and counted', async () => {
    const release: (() => void)[] = [];
    const hook = await hookServer((_req, res) => release.push(() => res.end()));
    const s = sender(hook.url, { queueMax: 3 });
    for (let i = 0; i < 6; i++) s.enqueue(alert(`q${i}`));
    // q0 is in flight; q1..q3 were dropped to make room for q3..q5.
    expect(s.stats()).toMatchObject({ queued: 3, dropped: 3 });
    await eventually(() => (release.length > 0 ? true : undefined));
    const drain = async () => {
      while (s.stats().queued > 0) {
        await eventually(() => (release.length > 0 ? true : undefined));
        release.shift()!();
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await drain();
    await s.idle();
    expect(hook.received.map((r) => r.body.id)).toEqual(['q0', 'q4', 'q5']);
  });
});

describe('the alert webhook reads the retry decision of each failure', () => {
  function scripted(answers: (number | Error | [number, string])[]) {
    const calls: number[] = [];
    const fetchFake: typeof fetch = async () => {
      calls.push(calls.length + 1);
      const answer = answers.shift() ?? 204;
      if (answer instanceof Error) throw answer;
      const [status, retryAfter] = Array.isArray(answer) ? answer : [answer, undefined];
      return new Response(null, { status, headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter } });
    };
    return { calls, fetchFake };
  }

  it('waits out Retry-After (capped at maxBackoffMs), else backs off with full jitter; gives up on a final answer', async () => {
    const waits: number[] = [];
    const refused = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    const { calls, fetchFake } = scripted([[503, '2'], [429, '600'], refused, 502, 404]);
    const s = sender('http://hook.invalid/x', {
      fetch: fetchFake,
      backoffMs: 100,
      maxBackoffMs: 30_000,
      maxAttempts: 10,
      random: () => 0.5,
      sleep: async (ms) => void waits.push(ms),
    });
    s.enqueue(alert('r1'));
    await s.idle();
    // 2 s as asked; 600 s capped; then jitter: half of min(30 s, 100 ms · 2^(n-1)) for n = 3, 4.
    expect(waits).toEqual([2_000, 30_000, 200, 400]);
    expect(calls).toHaveLength(5);
    expect(s.stats()).toMatchObject({ sent: 0, failed: 1, retries: 4 });
  });

  it('does not retry a request that failed for no network reason', async () => {
    const { calls, fetchFake } = scripted([new TypeError('fetch failed', { cause: new Error('unexpected redirect') })]);
    const s = sender('http://hook.invalid/x', { fetch: fetchFake, sleep: async () => {} });
    s.enqueue(alert('r2'));
    await s.idle();
    expect(calls).toHaveLength(1);
    expect(s.stats()).toMatchObject({ failed: 1, retries: 0 });
  });
});
