import { z } from 'zod';
import { ResearchConfigShape } from './jobs/research.ts';
import { AlertsConfigShape } from './alerts/config.ts';
import { MapConfigShape } from './map-config.ts';
import { OpenDataConfigShape } from './open-data.ts';
import { LabConfigShape } from './labs/config.ts';
import { booleanSchema, byteSizeSchema, cronSchema, InfluxConfigShape, LogLevelSchema, MqttClientConfigShape, portSchema, positiveIntSchema } from '../common/config.ts';

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
  /** The device registry lives in DATA_DIR/registry.json (shared with the broker and ingest). */
  DATA_DIR: z.string().default('.data'),
  /**
   * Cluster mode: API nodes share socket.io rooms through this Redis, and the jobs and alert
   * evaluation run on one node at a time (a lease). Unset: one node.
   */
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\/[^\s]+$/, 'a redis:// or rediss:// URL')
    .optional(),
  /** Bearer token for the admin endpoints (devices, keys); unset = only admin API keys. */
  ADMIN_TOKEN: z.string().min(32, 'at least 32 characters (e.g. `openssl rand -base64 32`)').optional(),
  /** Open data: read endpoints and the live feed without credentials. */
  PUBLIC_READ: booleanSchema(false),
  /** The open data's licence (a known SPDX id or `<id> <URL>`) and attribution (api/open-data.ts). */
  ...OpenDataConfigShape,
  /** The default lab: LAB_ID, LAB_NAME, LAB_AREA (api/labs/config.ts). */
  ...LabConfigShape,
  /** Requests per client (API key, else address) per window; 0 turns the limit off. */
  RATE_LIMIT_MAX: z.coerce.number().int().min(0).default(1_200),
  RATE_LIMIT_WINDOW_MS: positiveIntSchema(60_000),
  /**
   * The broker's HTTP ingestion listener (its EDGE_HTTP_HOST:EDGE_HTTP_PORT, e.g.
   * http://127.0.0.1:8088): when set, POST /api/v1/devices/{id}/readings and /api/v1/uplinks/*
   * sent to the API are passed on to it, so devices and network servers need only this port.
   */
  EDGE_HTTP_URL: z.url({ protocol: /^https?$/, error: 'an http:// or https:// URL' }).optional(),
  /** Largest request body; bigger → 413. */
  BODY_LIMIT_BYTES: byteSizeSchema(64 * 1024),
  /** Trial reports: most readings read per device for one report (beyond → 400 asking for a sub-range). */
  TRIAL_REPORT_MAX_READINGS: positiveIntSchema(2_000_000),
  /** node-cron expression of the daily trial summary (yesterday, UTC); default 00:15 every day. */
  TRIAL_SUMMARY_SCHEDULE: cronSchema('15 0 * * *'),
  /** Research API: rollups, retention and query limits (api/jobs/research.ts). */
  ...ResearchConfigShape,
  /** Alerts: rules, webhook, the offline-detection and alert-repeats jobs (api/alerts/config.ts). */
  ...AlertsConfigShape,
  /** The dashboard's street map: tile server and attribution (api/map-config.ts). */
  ...MapConfigShape,
  LOG_LEVEL: LogLevelSchema,
});
export type ApiConfig = z.infer<typeof ApiConfigSchema>;
