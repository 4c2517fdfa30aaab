/**
 * The same versioned document as document-store.ts, kept in Redis for several machines
 * (cluster mode, REDIS_URL): a hash `{ rev, doc }` under one key, `doc` being the very text
 * the file store writes (encodeDocument). Every change is compare-and-set on `rev` in one
 * Lua script, which also publishes the new revision on `<key>:changed`: a change made on any
 * node is adopted by every other one as soon as the message arrives (and at reconnection),
 * with no lock to hold and no polling. A change that lost the race is run again on the fresh
 * document, so `update` keeps its meaning: one change at a time, each on the latest state.
 *
 * If Redis is unreachable, reads serve the last adopted state and changes fail with
 * STORE_UNAVAILABLE (retryable); nothing is written anywhere else meanwhile.
 */
import { Redis } from 'ioredis';
import { AppError } from '../errors.ts';
import { createSilentLogger } from '../logger.ts';
import { createChangeListeners, decodeDocument, encodeDocument, type DocumentChangeCause, type DocumentStore, type DocumentStoreOptions, type DocumentUpdate } from './document-store.ts';

const COMPARE_AND_SET = `if (redis.call('HGET', KEYS[1], 'rev') or '0') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'rev', ARGV[2], 'doc', ARGV[3])
  redis.call('PUBLISH', KEYS[2], ARGV[2])
  return 1
end
return 0`;

/** How often a change may lose the race before it gives up (a hot document under many writers). */
const MAX_ATTEMPTS = 50;

export type RedisDocumentStoreOptions<S, C> = Omit<DocumentStoreOptions<S, C>, 'file' | 'pollIntervalMs' | 'lockTimeoutMs' | 'lockLeaseMs' | 'mode' | 'beforeRename' | 'onInvalid'> & {
  redisUrl: string;
  /** The hash's key, e.g. `streetlab:registry`. */
  key: string;
};

export async function openRedisDocumentStore<S, C>(options: RedisDocumentStoreOptions<S, C>): Promise<DocumentStore<S>> {
  const log = options.logger ?? createSilentLogger();
  const now = options.now ?? Date.now;
  const { key, what } = options;
  const channel = `${key}:changed`;
  const where = `redis:${key}`;
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 2 });
  const subscriber = redis.duplicate();
  for (const c of [redis, subscriber]) c.on('error', (error) => log.warn({ err: error.message, key }, `${what}: Redis error`));

  let state = options.empty();
  let revision = 0;
  let exists = false;
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();
  const listeners = createChangeListeners<S>(log, { key }, what);

  function emit(cause: DocumentChangeCause): void {
    listeners.emit(state, cause);
  }

  function unavailable(error: unknown): AppError {
    return new AppError('STORE_UNAVAILABLE', `${what}: Redis did not answer (${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }

  /** Adopts the stored document when its revision differs; true when it did. */
  async function adopt(): Promise<boolean> {
    let stored: [string | null, string | null];
    try {
      stored = (await redis.hmget(key, 'rev', 'doc')) as [string | null, string | null];
    } catch (error) {
      throw unavailable(error);
    }
    const [rev, doc] = stored;
    const storedRevision = rev === null ? 0 : Number(rev);
    if (storedRevision === revision && exists === (doc !== null)) return false;
    if (doc === null) {
      state = options.empty();
      revision = 0;
      exists = false;
    } else {
      const parsed = decodeDocument(options, where, doc);
      state = parsed.state;
      revision = storedRevision;
      exists = true;
    }
    return true;
  }

  // First load: a broken document stops the process, as a broken file does.
  await adopt();
  await subscriber.subscribe(channel);
  subscriber.on('message', (_channel, message) => {
    if (Number(message) === revision) return;
    void refresh().catch((error: unknown) => log.warn({ err: String(error), key }, `${what}: could not adopt a change`));
  });
  // After a reconnection, changes published meanwhile were missed: look once.
  subscriber.on('ready', () => void refresh().catch(() => {}));

  function refresh(): Promise<boolean> {
    const run = queue.then(async () => {
      const changed = await adopt();
      if (changed) emit('reloaded');
      return changed;
    });
    queue = run.catch(() => {});
    return run;
  }

  function update<R>(change: (current: S) => DocumentUpdate<S, R>): Promise<R> {
    if (closed) return Promise.reject(new AppError('INTERNAL', `${what} is closed`));
    const run = queue.then(async () => {
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
        if (await adopt()) emit('reloaded');
        const { result, next } = change(state);
        if (next === undefined) return result;
        const text = encodeDocument(options, next, revision + 1, now());
        let written: unknown;
        try {
          written = await redis.eval(COMPARE_AND_SET, 2, key, channel, String(revision), String(revision + 1), text);
        } catch (error) {
          throw unavailable(error);
        }
        if (written === 1) {
          state = next;
          revision += 1;
          exists = true;
          emit('written');
          return result;
        }
        // Another node changed it first: run the change again on its document.
      }
      throw new AppError('STORE_UNAVAILABLE', `${what}: gave up after ${MAX_ATTEMPTS} concurrent changes won the race`);
    });
    queue = run.catch(() => {});
    return run;
  }

  return {
    file: undefined,
    get state() {
      return state;
    },
    get revision() {
      return revision;
    },
    get exists() {
      return exists;
    },
    refresh,
    update,
    write: (next) => update(() => ({ result: undefined, next })),
    onChange: (listener) => listeners.add(listener),
    async close() {
      closed = true;
      await queue.catch(() => {});
      subscriber.disconnect();
      redis.disconnect();
    },
  };
}
