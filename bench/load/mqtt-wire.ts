/**
 * A minimal MQTT 3.1.1 client for load generation: precomputed packets written straight to a
 * TCP socket and a zero-copy reader that only looks at what a load generator needs (CONNACK,
 * SUBACK, PUBACK, incoming PUBLISH ids). mqtt.js spends tens of µs per message on events,
 * stores and callbacks; a generator that costs more CPU than the broker it loads measures
 * itself, and on a 2-core machine it also takes the broker's core away.
 *
 * Packet layouts from the MQTT 3.1.1 spec (OASIS, 2014), section numbers cited inline.
 */
import { connect as netConnect, type Socket } from 'node:net';

export const PACKET = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  SUBSCRIBE: 8,
  SUBACK: 9,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
} as const;

export const PINGREQ = Buffer.from([0xc0, 0x00]);
export const DISCONNECT = Buffer.from([0xe0, 0x00]);

/** Remaining Length: 7 bits per byte, high bit = more [MQTT-2.2.3]. */
export function encodeLength(length: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = length % 128;
    length = Math.floor(length / 128);
    if (length > 0) byte |= 0x80;
    bytes.push(byte);
  } while (length > 0);
  return Buffer.from(bytes);
}

function utf8Field(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(2 + body.length);
  out.writeUInt16BE(body.length, 0);
  body.copy(out, 2);
  return out;
}

export interface ConnectOptions {
  clientId: string;
  username?: string | undefined;
  password?: string | undefined;
  keepaliveS?: number;
  clean?: boolean;
}

/** CONNECT [MQTT-3.1]: protocol name "MQTT", level 4. */
export function encodeConnect(options: ConnectOptions): Buffer {
  let flags = options.clean === false ? 0 : 0x02;
  const payload = [utf8Field(options.clientId)];
  if (options.username !== undefined) {
    flags |= 0x80;
    payload.push(utf8Field(options.username));
    if (options.password !== undefined) {
      flags |= 0x40;
      payload.push(utf8Field(options.password));
    }
  }
  const keepalive = options.keepaliveS ?? 60;
  const variable = Buffer.from([0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, flags, keepalive >> 8, keepalive & 0xff]);
  const body = Buffer.concat([variable, ...payload]);
  return Buffer.concat([Buffer.from([0x10]), encodeLength(body.length), body]);
}

/** SUBSCRIBE [MQTT-3.8]: fixed header flags must be 0b0010. */
export function encodeSubscribe(packetId: number, topic: string, qos: 0 | 1): Buffer {
  const body = Buffer.concat([Buffer.from([packetId >> 8, packetId & 0xff]), utf8Field(topic), Buffer.from([qos])]);
  return Buffer.concat([Buffer.from([0x82]), encodeLength(body.length), body]);
}

/**
 * A PUBLISH packet [MQTT-3.3] laid out once per (topic, payload length), so sending is a copy
 * plus patching the packet id and any varying payload bytes in place.
 */
export interface PublishTemplate {
  packet: Buffer;
  /** Offset of the 2-byte packet id (QoS 1), or -1. */
  idOffset: number;
  /** Offset of the payload's first byte inside `packet`. */
  payloadOffset: number;
}

export function buildPublishTemplate(topic: string, payload: Buffer, qos: 0 | 1): PublishTemplate {
  const topicField = utf8Field(topic);
  const idLength = qos === 1 ? 2 : 0;
  const remaining = topicField.length + idLength + payload.length;
  const header = Buffer.concat([Buffer.from([qos === 1 ? 0x32 : 0x30]), encodeLength(remaining)]);
  const packet = Buffer.concat([header, topicField, Buffer.alloc(idLength), payload]);
  const idOffset = qos === 1 ? header.length + topicField.length : -1;
  return { packet, idOffset, payloadOffset: header.length + topicField.length + idLength };
}

/** PUBACK [MQTT-3.4] for `packetId`, written into `out` at `offset`. */
export function writePuback(out: Buffer, offset: number, packetId: number): void {
  out[offset] = 0x40;
  out[offset + 1] = 0x02;
  out[offset + 2] = packetId >> 8;
  out[offset + 3] = packetId & 0xff;
}

/** Writes `value` as exactly `width` ASCII digits (left-padded with zeros) at `offset`. */
export function writeDigits(out: Buffer, offset: number, width: number, value: number): void {
  let v = value;
  for (let i = offset + width - 1; i >= offset; i -= 1) {
    out[i] = 48 + (v % 10);
    v = Math.floor(v / 10);
  }
}

