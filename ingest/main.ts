/** `npm run ingest`: the ingest worker as its own process. */
import { resolve, join } from 'node:path';
import { exitOnConfigError, parseConfig } from '../common/config.ts';
import { createInfluxClient } from '../common/influx.ts';
import { createLogger } from '../common/logger.ts';
import { createMetricsRegistry, registerProcessMetrics, startOpsServerOrWarn, type OpsServer } from '../common/metrics.ts';
import { openFileRegistry, resolveServiceCredentials } from '../common/registry/index.ts';
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
  await influx.ensureDatabase().catch((error: unknown) => log.warn({ err: String(error) }, 'could not ensure the database exists'));
  const metrics = createMetricsRegistry();
  registerProcessMetrics(metrics);
  const spoolDir = resolve(config.SPOOL_DIR ?? join(config.DATA_DIR, 'spool'));
  // The device registry the API writes (DATA_DIR/registry.json): its `site` and `owner` tag every point.
  const registry = await openFileRegistry({ dataDir: resolve(config.DATA_DIR), logger: log });
  const credentials = resolveServiceCredentials('ingest', config);
  const ingest = createIngest({
    mqttUrl: config.MQTT_URL,
    mqttUsername: credentials?.username,
    mqttPassword: credentials?.password,
    lookupTags: (deviceId) => registry.tagsOf(deviceId),
    clientId: config.INGEST_CLIENT_ID,
    influx,
    limits: {
      maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
      maxFutureMs: config.TS_MAX_FUTURE_S * 1000,
      maxAgeMs: config.TS_MAX_AGE_S * 1000,
    },
    batchSize: config.WRITE_BATCH_SIZE,
    flushIntervalMs: config.FLUSH_INTERVAL_MS,
    maxBufferLines: config.WRITE_BUFFER_LINES,
    retryMaxMs: config.WRITE_RETRY_MAX_MS,
    spoolDir,
    spoolMaxBytes: config.SPOOL_MAX_BYTES,
    spoolSegmentBytes: config.SPOOL_SEGMENT_BYTES,
    spoolFsync: config.SPOOL_FSYNC,
    // Half the grace for draining into InfluxDB; the rest of the bound is for the MQTT goodbye.
    closeDrainTimeoutMs: Math.floor(config.SHUTDOWN_GRACE_MS / 2),
    metrics,
    logger: log,
  });
  let ops: OpsServer | undefined;
  // Registered before `ready`: a SIGTERM while the broker is still unreachable exits cleanly too.
  onShutdown(log, async () => {
    await ingest.close();
    await registry.close();
    await ops?.close();
  }, config.SHUTDOWN_GRACE_MS);
  if (config.INGEST_HTTP_PORT !== undefined) {
    ops = await startOpsServerOrWarn({ host: config.INGEST_HTTP_HOST, port: config.INGEST_HTTP_PORT, registry: metrics, ready: () => ingest.health() }, log);
    if (ops) log.info({ url: ops.url }, 'ingest metrics and health listening');
  }
  await ingest.ready;
  log.info({ mqtt: config.MQTT_URL, influx: config.INFLUX_URL, spool: spoolDir, opsUrl: ops?.url }, 'ingest running');
} catch (error) {
  exitOnConfigError(error);
}
