/** The ingest worker's Prometheus metrics: what it stored, refused, retried, and what waits in the log. */
import type { MetricsRegistry } from '../common/metrics.ts';
import type { LogBacklog } from '../common/spool/log-reader.ts';

export interface IngestMetrics {
  stored(readings: number, rejections: number): void;
  deadLettered(reason: string): void;
  wrote(lines: number, seconds: number): void;
  retried(): void;
  outageStarted(): void;
}

/** Registers ingest's metrics; the gauges read `backlog` and `inOutage` at scrape time. */
export function createIngestMetrics(registry: MetricsRegistry, sources: { backlog(): LogBacklog | undefined; inOutage(): boolean }): IngestMetrics {
  const stored = registry.counter({ name: 'streetlab_ingest_lines_stored_total', help: 'Lines stored in InfluxDB, by type (reading, rejection).' });
  const deadLetters = registry.counter({ name: 'streetlab_ingest_dead_letters_total', help: 'Lines InfluxDB refused (kept as dead letters), by reason.' });
  const batches = registry.counter({ name: 'streetlab_ingest_write_batches_total', help: 'Successful InfluxDB writes.' });
  const writeSeconds = registry.histogram({ name: 'streetlab_ingest_write_seconds', help: 'InfluxDB write latency (successful writes).' });
  const batchLines = registry.histogram({ name: 'streetlab_ingest_write_lines', help: 'Lines per InfluxDB write.', buckets: [1, 10, 100, 1_000, 5_000, 10_000] });
  const retries = registry.counter({ name: 'streetlab_ingest_write_retries_total', help: 'InfluxDB writes retried after a failure.' });
  const outages = registry.counter({ name: 'streetlab_ingest_store_outages_total', help: 'InfluxDB outages (periods of failing writes).' });
  const storedReadings = stored.labels({ type: 'reading' });
  const storedRejections = stored.labels({ type: 'rejection' });
  registry.gauge({ name: 'streetlab_ingest_log_backlog_bytes', help: 'Bytes in the log not yet stored in InfluxDB.', collect: () => sources.backlog()?.bytes ?? 0 });
  registry.gauge({
    name: 'streetlab_ingest_log_oldest_age_seconds',
    help: 'Age of the oldest log frame not yet stored (0 when there is none).',
    collect: () => {
      const oldest = sources.backlog()?.oldestAtMs;
      return oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000);
    },
  });
  registry.gauge({ name: 'streetlab_ingest_store_outage', help: '1 while InfluxDB writes are failing.', collect: () => (sources.inOutage() ? 1 : 0) });
  return {
    stored(readings, rejections) {
      storedReadings.inc(readings);
      storedRejections.inc(rejections);
    },
    deadLettered: (reason) => deadLetters.labels({ reason }).inc(),
    wrote(lines, seconds) {
      batches.inc();
      writeSeconds.observe(seconds);
      batchLines.observe(lines);
    },
    retried: () => retries.inc(),
    outageStarted: () => outages.inc(),
  };
}
