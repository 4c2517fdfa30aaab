/**
 * common/metrics.ts on prom-client: the project's API (label names learned from use, cells
 * for counters and gauges, collected gauges) rendered as prom-client's text exposition.
 */
import { describe, expect, it } from 'vitest';
import { createMetricsRegistry, registerProcessMetrics, startOpsServer, startOpsServerOrWarn } from '../../../common/metrics.ts';
import { readMetricText } from '../../helpers/processes.ts';

describe('createMetricsRegistry', () => {
  it('renders counters, labelled children and their types', async () => {
    const metrics = createMetricsRegistry();
    const received = metrics.counter({ name: 'test_received_total', help: 'Received.' });
    const rejected = metrics.counter({ name: 'test_rejected_total', help: 'Rejected, by reason.' });
    received.inc();
    received.inc(4);
    const range = rejected.labels({ reason: 'FIELD_RANGE' });
    range.inc();
    range.inc();
    rejected.labels({ reason: 'PAYLOAD_NOT_JSON' }).inc(3);
    const text = await metrics.render();
    expect(text).toContain('# TYPE test_received_total counter');
    expect(text).toContain('# HELP test_rejected_total Rejected, by reason.');
    expect(readMetricText(text, 'test_received_total')).toBe(5);
    expect(readMetricText(text, 'test_rejected_total', { reason: 'FIELD_RANGE' })).toBe(2);
    expect(readMetricText(text, 'test_rejected_total', { reason: 'PAYLOAD_NOT_JSON' })).toBe(3);
    // Once labelled sets exist, the unused unlabelled series is left out.
    expect(text).not.toMatch(/^test_rejected_total \d/m);
    expect(range.get()).toBe(2);
    expect(received.get()).toBe(5);
  });

  it('shows a counter at 0 before anything is counted, and keeps counting across scrapes', async () => {
    const metrics = createMetricsRegistry();
    const deadLetters = metrics.counter({ name: 'test_dead_letters_total', help: 'Dead letters.' });
    expect(readMetricText(await metrics.render(), 'test_dead_letters_total')).toBe(0);
    const child = deadLetters.labels({ reason: 'X' });
    child.inc();
    expect(readMetricText(await metrics.render(), 'test_dead_letters_total', { reason: 'X' })).toBe(1);
    child.inc(2);
    expect(readMetricText(await metrics.render(), 'test_dead_letters_total', { reason: 'X' })).toBe(3);
  });

  it('refuses to decrease a counter, bad label names and a name registered twice', () => {
    const metrics = createMetricsRegistry();
    const c = metrics.counter({ name: 'test_c_total', help: 'c' });
    expect(() => c.inc(-1)).toThrow(/cannot decrease/);
    expect(() => c.labels({ 'bad-name': 'x' })).toThrow(/bad label name "bad-name"/);
    expect(() => metrics.gauge({ name: 'test_c_total', help: 'again' })).toThrow(/registered twice/);
    expect(() => metrics.counter({ name: 'bad name', help: 'x' })).toThrow();
  });

  it('reads collected gauges at scrape time, as one value or by labels', async () => {
    const metrics = createMetricsRegistry();
    let clients = 2;
    const reasons: Record<string, number> = { PROTOCOL_VERSION: 1 };
    metrics.gauge({ name: 'test_clients', help: 'Clients.', collect: () => clients });
    metrics.gauge({ name: 'test_violations', help: 'By reason.', collect: async () => Object.entries(reasons).map(([reason, value]) => ({ labels: { reason }, value })) });
    const plain = metrics.gauge({ name: 'test_plain', help: 'Set by hand.' });
    plain.set(7);
    plain.dec(2);
    plain.labels({ kind: 'air' }).inc(3);
    let text = await metrics.render();
    expect(text).toContain('# TYPE test_clients gauge');
    expect(readMetricText(text, 'test_clients')).toBe(2);
    expect(readMetricText(text, 'test_violations', { reason: 'PROTOCOL_VERSION' })).toBe(1);
    expect(readMetricText(text, 'test_plain', { kind: 'air' })).toBe(3);
    expect(text).toMatch(/^test_plain 5$/m);
    clients = 9;
    reasons.STRING_INVALID = 4;
    text = await metrics.render();
    expect(readMetricText(text, 'test_clients')).toBe(9);
    expect(readMetricText(text, 'test_violations', { reason: 'STRING_INVALID' })).toBe(4);
    expect(readMetricText(text, 'test_violations')).toBe(5);
  });

  it('reads counters kept elsewhere at scrape time, typed as counters', async () => {
    const metrics = createMetricsRegistry();
    const stats = { forwarded: 3, guard: { PROTOCOL_VERSION: 2 } as Record<string, number> };
    metrics.counter({ name: 'test_forwarded', help: 'Forwarded since start.', collect: () => stats.forwarded });
    metrics.counter({ name: 'test_refused', help: 'By reason.', collect: () => Object.entries(stats.guard).map(([reason, value]) => ({ labels: { reason }, value })) });
    let text = await metrics.render();
    expect(text).toContain('# TYPE test_forwarded counter');
    expect(text).toContain('# TYPE test_refused counter');
    expect(readMetricText(text, 'test_forwarded')).toBe(3);
    expect(readMetricText(text, 'test_refused', { reason: 'PROTOCOL_VERSION' })).toBe(2);
    stats.forwarded = 10;
    stats.guard.STRING_INVALID = 1;
    text = await metrics.render();
    expect(readMetricText(text, 'test_forwarded')).toBe(10);
    expect(readMetricText(text, 'test_refused')).toBe(3);
  });

  it('renders histograms with cumulative buckets, sum and count, per label set', async () => {
    const metrics = createMetricsRegistry();
    const h = metrics.histogram({ name: 'test_lines', help: 'Lines per write.', buckets: [1, 10, 100] });
    for (const v of [1, 5, 50, 500]) h.observe(v);
    const byRoute = metrics.histogram({ name: 'test_seconds', help: 'Latency.', labelNames: ['route'] });
    const child = byRoute.labels({ route: '/a' });
    child.observe(0.002);
    const stop = child.startTimer();
    const elapsed = stop();
    const text = await metrics.render();
    expect(text).toContain('# TYPE test_lines histogram');
    expect(readMetricText(text, 'test_lines_bucket', { le: '1' })).toBe(1);
    expect(readMetricText(text, 'test_lines_bucket', { le: '10' })).toBe(2);
    expect(readMetricText(text, 'test_lines_bucket', { le: '100' })).toBe(3);
    expect(readMetricText(text, 'test_lines_bucket', { le: '+Inf' })).toBe(4);
    expect(readMetricText(text, 'test_lines_sum')).toBe(556);
    expect(readMetricText(text, 'test_lines_count')).toBe(4);
    expect(readMetricText(text, 'test_seconds_count', { route: '/a' })).toBe(2);
    expect(readMetricText(text, 'test_seconds_sum', { route: '/a' })).toBeCloseTo(0.002 + elapsed, 9);
    // Declared label names: no unlabelled series.
    expect(text).not.toMatch(/^test_seconds_count \d/m);
    expect(() => metrics.histogram({ name: 'test_bad', help: 'x', buckets: [2, 1] })).toThrow(/must ascend/);
    expect(() => h.labels({ le: '1' })).toThrow(/cannot have a label named le/);
  });

  it('keeps registries apart: the same names in two registries of one process', async () => {
    const a = createMetricsRegistry();
    const b = createMetricsRegistry({ defaultLabels: { node: 'b' } });
    a.counter({ name: 'test_same_total', help: 'x' }).inc(1);
    b.counter({ name: 'test_same_total', help: 'x' }).inc(2);
    registerProcessMetrics(a);
    registerProcessMetrics(b);
    expect(readMetricText(await a.render(), 'test_same_total')).toBe(1);
    const textB = await b.render();
    expect(readMetricText(textB, 'test_same_total', { node: 'b' })).toBe(2);
    expect(a.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
  });

  it('registers prom-client default process metrics and the uptime gauge', async () => {
    const metrics = createMetricsRegistry();
    registerProcessMetrics(metrics);
    const text = await metrics.render();
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'process_start_time_seconds', 'process_uptime_seconds']) {
      expect(readMetricText(text, name), name).toBeGreaterThan(0);
    }
    expect(text).toContain('# TYPE process_cpu_seconds_total counter');
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
    expect(text).toContain('# TYPE nodejs_gc_duration_seconds histogram');
  });
});

