/**
 * A durable, file-backed Aedes persistence: Aedes' own in-memory persistence
 * (aedes-persistence 11, the reference implementation) for every lookup, plus a journal of
 * each change that must survive a restart, written to an append-only segment log with group
 * commit (common/spool/segment-log.ts) and replayed at start.
 *
 * Why not aedes-persistence-level / -redis / -mongodb: the LevelDB binding (classic-level)
 * builds native code at install time, and Redis / MongoDB are servers this project does not
 * run. This keeps the broker a single process with a data directory.
 *
 * What is journaled, and when Aedes hears back:
 * - queued QoS 1/2 messages for persistent sessions (`outgoingEnqueue*`): after fsync. The
 *   publisher gets its PUBACK only after this resolves (Aedes 1.x alone would send it first:
 *   broker/broker.ts `publishBeforePuback` reorders that), so a reading the broker
 *   acknowledged for a persistent subscriber (the ingest worker) survives a broker crash;
 * - subscriptions of persistent sessions, unsubscribes, session cleans, retained messages:
 *   after fsync, so the ingest worker's `lab/v1/#` subscription still catches readings that
 *   arrive after a restart and before it reconnects;
 * - deliveries acknowledged by the subscriber (`outgoingClearMessageId`): not waited for.
 *   Losing one in a crash means one redelivery, which the ingest worker absorbs (idempotent).
 * Not journaled: will messages and inbound QoS 2 state (the platform uses QoS 1; a will lost
 * in a broker crash is not sent).
 *
 * Compaction: once the journal passes `compactBytes`, the current state is written as a
 * snapshot file (written whole, fsync, rename) and the journal before it is deleted. The
 * snapshot marks its place with a marker record in the journal, so replay = snapshot + the
 * journal records after the marker; records applied twice are harmless (every operation
 * here is idempotent: queue entries are keyed by broker id and counter).
 *
 * Why ~500 lines: Aedes' persistence interface is wide (sessions, subscriptions, queues, retained messages); each method is a journaled wrapper of the in-memory reference one.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import { openLogReader } from '../common/spool/log-reader.ts';
import { openSegmentLog, type CommitGroup, type LogPosition, type SegmentLog } from '../common/spool/segment-log.ts';

const require = createRequire(import.meta.url);

interface StoredPacket {
  cmd?: string;
  brokerId?: string;
  brokerCounter?: number;
  topic: string;
  payload: string; // base64
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  clientId?: string;
  messageExpiry?: number;
}

interface StoredSub {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
}

type JournalRecord =
  | { o: 'sub'; c: string; s: StoredSub[] }
  | { o: 'unsub'; c: string; t: string[] }
  | { o: 'clean'; c: string }
  | { o: 'enq'; c: string[]; p: StoredPacket }
  | { o: 'clr'; c: string; b: string; n: number }
  | { o: 'ret'; p: StoredPacket }
  | { o: 'snap'; id: string };

interface PacketLike {
  cmd?: string;
  brokerId?: string;
  brokerCounter?: number;
  topic: string;
  payload?: Buffer | string | Uint8Array;
  qos?: number;
  retain?: boolean;
  dup?: boolean;
  clientId?: string;
  messageExpiry?: number;
  messageId?: number;
}

/** The async persistence interface Aedes 1.x calls (aedes-persistence 11). */
interface AsyncPersistence {
  setup(broker: unknown): Promise<void>;
  storeRetained(packet: PacketLike): Promise<void>;
  createRetainedStreamCombi(patterns: string[]): Readable;
  createRetainedStream(pattern: string): Readable;
  addSubscriptions(client: { id: string }, subs: StoredSub[]): Promise<void>;
  removeSubscriptions(client: { id: string }, subs: string[]): Promise<void>;
  subscriptionsByClient(client: { id: string }): Promise<StoredSub[]>;
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
  subscriptionsByTopic(pattern: string): Promise<{ clientId: string; topic: string; qos: number }[]>;
  cleanSubscriptions(client: { id: string }): Promise<void>;
  outgoingEnqueue(sub: { clientId: string }, packet: PacketLike): Promise<void>;
  outgoingEnqueueCombi(subs: { clientId: string }[], packet: PacketLike): Promise<void>;
  outgoingUpdate(client: { id: string }, packet: PacketLike): Promise<void>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<PacketLike | undefined>;
  outgoingStream(client: { id: string }): Readable;
  incomingStorePacket(client: { id: string }, packet: PacketLike): Promise<void>;
  incomingGetPacket(client: { id: string }, packet: PacketLike): Promise<PacketLike>;
  incomingDelPacket(client: { id: string }, packet: PacketLike): Promise<void>;
  cleanIncoming(client: { id: string }): Promise<void>;
  putWill(client: { id: string }, packet: PacketLike): Promise<void>;
  getWill(client: { id: string }): Promise<PacketLike | undefined>;
  delWill(client: { id: string }): Promise<PacketLike | undefined>;
  streamWill(brokers?: Record<string, unknown>): Readable;
  getClientList(topic: string): Readable;
  destroy(): Promise<void>;
}

