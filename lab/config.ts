import { z } from 'zod';
import { InfluxConfigShape, LogLevelSchema, booleanSchema, portSchema } from '../common/config.ts';
import { ResearchConfigShape } from '../api/jobs/research.ts';
import { AlertsConfigShape } from '../api/alerts/config.ts';
import { MapConfigShape } from '../api/map-config.ts';
import { OpenDataConfigShape } from '../api/open-data.ts';
import { LabConfigShape } from '../api/labs/config.ts';

/** `npm run lab` settings: loopback ports with the usual defaults, data under .lab/. */
export const LabConfigSchema = z.object({
  DATA_DIR: z.string().default('.lab'),
  HOST: z.string().default('127.0.0.1'),
  HTTP_PORT: portSchema(8080),
  MQTT_PORT: portSchema(1883),
  MQTT_WS_PORT: portSchema(8083),
  /** Port of the lab's own InfluxDB (ignored when INFLUX_URL is set). */
  LAB_INFLUX_PORT: portSchema(8086),
  /**
   * An external InfluxDB instead of the lab's own. Deliberately without a default: unset means
   * "start a private influxd", which the shared shape's default URL would silently prevent.
   */
  INFLUX_URL: z.url().optional(),
  INFLUX_DB: InfluxConfigShape.INFLUX_DB,
  INFLUX_TOKEN: InfluxConfigShape.INFLUX_TOKEN,
  INFLUX_USERNAME: InfluxConfigShape.INFLUX_USERNAME,
  INFLUX_PASSWORD: InfluxConfigShape.INFLUX_PASSWORD,
  INFLUX_ORG: InfluxConfigShape.INFLUX_ORG,
  /** Open data: read routes, the dashboard's data and the live feed without a key. `false` = an API key or the admin token is needed. */
  PUBLIC_READ: booleanSchema(true),
  /** The open data's licence and attribution (api/open-data.ts). */
  ...OpenDataConfigShape,
  /** The lab `npm run lab` starts: LAB_ID (default main), LAB_NAME, LAB_AREA (api/labs/config.ts). */
  ...LabConfigShape,
  /** Bearer token for the admin API; unset = a fresh random one per start, printed in the banner. */
  ADMIN_TOKEN: z.string().min(32, 'at least 32 characters (e.g. `openssl rand -base64 32`)').optional(),
  SIM_AIR: z.coerce.number().int().min(0).max(20_000).default(4),
  SIM_TRAFFIC: z.coerce.number().int().min(0).max(20_000).default(3),
  SIM_WASTE: z.coerce.number().int().min(0).max(20_000).default(5),
  SIM_INTERVAL_MS: z.coerce.number().int().min(10).max(3_600_000).default(2_000),
  SIM_SEED: z.coerce.number().int().default(1),
  /** Level of the log file (DATA_DIR/lab.log); the terminal shows warnings and errors. */
  LOG_LEVEL: LogLevelSchema,
  /** Longest Ctrl-C may take: the lab stops five services and InfluxDB in turn. */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(1_000).default(20_000),
  ...ResearchConfigShape,
  ...AlertsConfigShape,
  /** The dashboard's street map: MAP_TILES_URL, MAP_ATTRIBUTION (api/map-config.ts). */
  ...MapConfigShape,
});
export type LabConfig = z.infer<typeof LabConfigSchema>;