export type PacketHandler = (type: number, flags: number, data: Buffer, start: number, end: number) => void;

/**
 * Splits a byte stream into MQTT packets and hands each to `onPacket` as a view (`data`
 * from `start` to `end` is the variable header + payload). Only a packet split across two
 * chunks is copied.
 */
export function createPacketReader(onPacket: PacketHandler): (chunk: Buffer) => void {
  let pending: Buffer | undefined;
  return (chunk: Buffer) => {
    const data = pending ? Buffer.concat([pending, chunk]) : chunk;
    pending = undefined;
    let pos = 0;
    const length = data.length;
    while (pos + 2 <= length) {
      const first = data[pos]!;
      let remaining = 0;
      let multiplier = 1;
      let cursor = pos + 1;
      let complete = false;
      while (cursor < length) {
        const byte = data[cursor]!;
        cursor += 1;
        remaining += (byte & 0x7f) * multiplier;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
        multiplier *= 128;
        if (multiplier > 128 ** 3) throw new Error('malformed remaining length');
      }
      if (!complete || cursor + remaining > length) break;
      onPacket(first >> 4, first & 0x0f, data, cursor, cursor + remaining);
      pos = cursor + remaining;
    }
    if (pos < length) pending = Buffer.from(data.subarray(pos));
  };
}

/** The packet id of an incoming QoS 1 PUBLISH (after the topic) [MQTT-3.3.2]. */
export function publishPacketId(data: Buffer, start: number): number {
  const topicLength = data.readUInt16BE(start);
  return data.readUInt16BE(start + 2 + topicLength);
}

/** The payload of an incoming PUBLISH as a view. */
export function publishPayload(data: Buffer, start: number, end: number, flags: number): Buffer {
  const topicLength = data.readUInt16BE(start);
  const qos = (flags >> 1) & 0x03;
  return data.subarray(start + 2 + topicLength + (qos > 0 ? 2 : 0), end);
}

export interface WireConnection {
  socket: Socket;
  /** Replaces the packet handler after CONNACK (and SUBACK) have been seen. */
  setHandler(handler: PacketHandler): void;
  close(): Promise<void>;
}

export interface OpenOptions extends ConnectOptions {
  host: string;
  port: number;
  subscribe?: { topic: string; qos: 0 | 1 } | undefined;
  timeoutMs?: number;
}

/** Opens a TCP connection (noDelay), sends CONNECT (and SUBSCRIBE), resolves after CONNACK (and SUBACK). */
export function openConnection(options: OpenOptions): Promise<WireConnection> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: options.host, port: options.port, noDelay: true });
    let handler: PacketHandler = () => {};
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`${options.clientId}: no CONNACK within ${options.timeoutMs ?? 30_000} ms`)), options.timeoutMs ?? 30_000);
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const done = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('error', fail);
      socket.on('error', () => {});
      resolve(connection);
    };
    const connection: WireConnection = {
      socket,
      setHandler(next) {
        handler = next;
      },
      close() {
        return new Promise((resolveClose) => {
          if (socket.destroyed) return resolveClose();
          socket.once('close', () => resolveClose());
          socket.end(DISCONNECT);
          setTimeout(() => socket.destroy(), 2_000).unref();
        });
      },
    };
    const reader = createPacketReader((type, flags, data, start, end) => {
      if (settled) {
        handler(type, flags, data, start, end);
        return;
      }
      if (type === PACKET.CONNACK) {
        const code = data[start + 1];
        if (code !== 0) return fail(new Error(`${options.clientId}: CONNACK refused with return code ${code}`));
        if (!options.subscribe) done();
      } else if (type === PACKET.SUBACK) {
        const granted = data[start + 2];
        if (granted === 0x80) return fail(new Error(`${options.clientId}: SUBSCRIBE ${options.subscribe?.topic} refused`));
        done();
      } else {
        // A broker may deliver retained or queued messages right after SUBACK; anything
        // before it goes to the handler too.
        handler(type, flags, data, start, end);
      }
    });
    socket.on('data', reader);
    socket.once('error', fail);
    socket.once('close', () => fail(new Error(`${options.clientId}: connection closed before CONNACK`)));
    socket.once('connect', () => {
      const packets = [encodeConnect(options)];
      if (options.subscribe) packets.push(encodeSubscribe(1, options.subscribe.topic, options.subscribe.qos));
      socket.write(Buffer.concat(packets));
    });
  });
}
