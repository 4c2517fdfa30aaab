/** `npm run broker`: the MQTT broker as its own process. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exitOnConfigError, parseConfig } from '../common/config.ts';
import { AppError } from '../common/errors.ts';
import { openKindCatalogue } from '../common/kinds/index.ts';
import { openFileRegistry, type FileRegistry } from '../common/registry/index.ts';
import { createBrokerPolicy } from './auth.ts';
import { createClusterEngines } from './cluster.ts';
import { createEdge } from './edge.ts';
import { createLogger } from '../common/logger.ts';
import { createMetricsRegistry, registerProcessMetrics, startOpsServerOrWarn } from '../common/metrics.ts';
import { onShutdown } from '../common/shutdown.ts';
import { createBroker } from './broker.ts';
import { BrokerConfigSchema, brokerConfigProblems } from './config.ts';
import { registerBrokerMetrics } from './metrics.ts';
import { createFilePersistence, type FilePersistence } from './persistence-file.ts';
import { startEdgeIngestion, type EdgeIngestion } from './adapters/ingestion.ts';

function readPem(path: string, variable: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new AppError('CONFIG_INVALID', `invalid configuration:\n  ${variable}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

/** A Redis URL for logs: the password, if any, left out. */
function redactUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

try {
  const config = parseConfig(BrokerConfigSchema, process.env);
  const problems = brokerConfigProblems(config);
  if (problems.length > 0) throw new AppError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`);
  const log = createLogger({ level: config.LOG_LEVEL, name: 'broker' });
  // Security: the device registry (shared with the API and ingest through DATA_DIR) and the services' token.
  // The registry tags every reading (site, owner) and, secured, authenticates the devices.
  const registry: FileRegistry = await openFileRegistry({ dataDir: resolve(config.DATA_DIR), redisUrl: config.REDIS_URL, logger: log });
  // The kinds the edge validates against (common/kinds/): a kind added through the API is known here at once.
  const kinds = await openKindCatalogue({ dataDir: resolve(config.DATA_DIR), redisUrl: config.REDIS_URL, logger: log });
  if (config.MQTT_ALLOW_ANONYMOUS) {
    log.warn('MQTT_ALLOW_ANONYMOUS=true: open broker, no authentication and no topic ACL');
  } else {
    log.info({ file: registry.file, devices: (await registry.list()).length }, 'device registry loaded');
    if (!config.SERVICE_TOKEN) log.warn('SERVICE_TOKEN is not set: the API cannot connect to this broker for the live feed');
  }
  const metrics = createMetricsRegistry();
  registerProcessMetrics(metrics);
  // The edge: readings validated and in the durable log before their PUBACK; ingest drains it.
  const logDir = resolve(config.LOG_DIR ?? join(config.DATA_DIR, 'log'));
  const edge = await createEdge({
    logDir,
    fsync: config.LOG_FSYNC,
    maxLogBytes: config.LOG_MAX_BYTES,
    segmentBytes: config.LOG_SEGMENT_BYTES,
    limits: { maxPayloadBytes: config.MAX_PAYLOAD_BYTES, maxFutureMs: config.TS_MAX_FUTURE_S * 1000, maxAgeMs: config.TS_MAX_AGE_S * 1000 },
    lookupTags: (deviceId) => registry.tagsOf(deviceId),
    metrics,
    logger: log,
  });
  log.info({ dir: logDir, fsync: config.LOG_FSYNC }, 'reading log open');
  const policy = createBrokerPolicy({
    ...(config.MQTT_ALLOW_ANONYMOUS ? {} : { registry }),
    edge,
    serviceToken: config.SERVICE_TOKEN,
    allowAnonymous: config.MQTT_ALLOW_ANONYMOUS,
    rateLimit: config.MQTT_DEVICE_RATE_PER_S > 0 ? { ratePerSecond: config.MQTT_DEVICE_RATE_PER_S, burst: config.MQTT_DEVICE_BURST } : false,
    maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
    logger: log,
  });
  // `file`: queued QoS 1 messages and persistent sessions survive a restart (docs/durability.md).
  let persistence: FilePersistence | undefined;
  const cluster = config.REDIS_URL ? createClusterEngines(config.REDIS_URL, { logger: log }) : undefined;
  if (cluster) {
    log.info({ redis: redactUrl(config.REDIS_URL!) }, 'cluster mode: sessions, subscriptions and queued messages shared through Redis');
  } else if (config.BROKER_PERSISTENCE === 'file') {
    const dir = resolve(config.BROKER_PERSISTENCE_DIR ?? join(config.DATA_DIR, 'broker'));
    persistence = await createFilePersistence({ dir, fsync: config.BROKER_PERSISTENCE_FSYNC, compactBytes: config.BROKER_JOURNAL_COMPACT_BYTES, logger: log });
    log.info({ dir }, 'broker persistence: file');
  } else {
    log.info('broker persistence: memory — MQTT sessions start afresh after a restart (readings are in the log)');
  }
  const broker = await createBroker({
    ...(persistence ? { persistence } : {}),
    ...(cluster ? { persistence: cluster.persistence, mq: cluster.mq } : {}),
    edge,
    host: config.MQTT_HOST,
    port: config.MQTT_PORT,
    wsPort: config.MQTT_WS_ENABLED ? config.MQTT_WS_PORT : undefined,
    connectTimeoutMs: config.MQTT_CONNECT_TIMEOUT_MS,
    maxPendingConnections: config.MQTT_MAX_PENDING_CONNECTIONS,
    maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
    policy,
    tls:
      config.MQTT_TLS_CERT && config.MQTT_TLS_KEY
        ? { port: config.MQTT_TLS_PORT, cert: readPem(config.MQTT_TLS_CERT, 'MQTT_TLS_CERT'), key: readPem(config.MQTT_TLS_KEY, 'MQTT_TLS_KEY') }
        : undefined,
    logger: log,
  });
  registerBrokerMetrics(metrics, broker, persistence);
  const ops =
    config.BROKER_HTTP_PORT === undefined
      ? undefined
      : await startOpsServerOrWarn(
          {
            host: config.BROKER_HTTP_HOST,
            port: config.BROKER_HTTP_PORT,
            registry: metrics,
            ready: () => ({ ok: true, checks: { mqtt: { ok: true, detail: `${broker.connectedClients()} clients` } } }),
          },
          log,
        );
  if (ops) log.info({ url: ops.url }, 'broker metrics and health listening');
  // HTTP devices, network-server webhooks and MQTT bridges, all through the edge (broker/adapters/).
  let ingestion: EdgeIngestion | undefined;
  if (config.EDGE_HTTP_PORT !== undefined) {
    ingestion = await startEdgeIngestion({
      edge,
      registry,
      dataDir: resolve(config.DATA_DIR),
      redisUrl: config.REDIS_URL,
      http: {
        host: config.EDGE_HTTP_HOST,
        port: config.EDGE_HTTP_PORT,
        bodyLimitBytes: config.EDGE_HTTP_BODY_LIMIT_BYTES,
        failureLimit: config.EDGE_HTTP_FAILURES_PER_MIN > 0 ? { burst: config.EDGE_HTTP_FAILURES_BURST, perMinute: config.EDGE_HTTP_FAILURES_PER_MIN } : false,
        // HTTP devices get the rate MQTT devices have.
        deviceRate: config.MQTT_DEVICE_RATE_PER_S > 0 ? { ratePerSecond: config.MQTT_DEVICE_RATE_PER_S, burst: config.MQTT_DEVICE_BURST } : false,
        unknownWindowMs: config.EDGE_HTTP_UNKNOWN_WINDOW_S * 1000,
        trustProxy: config.EDGE_HTTP_TRUST_PROXY,
      },
      logger: log,
    });
  }
  onShutdown(log, async () => {
    await ingestion?.close();
    await broker.close();
    await registry.close();
    await kinds.close();
    await ops?.close();
  });
} catch (error) {
  exitOnConfigError(error);
}
