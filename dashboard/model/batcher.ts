/**
 * Collects live events and hands them over in one batch per animation frame, so 1,000
 * readings a second cost ~60 state updates and redraws, not 1,000. The scheduler is
 * injected (requestAnimationFrame in the page, a fake in tests). Pure: no DOM.
 */

export type Scheduler = (callback: () => void) => () => void;

export interface BatcherOptions<T> {
  schedule: Scheduler;
  onFlush: (items: T[]) => void;
  /**
   * Flush synchronously when this many items wait: bounds memory and latency when frames
   * stall (a background tab gets no animation frames).
   */
  maxPending?: number;
}

export interface Batcher<T> {
  push(item: T): void;
  /** Hands over what is pending now (e.g. before a view reads the state). */
  flush(): void;
  readonly pending: number;
  /** Batches delivered so far. */
  readonly flushes: number;
  dispose(): void;
}

export function createBatcher<T>(options: BatcherOptions<T>): Batcher<T> {
  const maxPending = options.maxPending ?? 50_000;
  let queue: T[] = [];
  let cancel: (() => void) | undefined;
  let flushes = 0;
  let disposed = false;

  const flush = () => {
    cancel?.();
    cancel = undefined;
    if (queue.length === 0) return;
    const items = queue;
    queue = [];
    flushes += 1;
    options.onFlush(items);
  };

  return {
    push(item) {
      if (disposed) return;
      queue.push(item);
      if (queue.length >= maxPending) flush();
      else if (!cancel) cancel = options.schedule(flush);
    },
    flush,
    get pending() {
      return queue.length;
    },
    get flushes() {
      return flushes;
    },
    dispose() {
      disposed = true;
      cancel?.();
      cancel = undefined;
      queue = [];
    },
  };
}

/**
 * Counts events over a sliding window for a "readings per second" meter, in fixed buckets
 * so the cost does not grow with the rate.
 */
export function createRateMeter(windowMs = 10_000, buckets = 10) {
  const bucketMs = windowMs / buckets;
  const counts = new Array<number>(buckets).fill(0);
  let currentBucket = -1;

  const advance = (nowMs: number) => {
    const bucket = Math.floor(nowMs / bucketMs);
    if (currentBucket === -1) currentBucket = bucket;
    const steps = Math.min(buckets, bucket - currentBucket);
    for (let i = 1; i <= steps; i++) counts[(currentBucket + i) % buckets] = 0;
    if (bucket > currentBucket) currentBucket = bucket;
  };

  return {
    add(count: number, nowMs: number) {
      advance(nowMs);
      counts[currentBucket % buckets]! += count;
    },
    /** Events per second over the window. */
    perSecond(nowMs: number): number {
      advance(nowMs);
      return counts.reduce((a, b) => a + b, 0) / (windowMs / 1000);
    },
  };
}
