/** aedes-persistence-redis ships no types: what the broker uses of it. */
declare module 'aedes-persistence-redis' {
  import type { Redis, RedisOptions } from 'ioredis';
  interface AedesPersistenceRedisOptions extends RedisOptions {
    /** An existing connection (a URL's, a cluster's). */
    conn?: Redis;
    /** Queued messages delivered to a session on reconnect (default 1,000). */
    maxSessionDelivery?: number;
    packetTTL?: () => number;
  }
  function aedesPersistenceRedis(options?: AedesPersistenceRedisOptions): unknown;
  export default aedesPersistenceRedis;
}
