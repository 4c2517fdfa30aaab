/** `npm run broker`: the MQTT broker as its own process. */
import { exitOnConfigError, parseConfig } from '../common/config.ts';
import { createLogger } from '../common/logger.ts';
import { onShutdown } from '../common/shutdown.ts';
import { createBroker } from './broker.ts';
import { BrokerConfigSchema } from './config.ts';

try {
  const config = parseConfig(BrokerConfigSchema, process.env);
  const log = createLogger({ level: config.LOG_LEVEL, name: 'broker' });
  const broker = await createBroker({
    host: config.MQTT_HOST,
    port: config.MQTT_PORT,
    wsPort: config.MQTT_WS_ENABLED ? config.MQTT_WS_PORT : undefined,
    connectTimeoutMs: config.MQTT_CONNECT_TIMEOUT_MS,
    logger: log,
  });
  onShutdown(log, () => broker.close());
} catch (error) {
  exitOnConfigError(error);
}
