/**
 * The broker's security policy, injected into Aedes as hooks (see createBroker's `policy`).
 *
 * Who may connect:
 * - a device: username = its registered id, password = its secret, client id = its id;
 *   unknown device or wrong secret → CONNACK 4 (bad user name or password), a disabled
 *   device (right secret) → 5 (not authorised), an anonymous client → 5;
 * - a service: username `svc:{role}`, password derived from SERVICE_TOKEN
 *   (common/registry/service-credentials.ts);
 * - in open mode (`allowAnonymous`, MQTT_ALLOW_ANONYMOUS=true) anyone: a plain MQTT 3.1.1
 *   broker for protocol tests and demos.
 * In every mode: an empty client id with a persistent session is refused with 2
 * [MQTT-3.1.3-8]; client ids and user names with U+0000 [MQTT-1.5.3-2] or other control
 * characters, and prototype-member names, are refused; a client may not take over the
 * session of a different identity (a device cannot kick ingest by reusing its client id).
 *
 * What a device may do: publish only to `lab/v1/{its kind}/{its id}` (not retained: a
 * retained reading would be replayed to every new subscriber), subscribe only to its own
 * `…/rejected`, and receive nothing else (authorizeForward also covers queued messages of a
 * persistent session). A message over the device's rate limit or on a foreign topic is
 * acknowledged, not delivered, and reported: the broker publishes a Rejection on
 * `$lab/broker/v1/rejected/{kind}/{id}`, which ingest stores and forwards to the device's
 * `/rejected` topic and the live feed like its own rejections. A topic with U+0000 or
 * invalid UTF-8 closes the connection, as MQTT 3.1.1 requires [MQTT-1.5.3-1].
 *
 * What a service may do: ingest writes the live feed and the devices' `/rejected` topics and
 * reads readings and broker rejections; the API reads the live feed; a monitor reads all
 * three. Nobody else can write `$lab/…`.
 *
 * Revocation: on every registry change (in this process or another, seen within a second)
 * connected devices that were removed, disabled or rotated are disconnected at once.
 */
