/** The Grafana macro expander and PromQL reader the dashboard tests rely on (test/helpers/grafana.ts). */
import { describe, expect, it } from 'vitest';
import { expandInfluxQL, intervalMs, promReferences } from '../../helpers/grafana.ts';

const range = { fromMs: 1_780_000_000_000, toMs: 1_780_021_600_000, interval: '5m' };

describe('expandInfluxQL', () => {
  it('expands $timeFilter and $__interval as Grafana does', () => {
    expect(expandInfluxQL('SELECT mean("pm25") FROM "air" WHERE $timeFilter GROUP BY time($__interval), "site" fill(none)', range)).toBe(
      'SELECT mean("pm25") FROM "air" WHERE time >= 1780000000000ms and time <= 1780021600000ms GROUP BY time(5m), "site" fill(none)',
    );
  });

  it('expands the other macros and all three variable syntaxes', () => {
    const q = 'SELECT 1 FROM x WHERE "device" = \'$device\' AND d2 = \'${device}\' AND d3 = \'[[device]]\' AND t > $__from AND t < $__to GROUP BY time(${__interval_ms}ms)';
    expect(expandInfluxQL(q, { ...range, variables: { device: 'air-001' } })).toBe(
      "SELECT 1 FROM x WHERE \"device\" = 'air-001' AND d2 = 'air-001' AND d3 = 'air-001' AND t > 1780000000000 AND t < 1780021600000 GROUP BY time(300000ms)",
    );
  });

  it('leaves regex anchors and now() alone', () => {
    expect(expandInfluxQL('SELECT count(x) FROM /^air$/ WHERE time > now() - 1h', range)).toBe('SELECT count(x) FROM /^air$/ WHERE time > now() - 1h');
  });

  it('refuses an unknown variable, a value that breaks out of quotes, a bad interval and a reversed range', () => {
    expect(() => expandInfluxQL("SELECT 1 FROM x WHERE s = '$site'", range)).toThrow(/\$site, which is neither/);
    expect(() => expandInfluxQL("SELECT 1 FROM x WHERE d = '$device'", { ...range, variables: { device: "a' OR 1=1" } })).toThrow(/break out/);
    expect(() => expandInfluxQL('SELECT 1', { ...range, interval: '5 minutes' })).toThrow(/bad interval/);
    expect(() => expandInfluxQL('SELECT 1', { ...range, fromMs: range.toMs + 1 })).toThrow(/bad time range/);
  });

  it('reads interval strings', () => {
    expect(intervalMs('250ms')).toBe(250);
    expect(intervalMs('30s')).toBe(30_000);
    expect(intervalMs('1h')).toBe(3_600_000);
    expect(intervalMs('2d')).toBe(172_800_000);
  });
});

describe('promReferences', () => {
  it('finds metric names and labels, not functions, keywords, strings or durations', () => {
    expect(promReferences('sum by (reason) (rate(streetlab_edge_readings_rejected_total{type="reading", job=~"broker|api"}[$__rate_interval]))')).toEqual({
      metrics: ['streetlab_edge_readings_rejected_total'],
      labels: ['job', 'reason', 'type'],
    });
    expect(promReferences('histogram_quantile(0.95, sum by (le) (rate(a_seconds_bucket[5m]))) / sum(rate(a_seconds_count[1h:5m])) * 1e3')).toEqual({
      metrics: ['a_seconds_bucket', 'a_seconds_count'],
      labels: ['le'],
    });
    expect(promReferences('up').metrics).toEqual(['up']);
    expect(promReferences('max(x) and on (job) y offset 5m').metrics).toEqual(['x', 'y']);
  });
});
