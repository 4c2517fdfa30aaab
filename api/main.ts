/** `npm run api`: the HTTP API, socket.io live push and dashboard as their own process. */
import { resolve } from 'node:path';
import { exitOnConfigError, parseConfig } from '../common/config.ts';
import { createInfluxClient } from '../common/influx.ts';
import { createLogger } from '../common/logger.ts';
import { openKindCatalogue } from '../common/kinds/index.ts';
import { openFileRegistry, resolveServiceCredentials } from '../common/registry/index.ts';
import { openIntegrationStore } from '../common/registry/integrations.ts';
import { onShutdown } from '../common/shutdown.ts';
import { ApiConfigSchema } from './config.ts';
import { researchOptionsFromConfig } from './jobs/research.ts';
import { alertingOptionsFromConfig } from './alerts/config.ts';
import { mapSettingsFromConfig } from './map-config.ts';
import { licenceFromConfig } from './open-data.ts';
import { defaultLabFromConfig } from './labs/config.ts';
import { createApiServer } from './server.ts';
import { createRegistryDeviceCheck, openFileTrialStore } from './trials/store.ts';

try {
  const config = parseConfig(ApiConfigSchema, process.env);
  const log = createLogger({ level: config.LOG_LEVEL, name: 'api' });
  const influx = createInfluxClient({
    url: config.INFLUX_URL,
    database: config.INFLUX_DB,
    token: config.INFLUX_TOKEN,
    username: config.INFLUX_USERNAME,
    password: config.INFLUX_PASSWORD,
    org: config.INFLUX_ORG,
  });
  const registry = await openFileRegistry({ dataDir: resolve(config.DATA_DIR), redisUrl: config.REDIS_URL, logger: log });
  // Device kinds live next to the registry: DATA_DIR/kinds.json and DATA_DIR/kinds/*.json.
  const kinds = await openKindCatalogue({ dataDir: resolve(config.DATA_DIR), redisUrl: config.REDIS_URL, logger: log });
  // Trials live next to the registry: DATA_DIR/trials.json.
  const trials = await openFileTrialStore({ dataDir: resolve(config.DATA_DIR), checkDevices: createRegistryDeviceCheck(registry) });
  // Network-server integrations live next to the registry: DATA_DIR/integrations.json (the broker reads it too).
  const integrations = await openIntegrationStore({ dataDir: resolve(config.DATA_DIR), redisUrl: config.REDIS_URL, logger: log });
  if (!config.ADMIN_TOKEN) log.warn('ADMIN_TOKEN is not set: devices can be managed only with an admin API key');
  if (config.PUBLIC_READ) log.info('PUBLIC_READ=true: read endpoints and the live feed are open to everyone');
  const credentials = resolveServiceCredentials('api', config);
  const server = await createApiServer({
    host: config.HTTP_HOST,
    port: config.HTTP_PORT,
    influx,
    mqttUrl: config.MQTT_URL,
    mqttUsername: credentials?.username,
    mqttPassword: credentials?.password,
    dashboardDir: config.DASHBOARD_DIR,
    corsOrigins: config.CORS_ORIGINS,
    registry,
    integrations,
    edgeHttpUrl: config.EDGE_HTTP_URL,
    kinds,
    trials: { store: trials, maxReadingsPerDevice: config.TRIAL_REPORT_MAX_READINGS, dailySummarySchedule: config.TRIAL_SUMMARY_SCHEDULE },
    adminToken: config.ADMIN_TOKEN,
    publicRead: config.PUBLIC_READ,
    rateLimit: config.RATE_LIMIT_MAX > 0 ? { max: config.RATE_LIMIT_MAX, timeWindowMs: config.RATE_LIMIT_WINDOW_MS } : false,
    bodyLimitBytes: config.BODY_LIMIT_BYTES,
    research: researchOptionsFromConfig(config),
    // Alert rules and history live next to the registry: DATA_DIR/alert-rules.json, DATA_DIR/alerts.json.
    alerts: alertingOptionsFromConfig(config, resolve(config.DATA_DIR)),
    ...(config.REDIS_URL ? { cluster: { redisUrl: config.REDIS_URL } } : {}),
    map: mapSettingsFromConfig(config),
    licence: licenceFromConfig(config),
    defaultLab: defaultLabFromConfig(config),
    logger: log,
  });
  onShutdown(log, async () => {
    await server.close();
    await trials.close();
    await integrations.close();
    await registry.close();
    await kinds.close();
  });
} catch (error) {
  exitOnConfigError(error);
}
