/**
 * Entry point of a process holding idle devices for the memory stage: each connects (raw
 * MQTT, as a device would: client id = device id), subscribes to its own `/rejected` topic
 * like a real device that wants feedback, and then only answers keepalive.
 */
import { performance } from 'node:perf_hooks';
import { serveWorker } from '../runtime.ts';
import { PINGREQ, openConnection, type WireConnection } from './mqtt-wire.ts';

export interface IdleDeviceSpec {
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  /** Subscribed at QoS 1 after connecting; undefined = none. */
  subscribeTopic?: string | undefined;
}

export interface IdleConnectRequest {
  host: string;
  port: number;
  devices: IdleDeviceSpec[];
  concurrency: number;
  keepaliveS: number;
}

const connections: WireConnection[] = [];
let pinger: NodeJS.Timeout | undefined;
let dropped = 0;

const api = {
  async connect(request: IdleConnectRequest) {
    const started = performance.now();
    let next = 0;
    let failed = 0;
    let firstError: string | undefined;
    const lanes = Array.from({ length: Math.min(request.concurrency, request.devices.length) }, async () => {
      while (next < request.devices.length) {
        const device = request.devices[next++]!;
        try {
          const connection = await openConnection({
            host: request.host,
            port: request.port,
            clientId: device.clientId,
            username: device.username,
            password: device.password,
            keepaliveS: request.keepaliveS,
            subscribe: device.subscribeTopic ? { topic: device.subscribeTopic, qos: 1 } : undefined,
          });
          connection.socket.once('close', () => (dropped += 1));
          connections.push(connection);
        } catch (error) {
          failed += 1;
          firstError ??= error instanceof Error ? error.message : String(error);
        }
      }
    });
    await Promise.all(lanes);
    // Keepalive [MQTT-3.1.2-24]: the broker drops a client silent for 1.5 × keepalive.
    pinger ??= setInterval(() => {
      for (const c of connections) if (!c.socket.destroyed) c.socket.write(PINGREQ);
    }, (request.keepaliveS * 1000) / 2);
    return { connected: connections.length, failed, firstError, ms: Math.round(performance.now() - started) };
  },

  status() {
    return { open: connections.length - dropped, dropped };
  },

  async close() {
    if (pinger) clearInterval(pinger);
    // Closing 10,000 sockets at once is fine for the kernel; DISCONNECT first so the broker
    // sees a clean end rather than 10,000 errors.
    await Promise.all(connections.map((c) => c.close()));
    connections.length = 0;
  },
};

export type IdleDevicesApi = typeof api;

serveWorker(api, { pid: process.pid });
