/** `npm run broker`: the MQTT broker as its own process. */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exitOnConfigError, parseConfig } from '../common/config.ts';
import { AppError } from '../common/errors.ts';
import { openFileRegistry, type FileRegistry } from '../common/registry/index.ts';
import { createBrokerPolicy } from './auth.ts';
import { createLogger } from '../common/logger.ts';
import { createMetricsRegistry, registerProcessMetrics, startOpsServerOrWarn } from '../common/metrics.ts';
import { onShutdown } from '../common/shutdown.ts';
import { createBroker } from './broker.ts';
import { BrokerConfigSchema, brokerConfigProblems } from './config.ts';
import { registerBrokerMetrics } from './metrics.ts';
import { createFilePersistence, type FilePersistence } from './persistence-file.ts';

function readPem(path: string, variable: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new AppError('CONFIG_INVALID', `invalid configuration:\n  ${variable}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
}

try {
  const config = parseConfig(BrokerConfigSchema, process.env);
  const problems = brokerConfigProblems(config);
  if (problems.length > 0) throw new AppError('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`);
  const log = createLogger({ level: config.LOG_LEVEL, name: 'broker' });
  // Security: the device registry (shared with the API and ingest through DATA_DIR) and the services' token.
  let registry: FileRegistry | undefined;
  if (config.MQTT_ALLOW_ANONYMOUS) {
    log.warn('MQTT_ALLOW_ANONYMOUS=true: open broker, no authentication and no topic ACL');
  } else {
    registry = await openFileRegistry({ dataDir: resolve(config.DATA_DIR), logger: log });
    log.info({ file: registry.file, devices: (await registry.list()).length }, 'device registry loaded');
    if (!config.SERVICE_TOKEN) log.warn('SERVICE_TOKEN is not set: ingest and the API cannot connect to this broker');
  }
  const policy = createBrokerPolicy({
    ...(registry ? { registry } : {}),
    serviceToken: config.SERVICE_TOKEN,
    allowAnonymous: config.MQTT_ALLOW_ANONYMOUS,
    rateLimit: config.MQTT_DEVICE_RATE_PER_S > 0 ? { ratePerSecond: config.MQTT_DEVICE_RATE_PER_S, burst: config.MQTT_DEVICE_BURST } : false,
    maxPayloadBytes: config.MAX_PAYLOAD_BYTES,
    logger: log,
  });
  // `file`: queued QoS 1 messages and persistent sessions survive a restart (docs/durability.md).
  let persistence: FilePersistence | undefined;
  if (config.BROKER_PERSISTENCE === 'file') {
    const dir = resolve(config.BROKER_PERSISTENCE_DIR ?? join(config.DATA_DIR, 'broker'));
    persistence = await createFilePersistence({ dir, fsync: config.BROKER_PERSISTENCE_FSYNC, compactBytes: config.BROKER_JOURNAL_COMPACT_BYTES, logger: log });
    log.info({ dir }, 'broker persistence: file');
  } else {
    log.warn('broker persistence: memory — queued messages and sessions are lost when the broker stops');
  }
  const broker = await createBroker({
    ...(persistence ? { persistence } : {}),
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
  const metrics = createMetricsRegistry();
  registerProcessMetrics(metrics);
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
  onShutdown(log, async () => {
    await broker.close();
    await registry?.close();
    await ops?.close();
  });
} catch (error) {
  exitOnConfigError(error);
}
