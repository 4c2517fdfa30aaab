/**
 * Secrets: generation, the slow salted hash they are stored as, constant-time comparison,
 * and a cache that keeps reconnect storms from pinning the CPU.
 *
 * Device secrets are server-generated (192 bits, base64url) and stored only as scrypt
 * hashes (`scrypt$N$r$p$salt$hash`, parameters kept with the hash so they can be raised
 * later). scrypt costs tens of milliseconds of CPU by design, so a broker that re-ran it
 * on every reconnect would let a few thousand reconnecting devices (or one attacker)
 * saturate both cores: `createSecretVerifier` remembers a fast HMAC of each successful
 * verification, keyed by the stored hash, so a rotation (new hash) invalidates it at once,
 * and bounds how many scrypt computations run or wait at the same time.
 *
 * API keys are 256-bit random tokens; for secrets of that entropy a slow hash adds nothing
 * (nobody can brute-force 2^256), so they are stored as SHA-256 and checked per request
 * without cost.
 */
import { createHash, createHmac, randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** Bytes of randomness in a device secret (≥ 16 required; 24 → 32 base64url characters). */
export const DEVICE_SECRET_BYTES = 24;
/** Default scrypt cost: N = 2^14, r = 8 (16 MiB, tens of ms), p = 1, 32-byte key. */
export const SCRYPT_DEFAULTS = { N: 16_384, r: 8, p: 1, keyLength: 32, saltBytes: 16 } as const;

export function generateSecret(bytes = DEVICE_SECRET_BYTES): string {
  if (bytes < 16) throw new Error('a secret needs at least 16 bytes (128 bits) of randomness');
  return randomBytes(bytes).toString('base64url');
}

function scrypt(secret: string | Buffer, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(secret, salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

function scryptOptions(N: number, r: number, p: number): ScryptOptions {
  // Node refuses scrypt above 32 MiB by default; give headroom for raised parameters.
  return { N, r, p, maxmem: 256 * N * r + 1024 * 1024 };
}

/** `scrypt$N$r$p$salt$hash` (salt and hash base64url). */
export async function hashSecret(secret: string, params: { N?: number; r?: number; p?: number } = {}): Promise<string> {
  const N = params.N ?? SCRYPT_DEFAULTS.N;
  const r = params.r ?? SCRYPT_DEFAULTS.r;
  const p = params.p ?? SCRYPT_DEFAULTS.p;
  const salt = randomBytes(SCRYPT_DEFAULTS.saltBytes);
  const key = await scrypt(secret, salt, SCRYPT_DEFAULTS.keyLength, scryptOptions(N, r, p));
  return ['scrypt', N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

const HASH_FORMAT = /^scrypt\$(\d{1,8})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9_-]{16,})\$([A-Za-z0-9_-]{16,})$/;

export function isSecretHash(value: string): boolean {
  return HASH_FORMAT.test(value);
}

/** Checks `secret` against a stored scrypt hash in constant time; false for a malformed hash. */
export async function verifySecretHash(secret: string | Buffer, stored: string): Promise<boolean> {
  const match = HASH_FORMAT.exec(stored);
  if (!match) return false;
  const [, N, r, p, salt, hash] = match;
  const expected = Buffer.from(hash!, 'base64url');
  const actual = await scrypt(secret, Buffer.from(salt!, 'base64url'), expected.length, scryptOptions(Number(N), Number(r), Number(p)));
  return timingSafeEqual(actual, expected);
}

/** SHA-256 hex of a high-entropy token (API keys, the admin token). */
export function sha256Hex(value: string | Buffer): string {
  return createHash('sha256').update(value).digest('hex');
}

/** Constant-time equality of two strings of any length (compares their SHA-256 digests). */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

export interface SecretVerifierOptions {
  /** scrypt computations running at once (the libuv pool has 4 threads; these machines have 2 cores). */
  maxConcurrent?: number;
  /** Verifications allowed to wait for a slot; beyond that `verify` answers 'busy' at once. */
  maxQueued?: number;
  /** Cached successful verifications kept (oldest dropped first). */
  maxCached?: number;
}

export type SecretCheck = 'ok' | 'mismatch' | 'busy';

export interface SecretVerifier {
  /** Checks `secret` for `key` (a device id) against `storedHash`. */
  verify(key: string, secret: string | Buffer, storedHash: string): Promise<SecretCheck>;
  /** Forgets a key's cached verification (on rotation or removal; a changed hash also misses). */
  forget(key: string): void;
  stats(): { cacheHits: number; slowChecks: number; busy: number; cached: number; running: number; queued: number };
}

export function createSecretVerifier(options: SecretVerifierOptions = {}): SecretVerifier {
  const maxConcurrent = options.maxConcurrent ?? 2;
  const maxQueued = options.maxQueued ?? 256;
  const maxCached = options.maxCached ?? 100_000;
  // A per-process key: the cache holds HMACs, never secrets, and they mean nothing elsewhere.
  const cacheKey = randomBytes(32);
  const cache = new Map<string, { storedHash: string; mac: Buffer }>();
  const waiting: (() => void)[] = [];
  let running = 0;
  const counters = { cacheHits: 0, slowChecks: 0, busy: 0 };

  const macOf = (storedHash: string, secret: string | Buffer) =>
    createHmac('sha256', cacheKey).update(storedHash).update('\0').update(secret).digest();

  async function slot<T>(work: () => Promise<T>): Promise<T> {
    if (running >= maxConcurrent) await new Promise<void>((resolve) => waiting.push(resolve));
    running += 1;
    try {
      return await work();
    } finally {
      running -= 1;
      waiting.shift()?.();
    }
  }

  return {
    async verify(key, secret, storedHash) {
      const mac = macOf(storedHash, secret);
      const cached = cache.get(key);
      if (cached && cached.storedHash === storedHash && timingSafeEqual(cached.mac, mac)) {
        counters.cacheHits += 1;
        return 'ok';
      }
      if (running >= maxConcurrent && waiting.length >= maxQueued) {
        counters.busy += 1;
        return 'busy';
      }
      counters.slowChecks += 1;
      const ok = await slot(() => verifySecretHash(secret, storedHash));
      if (!ok) return 'mismatch';
      cache.delete(key);
      cache.set(key, { storedHash, mac });
      if (cache.size > maxCached) cache.delete(cache.keys().next().value!);
      return 'ok';
    },
    forget(key) {
      cache.delete(key);
    },
    stats: () => ({ ...counters, cached: cache.size, running, queued: waiting.length }),
  };
}
