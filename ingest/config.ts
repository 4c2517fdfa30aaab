import { z } from 'zod';
import {
  InfluxConfigShape,
  LogLevelSchema,
  MqttClientConfigShape,
  booleanSchema,
  byteSizeSchema,
  optionalPortSchema,
  positiveIntSchema,
} from '../common/config.ts';

export const IngestConfigSchema = z.object({
  ...InfluxConfigShape,
  ...MqttClientConfigShape,
  /** Shared with the broker; ingest connects as `svc:ingest` with a password derived from it (unless MQTT_USERNAME is set). */
  SERVICE_TOKEN: z.string().min(32).optional(),
  INGEST_CLIENT_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('streetlab-ingest'),
  MAX_PAYLOAD_BYTES: byteSizeSchema(16 * 1024),
  TS_MAX_FUTURE_S: positiveIntSchema(300),
  TS_MAX_AGE_S: positiveIntSchema(7 * 24 * 3600),
  WRITE_BATCH_SIZE: positiveIntSchema(5_000),
  FLUSH_INTERVAL_MS: positiveIntSchema(100),
  /** Records received but not yet durable beyond which ingest stops reading from the broker. */
  WRITE_BUFFER_LINES: positiveIntSchema(100_000),
  /** Longest pause between InfluxDB write retries (backoff doubles up to it). */
  WRITE_RETRY_MAX_MS: positiveIntSchema(5_000),
  /** State of the service: the spool lives in DATA_DIR/spool unless SPOOL_DIR says otherwise. */
  DATA_DIR: z.string().default('.data'),
  SPOOL_DIR: z.string().optional(),
  /** The spool's bound on disk; at it ingest stops acknowledging (the broker keeps the data). */
  SPOOL_MAX_BYTES: byteSizeSchema(1024 ** 3),
  SPOOL_SEGMENT_BYTES: byteSizeSchema(16 * 1024 ** 2),
  /** fdatasync every group commit; false survives a process crash but not a power cut. */
  SPOOL_FSYNC: booleanSchema(true),
  /** /metrics, /healthz, /readyz of the ingest worker; `off` for none. */
  INGEST_HTTP_HOST: z.string().default('127.0.0.1'),
  INGEST_HTTP_PORT: optionalPortSchema(9101),
  SHUTDOWN_GRACE_MS: positiveIntSchema(10_000),
  LOG_LEVEL: LogLevelSchema,
});
export type IngestConfig = z.infer<typeof IngestConfigSchema>;