const MemoryPersistence = require('aedes-persistence/asyncPersistence.js') as new (opts?: Record<string, unknown>) => AsyncPersistence;
const AedesPacket = require('aedes-packet') as new (original: PacketLike, broker?: unknown) => PacketLike;

/**
 * The queue of one persistent session, O(1) per operation. Aedes' in-memory persistence
 * scans the whole queue on every delivery and acknowledgement, and matches acknowledgements
 * by message id alone — after a reconnection, entries still carrying an id from the previous
 * connection can be taken for (or, after a broker restart, replaced by) a new message with
 * the same id, which loses a queued message. Here the message id index is rebuilt per
 * connection (`outgoingStream` is where Aedes starts a session's redelivery), so only ids
 * of the current connection count.
 */
class SessionQueue {
  readonly entries = new Map<string, PacketLike>();
  private readonly byMessageId = new Map<number, string>();

  enqueue(packet: PacketLike): void {
    const entry = new AedesPacket(packet);
    this.entries.set(packetKey(entry.brokerId, entry.brokerCounter), entry);
  }

  update(packet: PacketLike): void {
    const key = packetKey(packet.brokerId, packet.brokerCounter);
    let entry = packet.brokerId === undefined ? undefined : this.entries.get(key);
    if (entry) {
      entry.messageId = packet.messageId;
    } else {
      // A PUBREL (QoS 2) takes the place of the PUBLISH it follows, found by message id.
      const found = packet.messageId === undefined ? undefined : this.byMessageId.get(packet.messageId);
      if (found === undefined || !this.entries.has(found)) throw new Error('no such packet');
      this.entries.set(found, packet);
      entry = packet;
      if (packet.messageId !== undefined) this.byMessageId.set(packet.messageId, found);
      return;
    }
    if (packet.messageId !== undefined) this.byMessageId.set(packet.messageId, key);
  }

  clear(messageId: number | undefined): PacketLike | undefined {
    if (messageId === undefined) return undefined;
    const key = this.byMessageId.get(messageId);
    if (key === undefined) return undefined;
    this.byMessageId.delete(messageId);
    const entry = this.entries.get(key);
    if (!entry || entry.messageId !== messageId) return undefined;
    this.entries.delete(key);
    return entry;
  }

  /** A new connection: ids of the previous one mean nothing now. */
  restart(): PacketLike[] {
    this.byMessageId.clear();
    for (const entry of this.entries.values()) entry.messageId = undefined;
    return [...this.entries.values()];
  }
}

export interface FilePersistenceOptions {
  dir: string;
  /** fdatasync each group commit (default true). */
  fsync?: boolean;
  /** Write a snapshot and drop the journal before it once the journal passes this size (default 64 MiB). */
  compactBytes?: number;
  logger?: Logger;
}

export interface FilePersistenceStats {
  journalBytes: number;
  queuedMessages: number;
  persistentClients: number;
  compactions: number;
}

export interface FilePersistence extends AsyncPersistence {
  readonly dir: string;
  stats(): FilePersistenceStats;
  /** Makes every journaled change durable and closes the files. */
  close(): Promise<void>;
}

function toStored(packet: PacketLike): StoredPacket {
  const payload = packet.payload === undefined ? Buffer.alloc(0) : Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload as Uint8Array);
  const stored: StoredPacket = { topic: packet.topic, payload: payload.toString('base64') };
  if (packet.cmd && packet.cmd !== 'publish') stored.cmd = packet.cmd;
  if (packet.brokerId) stored.brokerId = packet.brokerId;
  if (packet.brokerCounter) stored.brokerCounter = packet.brokerCounter;
  if (packet.qos) stored.qos = packet.qos;
  if (packet.retain) stored.retain = true;
  if (packet.dup) stored.dup = true;
  if (packet.clientId) stored.clientId = packet.clientId;
  if (packet.messageExpiry) stored.messageExpiry = packet.messageExpiry;
  return stored;
}

