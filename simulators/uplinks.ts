/**
 * Simulated LoRaWAN devices behind network servers: air-quality nodes on The Things Stack and
 * waste bins on ChirpStack, whose uplinks reach the lab as those servers would send them —
 * webhook POSTs of TTS v3 uplink messages and ChirpStack v4 `up` events — to the API's
 * /api/v1/uplinks/{ttn|chirpstack}/{integration}. Their readings come from the same street
 * models as the MQTT fleet (simulators/devices/); their "payload formatters" name fields the
 * way real decoders do (pm2_5 in tenths, fillLevel, lid, temp), and each device is registered
 * with the field mapping that turns them back into our contract, its DevEUI and its source.
 *
 * `start` creates the two integrations (or rotates their webhook secrets when they exist) and
 * registers the devices through the device API with the admin token, then sends every
 * `intervalMs` per device with a seeded offset.
 */
import { randomUUID } from 'node:crypto';
import type { CreateDeviceRequest, FieldMapping } from '../contracts/index.ts';
import { AppError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { createDeviceModel, type DeviceModel } from './devices/index.ts';
import { deriveRandom, hashSeed, type Random } from './random.ts';
import { planDevices } from './plan.ts';

export type UplinkSource = 'ttn' | 'chirpstack';

export interface UplinkFleetOptions {
  /** The lab's API (it forwards uplinks to the edge). */
  apiUrl: string;
  adminToken: string;
  /** Air-quality nodes on The Things Stack, waste bins on ChirpStack. */
  ttn: number;
  chirpstack: number;
  intervalMs: number;
  seed: number;
  owner?: string;
  logger?: Logger;
  fetch?: typeof fetch;
}

export interface UplinkDevice {
  id: string;
  source: UplinkSource;
  devEui: string;
  site: string;
  lat: number;
  lon: number;
}

export interface UplinkFleetStats {
  sent: number;
  accepted: number;
  rejected: number;
  failed: number;
}

export interface UplinkFleet {
  readonly devices: readonly UplinkDevice[];
  start(): Promise<void>;
  stats(): UplinkFleetStats;
  stop(): Promise<void>;
}

/** The integrations the simulator creates. */
export const SIMULATED_INTEGRATIONS: Record<UplinkSource, string> = { ttn: 'sim-ttn', chirpstack: 'sim-chirpstack' };

/** The simulated decoders' names → our contract (what each device is registered with). */
export const SIMULATED_FIELD_MAPS: Record<UplinkSource, FieldMapping> = {
  ttn: { pm2_5: { to: 'pm25', scale: 0.1 }, pm10: { to: 'pm10', scale: 0.1 } },
  chirpstack: { fillLevel: { to: 'fill' }, lid: { to: 'lidOpen' }, temp: { to: 'temperature' } },
};

/** A reading of the street model as the simulated decoder names it (the inverse of the field map). */
export function decoderOutput(source: UplinkSource, payload: Record<string, unknown>): Record<string, unknown> {
  const { ts: _ts, seq: _seq, rssi: _rssi, ...fields } = payload;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(fields)) {
    const entry = Object.entries(SIMULATED_FIELD_MAPS[source]).find(([, map]) => 'to' in map && map.to === name);
    if (!entry) out[name] = value;
    else {
      // A scaled field is sent as whole units of its scale (tenths for 0.1), as compact encoders do.
      const scale = 'to' in entry[1] ? (entry[1].scale ?? 1) : 1;
      out[entry[0]] = typeof value === 'number' && scale !== 1 ? Math.round(value / scale) : value;
    }
  }
  return out;
}

/** A TTS v3 uplink message as its webhook sends it. */
export function ttsUplinkMessage(device: UplinkDevice, decoded: Record<string, unknown>, fCnt: number, rssi: number, atMs: number): Record<string, unknown> {
  const at = new Date(atMs).toISOString();
  return {
    end_device_ids: { device_id: `eui-${device.devEui.toLowerCase()}`, application_ids: { application_id: 'streetlab-sim' }, dev_eui: device.devEui },
    correlation_ids: [`as:up:${randomUUID()}`],
    received_at: at,
    uplink_message: {
      f_port: 2,
      f_cnt: fCnt,
      decoded_payload: decoded,
      rx_metadata: [{ gateway_ids: { gateway_id: 'sim-gw-1' }, rssi, channel_rssi: rssi, snr: 7 }],
      received_at: at,
    },
  };
}

/** A ChirpStack v4 `up` event as its HTTP integration sends it. */
export function chirpStackUpEvent(device: UplinkDevice, decoded: Record<string, unknown>, fCnt: number, rssi: number, atMs: number): Record<string, unknown> {
  return {
    deduplicationId: randomUUID(),
    time: new Date(atMs).toISOString(),
    deviceInfo: { tenantName: 'StreetLab', applicationName: 'streetlab-sim', deviceName: device.id, devEui: device.devEui.toLowerCase() },
    fCnt,
    fPort: 10,
    object: decoded,
    rxInfo: [{ gatewayId: '0016c001f1000001', rssi, snr: 8.5 }],
  };
}

