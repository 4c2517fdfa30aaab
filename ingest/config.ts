import { z } from 'zod';
import { InfluxConfigShape, LogLevelSchema, optionalPortSchema, positiveIntSchema } from '../common/config.ts';

export const IngestConfigSchema = z.object({
  ...InfluxConfigShape,
  WRITE_BATCH_SIZE: positiveIntSchema(5_000),
  FLUSH_INTERVAL_MS: positiveIntSchema(100),
  /** Longest pause between InfluxDB write retries (backoff doubles up to it). */
  WRITE_RETRY_MAX_MS: positiveIntSchema(5_000),
  /** State shared with the broker: the edge's log is DATA_DIR/log unless LOG_DIR says otherwise. */
  DATA_DIR: z.string().default('.data'),
  LOG_DIR: z.string().optional(),
  /** /metrics, /healthz, /readyz of the ingest worker; `off` for none. */
  INGEST_HTTP_HOST: z.string().default('127.0.0.1'),
  INGEST_HTTP_PORT: optionalPortSchema(9101),
  SHUTDOWN_GRACE_MS: positiveIntSchema(10_000),
  LOG_LEVEL: LogLevelSchema,
});
export type IngestConfig = z.infer<typeof IngestConfigSchema>;
