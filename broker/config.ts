import { z } from 'zod';
import { LogLevelSchema, booleanSchema, byteSizeSchema, optionalPortSchema, portSchema, positiveIntSchema } from '../common/config.ts';

export const BrokerConfigSchema = z.object({
  MQTT_HOST: z.string().default('127.0.0.1'),
  MQTT_PORT: portSchema(1883),
  /** MQTT over WebSocket; set MQTT_WS_ENABLED=false to turn it off. */
  MQTT_WS_PORT: portSchema(8083),
  MQTT_WS_ENABLED: booleanSchema(true),
  MQTT_CONNECT_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(5_000),
  /** Connections not yet through CONNECT at once; more are closed on arrival (bounds unauthenticated memory). */
  MQTT_MAX_PENDING_CONNECTIONS: z.coerce.number().int().min(1).max(1_000_000).default(1_000),
  /**
   * Security (README, "Security"). Off by default: devices authenticate with their registry secret
   * (DATA_DIR/registry.json), services with credentials derived from SERVICE_TOKEN.
   * `true` makes a plain, open MQTT 3.1.1 broker for protocol tests and demos.
   */
  MQTT_ALLOW_ANONYMOUS: booleanSchema(false),
  SERVICE_TOKEN: z.string().min(32, 'at least 32 characters (e.g. `openssl rand -base64 32`)').optional(),
  /** Largest PUBLISH payload; a bigger packet closes the connection before it is buffered. */
  MAX_PAYLOAD_BYTES: byteSizeSchema(16 * 1024),
  /** Reading timestamps: how far ahead of the receive time (clock skew) and how far behind (store-and-forward) they may be. */
  TS_MAX_FUTURE_S: positiveIntSchema(300),
  TS_MAX_AGE_S: positiveIntSchema(7 * 24 * 3600),
  /**
   * The durable log of readings (the edge): DATA_DIR/log unless LOG_DIR says otherwise. The
   * ingest worker drains it, so both must see the same directory.
   */
  LOG_DIR: z.string().optional(),
  /** fdatasync every group before its PUBACKs; false survives a process crash but not a power cut. */
  LOG_FSYNC: booleanSchema(true),
  /** The log's bound on disk: at it new readings wait (devices are slowed down) until ingest drains. */
  LOG_MAX_BYTES: byteSizeSchema(1024 ** 3),
  LOG_SEGMENT_BYTES: byteSizeSchema(16 * 1024 ** 2),
  /** Per-device message rate (sustained per second, and burst); over it a device is slowed down, not refused; 0 turns the limit off. */
  MQTT_DEVICE_RATE_PER_S: z.coerce.number().min(0).max(100_000).default(10),
  MQTT_DEVICE_BURST: z.coerce.number().int().min(1).max(1_000_000).default(50),
  /** MQTT over TLS: listens when both a certificate and a key (PEM files) are given. */
  MQTT_TLS_PORT: portSchema(8883),
  MQTT_TLS_CERT: z.string().optional(),
  MQTT_TLS_KEY: z.string().optional(),
  /**
   * Where MQTT sessions and messages queued for subscribers live (not readings: those are in
   * the log): `file` (journal + snapshot under DATA_DIR/broker, survives a restart) or `memory`.
   */
  BROKER_PERSISTENCE: z.enum(['file', 'memory']).default('file'),
  /**
   * Cluster mode: broker nodes share subscriptions, sessions and queued messages through this
   * Redis (redis://host:port[/db]); BROKER_PERSISTENCE is then not used. Unset: one node.
   */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/[^\s]+$/, 'a redis:// or rediss:// URL')
    .optional(),
  DATA_DIR: z.string().default('.data'),
  BROKER_PERSISTENCE_DIR: z.string().optional(),
  BROKER_PERSISTENCE_FSYNC: booleanSchema(true),
  BROKER_JOURNAL_COMPACT_BYTES: byteSizeSchema(64 * 1024 ** 2),
  /** /metrics, /healthz, /readyz of the broker; `off` for none. */
  BROKER_HTTP_HOST: z.string().default('127.0.0.1'),
  BROKER_HTTP_PORT: optionalPortSchema(9102),
  /**
   * HTTP ingestion (broker/ingest-http.ts): HTTP devices, The Things Stack and ChirpStack
   * webhooks, Sensor.Community sensors; `off` for none. Not INGEST_HTTP_*: those are the
   * ingest worker's metrics port, and one environment often configures both services.
   */
  EDGE_HTTP_HOST: z.string().default('127.0.0.1'),
  EDGE_HTTP_PORT: optionalPortSchema(8088),
  /** Largest HTTP ingestion request body (an array of readings, an uplink). */
  EDGE_HTTP_BODY_LIMIT_BYTES: byteSizeSchema(256 * 1024),
  /**
   * Failed HTTP ingestion requests (no or a wrong secret, unknown device or integration) per
   * source address: this many at once, refilled by EDGE_HTTP_FAILURES_PER_MIN; over it the
   * address is answered 429 with Retry-After. EDGE_HTTP_FAILURES_PER_MIN=0 turns the limit off.
   */
  EDGE_HTTP_FAILURES_BURST: z.coerce.number().int().min(1).max(1_000_000).default(20),
  EDGE_HTTP_FAILURES_PER_MIN: z.coerce.number().min(0).max(1_000_000).default(20),
  /** Repeated DEVICE_UNKNOWN records of one identifier within this window are counted, not stored one by one. */
  EDGE_HTTP_UNKNOWN_WINDOW_S: z.coerce.number().int().min(1).max(86_400).default(60),
  /**
   * Whose X-Forwarded-For names a request's source address: `loopback` (the API on this host),
   * addresses or CIDRs and `uniquelocal` (private networks), comma-separated; `true` any, `false` none.
   */
  EDGE_HTTP_TRUST_PROXY: z
    .string()
    .regex(/^(true|false|[0-9A-Za-z.:/,\s]+)$/, 'true, false, or comma-separated addresses, CIDRs, loopback, linklocal, uniquelocal')
    .default('loopback')
    .transform((value) => (value === 'true' ? true : value === 'false' ? false : value)),
  LOG_LEVEL: LogLevelSchema,
});
export type BrokerConfig = z.infer<typeof BrokerConfigSchema>;

/** Cross-field rules zod cannot express per variable; returns the problems, named by variable. */
export function brokerConfigProblems(config: BrokerConfig): string[] {
  const problems: string[] = [];
  if (Boolean(config.MQTT_TLS_CERT) !== Boolean(config.MQTT_TLS_KEY)) problems.push('MQTT_TLS_CERT and MQTT_TLS_KEY: set both or neither');
  return problems;
}
