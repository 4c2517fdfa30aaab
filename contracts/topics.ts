/**
 * The one module that builds and parses MQTT topic strings. Nobody else concatenates topics.
 *
 * Device topics (public contract v1):
 *   lab/v1/{kind}/{deviceId}            a device publishes one reading (kind: any well-formed kind id)
 *   lab/v1/{kind}/{deviceId}/rejected   the edge explains why a message was rejected
 *
 * Internal topic (written only by the broker's edge; devices may neither read nor write it):
 *   $lab/live/v1/batch   the live feed: validated readings and rejections of one event-loop
 *                        turn at the edge, as one LiveFeedBatch (contracts/live.ts)
 * The `$` prefix keeps it out of `#` subscriptions [MQTT-4.7.2-1], so a device that
 * subscribed to a wildcard never sees it.
 */
import { DEVICE_ID_PATTERN, KIND_ID_PATTERN, type ReadingKind } from './readings.ts';


export const TOPIC_ROOT = 'lab/v1';
export const LIVE_ROOT = '$lab/live/v1';
/** The live feed: one message per batch of readings and rejections, published by the edge. */
export const LIVE_BATCH_TOPIC = `${LIVE_ROOT}/batch`;
/** What the API subscribes to for live push. */
export const LIVE_SUBSCRIPTION = LIVE_BATCH_TOPIC;

export function buildReadingTopic(kind: ReadingKind, deviceId: string): string {
  return `${TOPIC_ROOT}/${kind}/${deviceId}`;
}

export function buildRejectedTopic(kind: ReadingKind, deviceId: string): string {
  return `${TOPIC_ROOT}/${kind}/${deviceId}/rejected`;
}

export type ParsedTopic = { type: 'reading'; kind: ReadingKind; deviceId: string } | { type: 'rejected'; kind: ReadingKind; deviceId: string };

/** Any well-formed kind id: whether the lab knows the kind is the edge's question (KIND_UNKNOWN), not the topic's. */
function isKind(value: string | undefined): value is ReadingKind {
  return value !== undefined && KIND_ID_PATTERN.test(value);
}

function isDeviceId(value: string | undefined): value is string {
  return value !== undefined && DEVICE_ID_PATTERN.test(value);
}

/** Parses any StreetLab topic; `null` for anything that is not exactly one of ours. */
export function parseTopic(topic: string): ParsedTopic | null {
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