export function createUplinkFleet(options: UplinkFleetOptions): UplinkFleet {
  const log = options.logger ?? createSilentLogger();
  const doFetch = options.fetch ?? fetch;
  const base = options.apiUrl.replace(/\/+$/, '');
  const width = (n: number) => Math.max(3, String(n).length);
  const euiOf = (prefix: string, index: number) => `${prefix}${(hashSeed(options.seed, index) % 0x1000000).toString(16).padStart(6, '0')}`.toUpperCase();
  const planned = planDevices(
    [
      ...Array.from({ length: options.ttn }, (_, i) => ({ id: `ttn-air-${String(i + 1).padStart(width(options.ttn), '0')}`, kind: 'air' })),
      ...Array.from({ length: options.chirpstack }, (_, i) => ({ id: `cs-bin-${String(i + 1).padStart(width(options.chirpstack), '0')}`, kind: 'waste' })),
    ],
    options.seed,
  );
  const devices: UplinkDevice[] = planned.map((spec, i) => {
    const source: UplinkSource = spec.id.startsWith('ttn-') ? 'ttn' : 'chirpstack';
    return { id: spec.id, source, devEui: euiOf(source === 'ttn' ? '70B3D57ED0' : 'A840410001', i), site: spec.site, lat: spec.lat, lon: spec.lon };
  });
  const models = new Map<string, DeviceModel>(planned.map((spec) => [spec.id, createDeviceModel(spec, { seed: options.seed })]));
  const secrets = new Map<UplinkSource, string>();
  const counters = new Map<string, number>();
  const stats: UplinkFleetStats = { sent: 0, accepted: 0, rejected: 0, failed: 0 };
  const timers: NodeJS.Timeout[] = [];
  const random: Random = deriveRandom(options.seed, 'uplinks');
  const pending = new Set<Promise<void>>();

  async function call(method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
    const response = await doFetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${options.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text ? (JSON.parse(text) as unknown) : undefined, text };
  }
  const failure = (what: string, answer: { status: number; text: string }) => new AppError('REGISTRATION_FAILED', `${what} answered ${answer.status} ${answer.text.slice(0, 300)}`);

  async function ensureIntegration(source: UplinkSource): Promise<void> {
    const id = SIMULATED_INTEGRATIONS[source];
    let answer = await call('POST', '/api/v1/integrations', { id, type: source, name: `Simulated ${source === 'ttn' ? 'The Things Stack' : 'ChirpStack'} application` });
    if (answer.status === 409) answer = await call('POST', `/api/v1/integrations/${id}/secret`);
    if (answer.status !== 200 && answer.status !== 201) throw failure(`integration ${id}`, answer);
    secrets.set(source, (answer.json as { secret: string }).secret);
  }

  async function registerDevice(device: UplinkDevice): Promise<void> {
    const request: CreateDeviceRequest = {
      id: device.id,
      kind: device.source === 'ttn' ? 'air' : 'waste',
      name: `${device.id} · ${device.site} (simulated, ${device.source === 'ttn' ? 'The Things Stack' : 'ChirpStack'})`,
      owner: options.owner ?? 'StreetLab simulator',
      lat: device.lat,
      lon: device.lon,
      site: device.site,
      intervalSeconds: Math.max(1, Math.ceil(options.intervalMs / 1000)),
      enabled: true,
      meta: { simulated: true },
      source: device.source,
      devEui: device.devEui,
      fieldMap: SIMULATED_FIELD_MAPS[device.source],
    };
    let answer = await call('POST', '/api/v1/devices', request);
    if (answer.status === 409) {
      // Kept from an earlier run (or its DevEUI is): replace the record so identifiers and mapping are this run's.
      await call('DELETE', `/api/v1/devices/${encodeURIComponent(device.id)}`);
      answer = await call('POST', '/api/v1/devices', request);
    }
    if (answer.status !== 201) throw failure(`registering ${device.id}`, answer);
  }

  async function send(device: UplinkDevice): Promise<void> {
    const now = Date.now();
    const fCnt = counters.get(device.id) ?? 0;
    counters.set(device.id, fCnt + 1);
    const decoded = decoderOutput(device.source, models.get(device.id)!.next(now) as Record<string, unknown>);
    const rssi = Math.round(-115 + random.next() * 45);
    const body = device.source === 'ttn' ? ttsUplinkMessage(device, decoded, fCnt, rssi, now) : chirpStackUpEvent(device, decoded, fCnt, rssi, now);
    const path = `/api/v1/uplinks/${device.source}/${SIMULATED_INTEGRATIONS[device.source]}${device.source === 'chirpstack' ? '?event=up' : ''}`;
    stats.sent += 1;
    try {
      const response = await doFetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-streetlab-secret': secrets.get(device.source)! },
        body: JSON.stringify(body),
      });
      await response.arrayBuffer();
      if (response.status === 201) stats.accepted += 1;
      else if (response.status >= 400 && response.status < 500) stats.rejected += 1;
      else stats.failed += 1;
    } catch (error) {
      stats.failed += 1;
      log.debug({ err: error instanceof Error ? error.message : String(error), deviceId: device.id }, 'uplink not delivered');
    }
  }

  return {
    devices,
    async start() {
      for (const source of ['ttn', 'chirpstack'] as const) if (devices.some((d) => d.source === source)) await ensureIntegration(source);
      for (const device of devices) await registerDevice(device);
      for (const device of devices) {
        const run = () => {
          const sending = send(device);
          pending.add(sending);
          void sending.finally(() => pending.delete(sending));
        };
        // A seeded offset spreads the devices over the interval, as real ones drift apart.
        const first = setTimeout(() => {
          run();
          timers.push(setInterval(run, options.intervalMs));
        }, Math.floor(random.next() * options.intervalMs));
        timers.push(first);
      }
    },
    stats: () => ({ ...stats }),
    async stop() {
      for (const timer of timers) clearInterval(timer);
      timers.length = 0;
      await Promise.all(pending);
    },
  };
}
