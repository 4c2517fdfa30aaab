import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLiveBatcher, roomFor, roomsOf, type LiveBatch } from '../../../api/live-batch.ts';
import type { LiveReading, LiveRejection, ReadingKind, SubscribeRequest } from '../../../contracts/index.ts';

/** A scheduler the test fires by hand, like the end of an event-loop turn. */
function fakeTurns() {
  let queued: (() => void)[] = [];
  return {
    schedule(callback: () => void) {
      queued.push(callback);
    },
    get waiting() {
      return queued.length;
    },
    turn() {
      const run = queued;
      queued = [];
      for (const callback of run) callback();
    },
  };
}

function reading(kind: ReadingKind, deviceId: string, seq: number): LiveReading {
  return { kind, deviceId, ts: '2026-11-30T09:00:00.000Z', seq, values: { pm25: seq } };
}

function rejection(deviceId: string, seq: number): LiveRejection {
  return { reason: 'PAYLOAD_NOT_JSON', message: `#${seq}`, issues: [], kind: 'air', deviceId, topic: `lab/v1/air/${deviceId}`, receivedAt: '2026-11-30T09:00:00.000Z', excerpt: '{', size: 1 };
}

/** A batcher whose sends are recorded per group room, and a way to subscribe like the hub does. */
function setup(maxBatch?: number) {
  const turns = fakeTurns();
  const sent: { room: string; batch: LiveBatch }[] = [];
  const batcher = createLiveBatcher({ send: (room, batch) => sent.push({ room, batch }), schedule: turns.schedule, ...(maxBatch ? { maxBatch } : {}) });
  /** socket id → the group room it is in, kept as the hub keeps socket.io rooms. */
  const roomOf = new Map<string, string>();
  const apply = (socketId: string, change: { leave?: string; join?: string }) => {
    if (change.leave) {
      expect(roomOf.get(socketId)).toBe(change.leave);
      roomOf.delete(socketId);
    }
    if (change.join) roomOf.set(socketId, change.join);
  };
  const subscribe = (socketId: string, request: SubscribeRequest) => apply(socketId, batcher.subscribe(socketId, roomFor(request)));
  const unsubscribe = (socketId: string, request: SubscribeRequest) => apply(socketId, batcher.unsubscribe(socketId, roomFor(request)));
  const remove = (socketId: string) => apply(socketId, batcher.remove(socketId));
  const push = (r: LiveReading) => batcher.pushReading(r, roomsOf(r.kind, r.deviceId));
  /** What one socket received: the batches sent to its group room. */
  const receivedBy = (socketId: string, event: LiveBatch['event'] = 'readings') =>
    sent.filter((s) => s.room === roomOf.get(socketId) && s.batch.event === event).flatMap((s) => s.batch.items as { seq?: number }[]);
  return { turns, sent, batcher, roomOf, subscribe, unsubscribe, remove, push, receivedBy };
}

