/** `npm run lab`: the whole city lab on this machine, on loopback, with simulated devices. */
import { mkdirSync } from 'node:fs';
import { resolve, join } from 'node:path';
import { pino } from 'pino';
import { exitOnConfigError, parseConfig } from '../common/config.ts';
import { REDACTED_PATHS } from '../common/logger.ts';
import { onShutdown } from '../common/shutdown.ts';
import { LabConfigSchema } from './config.ts';
import { createLab } from './lab.ts';
import { researchOptionsFromConfig } from '../api/jobs/research.ts';
import { alertingOptionsFromConfig } from '../api/alerts/config.ts';
import { mapSettingsFromConfig } from '../api/map-config.ts';
import { licenceFromConfig } from '../api/open-data.ts';
import { defaultLabFromConfig } from '../api/labs/config.ts';
import { describeLab } from './banner.ts';

try {
  const config = parseConfig(LabConfigSchema, process.env);
  const dataDir = resolve(config.DATA_DIR);
  mkdirSync(dataDir, { recursive: true });
  const logFile = join(dataDir, 'lab.log');
  const log = pino(
    { level: config.LOG_LEVEL, redact: { paths: REDACTED_PATHS, censor: '[redacted]' } },
    pino.multistream([
      { level: config.LOG_LEVEL, stream: pino.destination({ dest: logFile, mkdir: true, sync: false }) },
      { level: 'warn', stream: process.stderr },
    ]),
  );
  process.stderr.write('[streetlab] starting InfluxDB, broker, ingest, API and simulated devices…\n');
  const lab = await createLab({
    dataDir,
    host: config.HOST,
    httpPort: config.HTTP_PORT,
    mqttPort: config.MQTT_PORT,
    mqttWsPort: config.MQTT_WS_PORT,
    influxPort: config.LAB_INFLUX_PORT,
    influxOwnProcessGroup: true,
    ...(config.INFLUX_URL
      ? {
          influx: {
            url: config.INFLUX_URL,
            database: config.INFLUX_DB,
            ...(config.INFLUX_TOKEN ? { token: config.INFLUX_TOKEN } : {}),
            ...(config.INFLUX_USERNAME ? { username: config.INFLUX_USERNAME, password: config.INFLUX_PASSWORD ?? '' } : {}),
            org: config.INFLUX_ORG,
          },
        }
      : {}),
    simulate: { air: config.SIM_AIR, traffic: config.SIM_TRAFFIC, waste: config.SIM_WASTE, intervalMs: config.SIM_INTERVAL_MS, seed: config.SIM_SEED },
    ...(config.ADMIN_TOKEN ? { adminToken: config.ADMIN_TOKEN } : {}),
    publicRead: config.PUBLIC_READ,
    research: researchOptionsFromConfig(config),
    alerts: alertingOptionsFromConfig(config, dataDir),
    map: mapSettingsFromConfig(config),
    licence: licenceFromConfig(config),
    defaultLab: defaultLabFromConfig(config),
    logger: log,
  });
  process.stdout.write(describeLab(lab, { dataDir, logFile }));
  onShutdown(log, async () => {
    process.stderr.write('\n[streetlab] stopping…\n');
    await lab.close();
    process.stderr.write(`[streetlab] stopped; data kept in ${dataDir}\n`);
  }, config.SHUTDOWN_GRACE_MS);
} catch (error) {
  exitOnConfigError(error);
}
