import { z } from 'zod';
import { InfluxConfigShape, LogLevelSchema, MqttClientConfigShape, portSchema } from '../common/config.ts';

export const ApiConfigSchema = z.object({
  ...InfluxConfigShape,
  ...MqttClientConfigShape,
  HTTP_HOST: z.string().default('127.0.0.1'),
  HTTP_PORT: portSchema(8080),
  CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean)),
  DASHBOARD_DIR: z.string().optional(),
  LOG_LEVEL: LogLevelSchema,
});
export type ApiConfig = z.infer<typeof ApiConfigSchema>;