describe('live batcher', () => {
  it('sends a lone reading as a batch of one at the end of the turn', () => {
    const t = setup();
    t.subscribe('s1', {});
    t.push(reading('air', 'a1', 1));
    expect(t.sent).toEqual([]);
    expect(t.turns.waiting).toBe(1);
    t.turns.turn();
    expect(t.sent).toEqual([{ room: t.roomOf.get('s1'), batch: { event: 'readings', items: [reading('air', 'a1', 1)] } }]);
  });

  it('sends everything of one turn as one batch, in arrival order, scheduling one flush', () => {
    const t = setup();
    t.subscribe('s1', {});
    for (let i = 1; i <= 50; i++) t.push(reading('air', `a${i % 3}`, i));
    expect(t.turns.waiting).toBe(1);
    t.turns.turn();
    expect(t.sent).toHaveLength(1);
    expect(t.receivedBy('s1').map((r) => r.seq)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it('queues nothing while no socket is batching', () => {
    const t = setup();
    t.push(reading('air', 'a1', 1));
    expect(t.batcher.stats().queued).toBe(0);
    expect(t.turns.waiting).toBe(0);
  });

  it('filters by kind, by device and by kind + device', () => {
    const t = setup();
    t.subscribe('kind', { kind: 'traffic' });
    t.subscribe('device', { deviceId: 'a1' });
    t.subscribe('both', { kind: 'air', deviceId: 'a2' });
    t.push(reading('air', 'a1', 1));
    t.push(reading('traffic', 't1', 2));
    t.push(reading('air', 'a2', 3));
    t.push(reading('traffic', 'a2', 4));
    t.turns.turn();
    expect(t.receivedBy('kind').map((r) => r.seq)).toEqual([2, 4]);
    expect(t.receivedBy('device').map((r) => r.seq)).toEqual([1]);
    expect(t.receivedBy('both').map((r) => r.seq)).toEqual([3]);
  });

  it('delivers a reading once to a socket that several of its subscriptions match', () => {
    const t = setup();
    t.subscribe('s1', {});
    t.subscribe('s1', { kind: 'air' });
    t.subscribe('s1', { deviceId: 'a1' });
    t.subscribe('s1', { kind: 'air', deviceId: 'a1' });
    t.push(reading('air', 'a1', 1));
    t.turns.turn();
    expect(t.receivedBy('s1').map((r) => r.seq)).toEqual([1]);
  });

  it('builds one batch per distinct subscription set, shared by its sockets', () => {
    const t = setup();
    t.subscribe('s1', { kind: 'air' });
    t.subscribe('s1', { deviceId: 't1' });
    t.subscribe('s2', { deviceId: 't1' });
    t.subscribe('s2', { kind: 'air' });
    t.subscribe('s3', {});
    expect(t.roomOf.get('s1')).toBe(t.roomOf.get('s2'));
    expect(t.roomOf.get('s3')).not.toBe(t.roomOf.get('s1'));
    t.push(reading('air', 'a1', 1));
    t.push(reading('traffic', 't1', 2));
    t.turns.turn();
    expect(t.sent).toHaveLength(2);
    expect(t.batcher.stats()).toMatchObject({ groups: 2, sockets: 3 });
  });

  it('sends rejections as their own batch, filtered the same way', () => {
    const t = setup();
    t.subscribe('s1', { deviceId: 'a1' });
    t.batcher.pushRejection(rejection('a1', 1), roomsOf('air', 'a1'));
    t.batcher.pushRejection(rejection('a2', 2), roomsOf('air', 'a2'));
    t.push(reading('air', 'a1', 3));
    t.turns.turn();
    expect(t.sent.map((s) => s.batch.event)).toEqual(['readings', 'rejections']);
    expect(t.receivedBy('s1', 'rejections')).toEqual([rejection('a1', 1)]);
  });

  it('caps a batch: a full queue is flushed at once, the rest at the end of the turn', () => {
    const t = setup(3);
    t.subscribe('s1', {});
    for (let i = 1; i <= 7; i++) t.push(reading('air', 'a1', i));
    expect(t.sent.map((s) => s.batch.items.length)).toEqual([3, 3]);
    t.turns.turn();
    expect(t.sent.map((s) => s.batch.items.length)).toEqual([3, 3, 1]);
    expect(t.receivedBy('s1').map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('moves a socket between groups as it subscribes, unsubscribes and leaves', () => {
    const t = setup();
    expect(t.batcher.subscribe('s1', 'all')).toEqual({ join: expect.stringMatching(/^batch:/) });
    const first = t.batcher.subscribe('s1', 'kind:air');
    expect(first.leave).toMatch(/^batch:/);
    expect(first.join).not.toBe(first.leave);
    expect(t.batcher.subscribe('s1', 'kind:air')).toEqual({});
    expect(t.batcher.unsubscribe('s1', 'kind:waste')).toEqual({});
    expect(t.batcher.unsubscribe('s1', 'kind:air')).toEqual({ leave: first.join, join: first.leave });
    expect(t.batcher.unsubscribe('s1', 'all')).toEqual({ leave: first.leave });
    expect(t.batcher.stats()).toMatchObject({ groups: 0, sockets: 0 });
    t.batcher.subscribe('s2', 'all');
    expect(t.batcher.remove('s2')).toEqual({ leave: first.leave });
    expect(t.batcher.remove('s2')).toEqual({});
    expect(t.batcher.stats()).toMatchObject({ groups: 0, sockets: 0 });
  });

  it('gives every socket exactly the readings its subscriptions match, in order (property)', () => {
    const kinds = ['air', 'traffic', 'waste'] as const;
    const devices = ['d1', 'd2', 'd3'];
    const request = fc.record({ kind: fc.option(fc.constantFrom(...kinds), { nil: undefined }), deviceId: fc.option(fc.constantFrom(...devices), { nil: undefined }) });
    const clean = (r: { kind: ReadingKind | undefined; deviceId: string | undefined }): SubscribeRequest => ({ ...(r.kind ? { kind: r.kind } : {}), ...(r.deviceId ? { deviceId: r.deviceId } : {}) });
    fc.assert(
      fc.property(
        fc.array(fc.array(request, { maxLength: 4 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.tuple(fc.constantFrom(...kinds), fc.constantFrom(...devices)), { maxLength: 40 }),
        fc.integer({ min: 1, max: 10 }),
        (subscriptions, events, maxBatch) => {
          const t = setup(maxBatch);
          subscriptions.forEach((requests, s) => requests.forEach((r) => t.subscribe(`s${s}`, clean(r))));
          events.forEach(([kind, deviceId], i) => t.push(reading(kind, deviceId, i + 1)));
          t.turns.turn();
          expect(t.sent.every((s) => s.batch.items.length <= maxBatch)).toBe(true);
          subscriptions.forEach((requests, s) => {
            const wanted = events
              .map(([kind, deviceId], i) => ({ kind, deviceId, seq: i + 1 }))
              .filter((e) => requests.some((r) => (!r.kind || r.kind === e.kind) && (!r.deviceId || r.deviceId === e.deviceId)))
              .map((e) => e.seq);
            expect(t.receivedBy(`s${s}`).map((r) => r.seq)).toEqual(wanted);
          });
        },
      ),
    );
  });
});
