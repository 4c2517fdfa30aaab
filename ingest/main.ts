/** `npm run ingest`: the ingest worker as its own process, draining the broker's log (same DATA_DIR). */
import { resolve, join } from 'node:path';
import { exitOnConfigError, parseConfig } from '../common/config.ts';
import { createInfluxClient } from '../common/influx.ts';
import { createLogger } from '../common/logger.ts';
import { createMetricsRegistry, registerProcessMetrics, startOpsServerOrWarn, type OpsServer } from '../common/metrics.ts';
import { onShutdown } from '../common/shutdown.ts';
import { IngestConfigSchema } from './config.ts';
import { createIngest } from './ingest.ts';

try {
  const config = parseConfig(IngestConfigSchema, process.env);
  const log = createLogger({ level: config.LOG_LEVEL, name: 'ingest' });
  const influx = createInfluxClient({
    url: config.INFLUX_URL,
    database: config.INFLUX_DB,
    token: config.INFLUX_TOKEN,
    username: config.INFLUX_USERNAME,
    password: config.INFLUX_PASSWORD,
    org: config.INFLUX_ORG,
    writeApi: config.INFLUX_WRITE_API,
  });
  // InfluxDB may start after us: the writer retries until it answers, the log holds the lines.
  await influx.ensureDatabase().catch((error: unknown) => log.warn({ err: String(error) }, 'could not ensure the database exists yet; writes retry until InfluxDB answers'));
  const metrics = createMetricsRegistry();
  registerProcessMetrics(metrics);
  const logDir = resolve(config.LOG_DIR ?? join(config.DATA_DIR, 'log'));
  const ingest = createIngest({
    logDir,
    influx,
    batchSize: config.WRITE_BATCH_SIZE,
    flushIntervalMs: config.FLUSH_INTERVAL_MS,
    retryMaxMs: config.WRITE_RETRY_MAX_MS,
    // Most of the grace for draining into InfluxDB; what is left stays in the log.
    closeDrainTimeoutMs: Math.floor(config.SHUTDOWN_GRACE_MS * 0.6),
    metrics,
    logger: log,
  });
  let ops: OpsServer | undefined;
  onShutdown(log, async () => {
    await ingest.close();
    await ops?.close();
  }, config.SHUTDOWN_GRACE_MS);
  if (config.INGEST_HTTP_PORT !== undefined) {
    ops = await startOpsServerOrWarn({ host: config.INGEST_HTTP_HOST, port: config.INGEST_HTTP_PORT, registry: metrics, ready: () => ingest.health() }, log);
    if (ops) log.info({ url: ops.url }, 'ingest metrics and health listening');
  }
  await ingest.ready;
  log.info({ log: logDir, influx: config.INFLUX_URL, opsUrl: ops?.url }, 'ingest running');
} catch (error) {
  exitOnConfigError(error);
}
