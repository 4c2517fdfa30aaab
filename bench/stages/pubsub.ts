/**
 * Stages 2 (broker ceiling) and 3 (peer): the same pub/sub workload against our broker and
 * against Mosquitto 2 — N publishers (one connection per device, QoS 1, a bounded window of
 * unacknowledged publishes each, precomputed 170-byte air readings) and one QoS 1 subscriber
 * to `lab/v1/#` (a monitor; `svc:monitor` in auth mode). Publishers and subscriber are
 * separate processes from the broker and from each other.
 *
 * Our broker is built as `npm run broker` builds it, so it does more per message than
 * Mosquitto: each publish is validated and appended to the durable log (fsynced with its
 * group) before its PUBACK, besides being delivered to the subscriber. Mosquitto runs without
 * persistence (mosquitto.ts).
 *
 * The figure is publishes acknowledged per second after warm-up; the subscriber must
 * receive every one of them (a broker that drops messages to go faster is caught).
 */
import { randomBytes } from 'node:crypto';
import { TOPIC_ROOT, buildReadingTopic } from '../../contracts/index.ts';
import type { BenchContext } from '../context.ts';
import type { DeviceConnectionSpec, PublisherApi } from '../load/publisher.ts';
import { startMosquitto } from '../mosquitto.ts';
import type { HostApi } from '../sut/host.ts';
import type { Credentials } from '../sut/security.ts';
import { BODIES, HOST_SCRIPT, PUBLISHER_SCRIPT, benchLogDir, deviceId, publisherDevices, round, safeTicks, sleep } from './shared.ts';

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
    // Our broker as `npm run broker` builds it: every publish goes through the edge
    // (validated, appended to the log, fsynced with its group) before its PUBACK.
    const logDir = await benchLogDir(ctx);
    const broker = await ctx.fork<HostApi>(HOST_SCRIPT, { name: `broker-${variant}` });
    const started = await broker.call('start', { broker: { security: wantAuth ? ctx.security.plan : { mode: 'open' }, logDir } });
    const url = new URL(started.mqttUrl!);
    host = url.hostname;
    port = Number(url.port);
    brokerPid = broker.pid;
    devices = publisherDevices(ctx, options.publishers, true, wantAuth);
    // A service allowed to read lab/v1/#: svc:monitor (ingest reads the log, not the broker).
    subscriber = wantAuth ? ctx.security.services.monitor : undefined;
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
    topic: `${TOPIC_ROOT}/#`,
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
