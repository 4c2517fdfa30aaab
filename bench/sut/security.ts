/**
 * Authentication and ACL for the systems under test, plugged in from the project's own code
 * when it exists: the device registry (`common/registry/`: `openFileRegistry`, service
 * credentials derived from a SERVICE_TOKEN) and the broker policy (`broker/auth.ts`). Both
 * are being built in parallel with the bench, so they are loaded at run time, not imported
 * statically: when they are missing, or their factories do not have the shape this adapter
 * expects, the bench measures the broker in open mode and says so in its output — it never
 * pretends to have measured authentication.
 *
 * The places to adjust when those modules change: `registerDevices` and `buildBrokerSecurity`.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { BrokerPolicy } from '../../broker/broker.ts';
import type { Edge } from '../../broker/edge.ts';
import type { RegistryTags } from '../../common/influx-schema.ts';
import type { ReadingKind } from '../../contracts/index.ts';

const ROOT = join(import.meta.dirname, '..', '..');
const AUTH_MODULE = join(ROOT, 'broker', 'auth.ts');
const REGISTRY_MODULE = join(ROOT, 'common', 'registry', 'index.ts');
const REGISTRY_FILE = 'registry.json';

export interface Credentials {
  username: string;
  password: string;
}

/** What the broker host needs to build its policy (plain data: it crosses IPC). */
export type BrokerSecurityPlan = { mode: 'open' } | { mode: 'auth'; registryFile: string; serviceToken: string | undefined };

export interface SecuritySetup {
  mode: 'auth' | 'open';
  /** Why this mode: printed with every figure measured in it. */
  detail: string;
  plan: BrokerSecurityPlan;
  /** Credentials per device id (empty in open mode). */
  devices: Map<string, Credentials>;
  /**
   * Credentials of the internal services: the API's live hub (`svc:api`, reads the live feed),
   * and `svc:monitor` (may read `lab/v1/#`: the brokers stage's subscriber). Ingest reads the
   * log, not the broker, and needs none.
   */
  services: { api?: Credentials | undefined; monitor?: Credentials | undefined };
}

export interface DeviceSpec {
  id: string;
  kind: ReadingKind;
}

type AnyModule = Record<string, unknown>;
type AnyFn = (...args: unknown[]) => unknown;

/** Whether the project has the auth pieces at all (cheap; no import). */
export function authModulesPresent(): { present: boolean; missing: string[] } {
  const missing: string[] = [];
  if (!existsSync(AUTH_MODULE)) missing.push('broker/auth.ts');
  if (!existsSync(REGISTRY_MODULE)) missing.push('common/registry/');
  return { present: missing.length === 0, missing };
}

function findExport(module: AnyModule, pattern: RegExp): AnyFn | undefined {
  const name = Object.keys(module).find((key) => pattern.test(key) && typeof module[key] === 'function');
  return name ? (module[name] as AnyFn) : undefined;
}

/**
 * scrypt cost of the secrets the bench issues: N = 2^10 instead of the registry's 2^14. No
 * figure measures connect time, and at the default a bench run would spend half a minute
 * hashing and verifying the secrets of a few hundred devices on 2 cores; every per-message
 * check is unchanged.
 */
const BENCH_SCRYPT = { N: 1_024 };

async function openRegistry(registryFile: string, redisUrl?: string): Promise<{ registry: Record<string, AnyFn>; module: AnyModule }> {
  const module = (await import(pathToFileURL(REGISTRY_MODULE).href)) as AnyModule;
  const open = findExport(module, /^(open|create)\w*Registry$/);
  if (!open) throw new Error(`common/registry exports no open…Registry factory (exports: ${Object.keys(module).join(', ')})`);
  // No polling: the bench provisions before the broker starts and changes nothing after.
  // With a Redis URL (cluster mode, as broker/main.ts with REDIS_URL), the registry is the copy in Redis.
  const registry = (await open(redisUrl ? { redisUrl, scrypt: BENCH_SCRYPT } : { file: registryFile, pollIntervalMs: 0, scrypt: BENCH_SCRYPT })) as Record<string, AnyFn>;
  if (typeof registry?.create !== 'function') throw new Error('the registry has no create()');
  return { registry, module };
}

/** Registers the bench's devices in a fresh registry file and derives the services' credentials. */
export async function registerDevices(
  registryFile: string,
  devices: readonly DeviceSpec[],
): Promise<{ devices: Map<string, Credentials>; services: SecuritySetup['services']; serviceToken: string | undefined }> {
  const { registry, module } = await openRegistry(registryFile);
  const credentials = new Map<string, Credentials>();
  try {
    // scrypt runs on the libuv pool: a few at a time keep the 2 cores busy without a long queue.
    for (let i = 0; i < devices.length; i += 4) {
      await Promise.all(
        devices.slice(i, i + 4).map(async (device) => {
          const result = (await registry.create!({ id: device.id, kind: device.kind, owner: 'bench', lat: 55.676, lon: 12.568 })) as { secret?: unknown };
          if (typeof result?.secret !== 'string') throw new Error('registry create() did not return { secret }');
          credentials.set(device.id, { username: device.id, password: result.secret });
        }),
      );
    }
  } finally {
    await registry.close?.();
  }
  const generateToken = findExport(module, /^generateServiceToken$/);
  const derive = findExport(module, /^serviceCredentials$/);
  if (!generateToken || !derive) return { devices: credentials, services: {}, serviceToken: undefined };
  const serviceToken = generateToken() as string;
  return {
    devices: credentials,
    services: { api: derive(serviceToken, 'api') as Credentials, monitor: derive(serviceToken, 'monitor') as Credentials },
    serviceToken,
  };
}