describe('startOpsServer', () => {
  it('serves /metrics, /healthz and /readyz, and says what it serves otherwise', async () => {
    const metrics = createMetricsRegistry();
    metrics.counter({ name: 'test_ops_total', help: 'x' }).inc(2);
    let ready = true;
    const ops = await startOpsServer({ port: 0, registry: metrics, ready: () => ({ ok: ready, checks: { influx: { ok: ready } } }) });
    try {
      const scrape = await fetch(`${ops.url}/metrics`);
      expect(scrape.status).toBe(200);
      expect(scrape.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(readMetricText(await scrape.text(), 'test_ops_total')).toBe(2);
      expect((await fetch(`${ops.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${ops.url}/readyz`)).status).toBe(200);
      ready = false;
      const notReady = await fetch(`${ops.url}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toEqual({ status: 'degraded', checks: { influx: { ok: false } } });
      const missing = await fetch(`${ops.url}/nothing`);
      expect(missing.status).toBe(404);
      expect(await missing.text()).toMatch(/try \/metrics, \/healthz or \/readyz/);
      expect((await fetch(`${ops.url}/metrics`, { method: 'POST' })).status).toBe(405);
    } finally {
      await ops.close();
    }
  });

  it('answers 500 naming the failure when a collect callback throws, and keeps serving', async () => {
    const metrics = createMetricsRegistry();
    let broken = true;
    metrics.gauge({ name: 'test_fragile', help: 'x', collect: () => { if (broken) throw new Error('stats unavailable'); return 1; } });
    const ops = await startOpsServer({ port: 0, registry: metrics, ready: () => ({ ok: true, checks: {} }) });
    try {
      const failed = await fetch(`${ops.url}/metrics`);
      expect(failed.status).toBe(500);
      expect(await failed.text()).toContain('stats unavailable');
      broken = false;
      expect(readMetricText(await (await fetch(`${ops.url}/metrics`)).text(), 'test_fragile')).toBe(1);
    } finally {
      await ops.close();
    }
  });

  it('startOpsServerOrWarn logs a port in use instead of failing', async () => {
    const metrics = createMetricsRegistry();
    const first = await startOpsServer({ port: 0, registry: metrics, ready: () => ({ ok: true, checks: {} }) });
    const warnings: string[] = [];
    try {
      const second = await startOpsServerOrWarn({ port: first.port, registry: metrics, ready: () => ({ ok: true, checks: {} }) }, { warn: (_obj, msg) => warnings.push(msg) });
      expect(second).toBeUndefined();
      expect(warnings[0]).toMatch(/port in use/);
    } finally {
      await first.close();
    }
  });
});