function fromStored(stored: StoredPacket): PacketLike {
  const packet: PacketLike = {
    cmd: stored.cmd ?? 'publish',
    topic: stored.topic,
    payload: Buffer.from(stored.payload, 'base64'),
    qos: stored.qos ?? 0,
    retain: stored.retain ?? false,
    dup: stored.dup ?? false,
  };
  if (stored.brokerId) packet.brokerId = stored.brokerId;
  if (stored.brokerCounter) packet.brokerCounter = stored.brokerCounter;
  if (stored.clientId) packet.clientId = stored.clientId;
  if (stored.messageExpiry) packet.messageExpiry = stored.messageExpiry;
  return packet;
}

const packetKey = (brokerId: string | undefined, counter: number | undefined) => `${brokerId ?? ''}:${counter ?? 0}`;

/** The state a journal describes, rebuilt at start. Maps keep insertion order (queue order). */
class ReplayState {
  subs = new Map<string, Map<string, StoredSub>>();
  queues = new Map<string, Map<string, StoredPacket>>();
  retained = new Map<string, StoredPacket>();

  apply(record: JournalRecord): void {
    switch (record.o) {
      case 'sub': {
        let subs = this.subs.get(record.c);
        if (!subs) this.subs.set(record.c, (subs = new Map()));
        for (const sub of record.s) subs.set(sub.topic, sub);
        break;
      }
      case 'unsub': {
        const subs = this.subs.get(record.c);
        for (const topic of record.t) subs?.delete(topic);
        if (subs?.size === 0) this.subs.delete(record.c);
        break;
      }
      case 'clean':
        this.subs.delete(record.c);
        break;
      case 'enq':
        for (const clientId of record.c) {
          let queue = this.queues.get(clientId);
          if (!queue) this.queues.set(clientId, (queue = new Map()));
          queue.set(packetKey(record.p.brokerId, record.p.brokerCounter), record.p);
        }
        break;
      case 'clr': {
        const queue = this.queues.get(record.c);
        queue?.delete(packetKey(record.b, record.n));
        if (queue?.size === 0) this.queues.delete(record.c);
        break;
      }
      case 'ret':
        if (record.p.payload.length === 0) this.retained.delete(record.p.topic);
        else this.retained.set(record.p.topic, record.p);
        break;
      case 'snap':
        break;
    }
  }
}

