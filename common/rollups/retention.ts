/**
 * Retention through InfluxDB's own mechanism. On 1.x: the database's default retention policy
 * (where raw readings go) gets the raw duration, and the `rollups` policy the rollup duration;
 * InfluxDB drops whole expired shards itself. On 2.x and 3.x retention is a property of the
 * bucket and is set with the server's own tooling (`influx bucket update --retention 30d` for
 * `streetlab`, and a bucket `streetlab/rollups` mapped to database `streetlab`, retention
 * policy `rollups`, with `influx v1 dbrp create`); nothing is changed from here then.
 */
import type { InfluxClient } from '../influx.ts';
import { quoteIdentifier, seriesToRows } from '../influx.ts';
import { ROLLUP_RETENTION_POLICY } from '../influx-schema.ts';

export interface RetentionSettings {
  /** Days raw readings are kept; 0 = forever; undefined = leave the raw policy as it is. */
  rawDays?: number | undefined;
  /** Days rollups are kept; 0 = forever. */
  rollupDays: number;
}

export interface RetentionReport {
  applied: boolean;
  statements: string[];
  note?: string;
}

function duration(days: number): string {
  return days > 0 ? `${days}d` : 'INF';
}

/** Shard groups a fraction of the retention, so expiry drops data in small steps. */
function shardDuration(days: number): string {
  if (days <= 0) return '7d';
  if (days <= 2) return '1h';
  if (days <= 180) return '1d';
  return days >= 730 ? '30d' : '7d';
}

export async function applyRetention(influx: Pick<InfluxClient, 'query' | 'settings'>, settings: RetentionSettings): Promise<RetentionReport> {
  if (influx.settings.token) {
    return {
      applied: false,
      statements: [],
      note: `InfluxDB 2.x/3.x: set the retention of bucket ${influx.settings.database} (${settings.rawDays === undefined ? 'as it is' : duration(settings.rawDays)}) and of bucket ${influx.settings.database}/${ROLLUP_RETENTION_POLICY} (${duration(settings.rollupDays)}) with the server's tools`,
    };
  }
  const db = quoteIdentifier(influx.settings.database);
  const [result] = await influx.query(`SHOW RETENTION POLICIES ON ${db}`);
  const policies = seriesToRows(result?.series ?? []);
  const statements: string[] = [];
  const defaultPolicy = policies.find((p) => p.default === true);
  if (settings.rawDays !== undefined && defaultPolicy && typeof defaultPolicy.name === 'string' && defaultPolicy.name !== ROLLUP_RETENTION_POLICY) {
    statements.push(
      `ALTER RETENTION POLICY ${quoteIdentifier(defaultPolicy.name)} ON ${db} DURATION ${duration(settings.rawDays)} SHARD DURATION ${shardDuration(settings.rawDays)}`,
    );
  }
  const rollups = policies.some((p) => p.name === ROLLUP_RETENTION_POLICY);
  statements.push(
    rollups
      ? `ALTER RETENTION POLICY ${quoteIdentifier(ROLLUP_RETENTION_POLICY)} ON ${db} DURATION ${duration(settings.rollupDays)} SHARD DURATION ${shardDuration(settings.rollupDays)}`
      : `CREATE RETENTION POLICY ${quoteIdentifier(ROLLUP_RETENTION_POLICY)} ON ${db} DURATION ${duration(settings.rollupDays)} REPLICATION 1 SHARD DURATION ${shardDuration(settings.rollupDays)}`,
  );
  for (const statement of statements) await influx.query(statement);
  return { applied: true, statements };
}
