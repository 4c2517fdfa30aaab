import { z } from 'zod';
import { InfluxConfigShape, LogLevelSchema, MqttClientConfigShape, positiveIntSchema } from '../common/config.ts';

export const IngestConfigSchema = z.object({
  ...InfluxConfigShape,
  ...MqttClientConfigShape,
  INGEST_CLIENT_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('streetlab-ingest'),
  MAX_PAYLOAD_BYTES: positiveIntSchema(16 * 1024),
  TS_MAX_FUTURE_S: positiveIntSchema(300),
  TS_MAX_AGE_S: positiveIntSchema(7 * 24 * 3600),
  WRITE_BATCH_SIZE: positiveIntSchema(5_000),
  FLUSH_INTERVAL_MS: positiveIntSchema(100),
  WRITE_BUFFER_LINES: positiveIntSchema(100_000),
  LOG_LEVEL: LogLevelSchema,
});
export type IngestConfig = z.infer<typeof IngestConfigSchema>;