export async function createFilePersistence(options: FilePersistenceOptions): Promise<FilePersistence> {
  const log = options.logger ?? createSilentLogger();
  const dir = options.dir;
  const compactBytes = options.compactBytes ?? 64 * 1024 * 1024;
  mkdirSync(dir, { recursive: true });
  const journalDir = join(dir, 'journal');
  const snapshotFile = join(dir, 'snapshot.ndjson');

  const journal: SegmentLog = await openSegmentLog({ dir: journalDir, fsync: options.fsync ?? true });

  // --- replay: snapshot, then the journal after the snapshot's marker
  const state = new ReplayState();
  let from: LogPosition | undefined;
  let marker: string | undefined;
  if (existsSync(snapshotFile)) {
    const lines = readFileSync(snapshotFile, 'utf8').split('\n').filter(Boolean);
    const header = JSON.parse(lines[0] ?? '{}') as { id?: string; segment?: number; offset?: number };
    if (header.id && Number.isSafeInteger(header.segment) && Number.isSafeInteger(header.offset)) {
      for (const line of lines.slice(1)) state.apply(JSON.parse(line) as JournalRecord);
      marker = header.id;
      from = { segment: header.segment!, offset: header.offset! };
    }
  }
  let replayed = 0;
  let skipping = marker !== undefined;
  // The journal's files, read as any log consumer reads them (common/spool/log-reader.ts).
  const replay = await openLogReader({
    dir: journalDir,
    ...(from ? { from } : {}),
    onCorruptFrame: (info) => log.warn(info, 'broker journal: skipped a damaged frame (a write cut short by a crash)'),
  });
  for (;;) {
    const batch = await replay.nextBatch(100_000, 8 * 1024 * 1024, 0);
    if (!batch) break;
    for (const text of batch.records) {
      const record = JSON.parse(text) as JournalRecord;
      if (skipping) {
        if (record.o === 'snap' && record.id === marker) skipping = false;
        continue;
      }
      state.apply(record);
      replayed += 1;
    }
  }
  await replay.close();
  if (skipping) {
    // The marker's frame is gone (it cannot be, short of someone deleting files): the
    // snapshot alone is the best state there is.
    log.warn({ dir }, 'broker journal: snapshot marker not found; using the snapshot alone');
  }

  const inner = new MemoryPersistence();
  const persistentClients = new Set<string>();
  for (const [clientId, subs] of state.subs) {
    await inner.addSubscriptions({ id: clientId }, [...subs.values()]);
    persistentClients.add(clientId);
  }
  const queues = new Map<string, SessionQueue>();
  const queueOf = (clientId: string) => {
    let queue = queues.get(clientId);
    if (!queue) queues.set(clientId, (queue = new SessionQueue()));
    return queue;
  };
  let restoredMessages = 0;
  for (const [clientId, stored] of state.queues) {
    const queue = queueOf(clientId);
    for (const packet of stored.values()) {
      queue.enqueue(fromStored(packet));
      restoredMessages += 1;
    }
    persistentClients.add(clientId);
  }
  for (const stored of state.retained.values()) await inner.storeRetained(fromStored(stored));
  if (state.subs.size > 0 || restoredMessages > 0) {
    log.info({ clients: persistentClients.size, queuedMessages: restoredMessages, retained: state.retained.size, replayedRecords: replayed }, 'broker persistence restored sessions and queued messages');
  }
  let queuedMessages = restoredMessages;
  let compactions = 0;
  let keptAfterCompaction = journal.totalBytes();
  let compacting: Promise<void> | undefined;
  let closed = false;

  function journalRecord(record: JournalRecord): CommitGroup {
    const group = journal.append(JSON.stringify(record));
    // Past the threshold since the last compaction (what a compaction keeps is the segment of
    // its own marker, up to one threshold's worth): the journal stays under about twice it.
    if (!compacting && journal.totalBytes() - keptAfterCompaction > compactBytes) {
      compacting = compact().finally(() => {
        compacting = undefined;
        keptAfterCompaction = journal.totalBytes();
      });
    }
    return group;
  }

  async function compact(): Promise<void> {
    const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    // Captured and marked in one synchronous step: the journal after the marker holds every
    // change the capture may lack.
    const clients = [...persistentClients];
    const subsPromises = clients.map((clientId) => inner.subscriptionsByClient({ id: clientId }));
    const queueCopies = clients.map((clientId) => [...(queues.get(clientId)?.entries.values() ?? [])]);
    const retainedStream = inner.createRetainedStream('#');
    const group = journal.append(JSON.stringify({ o: 'snap', id } satisfies JournalRecord));
    const tmp = `${snapshotFile}.tmp`;
    const handle = await open(tmp, 'w');
    try {
      // Later changes go to a new segment, so the next compaction can delete this one whole.
      await journal.rotate();
      await group.committed;
      const position = group.position!;
      await handle.write(`${JSON.stringify({ id, segment: position.segment, offset: position.offset, at: new Date().toISOString() })}\n`);
      let count = 0;
      let buffer = '';
      const flush = async () => {
        if (buffer) await handle.write(buffer);
        buffer = '';
      };
      for (let i = 0; i < clients.length; i += 1) {
        const clientId = clients[i]!;
        const subs = await subsPromises[i]!;
        if (subs.length > 0) buffer += `${JSON.stringify({ o: 'sub', c: clientId, s: subs } satisfies JournalRecord)}\n`;
        let queued = 0;
        for (const packet of queueCopies[i]!) {
          buffer += `${JSON.stringify({ o: 'enq', c: [clientId], p: toStored(packet) } satisfies JournalRecord)}\n`;
          queued += 1;
          count += 1;
          if (buffer.length > 1024 * 1024) await flush();
        }
        if (subs.length === 0 && queued === 0) {
          persistentClients.delete(clientId);
          if (queues.get(clientId)?.entries.size === 0) queues.delete(clientId);
        }
      }
      for await (const packet of retainedStream) buffer += `${JSON.stringify({ o: 'ret', p: toStored(packet as PacketLike) } satisfies JournalRecord)}\n`;
      await flush();
      await handle.datasync();
      await handle.close();
      await rename(tmp, snapshotFile);
      const removed = await journal.deleteSegmentsBefore(position.segment);
      compactions += 1;
      queuedMessages = count;
      log.info({ queuedMessages: count, clients: persistentClients.size, removedSegments: removed }, 'broker journal compacted into a snapshot');
    } catch (error) {
      await handle.close().catch(() => {});
      log.error({ err: String(error) }, 'broker journal compaction failed; the journal keeps growing until the next try');
    }
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    await compacting;
    await journal.close();
  }

  return {
    dir,
    async setup(broker) {
      await inner.setup(broker);
    },
    async storeRetained(packet) {
      await inner.storeRetained(packet);
      await journalRecord({ o: 'ret', p: toStored(packet) }).committed;
    },
    createRetainedStreamCombi: (patterns) => inner.createRetainedStreamCombi(patterns),
    createRetainedStream: (pattern) => inner.createRetainedStream(pattern),
    async addSubscriptions(client, subs) {
      await inner.addSubscriptions(client, subs);
      persistentClients.add(client.id);
      const stored = subs.map((s) => {
        const sub: StoredSub = { topic: s.topic, qos: s.qos };
        if (s.rh !== undefined) sub.rh = s.rh;
        if (s.rap !== undefined) sub.rap = s.rap;
        if (s.nl !== undefined) sub.nl = s.nl;
        return sub;
      });
      await journalRecord({ o: 'sub', c: client.id, s: stored }).committed;
    },
    async removeSubscriptions(client, topics) {
      await inner.removeSubscriptions(client, topics);
      await journalRecord({ o: 'unsub', c: client.id, t: topics }).committed;
    },
    subscriptionsByClient: (client) => inner.subscriptionsByClient(client),
    countOffline: () => inner.countOffline(),
    subscriptionsByTopic: (pattern) => inner.subscriptionsByTopic(pattern),
    async cleanSubscriptions(client) {
      await inner.cleanSubscriptions(client);
      await journalRecord({ o: 'clean', c: client.id }).committed;
    },
    async outgoingEnqueue(sub, packet) {
      queueOf(sub.clientId).enqueue(packet);
      persistentClients.add(sub.clientId);
      queuedMessages += 1;
      await journalRecord({ o: 'enq', c: [sub.clientId], p: toStored(packet) }).committed;
    },
    async outgoingEnqueueCombi(subs, packet) {
      if (subs.length === 0) return;
      for (const sub of subs) queueOf(sub.clientId).enqueue(packet);
      for (const sub of subs) persistentClients.add(sub.clientId);
      queuedMessages += subs.length;
      await journalRecord({ o: 'enq', c: subs.map((s) => s.clientId), p: toStored(packet) }).committed;
    },
    // Message ids are assigned afresh on every (re)connection; only the queue entry matters.
    async outgoingUpdate(client, packet) {
      queueOf(client.id).update(packet);
    },
    async outgoingClearMessageId(client, packet) {
      const removed = queues.get(client.id)?.clear(packet.messageId);
      if (removed && !closed) {
        queuedMessages = Math.max(0, queuedMessages - 1);
        journalRecord({ o: 'clr', c: client.id, b: removed.brokerId ?? '', n: removed.brokerCounter ?? 0 });
      }
      return removed;
    },
    // Aedes calls this when a persistent session (re)connects, to send what is queued.
    outgoingStream: (client) => Readable.from(queues.get(client.id)?.restart() ?? []),
    incomingStorePacket: (client, packet) => inner.incomingStorePacket(client, packet),
    incomingGetPacket: (client, packet) => inner.incomingGetPacket(client, packet),
    incomingDelPacket: (client, packet) => inner.incomingDelPacket(client, packet),
    cleanIncoming: (client) => inner.cleanIncoming(client),
    putWill: (client, packet) => inner.putWill(client, packet),
    getWill: (client) => inner.getWill(client),
    delWill: (client) => inner.delWill(client),
    streamWill: (brokers) => inner.streamWill(brokers),
    getClientList: (topic) => inner.getClientList(topic),
    async destroy() {
      await close();
      await inner.destroy().catch(() => {});
    },
    stats: () => ({ journalBytes: journal.totalBytes(), queuedMessages, persistentClients: persistentClients.size, compactions }),
    close,
  };
}
