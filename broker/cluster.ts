/**
 * Broker nodes sharing state through Redis (REDIS_URL): Aedes' own engines for it —
 * `mqemitter-redis` carries every publish to the subscribers on every node, and
 * `aedes-persistence-redis` keeps sessions, subscriptions, retained messages and QoS 1 queues
 * for offline subscribers, so a client that reconnects to another node finds its session
 * there. Readings do not depend on either: each node's edge logs them before the PUBACK,
 * and an ingest worker per node drains that node's log.
 */
import { Redis } from 'ioredis';
import MQEmitterRedis from 'mqemitter-redis';
import aedesPersistenceRedis from 'aedes-persistence-redis';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';

export interface ClusterEngines {
  mq: unknown;
  persistence: unknown;
}

export function createClusterEngines(redisUrl: string, options: { maxSessionDelivery?: number; logger?: Logger } = {}): ClusterEngines {
  const log = options.logger ?? createSilentLogger();
  // Commands wait for Redis for as long as it takes (no per-request retry limit, whose error
  // nobody could handle): a Redis restart slows the cluster down, it does not crash a node.
  const connect = () => new Redis(redisUrl, { maxRetriesPerRequest: null });
  const mq = MQEmitterRedis({ pubConn: connect(), subConn: connect() });
  // mqemitter-redis re-emits its connections' errors on `state`; unheard, one Redis restart
  // would kill the broker. ioredis reconnects by itself: say so now and then, and ride it out.
  let lastLog = 0;
  (mq as unknown as { state: NodeJS.EventEmitter }).state.on('error', (error: Error) => {
    if (Date.now() - lastLog < 5_000) return;
    lastLog = Date.now();
    log.warn({ err: error.message }, 'cluster: Redis not reachable; retrying');
  });
  const conn = connect();
  conn.on('error', () => {
    // Reported above; ioredis reconnects and replays what waited.
  });
  const persistence = aedesPersistenceRedis({ conn, maxSessionDelivery: options.maxSessionDelivery ?? 1_000 });
  return { mq, persistence };
}
