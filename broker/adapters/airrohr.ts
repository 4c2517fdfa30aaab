/**
 * Sensor.Community (airrohr firmware) "Send data to own API" → a mapped uplink. The firmware
 * POSTs `{"esp8266id": "…", "software_version": "…", "sensordatavalues": [{"value_type":
 * "SDS_P1", "value": "12.30"}, …]}` with every value as a string, HTTP basic auth with the
 * user and password typed into its config page, and `X-Sensor: esp8266-<chipid>`.
 *
 * Value types are named by the sensor that measured them; the table below says which of our
 * air fields each one is (BME280/BMP280 pressure comes in Pa, our contract is hPa). Types
 * that describe the firmware rather than the air (samples, loop timings, GPS) are dropped;
 * one not in the table passes under its own name, so validation reports it unless the
 * device's fieldMap names it. When two sensors give the same field, the first one sent wins.
 */
import { AirrohrPayloadSchema, type FieldMapping } from '../../contracts/index.ts';
import { issuesOf, type AdapterResult } from './uplink.ts';

const to = (field: string, scale?: number) => ({ to: field, ...(scale === undefined ? {} : { scale }) });
const ignore = { ignore: true } as const;

export const AIRROHR_VALUE_TYPES: FieldMapping = {
  SDS_P1: to('pm10'),
  SDS_P2: to('pm25'),
  PMS_P0: to('pm1'),
  PMS_P1: to('pm10'),
  PMS_P2: to('pm25'),
  HPM_P1: to('pm10'),
  HPM_P2: to('pm25'),
  NPM_P0: to('pm1'),
  NPM_P1: to('pm10'),
  NPM_P2: to('pm25'),
  SPS30_P0: to('pm1'),
  SPS30_P1: to('pm10'),
  SPS30_P2: to('pm25'),
  BME280_temperature: to('temperature'),
  BME280_humidity: to('humidity'),
  BME280_pressure: to('pressure', 0.01),
  BMP280_temperature: to('temperature'),
  BMP280_pressure: to('pressure', 0.01),
  BMP_temperature: to('temperature'),
  BMP_pressure: to('pressure', 0.01),
  temperature: to('temperature'),
  humidity: to('humidity'),
  HTU21D_temperature: to('temperature'),
  HTU21D_humidity: to('humidity'),
  SHT3X_temperature: to('temperature'),
  SHT3X_humidity: to('humidity'),
  DS18B20_temperature: to('temperature'),
  noise_LAeq: to('noise'),
  signal: to('rssi'),
  // About the firmware or the counting, not the air.
  SPS30_P4: ignore,
  SPS30_N05: ignore,
  SPS30_N1: ignore,
  SPS30_N25: ignore,
  SPS30_N4: ignore,
  SPS30_N10: ignore,
  SPS30_TS: ignore,
  NPM_N1: ignore,
  NPM_N10: ignore,
  NPM_N25: ignore,
  noise_LA_min: ignore,
  noise_LA_max: ignore,
  samples: ignore,
  min_micro: ignore,
  max_micro: ignore,
  interval: ignore,
  GPS_lat: ignore,
  GPS_lon: ignore,
  GPS_height: ignore,
  GPS_timestamp: ignore,
  GPS_date: ignore,
  GPS_time: ignore,
};

/** The chip id in `X-Sensor: esp8266-12345678` (or esp32-…), or undefined. */
export function chipIdFromHeader(header: string | undefined): string | undefined {
  const match = header === undefined ? null : /^esp(?:8266|32)-(\d{1,12})$/i.exec(header.trim());
  return match ? match[1] : undefined;
}

export function adaptAirrohr(body: unknown, sensorHeader?: string): AdapterResult {
  const parsed = AirrohrPayloadSchema.safeParse(body);
  if (!parsed.success) return { ok: false, issues: issuesOf(parsed.error) };
  const chipId = parsed.data.esp8266id ?? chipIdFromHeader(sensorHeader);
  const fields: Record<string, unknown> = {};
  for (const { value_type: type, value } of parsed.data.sensordatavalues) {
    if (Object.hasOwn(fields, type)) continue;
    // Strings such as "12.30"; one that is not a number stays text and fails validation by name.
    const number = typeof value === 'number' ? value : value.trim() === '' ? Number.NaN : Number(value);
    fields[type] = Number.isFinite(number) ? number : value;
  }
  return {
    ok: true,
    uplink: {
      source: 'airrohr',
      lookup: chipId === undefined ? {} : { airrohrChipId: chipId },
      label: chipId === undefined ? 'airrohr sensor' : `esp8266-${chipId}`,
      fields,
      meta: {},
      builtInMapping: AIRROHR_VALUE_TYPES,
    },
  };
}
