/**
 * Room names of the live feed, and the batching of it for clients that opt in
 * (handshake `auth: { batch: true }`, contracts/live.ts). Pure: no socket.io here, so the
 * room matching is tested on its own.
 *
 * Why batch: every socket.io event is one WebSocket frame per socket, and a frame costs the
 * server ~6 µs of CPU (docs/measurements.md, socket.io): 1,000 readings/s to 100 clients is
 * 100,000 frames/s, more than a core. Events are queued and flushed once per event-loop turn,
 * so a quiet feed is sent at once (a batch of one, no timer) and a busy one in fewer, larger
 * frames: the longer a turn takes, the more readings the next batch carries (1,000
 * readings/s to 100 sockets, bench latency stage: ~3.6 readings a batch, ~280 flushes/s).
 * A minimum gap between flushes (4 or 8 ms) was measured too: it cut the API's CPU from ~55 %
 * to 40 / 30 % but not the latency (p50 8.6–9.7 ms against 7.6 ms), as every reading then
 * waits for the timer; so no timer.
 *
 * Why groups: sockets with the same subscription set get the same batch, so each distinct
 * batch is built and encoded once and sent to the group's room (`batch:<subscriptions>`),
 * not filtered and stringified once per socket.
 */
import { LIVE_BATCH_MAX, type LiveReading, type LiveRejection, type SubscribeRequest } from '../contracts/index.ts';

/** The room a subscription joins. */
export function roomFor(request: SubscribeRequest): string {
  if (request.kind && request.deviceId) return `kind:${request.kind}|device:${request.deviceId}`;
  if (request.kind) return `kind:${request.kind}`;
  if (request.deviceId) return `device:${request.deviceId}`;
  return 'all';
}

/** Every room an event from this device goes to: one per kind of subscription it matches. */
export function roomsOf(kind: string, deviceId: string): string[] {
  return ['all', `kind:${kind}`, `device:${deviceId}`, `kind:${kind}|device:${deviceId}`];
}

/**
 * A lab's copy of a room. A lab-scoped socket (api/labs/scope.ts) joins only these, and an
 * event of a lab's device goes to the platform's rooms and the lab's copies (withLabRooms),
 * so a socket of one lab never gets another lab's events, whatever it subscribes to.
 */
export function labRoom(lab: string, room: string): string {
  return `lab:${lab}|${room}`;
}

/** The rooms of an event of a device in `lab` (undefined: not registered, platform sockets only). */
export function withLabRooms(rooms: readonly string[], lab: string | undefined): string[] {
  return lab === undefined ? [...rooms] : [...rooms, ...rooms.map((room) => labRoom(lab, room))];
}

/** Every socket joins this room (or its lab's copy): `device` events go to it. */
export const DEVICE_EVENTS_ROOM = 'device-events';

/** Every batching socket is in this room too, so per-event emits can leave them out. */
export const BATCHING_ROOM = 'batching';

export type LiveBatch = { event: 'readings'; items: LiveReading[] } | { event: 'rejections'; items: LiveRejection[] };

/** Which group room a socket must leave and join after a change of its subscriptions. */
export interface GroupChange {
  leave?: string;
  join?: string;
}

export interface LiveBatcherOptions {
  /** Sends one batch to every socket in `groupRoom`; called once per group per batch. */
  send(groupRoom: string, batch: LiveBatch): void;
  /** Most events per batch; the queue is flushed early when it holds this many. */
  maxBatch?: number;
  /** Runs `flush` later: at the end of this event-loop turn (setImmediate) unless a test says otherwise. */
  schedule?: (flush: () => void) => void;
}

export interface LiveBatcher {
  subscribe(socketId: string, room: string): GroupChange;
  unsubscribe(socketId: string, room: string): GroupChange;
  /** The socket disconnected. */
  remove(socketId: string): GroupChange;
  /** Queues an event that goes to `rooms` (roomsOf); a no-op while no socket is batching. */
  pushReading(reading: LiveReading, rooms: readonly string[]): void;
  pushRejection(rejection: LiveRejection, rooms: readonly string[]): void;
  /** Sends everything queued now. */
  flush(): void;
  stats(): { groups: number; sockets: number; queued: number; batches: number };
}

