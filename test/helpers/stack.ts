/**
 * The whole pipeline, real and in-process, on free ports: a private influxd in a temp dir,
 * the broker, ingest and the API. Tests publish as devices with real MQTT clients.
 *
 * Security: `startStack()` runs the broker open (anonymous, as the foundation's tests
 * expect); `startStack({ security: 'secured' })` runs it as deployed, and `publish` /
 * `device` then register the device on first use and connect with its own secret.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { buildReadingTopic, type DeviceWithSecret, type ReadingKind } from '../../contracts/index.ts';
import type { InfluxClient } from '../../common/influx.ts';
import { generateServiceToken, serviceCredentials, type FileRegistry, type MqttCredentials, type ServiceRole } from '../../common/registry/index.ts';
import { createLab, type Lab, type LabOptions } from '../../lab/lab.ts';

export interface Stack {
  lab: Lab;
  apiUrl: string;
  mqttUrl: string;
  influx: InfluxClient;
  security: 'secured' | 'open';
  registry: FileRegistry;
  adminToken: string;
  serviceToken: string;
  /** Publishes at QoS 1 as `deviceId` (its own MQTT connection, kept open; secured: registered on first use). */
  publish(kind: ReadingKind, deviceId: string, payload: object | string | Uint8Array): Promise<void>;
  /** The MQTT connection `publish` uses for `deviceId` (client id = device id); secured: pass `kind` for a new device. */
  device(deviceId: string, kind?: ReadingKind): Promise<MqttClient>;
  /** Registers a device (secured and open) and remembers its secret for `publish`/`device`. */
  register(kind: ReadingKind, deviceId: string, extra?: { owner?: string; site?: string; lat?: number; lon?: number }): Promise<DeviceWithSecret>;
  /** The MQTT credentials the stack holds for a device it registered. */
  credentials(deviceId: string): MqttCredentials | undefined;
  /** MQTT credentials of a service role (e.g. `monitor`, which may read every topic). */
  serviceCredentials(role: ServiceRole): MqttCredentials;
  /** A connected MQTT client of the test's own (closed by `close`). */
  connect(options?: mqtt.IClientOptions): Promise<MqttClient>;
  /** Resolves once ingest has written everything it has queued. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export async function startStack(options: Partial<LabOptions> = {}): Promise<Stack> {
  const security = options.security ?? 'open';
  const serviceToken = options.serviceToken ?? generateServiceToken();
  // Tests hammer the API from one address: no HTTP rate limit unless a test asks for one.
  const lab = await createLab({ simulate: false, apiRateLimit: false, ...options, security, serviceToken });
  const clients = new Map<string, MqttClient>();
  const secrets = new Map<string, string>();
  const extra: MqttClient[] = [];

  async function register(kind: ReadingKind, deviceId: string, extraFields: { owner?: string; site?: string; lat?: number; lon?: number } = {}): Promise<DeviceWithSecret> {
    const issued = await lab.registry.create({
      id: deviceId,
      kind,
      owner: extraFields.owner ?? 'test',
      lat: extraFields.lat ?? 55.6761,
      lon: extraFields.lon ?? 12.5683,
      ...(extraFields.site ? { site: extraFields.site } : {}),
      intervalSeconds: 60,
      enabled: true,
      meta: {},
    });
    secrets.set(deviceId, issued.secret);
    return issued;
  }

  async function ensureCredentials(deviceId: string, kind?: ReadingKind): Promise<void> {
    if (security === 'open' || secrets.has(deviceId)) return;
    if (lab.registry.peek(deviceId)) {
      secrets.set(deviceId, (await lab.registry.rotateSecret(deviceId)).secret);
      return;
    }
    if (!kind) throw new Error(`stack.device(${deviceId}): a secured stack needs the device's kind to register it`);
    await register(kind, deviceId);
  }

  async function deviceClient(deviceId: string, kind?: ReadingKind): Promise<MqttClient> {
    let client = clients.get(deviceId);
    if (!client) {
      await ensureCredentials(deviceId, kind);
      const password = secrets.get(deviceId);
      client = await mqtt.connectAsync(lab.urls.mqtt, {
        clientId: deviceId,
        reconnectPeriod: 0,
        ...(password === undefined ? {} : { username: deviceId, password }),
      });
      clients.set(deviceId, client);
    }
    return client;
  }

  return {
    lab,
    apiUrl: lab.urls.api,
    mqttUrl: lab.urls.mqtt,
    influx: lab.influx,
    security,
    registry: lab.registry,
    adminToken: lab.adminToken,
    serviceToken,
    register,
    credentials: (deviceId) => {
      const password = secrets.get(deviceId);
      return password === undefined ? undefined : { username: deviceId, password };
    },
    serviceCredentials: (role) => serviceCredentials(serviceToken, role),
    async publish(kind, deviceId, payload) {
      const client = await deviceClient(deviceId, kind);
      const body = typeof payload === 'string' || payload instanceof Uint8Array ? payload : JSON.stringify(payload);
      await client.publishAsync(buildReadingTopic(kind, deviceId), Buffer.from(body), { qos: 1 });
    },
    device: deviceClient,
    async connect(clientOptions = {}) {
      const client = await mqtt.connectAsync(lab.urls.mqtt, { reconnectPeriod: 0, ...clientOptions });
      extra.push(client);
      return client;
    },
    flush: () => lab.ingest.flush(),
    async close() {
      await Promise.all([...clients.values(), ...extra].map((c) => c.endAsync(true)));
      await lab.close();
    },
  };
}

/** Polls `probe` until it returns a value that is not undefined, or fails after `timeoutMs`. */
export async function eventually<T>(probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
