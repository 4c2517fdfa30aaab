/**
 * Read queries against InfluxDB for the API. Values from requests only ever travel as
 * bound parameters; measurement and field names come from the contract allow-lists.
 */
import { METRICS_BY_KIND, type LiveReading, type ReadingKind, type Rejection } from '../contracts/index.ts';
import type { InfluxClient, QueryParams } from '../common/influx.ts';
import { createInfluxClient, quoteIdentifier, seriesToRows } from '../common/influx.ts';
import {
  MEASUREMENTS,
  REJECTED_MEASUREMENT,
  TAG_DEVICE,
  TAG_KIND,
  rowToReading,
  rowToRejection,
} from '../common/influx-schema.ts';

/** How long a streamed export may wait on a slow client before InfluxDB's socket counts as idle. */
export const EXPORT_IDLE_TIMEOUT_MS = 5 * 60_000;

/**
 * The API's reads that are not research queries (those live in api/query/): the latest
 * reading per device for the map, and recent rejections. `influx` is exposed for api/query,
 * and `exportInflux` for streamed exports: a download paced by a slow client leaves the
 * InfluxDB socket idle (backpressure), which the client's usual 10 s timeout would cut.
 */
export function createReadingStore(influx: Pick<InfluxClient, 'query' | 'queryChunks'> & { settings?: InfluxClient['settings'] }) {
  const exportInflux = influx.settings
    ? createInfluxClient({ ...influx.settings, timeoutMs: Math.max(influx.settings.timeoutMs ?? 0, EXPORT_IDLE_TIMEOUT_MS) })
    : influx;
  return {
    influx,
    exportInflux,

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

    /**
     * The latest value of every metric of every device within `windowMs`, with its time: a
     * device that sends some metrics less often than others still shows each one's age.
     */
    async latestPerMetric(kinds: readonly ReadingKind[], nowMs: number, windowMs: number): Promise<Map<string, Record<string, { value: number | boolean; ts: string }>>> {
      const params: QueryParams = { from: new Date(nowMs - windowMs).toISOString() };
      const asked = kinds.flatMap((kind) => METRICS_BY_KIND[kind].map((metric) => ({ kind, metric })));
      const statements = asked.map(
        ({ kind, metric }) =>
          `SELECT LAST(${quoteIdentifier(metric)}) AS "value" FROM ${quoteIdentifier(MEASUREMENTS[kind])} WHERE time >= $from GROUP BY ${quoteIdentifier(TAG_DEVICE)}`,
      );
      const results = await influx.query(statements.join('; '), params);
      const byDevice = new Map<string, Record<string, { value: number | boolean; ts: string }>>();
      results.forEach((result, i) => {
        const { kind, metric } = asked[i]!;
        for (const row of seriesToRows(result.series ?? [])) {
          const value = row.value;
          if (typeof value !== 'number' && typeof value !== 'boolean') continue;
          const key = `${kind}/${String(row[TAG_DEVICE])}`;
          const metrics = byDevice.get(key) ?? {};
          metrics[metric] = { value, ts: new Date(Number(row.time)).toISOString() };
          byDevice.set(key, metrics);
        }
      });
      return byDevice;
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
