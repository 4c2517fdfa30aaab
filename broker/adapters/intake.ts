/**
 * The adapters' one way in: a message from a source other than our MQTT contract becomes
 * readings of a registered device and goes through the edge (`edge.submit`: validated by the
 * same code, logged with the same group commit and fsync) — so the answer a sender gets means
 * what a PUBACK means. A message that names no registered device, or cannot be read at all, is
 * recorded as a rejection (`edge.refuse`: the `rejected` measurement, the live feed, and when
 * the device is known its own `…/rejected` topic) before the 4xx goes out.
 *
 * Answers, for every source:
 *   201  every reading stored (durable in the log)       202  some stored, some rejected
 *   400  every reading rejected (the rejections inside)  404  no registered device has the identifier
 *   503  the log refused the write: nothing stored, send again
 *   429  the device has too many requests waiting for its rate (`admit`): send again after Retry-After
 *
 * DEVICE_UNKNOWN records are collapsed per identifier (./unknown-devices.ts): the first in a
 * window is recorded, the rest counted and recorded as one when the window ends.
 */
import {
  REJECTION_EXCERPT_CHARS,
  buildReadingTopic,
  type DeviceRecord,
  type IngestError,
  type IngestResponse,
  type ReadingOutcome,
  type Rejection,
  type RejectionIssue,
  type RejectionReason,
} from '../../contracts/index.ts';
import type { Logger } from '../../common/logger.ts';
import { createSilentLogger } from '../../common/logger.ts';
import type { Edge, SubmitOutcome } from '../edge.ts';
import type { DeviceIndex } from './device-index.ts';
import { toContractReading } from './map-fields.ts';
import { createUnknownDeviceCollapser } from './unknown-devices.ts';
import type { AdapterResult, UplinkIssue } from './uplink.ts';

/** Most readings one HTTP request may carry. */
export const MAX_READINGS_PER_REQUEST = 500;

export interface IntakeAnswer {
  status: number;
  body: IngestResponse | IngestError;
  /** Seconds for a Retry-After header (429, 503). */
  retryAfterSeconds?: number;
}

/** Where a message came from, for its rejection record: a path or the network server's topic. */
export interface Origin {
  topic: string;
  raw: Uint8Array;
  /** Integration scoped to one owner: other owners' devices are not found through it. */
  owner?: string | undefined;
}

export interface Intake {
  /** Readings in our JSON contract from a device that authenticated itself (HTTP devices). */
  readings(device: DeviceRecord, body: unknown, origin: Origin): Promise<IntakeAnswer>;
  /** One uplink mapped by a source adapter; the device is found by its identifiers unless given. */
  uplink(result: AdapterResult, origin: Origin, device?: DeviceRecord): Promise<IntakeAnswer>;
  /**
   * A message for a device id or identifier nobody registered: 404, and a DEVICE_UNKNOWN
   * rejection — recorded for the first message of `identifier` in a window, counted for the rest.
   */
  unknownDevice(description: string, origin: Origin, identifier: string): Promise<IntakeAnswer>;
  /** A message refused before any reading could be made of it (not JSON, not an object). */
  refuse(reason: RejectionReason, message: string, origin: Origin, device?: DeviceRecord): Promise<IntakeAnswer>;
  /** Records the DEVICE_UNKNOWN counts of open windows and stops. */
  close(): void;
}

export interface IntakeOptions {
  edge: Pick<Edge, 'submit' | 'refuse'>;
  devices: DeviceIndex;
  /**
   * Asked before a known device's message is stored (the HTTP listener's per-device rate):
   * resolves when it may go on, or with an answer to send instead (429). Default: at once.
   */
  admit?: (device: DeviceRecord) => Promise<IntakeAnswer | undefined>;
  /** How long repeated DEVICE_UNKNOWN records of one identifier are counted instead of stored (default 60 s). */
  unknownWindowMs?: number;
  logger?: Logger;
  now?: () => number;
}

