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

export interface ClusterEngines {
  mq: unknown;
  persistence: unknown;
}

export function createClusterEngines(redisUrl: string, options: { maxSessionDelivery?: number } = {}): ClusterEngines {
  const mq = MQEmitterRedis({ connectionString: redisUrl });
  const persistence = aedesPersistenceRedis({ conn: new Redis(redisUrl, { maxRetriesPerRequest: null }), maxSessionDelivery: options.maxSessionDelivery ?? 1_000 });
  return { mq, persistence };
}
