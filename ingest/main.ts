/** `npm run ingest`: the ingest worker as its own process. */
import { exitOnConfigError, parseConfig } from '../common/config.ts';
import { createInfluxClient } from '../common/influx.ts';
import { createLogger } from '../common/logger.ts';
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
  const ingest = createIngest({
    mqttUrl: config.MQTT_URL,
    mqttUsername: config.MQTT_USERNAME,
    mqttPassword: config.MQTT_PASSWORD,
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
    logger: log,
  });
  await ingest.ready;
  log.info({ mqtt: config.MQTT_URL, influx: config.INFLUX_URL }, 'ingest running');
  onShutdown(log, () => ingest.close());
} catch (error) {
  exitOnConfigError(error);
}
