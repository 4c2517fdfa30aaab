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
 * persistent session). Each reading goes through the edge (edge.ts): validated and in the
 * durable log before its PUBACK. A device over its rate limit is slowed down, not refused:
 * its publishes wait for their turn (the throttle), and Aedes stops reading its socket
 * meanwhile. A message on a foreign topic is acknowledged, not delivered, and rejected
 * through the edge like an invalid reading (stored, reported on the device's `/rejected`). A
 * topic with U+0000 or invalid UTF-8 closes the connection, as MQTT 3.1.1 requires [MQTT-1.5.3-1].
 *
 * In open mode (no authentication) every message on a reading topic goes through the edge too.
 *
 * What a service may do: the API reads the live feed; a monitor reads readings and the live
 * feed. Only the edge itself writes `$lab/…` and the devices' `/rejected` topics.
 *
 * Fresh credentials: a device registered a moment ago in another process (the API) is not
 * refused for being unknown: before refusing an unknown id or a secret that does not match,
 * the policy re-reads the registry once.
 *
 * Revocation: on every registry change (in this process or another, seen within a second)
 * connected devices that were removed, disabled or rotated are disconnected at once.
 *
 * Why ~420 lines in one module: connect, publish, subscribe and forward checks are one policy over one map of identities; each hook is short.
 */
import type { Duplex } from 'node:stream';
import type { Aedes, AedesOptions, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import {
  DEVICE_ID_PATTERN,
  LIVE_ROOT,
  TOPIC_ROOT,
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
import type { Edge } from './edge.ts';
import { createRejectionReporter, createThrottle, sanitiseForReport, toBrokerRejection, type GuardViolation, type Throttle } from './limits.ts';

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
  /** The reading path: readings are validated and logged before their PUBACK. Without it, a plain broker. */
  edge?: Edge | undefined;
  /** Per-device message rate (a throttle: over it a device waits); false = unlimited. Default 10/s sustained, bursts of 50. */
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
  /** Publishes that waited for the device's rate limit, and those waiting now. */
  throttled: { total: number; waiting: number };
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
const SERVICE_RIGHTS: Record<ServiceRole, { subscribe: readonly string[] }> = {
  // Ingest reads the log, not the broker; the role stays for deployments that monitor with it.
  ingest: { subscribe: [] },
  api: { subscribe: [LIVE_ROOT] },
  monitor: { subscribe: [TOPIC_ROOT, LIVE_ROOT] },
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

/** A topic under the device root that is not a `/rejected` notice: a reading (or a malformed one, which the edge explains). */
function isReadingCandidate(topic: string): boolean {
  return topic.startsWith(`${TOPIC_ROOT}/`) && parseTopic(topic)?.type !== 'rejected';
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
  const throttle: Throttle | undefined = rate && createThrottle({ ...rate, ...(options.now ? { now: options.now } : {}) });
  const edge = options.edge;
  const now = options.now ?? Date.now;

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
      edge?.refuse(rejection);
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

  // A group commit releases the PUBACKs of many messages at once, a few hundred per connection
  // under load. Aedes writes each PUBACK (4 bytes) with its own socket write; corking the
  // connection until the group is through turns them into one writev per connection.
  const corked = new Set<Duplex>();
  let uncorkScheduled = false;
  const uncorkAll = () => {
    uncorkScheduled = false;
    for (const conn of corked) conn.uncork();
    corked.clear();
  };
  function coalesceAcks(client: Client, callback: (error?: Error | null) => void): (error?: Error | null) => void {
    return (error) => {
      const conn = (client as unknown as { conn?: Duplex }).conn;
      if (conn && !conn.destroyed && !corked.has(conn)) {
        conn.cork();
        corked.add(conn);
        if (!uncorkScheduled) {
          uncorkScheduled = true;
          process.nextTick(uncorkAll);
        }
      }
      callback(error ?? null);
    };
  }

  /**
   * Verifies a device secret; an unknown id or a mismatch is checked again against the
   * registry as it is on disk now, so a device registered (or rotated) through another
   * process a moment ago connects at once.
   */
  async function verifyFresh(deviceId: string, password: string | Buffer) {
    const first = await registry!.verifySecret(deviceId, password);
    if (first.ok || (first.reason !== 'UNKNOWN_DEVICE' && first.reason !== 'BAD_SECRET') || !registry!.refresh) return first;
    await registry!.refresh();
    return registry!.verifySecret(deviceId, password);
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
      verifyFresh(username, password).then(
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
        if (topic.startsWith('$')) return callback(new Error('$ topics are reserved'));
        if (edge && isReadingCandidate(topic)) return edge.take(topic, packet.payload as Uint8Array, coalesceAcks(client!, callback));
        return callback(null);
      }
      if (identity.type === 'service') {
        // Services only read; the edge itself writes the live feed and the devices' notices.
        log.warn({ role: identity.role, topic: sanitiseForReport(topic, 200) }, 'service publish refused');
        return callback(new Error('not authorised'));
      }

      const { deviceId, kind } = identity;
      const admitted = () => {
        if (client!.closed) return callback(new Error('connection closed'));
        if (topic !== buildReadingTopic(kind, deviceId)) {
          const rejection = toBrokerRejection(
            {
              reason: 'TOPIC_INVALID',
              kind,
              deviceId,
              topic,
              payload: packet.payload as Uint8Array,
              size: packet.payload?.length ?? 0,
              detail: `device ${deviceId} may publish only to ${buildReadingTopic(kind, deviceId)}`,
            },
            now(),
          );
          drop(packet);
          if (edge) return edge.refuse(rejection, coalesceAcks(client!, callback));
          return callback(null);
        }
        packet.retain = false;
        if (edge) return edge.take(topic, packet.payload as Uint8Array, coalesceAcks(client!, callback));
        callback(null);
      };
      if (throttle) throttle.admit(deviceId, admitted);
      else admitted();
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
        throttled: { total: throttle?.throttled() ?? 0, waiting: throttle?.waiting() ?? 0 },
      };
    },

    close() {
      unsubscribe?.();
      reporter.close();
      throttle?.close();
    },
  };
  return policy;
}
