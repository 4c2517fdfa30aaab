/**
 * The live feed as the edge publishes it: what one event-loop turn validated — readings and
 * rejections in arrival order — goes out as one `$lab/live/v1/batch` message (QoS 0, best
 * effort; REST is the record). One message per turn instead of one per reading keeps the
 * feed's cost to the broker at one delivery per batch and API node.
 */
import { LIVE_BATCH_MAX, LIVE_BATCH_TOPIC, type LiveFeedBatch, type LiveReading, type Rejection } from '../contracts/index.ts';

export interface LiveFeed {
  reading(reading: LiveReading): void;
  rejection(rejection: Rejection): void;
  /** Sends what is queued now (on close). */
  flush(): void;
}

/** `publish` sends one message; it is called at most once per turn (more for very busy turns, LIVE_BATCH_MAX items each). */
export function createLiveFeed(publish: (topic: string, body: string) => void): LiveFeed {
  let readings: LiveReading[] = [];
  let rejections: Rejection[] = [];
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    const r = readings;
    const j = rejections;
    readings = [];
    rejections = [];
    for (let i = 0; i < Math.max(r.length, j.length); i += LIVE_BATCH_MAX) {
      const batch: LiveFeedBatch = { readings: r.slice(i, i + LIVE_BATCH_MAX), rejections: j.slice(i, i + LIVE_BATCH_MAX) };
      publish(LIVE_BATCH_TOPIC, JSON.stringify(batch));
    }
  }
  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  }
  return {
    reading(reading) {
      readings.push(reading);
      schedule();
    },
    rejection(rejection) {
      rejections.push(rejection);
      schedule();
    },
    flush,
  };
}