/** The DEVICE_UNKNOWN window when none is configured. */
export const DEFAULT_UNKNOWN_WINDOW_MS = 60_000;

export function createIntake(options: IntakeOptions): Intake {
  const log = options.logger ?? createSilentLogger();
  const now = options.now ?? Date.now;
  const unknownWindowMs = options.unknownWindowMs ?? DEFAULT_UNKNOWN_WINDOW_MS;
  /** The last unknown message of each open window: its summary is recorded like it. */
  const lastUnknown = new Map<string, { description: string; origin: Origin }>();
  const collapser = createUnknownDeviceCollapser({
    windowMs: unknownWindowMs,
    onSummary(key, count) {
      const last = lastUnknown.get(key);
      lastUnknown.delete(key);
      if (!last) return;
      const seconds = Math.round(unknownWindowMs / 1000);
      const message = `${last.description} (${count} more message${count === 1 ? '' : 's'} for it within ${seconds} s, counted here instead of recorded one by one)`;
      const rejection = rejectionOf('DEVICE_UNKNOWN', [{ path: '', code: 'DEVICE_UNKNOWN', message }], last.origin);
      options.edge.refuse(rejection, (failure) => {
        if (failure) log.warn({ err: failure.message, identifier: key, count }, 'DEVICE_UNKNOWN summary not recorded');
      });
    },
  });

  function rejectionOf(reason: RejectionReason, issues: RejectionIssue[], origin: Origin, device?: DeviceRecord): Rejection {
    const first = issues[0]!;
    return {
      reason,
      message: first.path ? `${first.path}: ${first.message}` : first.message,
      issues,
      ...(device ? { kind: device.kind, deviceId: device.id } : {}),
      topic: origin.topic.slice(0, 512),
      receivedAt: new Date(now()).toISOString(),
      excerpt: Buffer.from(origin.raw.subarray(0, REJECTION_EXCERPT_CHARS * 4)).toString('utf8').slice(0, REJECTION_EXCERPT_CHARS),
      size: origin.raw.byteLength,
    };
  }

  /** Records the rejection durably, then answers `status` with it. */
  async function record(status: number, error: string, rejection: Rejection): Promise<IntakeAnswer> {
    await new Promise<void>((resolve, reject) => options.edge.refuse(rejection, (failure) => (failure ? reject(failure) : resolve())));
    return { status, body: { error, message: rejection.message, statusCode: status, rejection } };
  }

  async function submitAll(device: DeviceRecord, payloads: Uint8Array[]): Promise<IntakeAnswer> {
    const refused = await options.admit?.(device);
    if (refused) return refused;
    const topic = buildReadingTopic(device.kind, device.id);
    // Submitted in one turn: they share a group commit, and each resolves once durable.
    let outcomes: SubmitOutcome[];
    try {
      outcomes = await Promise.all(payloads.map((payload) => options.edge.submit(topic, payload)));
    } catch (error) {
      log.warn({ err: error instanceof Error ? error.message : String(error), deviceId: device.id }, 'log write failed; the sender is told to retry');
      return { status: 503, retryAfterSeconds: 5, body: { error: 'LOG_UNAVAILABLE', message: 'the reading log could not store the readings; nothing was stored, send them again', statusCode: 503 } };
    }
    const results: ReadingOutcome[] = outcomes.map((outcome, index) =>
      outcome.accepted ? { index, status: 'accepted', ts: outcome.accepted.ts } : { index, status: 'rejected', rejection: outcome.rejection! },
    );
    const rejections = outcomes.flatMap((outcome) => (outcome.rejection ? [outcome.rejection] : []));
    const accepted = results.length - rejections.length;
    if (accepted === 0) {
      const first = rejections[0]!;
      const message = rejections.length === 1 ? first.message : `all ${rejections.length} readings were rejected; the first: ${first.message}`;
      return { status: 400, body: { error: 'READING_REJECTED', message, statusCode: 400, rejection: first, rejections } };
    }
    return { status: rejections.length === 0 ? 201 : 202, body: { deviceId: device.id, accepted, rejected: rejections.length, results } };
  }

  function readable(issues: UplinkIssue[]): { reason: RejectionReason; issues: RejectionIssue[] } {
    const mapped = issues.map((issue): RejectionIssue => {
      const missing = /received undefined/.test(issue.message);
      const empty = /decoded_payload$|^object$/.test(issue.path);
      return { path: issue.path, code: empty ? 'NO_MEASUREMENT' : missing ? 'FIELD_MISSING' : 'FIELD_TYPE', message: missing ? 'required, missing' : issue.message };
    });
    return { reason: mapped[0]!.code, issues: mapped };
  }

  return {
    async readings(device, body, origin) {
      if (!Array.isArray(body)) return submitAll(device, [origin.raw]);
      if (body.length === 0) return this.refuse('NO_MEASUREMENT', 'the array holds no readings', origin, device);
      if (body.length > MAX_READINGS_PER_REQUEST) {
        return { status: 413, body: { error: 'TOO_MANY_READINGS', message: `${body.length} readings in one request; at most ${MAX_READINGS_PER_REQUEST}`, statusCode: 413 } };
      }
      return submitAll(device, body.map((item) => Buffer.from(JSON.stringify(item))));
    },

    async uplink(result, origin, given) {
      if (!result.ok) {
        const { reason, issues } = readable(result.issues);
        return record(400, 'UPLINK_INVALID', rejectionOf(reason, issues, origin, given));
      }
      const { uplink } = result;
      let device = given ?? (await options.devices.find(uplink.lookup));
      if (device && origin.owner !== undefined && device.owner !== origin.owner) device = undefined;
      if (!device) {
        const names = Object.entries(uplink.lookup).map(([identifier, value]) => `${identifier} ${value}`).join(', ') || 'no identifier';
        log.info({ source: uplink.source, lookup: uplink.lookup }, 'uplink for an unknown device');
        return this.unknownDevice(`no registered device has ${names}; register it with ${Object.keys(uplink.lookup).join(' or ') || 'its identifier'} set (source ${uplink.source})`, origin, `${uplink.source} ${names}`);
      }
      if (!device.enabled) {
        return { status: 403, body: { error: 'DEVICE_DISABLED', message: `device "${device.id}" is disabled; its readings are not taken`, statusCode: 403 } };
      }
      const mapping = uplink.builtInMapping || device.fieldMap ? { ...uplink.builtInMapping, ...device.fieldMap } : undefined;
      const reading = toContractReading(uplink.fields, mapping, uplink.meta);
      return submitAll(device, [Buffer.from(JSON.stringify(reading))]);
    },

    async unknownDevice(message, origin, identifier) {
      const rejection = rejectionOf('DEVICE_UNKNOWN', [{ path: '', code: 'DEVICE_UNKNOWN', message }], origin);
      const verdict = collapser.admit(identifier);
      if (verdict.record) return record(404, 'DEVICE_UNKNOWN', rejection);
      lastUnknown.set(identifier, { description: message, origin: { ...origin, raw: new Uint8Array(origin.raw.subarray(0, REJECTION_EXCERPT_CHARS * 4)) } });
      const counted = `${rejection.message} (recorded once per ${Math.round(unknownWindowMs / 1000)} s for this identifier; this one is counted)`;
      return { status: 404, body: { error: 'DEVICE_UNKNOWN', message: counted, statusCode: 404, rejection: { ...rejection, message: counted } } };
    },

    async refuse(reason, message, origin, device) {
      if (device) {
        const refused = await options.admit?.(device);
        if (refused) return refused;
      }
      return record(400, 'READING_REJECTED', rejectionOf(reason, [{ path: '', code: reason, message }], origin, device));
    },

    close() {
      collapser.flush();
    },
  };
}
