/**
 * Read queries against InfluxDB for the API. Values from requests only ever travel as
 * bound parameters; measurement and field names come from the contract allow-lists.
 */
import { READING_KINDS, type LiveReading, type ReadingKind, type Rejection } from '../contracts/index.ts';
import type { InfluxClient, QueryParams } from '../common/influx.ts';
import { quoteIdentifier, seriesToRows } from '../common/influx.ts';
import {
  MEASUREMENTS,
  REJECTED_MEASUREMENT,
  TAG_DEVICE,
  TAG_KIND,
  rowToReading,
  rowToRejection,
} from '../common/influx-schema.ts';

export interface ReadingsFilter {
  kinds?: readonly ReadingKind[];
  devices?: readonly string[];
  fromMs: number;
  toMs: number;
  limit: number;
}

/** `(device = $device0 OR device = $device1 …)` with its params. */
export function deviceCondition(devices: readonly string[] | undefined, params: QueryParams): string {
  if (!devices || devices.length === 0) return '';
  const terms = devices.map((device, i) => {
    params[`device${i}`] = device;
    return `${quoteIdentifier(TAG_DEVICE)} = $device${i}`;
  });
  return ` AND (${terms.join(' OR ')})`;
}

export function createReadingStore(influx: Pick<InfluxClient, 'query'>) {
  return {
    /** Raw readings, newest first, across the requested kinds. */
    async readings(filter: ReadingsFilter): Promise<LiveReading[]> {
      const kinds = filter.kinds && filter.kinds.length > 0 ? filter.kinds : READING_KINDS;
      const params: QueryParams = { from: new Date(filter.fromMs).toISOString(), to: new Date(filter.toMs).toISOString() };
      const where = `time >= $from AND time < $to${deviceCondition(filter.devices, params)}`;
      const from = kinds.map((k) => quoteIdentifier(MEASUREMENTS[k])).join(', ');
      const [result] = await influx.query(`SELECT * FROM ${from} WHERE ${where} ORDER BY time DESC LIMIT ${filter.limit}`, params);
      const readings: LiveReading[] = [];
      for (const series of result?.series ?? []) {
        const kind = series.name as ReadingKind;
        for (const row of seriesToRows([series])) readings.push(rowToReading(kind, row));
      }
      readings.sort((a, b) => (a.ts < b.ts ? 1 : a.ts > b.ts ? -1 : 0));
      return readings.slice(0, filter.limit);
    },

    /** The latest reading of every device heard from within `windowMs`. */
    async latest(kinds: readonly ReadingKind[], nowMs: number, windowMs: number): Promise<LiveReading[]> {
      const params: QueryParams = { from: new Date(nowMs - windowMs).toISOString() };
      const statements = kinds.map(
        (k) => `SELECT * FROM ${quoteIdentifier(MEASUREMENTS[k])} WHERE time >= $from GROUP BY ${quoteIdentifier(TAG_DEVICE)} ORDER BY time DESC LIMIT 1`,
      );
      const results = await influx.query(statements.join('; '), params);
      const readings: LiveReading[] = [];
      results.forEach((result, i) => {
        for (const row of seriesToRows(result.series ?? [])) readings.push(rowToReading(kinds[i]!, row));
      });
      return readings.sort((a, b) => a.deviceId.localeCompare(b.deviceId));
    },

    async rejections(filter: { device?: string | undefined; kind?: ReadingKind | undefined; fromMs: number; limit: number }): Promise<Rejection[]> {
      const params: QueryParams = { from: new Date(filter.fromMs).toISOString() };
      let where = 'time >= $from';
      if (filter.device) {
        params.device = filter.device;
        where += ` AND ${quoteIdentifier(TAG_DEVICE)} = $device`;
      }
      if (filter.kind) {
        params.kind = filter.kind;
        where += ` AND ${quoteIdentifier(TAG_KIND)} = $kind`;
      }
      const [result] = await influx.query(
        `SELECT * FROM ${quoteIdentifier(REJECTED_MEASUREMENT)} WHERE ${where} ORDER BY time DESC LIMIT ${filter.limit}`,
        params,
      );
      return seriesToRows(result?.series ?? []).map(rowToRejection);
    },
  };
}
export type ReadingStore = ReturnType<typeof createReadingStore>;