interface Group {
  key: string;
  room: string;
  subscriptions: ReadonlySet<string>;
  members: number;
}

type Queued = { type: 'reading'; rooms: readonly string[]; reading: LiveReading } | { type: 'rejection'; rooms: readonly string[]; rejection: LiveRejection };

function matches(subscriptions: ReadonlySet<string>, rooms: readonly string[]): boolean {
  for (const room of rooms) if (subscriptions.has(room)) return true;
  return false;
}

export function createLiveBatcher(options: LiveBatcherOptions): LiveBatcher {
  const maxBatch = options.maxBatch ?? LIVE_BATCH_MAX;
  const schedule = options.schedule ?? ((flush: () => void) => void setImmediate(flush));
  /** Group key (its sorted subscriptions) → group. */
  const groups = new Map<string, Group>();
  const sockets = new Map<string, { subscriptions: Set<string>; group: Group | undefined }>();
  let queue: Queued[] = [];
  let scheduled = false;
  let batches = 0;

  const runScheduled = () => {
    scheduled = false;
    flush();
  };

  /** Moves a socket to the group of its (changed) subscription set. */
  function regroup(socketId: string, subscriptions: Set<string>): GroupChange {
    const entry = sockets.get(socketId);
    const before = entry?.group;
    let after: Group | undefined;
    if (subscriptions.size > 0) {
      const sorted = [...subscriptions].sort();
      const key = JSON.stringify(sorted);
      after = groups.get(key);
      if (!after) {
        after = { key, room: `batch:${key}`, subscriptions: new Set(sorted), members: 0 };
        groups.set(key, after);
      }
    }
    if (subscriptions.size === 0) sockets.delete(socketId);
    else if (entry) {
      entry.subscriptions = subscriptions;
      entry.group = after;
    } else sockets.set(socketId, { subscriptions, group: after });
    if (before === after) return {};
    if (before) {
      before.members -= 1;
      if (before.members === 0) groups.delete(before.key);
    }
    if (after) after.members += 1;
    return { ...(before ? { leave: before.room } : {}), ...(after ? { join: after.room } : {}) };
  }

  function push(event: Queued): void {
    if (groups.size === 0) return;
    queue.push(event);
    if (queue.length >= maxBatch) flush();
    else if (!scheduled) {
      scheduled = true;
      schedule(runScheduled);
    }
  }

  function flush(): void {
    if (queue.length === 0) return;
    const events = queue;
    queue = [];
    for (const group of groups.values()) {
      const readings: LiveReading[] = [];
      const rejections: LiveRejection[] = [];
      for (const event of events) {
        if (!matches(group.subscriptions, event.rooms)) continue;
        if (event.type === 'reading') readings.push(event.reading);
        else rejections.push(event.rejection);
      }
      if (readings.length > 0) {
        batches += 1;
        options.send(group.room, { event: 'readings', items: readings });
      }
      if (rejections.length > 0) {
        batches += 1;
        options.send(group.room, { event: 'rejections', items: rejections });
      }
    }
  }

  return {
    subscribe(socketId, room) {
      const subscriptions = new Set(sockets.get(socketId)?.subscriptions);
      subscriptions.add(room);
      return regroup(socketId, subscriptions);
    },
    unsubscribe(socketId, room) {
      const current = sockets.get(socketId);
      if (!current?.subscriptions.has(room)) return {};
      const subscriptions = new Set(current.subscriptions);
      subscriptions.delete(room);
      return regroup(socketId, subscriptions);
    },
    remove(socketId) {
      return sockets.has(socketId) ? regroup(socketId, new Set()) : {};
    },
    pushReading(reading, rooms) {
      push({ type: 'reading', rooms, reading });
    },
    pushRejection(rejection, rooms) {
      push({ type: 'rejection', rooms, rejection });
    },
    flush,
    stats: () => ({ groups: groups.size, sockets: sockets.size, queued: queue.length, batches }),
  };
}
