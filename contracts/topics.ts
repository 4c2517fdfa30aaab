/**
 * The one module that builds and parses MQTT topic strings. Nobody else concatenates topics.
 *
 * Device topics (public contract v1):
 *   lab/v1/{kind}/{deviceId}            a device publishes one reading
 *   lab/v1/{kind}/{deviceId}/rejected   ingest explains why a message was rejected
 *
 * Internal topics (written only by the ingest service; devices may neither read nor write):
 *   $lab/live/v1/reading/{kind}/{deviceId}   the validated, normalised reading (LiveReading JSON)
 *   $lab/live/v1/rejected/{kind}/{deviceId}  a rejection (Rejection JSON)
 *   $lab/broker/v1/rejected/{kind}/{deviceId}  a message the broker itself refused (rate limit,
 *                                              size, foreign topic): Rejection JSON, for ingest to
 *                                              store and report like its own rejections
 * The `$` prefix keeps them out of `#` subscriptions [MQTT-4.7.2-1], so a device that
 * subscribed to a wildcard never sees them.
 */
import { DEVICE_ID_PATTERN, READING_KINDS, type ReadingKind } from './readings.ts';


export const TOPIC_ROOT = 'lab/v1';
export const LIVE_ROOT = '$lab/live/v1';
/** Rejections decided by the broker (written only by the broker itself). */
export const BROKER_REJECTION_ROOT = '$lab/broker/v1/rejected';
/** What ingest subscribes to, besides the reading topics, to store the broker's rejections. */
export const BROKER_REJECTION_SUBSCRIPTION = `${BROKER_REJECTION_ROOT}/#`;

/**
 * What ingest subscribes to: everything under the device root, so a message on a malformed
 * topic (`lab/v1/air/a/b`) is still caught and explained (ingest skips the `/rejected`
 * topics it publishes itself), and the broker's own rejections (rate limit, size, foreign
 * topic), which ingest stores and reports like its own.
 */
export const READING_SUBSCRIPTIONS: readonly string[] = [`${TOPIC_ROOT}/#`, BROKER_REJECTION_SUBSCRIPTION];
/** What the API subscribes to for live push. */
export const LIVE_SUBSCRIPTION = `${LIVE_ROOT}/#`;

export function buildBrokerRejectionTopic(kind: ReadingKind, deviceId: string): string {
  return `${BROKER_REJECTION_ROOT}/${kind}/${deviceId}`;
}

/** True for a topic under the broker's rejection root. */
export function isBrokerRejectionTopic(topic: string): boolean {
  return topic.startsWith(`${BROKER_REJECTION_ROOT}/`);
}

export function buildReadingTopic(kind: ReadingKind, deviceId: string): string {
  return `${TOPIC_ROOT}/${kind}/${deviceId}`;
}

export function buildRejectedTopic(kind: ReadingKind, deviceId: string): string {
  return `${TOPIC_ROOT}/${kind}/${deviceId}/rejected`;
}

export function buildLiveTopic(event: 'reading' | 'rejected', kind: ReadingKind, deviceId: string): string {
  return `${LIVE_ROOT}/${event}/${kind}/${deviceId}`;
}

export type ParsedTopic =
  | { type: 'reading'; kind: ReadingKind; deviceId: string }
  | { type: 'rejected'; kind: ReadingKind; deviceId: string }
  | { type: 'live'; event: 'reading' | 'rejected'; kind: ReadingKind; deviceId: string };

function isKind(value: string | undefined): value is ReadingKind {
  return value !== undefined && (READING_KINDS as readonly string[]).includes(value);
}

function isDeviceId(value: string | undefined): value is string {
  return value !== undefined && DEVICE_ID_PATTERN.test(value);
}

/** Parses any StreetLab topic; `null` for anything that is not exactly one of ours. */
export function parseTopic(topic: string): ParsedTopic | null {
  if (topic.startsWith(`${LIVE_ROOT}/`)) {
    const [event, kind, deviceId, ...rest] = topic.slice(LIVE_ROOT.length + 1).split('/');
    if (rest.length > 0 || (event !== 'reading' && event !== 'rejected')) return null;
    if (!isKind(kind) || !isDeviceId(deviceId)) return null;
    return { type: 'live', event, kind, deviceId };
  }
  if (!topic.startsWith(`${TOPIC_ROOT}/`)) return null;
  const [kind, deviceId, suffix, ...rest] = topic.slice(TOPIC_ROOT.length + 1).split('/');
  if (rest.length > 0 || !isKind(kind) || !isDeviceId(deviceId)) return null;
  if (suffix === undefined) return { type: 'reading', kind, deviceId };
  if (suffix === 'rejected') return { type: 'rejected', kind, deviceId };
  return null;
}

/**
 * Best-effort kind and device from a topic that failed `parseTopic`, so a rejection for a
 * malformed topic can still be attributed (e.g. `lab/v1/air/dev 1` → kind air).
 */
export function guessTopicOrigin(topic: string): { kind?: ReadingKind; deviceId?: string } {
  const parts = topic.split('/');
  const kind = parts[2];
  const deviceId = parts[3];
  return {
    ...(isKind(kind) ? { kind } : {}),
    ...(isDeviceId(deviceId) ? { deviceId } : {}),
  };
}
