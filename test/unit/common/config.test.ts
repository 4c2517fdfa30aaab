import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../common/config.ts';
import { isAppError } from '../../../common/errors.ts';
import { ApiConfigSchema } from '../../../api/config.ts';
import { BrokerConfigSchema } from '../../../broker/config.ts';
import { IngestConfigSchema } from '../../../ingest/config.ts';
import { LabConfigSchema } from '../../../lab/config.ts';

function configError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(isAppError(error, 'CONFIG_INVALID')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected a configuration error');
}

describe('configuration', () => {
  it('has working defaults for every service', () => {
    expect(parseConfig(BrokerConfigSchema, {})).toMatchObject({ MQTT_PORT: 1883, MQTT_WS_PORT: 8083 });
    expect(parseConfig(ApiConfigSchema, {})).toMatchObject({ HTTP_PORT: 8080, INFLUX_DB: 'streetlab', MQTT_URL: 'mqtt://127.0.0.1:1883' });
    expect(parseConfig(IngestConfigSchema, {})).toMatchObject({ DATA_DIR: '.data', INFLUX_URL: 'http://127.0.0.1:8086' });
    expect(parseConfig(LabConfigSchema, {})).toMatchObject({ DATA_DIR: '.lab', HTTP_PORT: 8080 });
  });

  it('leaves INFLUX_URL unset for the lab, which then starts its own InfluxDB', () => {
    expect(parseConfig(LabConfigSchema, {}).INFLUX_URL).toBeUndefined();
    expect(parseConfig(LabConfigSchema, { INFLUX_URL: 'http://db:8086' }).INFLUX_URL).toBe('http://db:8086');
  });

  it('reads sizes with units', () => {
    expect(parseConfig(BrokerConfigSchema, { MAX_PAYLOAD_BYTES: '16KiB' }).MAX_PAYLOAD_BYTES).toBe(16_384);
    expect(parseConfig(BrokerConfigSchema, { LOG_MAX_BYTES: '2GiB' }).LOG_MAX_BYTES).toBe(2 * 1024 ** 3);
    expect(parseConfig(BrokerConfigSchema, { MQTT_WS_ENABLED: 'no' }).MQTT_WS_ENABLED).toBe(false);
  });

  it('treats an empty variable as unset', () => {
    expect(parseConfig(BrokerConfigSchema, { MQTT_PORT: '' }).MQTT_PORT).toBe(1883);
  });

  it.each([
    [BrokerConfigSchema, { MQTT_PORT: '70000' }, 'MQTT_PORT'],
    [BrokerConfigSchema, { MQTT_PORT: 'eighty' }, 'MQTT_PORT'],
    [ApiConfigSchema, { INFLUX_URL: 'not a url' }, 'INFLUX_URL'],
    [ApiConfigSchema, { MQTT_URL: 'http://x' }, 'MQTT_URL'],
    [ApiConfigSchema, { LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [IngestConfigSchema, { INFLUX_DB: 'drop;me' }, 'INFLUX_DB'],
    [IngestConfigSchema, { WRITE_BATCH_SIZE: '-5' }, 'WRITE_BATCH_SIZE'],
    [LabConfigSchema, { SIM_INTERVAL_MS: '1' }, 'SIM_INTERVAL_MS'],
    [LabConfigSchema, { ADMIN_TOKEN: 'short' }, 'ADMIN_TOKEN'],
    [LabConfigSchema, { INFLUX_URL: 'influx' }, 'INFLUX_URL'],
    [BrokerConfigSchema, { MAX_PAYLOAD_BYTES: 'lots' }, 'MAX_PAYLOAD_BYTES'],
    [BrokerConfigSchema, { LOG_MAX_BYTES: '1 ton' }, 'LOG_MAX_BYTES'],
    [BrokerConfigSchema, { LOG_FSYNC: 'sometimes' }, 'LOG_FSYNC'],
    [BrokerConfigSchema, { MQTT_WS_ENABLED: 'maybe' }, 'MQTT_WS_ENABLED'],
  ] as const)('names the bad variable (%#)', (schema, env, name) => {
    const message = configError(() => parseConfig(schema, env));
    expect(message).toContain(name);
    expect(message).toContain(Object.values(env)[0]);
  });
});