import type { Aedes, AedesOptions, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import {
  DEVICE_ID_PATTERN,
  LIVE_ROOT,
  TOPIC_ROOT,
  BROKER_REJECTION_ROOT,
  buildBrokerRejectionTopic,
  buildReadingTopic,
  buildRejectedTopic,
  parseTopic,
  type ReadingKind,
  type Rejection,
  type RejectionReason,
} from '../contracts/index.ts';
import { AppError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import type { DeviceRegistry } from '../common/registry/types.ts';
import { parseServiceUsername, safeEqual, servicePassword, type ServiceRole } from '../common/registry/index.ts';
import { createRateLimiter, createRejectionReporter, sanitiseForReport, type GuardViolation, type RateLimiter } from './limits.ts';

export const DEFAULT_DEVICE_RATE = { ratePerSecond: 10, burst: 50 } as const;

/** Where refused messages go: a topic nobody may subscribe to (the message is acked, not delivered). */
export const DROPPED_TOPIC = '$lab/broker/v1/dropped';

export interface BrokerAuthOptions {
  /** Required unless `allowAnonymous`. */
  registry?: DeviceRegistry;
  /** Secret the services' MQTT passwords derive from; without it no service can connect. */
  serviceToken?: string | undefined;
  /** Open mode: a plain MQTT 3.1.1 broker without authentication or ACL. */
  allowAnonymous?: boolean;
  /** Per-device message rate; false = unlimited. Default 10/s sustained, bursts of 50. */
  rateLimit?: { ratePerSecond: number; burst: number } | false;
  /** How often at most a device hears about the same kind of refusal (ms). */
  reportIntervalMs?: number;
  /** Payload limit, only for the wording of PAYLOAD_TOO_LARGE reports. */
  maxPayloadBytes?: number;
  logger?: Logger;
  now?: () => number;
}

type Identity =
  | { type: 'device'; deviceId: string; kind: ReadingKind; secretVersion: number }
  | { type: 'service'; role: ServiceRole }
  | { type: 'anonymous' };

export type ConnectRefusal = 'EMPTY_ID_PERSISTENT' | 'BAD_CLIENT_ID' | 'BAD_USERNAME' | 'ANONYMOUS' | 'UNKNOWN_DEVICE' | 'BAD_SECRET' | 'DISABLED' | 'CLIENT_ID_MISMATCH' | 'TAKEOVER' | 'BUSY' | 'ERROR';

export interface BrokerAuthStats {
  mode: 'secured' | 'open';
  connected: { devices: number };
  refusedConnects: Partial<Record<ConnectRefusal, number>>;
  refusedMessages: Partial<Record<RejectionReason, number>>;
  refusedSubscriptions: number;
  revokedConnections: number;
}

export type BrokerAuth = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>> & {
  readonly mode: 'secured' | 'open';
  /** Called by createBroker once Aedes exists: needed to publish reports and disconnect revoked devices. */
  attach(aedes: Aedes): void;
  /** Called by createBroker when the packet guard closed a connection. */
  onViolation(client: Client | undefined, violation: GuardViolation): void;
  stats(): BrokerAuthStats;
  close(): void;
};

/** Filters each service role may subscribe to (a filter must lie within one), and topics it may publish under. */
const SERVICE_RIGHTS: Record<ServiceRole, { subscribe: readonly string[]; publish: readonly ('live' | 'feedback')[] }> = {
  ingest: { subscribe: [TOPIC_ROOT, BROKER_REJECTION_ROOT], publish: ['live', 'feedback'] },
  api: { subscribe: [LIVE_ROOT], publish: [] },
  monitor: { subscribe: [TOPIC_ROOT, LIVE_ROOT, BROKER_REJECTION_ROOT], publish: [] },
};

const PROTOTYPE_NAMES = new Set(['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf']);
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const MAX_SECRET_BYTES = 1024;
const RETURN = { IDENTIFIER_REJECTED: 2, SERVER_UNAVAILABLE: 3, BAD_USERNAME_OR_PASSWORD: 4, NOT_AUTHORIZED: 5 } as const;

function authError(returnCode: number, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** Filter `filter` lies within `root` (its levels start with the root's, literally). */
function within(filter: string, root: string): boolean {
  return filter === root || filter.startsWith(`${root}/`);
}

/** U+0000 or a replacement character (what invalid UTF-8 decodes to) in a topic [MQTT-1.5.3-1, -2]. */
function malformedTopic(topic: string): boolean {
  return topic.includes('\u0000') || topic.includes('\ufffd');
}

export function createBrokerPolicy(options: BrokerAuthOptions): BrokerAuth {
  const log = options.logger ?? createSilentLogger();
  const allowAnonymous = options.allowAnonymous === true;
  const registry = options.registry;
  if (!allowAnonymous && !registry) throw new AppError('CONFIG_INVALID', 'the broker needs a device registry unless anonymous access is allowed');
  const mode = allowAnonymous ? 'open' : 'secured';
  const serviceToken = options.serviceToken;
  const serviceSecrets = new Map<ServiceRole, string>();
  if (serviceToken) for (const role of Object.keys(SERVICE_RIGHTS) as ServiceRole[]) serviceSecrets.set(role, servicePassword(serviceToken, role));
  const rate = options.rateLimit === false ? undefined : (options.rateLimit ?? DEFAULT_DEVICE_RATE);
  const limiter: RateLimiter | undefined = rate && createRateLimiter({ ...rate, ...(options.now ? { now: options.now } : {}) });

  const identities = new WeakMap<Client, Identity>();
  const connectInfo = new WeakMap<Client, { clientId: string; clean: boolean }>();
  const devices = new Set<Client>();
  const refusedConnects: Partial<Record<ConnectRefusal, number>> = {};
  let refusedSubscriptions = 0;
  let revokedConnections = 0;
  let aedes: Aedes | undefined;
  let unsubscribe: (() => void) | undefined;

  const reporter = createRejectionReporter({
    intervalMs: options.reportIntervalMs ?? 1_000,
    ...(options.now ? { now: options.now } : {}),
    publish(rejection: Rejection) {
      if (!aedes || aedes.closed || !rejection.kind || !rejection.deviceId) return;
      const packet = { cmd: 'publish', topic: buildBrokerRejectionTopic(rejection.kind, rejection.deviceId), payload: Buffer.from(JSON.stringify(rejection)), qos: 1, retain: false, dup: false } as PublishPacket;
      aedes.publish(packet, (error) => {
        if (error) log.warn({ err: error.message, deviceId: rejection.deviceId }, 'could not publish a broker rejection');
      });
    },
  });

  function refuse(done: (error: AuthenticateError | null, success: boolean | null) => void, reason: ConnectRefusal, code: number, context: Record<string, unknown>): void {
    refusedConnects[reason] = (refusedConnects[reason] ?? 0) + 1;
    log.info({ ...context, reason, returnCode: code }, 'connection refused');
    done(authError(code, reason), false);
  }

  /** Another live connection holds this client id under a different identity. */
  function takeoverConflict(client: Client, identity: Identity): boolean {
    const clients = (aedes as unknown as { clients?: Record<string, Client> } | undefined)?.clients;
    if (!clients || !Object.hasOwn(clients, client.id)) return false;
    const existing = clients[client.id];
    if (!existing || existing === client) return false;
    const other = identities.get(existing);
    if (!other || other.type !== identity.type) return true;
    if (other.type === 'device' && identity.type === 'device') return other.deviceId !== identity.deviceId;
    if (other.type === 'service' && identity.type === 'service') return other.role !== identity.role;
    return false;
  }

  function drop(packet: PublishPacket): void {
    packet.topic = DROPPED_TOPIC;
    packet.payload = Buffer.alloc(0);
    packet.retain = false;
  }

  function sweep(): void {
    if (!registry) return;
    for (const client of devices) {
      const identity = identities.get(client);
      if (client.closed || !identity || identity.type !== 'device') {
        devices.delete(client);
        continue;
      }
      const record = registry.peek(identity.deviceId);
      const stale = !record || !record.enabled || record.kind !== identity.kind || registry.secretVersionOf(identity.deviceId) !== identity.secretVersion;
      if (!stale) continue;
      devices.delete(client);
      revokedConnections += 1;
      log.info({ deviceId: identity.deviceId, why: !record ? 'removed' : !record.enabled ? 'disabled' : 'credentials changed' }, 'disconnecting a revoked device');
      client.close();
    }
  }

  const policy: BrokerAuth = {
    mode,

    preConnect(client, packet, callback) {
      // Kept for authenticate: Aedes replaces an empty client id with a generated one.
      connectInfo.set(client, { clientId: packet.clientId ?? '', clean: packet.clean !== false });
      callback(null, true);
    },

    authenticate(client, username, password, done) {
      const info = connectInfo.get(client) ?? { clientId: client.id, clean: client.clean };
      const context = { clientId: sanitiseForReport(info.clientId, 80), username: username === undefined ? undefined : sanitiseForReport(username, 80) };
      if (info.clientId === '' && !info.clean) return refuse(done, 'EMPTY_ID_PERSISTENT', RETURN.IDENTIFIER_REJECTED, context); // [MQTT-3.1.3-8]
      if (CONTROL.test(info.clientId) || info.clientId.includes('\ufffd') || PROTOTYPE_NAMES.has(info.clientId)) {
        return refuse(done, 'BAD_CLIENT_ID', RETURN.IDENTIFIER_REJECTED, context);
      }
      if (username !== undefined && (CONTROL.test(username) || username.includes('\ufffd'))) return refuse(done, 'BAD_USERNAME', RETURN.BAD_USERNAME_OR_PASSWORD, context);

      if (allowAnonymous) {
        identities.set(client, { type: 'anonymous' });
        return done(null, true);
      }
      if (username === undefined || username === '') return refuse(done, 'ANONYMOUS', RETURN.NOT_AUTHORIZED, context);
      if (!password || password.length === 0 || password.length > MAX_SECRET_BYTES) return refuse(done, 'BAD_SECRET', RETURN.BAD_USERNAME_OR_PASSWORD, context);

      const role = parseServiceUsername(username);
      if (role) {
        const expected = serviceSecrets.get(role);
        if (!expected || !safeEqual(password, expected)) return refuse(done, 'BAD_SECRET', RETURN.BAD_USERNAME_OR_PASSWORD, context);
        // A service must not use a device's client id: it would take over the device's session.
        if (registry!.peek(info.clientId) || info.clientId === '') return refuse(done, 'BAD_CLIENT_ID', RETURN.IDENTIFIER_REJECTED, context);
        const identity: Identity = { type: 'service', role };
        if (takeoverConflict(client, identity)) return refuse(done, 'TAKEOVER', RETURN.IDENTIFIER_REJECTED, context);
        identities.set(client, identity);
        log.debug({ role, clientId: info.clientId }, 'service connected');
        return done(null, true);
      }

      if (!DEVICE_ID_PATTERN.test(username) || PROTOTYPE_NAMES.has(username)) return refuse(done, 'UNKNOWN_DEVICE', RETURN.BAD_USERNAME_OR_PASSWORD, context);
      registry!.verifySecret(username, password).then(
        (result) => {
          if (!result.ok) {
            if (result.reason === 'BUSY') return refuse(done, 'BUSY', RETURN.SERVER_UNAVAILABLE, context);
            if (result.reason === 'DISABLED') return refuse(done, 'DISABLED', RETURN.NOT_AUTHORIZED, context);
            return refuse(done, result.reason, RETURN.BAD_USERNAME_OR_PASSWORD, context);
          }
          // Checked after the secret so the answer does not tell strangers which ids exist.
          if (info.clientId !== username) return refuse(done, 'CLIENT_ID_MISMATCH', RETURN.IDENTIFIER_REJECTED, context);
          const identity: Identity = { type: 'device', deviceId: result.device.id, kind: result.device.kind, secretVersion: result.secretVersion };
          if (takeoverConflict(client, identity)) return refuse(done, 'TAKEOVER', RETURN.IDENTIFIER_REJECTED, context);
          identities.set(client, identity);
          devices.add(client);
          done(null, true);
        },
        (error: unknown) => {
          log.error({ err: error, ...context }, 'device authentication failed');
          refuse(done, 'ERROR', RETURN.SERVER_UNAVAILABLE, context);
        },
      );
    },

    authorizePublish(client, packet, callback) {
      const topic = packet.topic;
      if (malformedTopic(topic)) return callback(new Error('topic contains U+0000 or invalid UTF-8'));
      const identity = client ? identities.get(client) : undefined;
      if (!identity) {
        // client null: a will left by a client of another broker node; unknown identities get nothing.
        return callback(allowAnonymous && !topic.startsWith('$SYS') ? null : new Error('not authorised'));
      }
      if (identity.type === 'anonymous') {
        return callback(topic.startsWith('$SYS') ? new Error('$SYS topics are reserved') : null);
      }
      if (identity.type === 'service') {
        const rights = SERVICE_RIGHTS[identity.role].publish;
        const parsed = parseTopic(topic);
        const allowed = (rights.includes('live') && parsed?.type === 'live') || (rights.includes('feedback') && parsed?.type === 'rejected');
        if (allowed) return callback(null);
        log.warn({ role: identity.role, topic: sanitiseForReport(topic, 200) }, 'service publish refused');
        return callback(new Error('not authorised'));
      }

      const { deviceId, kind } = identity;
      const size = packet.payload?.length ?? 0;
      if (limiter && !limiter.take(deviceId)) {
        reporter.report({
          reason: 'RATE_LIMITED',
          kind,
          deviceId,
          topic,
          payload: packet.payload as Uint8Array,
          size,
          detail: `more messages than the device's rate limit (${rate!.ratePerSecond}/s, bursts of ${rate!.burst}) allows`,
        });
        drop(packet);
        return callback(null);
      }
      if (topic !== buildReadingTopic(kind, deviceId)) {
        reporter.report({
          reason: 'TOPIC_INVALID',
          kind,
          deviceId,
          topic,
          payload: packet.payload as Uint8Array,
          size,
          detail: `device ${deviceId} may publish only to ${buildReadingTopic(kind, deviceId)}`,
        });
        drop(packet);
        return callback(null);
      }
      packet.retain = false;
      callback(null);
    },

    authorizeSubscribe(client, subscription: Subscription, callback) {
      const filter = subscription.topic;
      if (malformedTopic(filter)) return callback(new Error('topic filter contains U+0000 or invalid UTF-8'));
      const identity = identities.get(client);
      let allowed = false;
      if (identity?.type === 'anonymous') allowed = true;
      else if (identity?.type === 'service') allowed = SERVICE_RIGHTS[identity.role].subscribe.some((root) => within(filter, root));
      else if (identity?.type === 'device') allowed = filter === buildRejectedTopic(identity.kind, identity.deviceId);
      if (allowed) return callback(null, subscription);
      refusedSubscriptions += 1;
      log.info({ clientId: sanitiseForReport(client.id, 80), filter: sanitiseForReport(filter, 200) }, 'subscription refused');
      // null grants 0x80 (failure) in the SUBACK [MQTT-3.9.3].
      callback(null, null);
    },

    authorizeForward(client, packet) {
      const identity = identities.get(client);
      if (identity?.type !== 'device') return packet;
      return packet.topic === buildRejectedTopic(identity.kind, identity.deviceId) ? packet : null;
    },

    attach(instance) {
      aedes = instance;
      unsubscribe = registry?.onChange(() => sweep());
      instance.on('clientDisconnect', (client) => devices.delete(client));
    },

    onViolation(client, violation) {
      const identity = client ? identities.get(client) : undefined;
      if (identity?.type !== 'device' || violation.reason !== 'PAYLOAD_TOO_LARGE') return;
      reporter.report({
        reason: 'PAYLOAD_TOO_LARGE',
        kind: identity.kind,
        deviceId: identity.deviceId,
        topic: violation.topic ?? buildReadingTopic(identity.kind, identity.deviceId),
        size: violation.payloadBytes ?? violation.remainingLength ?? 0,
        detail: `a payload of ${violation.payloadBytes ?? violation.remainingLength} bytes is over the ${options.maxPayloadBytes ?? 16_384}-byte limit; the broker closed the connection`,
      });
    },

    stats() {
      return {
        mode,
        connected: { devices: devices.size },
        refusedConnects: { ...refusedConnects },
        refusedMessages: reporter.counts(),
        refusedSubscriptions,
        revokedConnections,
      };
    },

    close() {
      unsubscribe?.();
      reporter.close();
    },
  };
  return policy;
}
