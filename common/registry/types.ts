/**
 * The device registry as every service sees it. The default implementation is a JSON file
 * under DATA_DIR (file-registry.ts); a database-backed one can implement the same
 * interface. Mutations are async; the hot paths (broker ACL, ingest tags) read a
 * synchronous in-memory snapshot that follows changes made by other processes within
 * `SNAPSHOT_STALENESS_MS`.
 */
import type {
  ApiKeyRecord,
  ApiKeyWithToken,
  CreateApiKeyRequest,
  CreateDeviceRequest,
  CreateLabRequest,
  DeviceRecord,
  DeviceWithSecret,
  Lab,
  UpdateDeviceRequest,
} from '../../contracts/index.ts';
import type { RegistryTags } from '../influx-schema.ts';

/** How stale `peek` may be relative to a change made by another process. */
export const SNAPSHOT_STALENESS_MS = 1_000;

export type VerifyResult =
  | { ok: true; device: DeviceRecord; secretVersion: number }
  | { ok: false; reason: 'UNKNOWN_DEVICE' | 'BAD_SECRET' | 'DISABLED' | 'BUSY'; device?: DeviceRecord };

export type RegistryChange =
  | { type: 'created' | 'updated' | 'removed' | 'rotated'; deviceId: string; device?: DeviceRecord }
  | { type: 'reloaded' };

export interface DeviceRegistry {
  list(): Promise<DeviceRecord[]>;
  get(id: string): Promise<DeviceRecord | undefined>;
  /** Registers a device and issues its secret (shown once). AppError CONFLICT for a taken id. */
  create(request: CreateDeviceRequest): Promise<DeviceWithSecret>;
  /** AppError NOT_FOUND for an unknown id. */
  update(id: string, patch: UpdateDeviceRequest): Promise<DeviceRecord>;
  /** AppError NOT_FOUND for an unknown id. */
  remove(id: string): Promise<void>;
  /** Issues a new secret; the old one stops working at once. AppError NOT_FOUND for an unknown id. */
  rotateSecret(id: string): Promise<DeviceWithSecret>;
  /** Checks a device's secret (constant time, cached after success). */
  verifySecret(id: string, secret: string | Buffer): Promise<VerifyResult>;

  /** The snapshot's record for `id` (synchronous; for hot paths). */
  peek(id: string): DeviceRecord | undefined;
  /** Re-reads the registry's backing store now if it changed (another process wrote it). */
  refresh?(): Promise<void>;
  /** Increments on every rotation: a connection authenticated with an older version is stale. */
  secretVersionOf(id: string): number | undefined;
  /** Registry tags stored with every point of the device (`site`, `owner`). */
  tagsOf(id: string): RegistryTags | undefined;

  listApiKeys(): Promise<ApiKeyRecord[]>;
  createApiKey(request: CreateApiKeyRequest): Promise<ApiKeyWithToken>;
  /** AppError NOT_FOUND for an unknown key id. */
  revokeApiKey(id: string): Promise<void>;
  /** The key a bearer token belongs to, or undefined (synchronous, constant time per key). */
  verifyApiKey(token: string): ApiKeyRecord | undefined;

  /** The labs on this platform (contracts/labs.ts), stored in the same document as devices and keys. */
  listLabs(): Promise<Lab[]>;
  getLab(id: string): Promise<Lab | undefined>;
  /** AppError CONFLICT for a taken id, BAD_REQUEST naming a bad field. */
  createLab(request: CreateLabRequest): Promise<Lab>;
  /** Creates the lab unless it exists (first boot, upgrades); the existing one is left as it is. */
  ensureLab(request: CreateLabRequest): Promise<Lab>;

  /** Called after every change, whether made here or by another process. Returns an unsubscribe. */
  onChange(listener: (change: RegistryChange) => void): () => void;
  close(): Promise<void>;
}
