/** `npm run api`: the HTTP API, socket.io live push and dashboard as their own process. */
import { exitOnConfigError, parseConfig } from '../common/config.ts';
import { createInfluxClient } from '../common/influx.ts';
import { createLogger } from '../common/logger.ts';
import { onShutdown } from '../common/shutdown.ts';
import { ApiConfigSchema } from './config.ts';
import { createApiServer } from './server.ts';

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
  const server = await createApiServer({
    host: config.HTTP_HOST,
    port: config.HTTP_PORT,
    influx,
    mqttUrl: config.MQTT_URL,
    mqttUsername: config.MQTT_USERNAME,
    mqttPassword: config.MQTT_PASSWORD,
    dashboardDir: config.DASHBOARD_DIR,
    corsOrigins: config.CORS_ORIGINS,
    logger: log,
  });
  onShutdown(log, () => server.close());
} catch (error) {
  exitOnConfigError(error);
}
