/**
 * Registers simulated devices through the device API (POST /api/v1/devices with the admin
 * token), as a startup would register real ones, and returns each device's secret for its
 * MQTT login. A device kept from an earlier run gets a fresh secret by rotation, because
 * secrets are shown only once and the simulator keeps them only in memory.
 */
import { DeviceRecordSchema, DeviceWithSecretSchema, type CreateDeviceRequest } from '../contracts/index.ts';
import { AppError } from '../common/errors.ts';
import type { FleetDevice } from './fleet.ts';

export interface RegisterOptions {
  apiUrl: string;
  adminToken: string;
  devices: readonly FleetDevice[];
  /** The interval the devices promise to report at (the registry's `intervalSeconds`). */
  intervalSeconds: number;
  owner?: string;
  /** Requests in flight at once: the API hashes each secret with scrypt, which is slow on purpose. */
  concurrency?: number;
  fetch?: typeof fetch;
}

/** Device id → secret. Throws an AppError naming the device and the API's answer on failure. */
export async function registerThroughApi(options: RegisterOptions): Promise<Map<string, string>> {
  const doFetch = options.fetch ?? fetch;
  const base = options.apiUrl.replace(/\/+$/, '');
  const authorization = `Bearer ${options.adminToken}`;
  const secrets = new Map<string, string>();

  const call = async (method: string, path: string, body?: unknown) => {
    let response: Response;
    try {
      response = await doFetch(`${base}${path}`, {
        method,
        // No content type without a body: fastify refuses an empty JSON body.
        headers: body === undefined ? { authorization } : { authorization, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      throw new AppError('REGISTRATION_FAILED', `cannot reach the device API at ${base} (${error instanceof Error ? error.message : String(error)})`);
    }
    const text = await response.text();
    return { status: response.status, json: text ? (JSON.parse(text) as unknown) : undefined, text };
  };
  const failure = (deviceId: string, what: string, answer: { status: number; text: string }) =>
    new AppError('REGISTRATION_FAILED', `registering ${deviceId}: ${what} answered ${answer.status} ${answer.text.slice(0, 300)}`);

  const registerOne = async (device: FleetDevice) => {
    const request: CreateDeviceRequest = {
      id: device.id,
      kind: device.kind,
      name: `${device.id} · ${device.site} (simulated)`,
      owner: options.owner ?? 'StreetLab simulator',
      lat: device.lat,
      lon: device.lon,
      site: device.site,
      intervalSeconds: options.intervalSeconds,
      enabled: true,
      meta: { simulated: true },
    };
    const path = `/api/v1/devices/${encodeURIComponent(device.id)}`;
    let answer = await call('POST', '/api/v1/devices', request);
    if (answer.status === 409) {
      // Kept from an earlier run: same kind → rotate; another kind → replace the record.
      const existing = await call('GET', path);
      if (existing.status !== 200) throw failure(device.id, `GET ${path}`, existing);
      const record = DeviceRecordSchema.parse(existing.json);
      if (record.kind === device.kind) {
        if (!record.enabled) {
          const enabled = await call('PATCH', path, { enabled: true });
          if (enabled.status !== 200) throw failure(device.id, `PATCH ${path}`, enabled);
        }
        answer = await call('POST', `${path}/secret`);
      } else {
        const removed = await call('DELETE', path);
        if (removed.status >= 300) throw failure(device.id, `DELETE ${path}`, removed);
        answer = await call('POST', '/api/v1/devices', request);
      }
    }
    if (answer.status !== 200 && answer.status !== 201) throw failure(device.id, 'the device API', answer);
    secrets.set(device.id, DeviceWithSecretSchema.parse(answer.json).secret);
  };

  const queue = [...options.devices];
  const workers = Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 8, queue.length)) }, async () => {
    for (let device = queue.shift(); device; device = queue.shift()) await registerOne(device);
  });
  await Promise.all(workers);
  return secrets;
}
