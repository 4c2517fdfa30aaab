/**
 * Stages 2 (broker ceiling) and 3 (peer): the same pub/sub workload against our broker and
 * against Mosquitto 2 — N publishers (one connection per device, QoS 1, a bounded window of
 * unacknowledged publishes each, precomputed 170-byte air readings) and one QoS 1 subscriber
 * to `lab/v1/#`, which is what the ingest worker is. Publishers and subscriber are separate
 * processes from the broker and from each other.
 *
 * The figure is publishes acknowledged per second after warm-up; the subscriber must
 * receive every one of them (a broker that drops messages to go faster is caught).
 */
import { randomBytes } from 'node:crypto';
import { READING_SUBSCRIPTIONS, buildReadingTopic } from '../../contracts/index.ts';
import type { BenchContext } from '../context.ts';
import type { DeviceConnectionSpec, PublisherApi } from '../load/publisher.ts';
import { startMosquitto } from '../mosquitto.ts';
import type { HostApi } from '../sut/host.ts';
import type { Credentials } from '../sut/security.ts';
import { BODIES, HOST_SCRIPT, PUBLISHER_SCRIPT, deviceId, publisherDevices, round, safeTicks, sleep } from './shared.ts';

export type BrokerVariant = 'ours-open' | 'ours-auth' | 'mosquitto-open' | 'mosquitto-auth';

export interface PubSubOptions {
  variant: BrokerVariant;
  seconds: number;
  warmupSeconds: number;
  publishers: number;
  window: number;
}

export interface PubSubResult {
  variant: BrokerVariant;
  /** What actually ran: our broker in auth mode only when the project's auth could be wired. */
  security: string;
  msgPerS: number;
  acked: number;
  delivered: number;
  /** Acknowledged to a publisher but never delivered to the subscriber. */
  undelivered: number;
  /** Broker CPU per message (µs of CPU time): steadier than the rate on a busy machine. */
  brokerCpuUsPerMsg: number;
  brokerCpuPercent: number;
  perSecond: number[];
  errors: string[];
}

const SUBSCRIBER_ID = 'bench-subscriber';

export async function runPubSub(ctx: BenchContext, options: PubSubOptions): Promise<PubSubResult> {
  const { variant } = options;
  let host = '127.0.0.1';
  let port: number;
  let brokerPid: number;
  let devices: DeviceConnectionSpec[];
  let subscriber: Credentials | undefined;
  let security: string;

  if (variant.startsWith('ours')) {
    const wantAuth = variant === 'ours-auth';
    if (wantAuth && ctx.security.mode !== 'auth') throw new Error('ours-auth asked for without auth available');
    const broker = await ctx.fork<HostApi>(HOST_SCRIPT, { name: `broker-${variant}` });
    const started = await broker.call('start', { broker: { security: wantAuth ? ctx.security.plan : { mode: 'open' } } });
    const url = new URL(started.mqttUrl!);
    host = url.hostname;
    port = Number(url.port);
    brokerPid = broker.pid;
    devices = publisherDevices(ctx, options.publishers, true, wantAuth);
    // The subscriber to lab/v1/# is what ingest is, so it connects as ingest.
    subscriber = wantAuth ? ctx.security.services.ingest : undefined;
    if (wantAuth && !subscriber) throw new Error('auth is on but there are no service credentials for the lab/v1/# subscriber');
    security = wantAuth ? 'auth + ACL' : 'open';
  } else {
    const withAuth = variant === 'mosquitto-auth';
    devices = Array.from({ length: options.publishers }, (_, i) => {
      const id = deviceId(i, 'air');
      return {
        clientId: id,
        ...(withAuth ? { username: id, password: randomBytes(16).toString('hex') } : {}),
        topic: buildReadingTopic('air', id),
        body: BODIES.air,
      };
    });
    subscriber = withAuth ? { username: 'bench-service', password: randomBytes(16).toString('hex') } : undefined;
    const mosquitto = await startMosquitto({
      ...(withAuth ? { auth: { devices: devices.map((d) => ({ username: d.username!, password: d.password! })), service: subscriber! } } : {}),
      track: ctx.track,
      trackDir: ctx.trackDir,
    });
    ctx.scope.defer(() => mosquitto.stop());
    host = mosquitto.host;
    port = mosquitto.port;
    brokerPid = mosquitto.pid;
    security = withAuth ? `auth + ACL (password_file, acl_file); mosquitto ${mosquitto.version}` : `open; mosquitto ${mosquitto.version}`;
  }

  const sub = await ctx.fork<PublisherApi>(PUBLISHER_SCRIPT, { name: `subscriber-${variant}` });
  await sub.call('subscribe', {
    host,
    port,
    clientId: subscriber?.username ?? SUBSCRIBER_ID,
    username: subscriber?.username,
    password: subscriber?.password,
    topic: READING_SUBSCRIPTIONS[0]!,
    qos: 1,
  });

  const pub = await ctx.fork<PublisherApi>(PUBLISHER_SCRIPT, { name: `publishers-${variant}` });
  await pub.call('connect', { host, port, qos: 1, window: options.window, payloadMode: 'fixed', devices });

  const ticksBefore = safeTicks(brokerPid);
  const started = performance.now();
  const run = await pub.call('run', { durationMs: options.seconds * 1000, ratePerS: 0, warmupMs: options.warmupSeconds * 1000 });
  const ticksAfter = safeTicks(brokerPid);
  const ms = performance.now() - started;

  // Everything acknowledged must reach the subscriber; give it until it stops moving.
  let delivered = (await sub.call('received')).received;
  let lastChange = performance.now();
  while (delivered < run.acked && performance.now() - lastChange < 3_000) {
    await sleep(100);
    const now = (await sub.call('received')).received;
    if (now !== delivered) {
      delivered = now;
      lastChange = performance.now();
    }
  }
  const cpuSeconds = (ticksAfter - ticksBefore) / 100;
  return {
    variant,
    security,
    msgPerS: run.steadyRatePerS,
    acked: run.acked,
    delivered,
    undelivered: Math.max(0, run.acked - delivered),
    brokerCpuUsPerMsg: round((cpuSeconds * 1e6) / Math.max(1, run.acked), 1),
    brokerCpuPercent: Math.round((cpuSeconds / (ms / 1000)) * 100),
    perSecond: run.perSecond,
    errors: run.errors,
  };
}
