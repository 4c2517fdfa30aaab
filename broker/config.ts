import { z } from 'zod';
import { LogLevelSchema, portSchema } from '../common/config.ts';

export const BrokerConfigSchema = z.object({
  MQTT_HOST: z.string().default('127.0.0.1'),
  MQTT_PORT: portSchema(1883),
  /** MQTT over WebSocket; set MQTT_WS_ENABLED=false to turn it off. */
  MQTT_WS_PORT: portSchema(8083),
  MQTT_WS_ENABLED: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  MQTT_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  LOG_LEVEL: LogLevelSchema,
});
export type BrokerConfig = z.infer<typeof BrokerConfigSchema>;