/**
 * Decides the security mode for a run: authentication and ACL when the project has them
 * and they can be wired, open otherwise — with the reason either way.
 */
export async function prepareSecurity(want: 'auth' | 'open', workDir: string, devices: readonly DeviceSpec[]): Promise<SecuritySetup> {
  const open = (detail: string): SecuritySetup => ({ mode: 'open', detail, plan: { mode: 'open' }, devices: new Map(), services: {} });
  if (want === 'open') return open('open mode (anonymous, no ACL), as asked');
  const { present, missing } = authModulesPresent();
  if (!present) return open(`OPEN mode: ${missing.join(' and ')} not found, so authentication and ACL could not be measured`);
  try {
    const registryFile = join(workDir, REGISTRY_FILE);
    const wired = await registerDevices(registryFile, devices);
    const plan: BrokerSecurityPlan = { mode: 'auth', registryFile, serviceToken: wired.serviceToken };
    // Fail here, not in the middle of a stage, if the policy cannot be built.
    const probe = await buildBrokerSecurity(plan);
    probe?.policyFor(undefined).close?.();
    await probe?.close();
    return {
      mode: 'auth',
      detail:
        'authentication + topic ACL on (broker/auth.ts with the file registry from common/registry/; per-device rate limit off, as bench devices publish far faster than real ones; ' +
        'device secrets hashed with scrypt N=2^10 to keep connects quick — no figure measures connect time)',
      plan,
      devices: wired.devices,
      services: wired.services,
    };
  } catch (error) {
    return open(
      `OPEN mode: broker/auth.ts and common/registry/ exist but the bench could not wire them ` +
        `(${error instanceof Error ? error.message : String(error)}); adjust bench/sut/security.ts`,
    );
  }
}

/**
 * What the broker host gets, in broker/main.ts's order: the registry first (its tags go into
 * every line the edge writes), then the policy around the edge.
 */
export interface BrokerSecurity {
  lookupTags: (deviceId: string) => RegistryTags | undefined;
  /** `createBrokerPolicy({ registry, serviceToken, edge, … })`. */
  policyFor(edge: Edge | undefined): BrokerPolicy;
  close(): Promise<void>;
}

/**
 * Cluster mode keeps the registry in Redis (`openFileRegistry({ redisUrl })`: the hash
 * `streetlab:registry` holding `{ rev, doc }`, `doc` the very text the file holds). The bench
 * registers its devices once, in the file; this copies that document into a fresh Redis.
 */
export async function seedRegistryInRedis(plan: BrokerSecurityPlan, redisUrl: string): Promise<void> {
  if (plan.mode === 'open') return;
  const module = (await import(pathToFileURL(REGISTRY_MODULE).href)) as AnyModule;
  const key = typeof module.REGISTRY_REDIS_KEY === 'string' ? module.REGISTRY_REDIS_KEY : 'streetlab:registry';
  const doc = await readFile(plan.registryFile, 'utf8');
  const revision = (JSON.parse(doc) as { revision?: number }).revision ?? 1;
  const { Redis } = await import('ioredis');
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 2 });
  try {
    await redis.hset(key, 'rev', String(revision), 'doc', doc);
  } finally {
    redis.disconnect();
  }
}

/**
 * Opens the registry inside the broker's process (from Redis when `redisUrl` is given);
 * undefined in open mode (`createBroker({ edge })` makes the open policy itself).
 */
export async function buildBrokerSecurity(plan: BrokerSecurityPlan, redisUrl?: string): Promise<BrokerSecurity | undefined> {
  if (plan.mode === 'open') return undefined;
  const module = (await import(pathToFileURL(AUTH_MODULE).href)) as AnyModule;
  const factory = findExport(module, /^create\w*(Policy|Auth)\w*$/);
  if (!factory) throw new Error(`broker/auth.ts exports no create…Policy factory (exports: ${Object.keys(module).join(', ')})`);
  const { registry } = await openRegistry(plan.registryFile, redisUrl);
  const tagsOf = registry.tagsOf;
  return {
    lookupTags: typeof tagsOf === 'function' ? (deviceId) => tagsOf.call(registry, deviceId) as RegistryTags | undefined : () => undefined,
    policyFor(edge) {
      // rateLimit off: the bench's devices publish hundreds of readings a second each, where a
      // real device sends one every few seconds (the policy's default is 10/s, and over it a
      // device is throttled); every other check — credentials at connect, the topic ACL on
      // every publish and subscribe — stays on.
      const policy = factory({ registry, serviceToken: plan.serviceToken, edge, rateLimit: false }) as Partial<BrokerPolicy> | undefined;
      if (!policy || typeof policy.authenticate !== 'function') throw new Error('the policy factory returned no authenticate hook');
      return policy as BrokerPolicy;
    },
    close: async () => {
      await registry.close?.();
    },
  };
}
