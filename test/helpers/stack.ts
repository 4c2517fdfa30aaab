/**
 * The whole pipeline, real and in-process, on free ports: a private influxd in a temp dir,
 * the broker, ingest and the API. Tests publish as devices with real MQTT clients.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { buildReadingTopic, type ReadingKind } from '../../contracts/index.ts';
import type { InfluxClient } from '../../common/influx.ts';
import { createLab, type Lab, type LabOptions } from '../../lab/lab.ts';

export interface Stack {
  lab: Lab;
  apiUrl: string;
  mqttUrl: string;
  influx: InfluxClient;
  /** Publishes at QoS 1 as `deviceId` (its own MQTT connection, kept open). */
  publish(kind: ReadingKind, deviceId: string, payload: object | string | Uint8Array): Promise<void>;
  /** The MQTT connection `publish` uses for `deviceId` (client id = device id). */
  device(deviceId: string): Promise<MqttClient>;
  /** A connected MQTT client of the test's own (closed by `close`). */
  connect(options?: mqtt.IClientOptions): Promise<MqttClient>;
  /** Resolves once ingest has written everything it has queued. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export async function startStack(options: Partial<LabOptions> = {}): Promise<Stack> {
  const lab = await createLab({ simulate: false, ...options });
  const clients = new Map<string, MqttClient>();
  const extra: MqttClient[] = [];

  async function deviceClient(deviceId: string): Promise<MqttClient> {
    let client = clients.get(deviceId);
    if (!client) {
      client = await mqtt.connectAsync(lab.urls.mqtt, { clientId: deviceId, reconnectPeriod: 0 });
      clients.set(deviceId, client);
    }
    return client;
  }

  return {
    lab,
    apiUrl: lab.urls.api,
    mqttUrl: lab.urls.mqtt,
    influx: lab.influx,
    async publish(kind, deviceId, payload) {
      const client = await deviceClient(deviceId);
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
