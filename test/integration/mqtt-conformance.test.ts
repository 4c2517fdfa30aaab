/**
 * The broker's strict MQTT 3.1.1 front door (broker/mqtt-conformance.ts), rule by rule, with
 * raw bytes over a real TCP socket to a real broker with its edge: each packet that breaks a
 * rule closes its connection — or gets the return code the spec names, then the close —
 * stores nothing, is counted by reason, and leaves every other client alone.
 */
import { connect as connectTcp } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBroker, type Broker } from '../../broker/broker.ts';
import { createEdge, type Edge } from '../../broker/edge.ts';
import type { GuardViolationReason } from '../../broker/mqtt-conformance.ts';
import { createMetricsRegistry } from '../../common/metrics.ts';
import { registerBrokerMetrics } from '../../broker/metrics.ts';
import { readMetricText, tempDir } from '../helpers/processes.ts';
import { bytes, mqttPacket, mqttString } from '../helpers/mqtt-bytes.ts';
import { eventually } from '../helpers/stack.ts';

let broker: Broker;
let edge: Edge;
let observer: MqttClient;
let removeDir: () => Promise<void>;
const seen: string[] = [];

beforeAll(async () => {
  const dir = await tempDir('conformance');
  removeDir = dir.remove;
  edge = await createEdge({ logDir: dir.path });
  broker = await createBroker({ port: 0, edge, maxPayloadBytes: 1024 });
  // A well-behaved client, connected through every case: nobody else's mistake may touch it.
  observer = await mqtt.connectAsync(broker.url, { clientId: 'observer', reconnectPeriod: 0 });
  observer.on('message', (topic) => seen.push(topic));
  await observer.subscribeAsync('conformance/#', { qos: 1 });
});

afterAll(async () => {
  await observer?.endAsync(true);
  await broker?.close();
  await removeDir?.();
});

// --- packets by hand (mqtt-packet refuses to build most of these)
const str = mqttString;
const packet = mqttPacket;
interface ConnectFields {
  name?: string;
  level?: number;
  flags?: number;
  clientId?: string | Buffer;
  payload?: Buffer;
  firstByte?: number;
}
function connectPacket(f: ConnectFields = {}): Buffer {
  const payload = f.payload ?? str(f.clientId ?? `c-${Math.random().toString(36).slice(2, 8)}`);
  return packet(f.firstByte ?? 0x10, bytes(str(f.name ?? 'MQTT'), [f.level ?? 4, f.flags ?? 0x02, 0, 30], payload));
}
const publishPacket = (flags: number, topic: string | Buffer, id: number | undefined, payload = '{}') =>
  packet(0x30 | flags, bytes(str(topic), id === undefined ? [] : [id >> 8, id & 0xff], Buffer.from(payload)));
const SURROGATE = Buffer.from([0xed, 0xa0, 0x80]);
const NONCHARACTER = Buffer.from([0xef, 0xbf, 0xbf]);
const withBytes = (before: string, middle: Buffer, after: string) => bytes(Buffer.from(before), middle, Buffer.from(after));

interface Case {
  rule: string;
  what: string;
  /** Sent after a valid CONNECT was accepted; otherwise as the first packet. */
  afterConnect: boolean;
  send: Buffer;
  reason: GuardViolationReason;
  /** The CONNACK return code expected before the close; undefined = closed without one. */
  connack?: number;
}

const CASES: Case[] = [
  { rule: 'MQTT-3.1.2-2', what: 'CONNECT with protocol level 2', afterConnect: false, send: connectPacket({ level: 2 }), reason: 'PROTOCOL_VERSION', connack: 1 },
  { rule: 'MQTT-3.1.2-2', what: 'CONNECT with protocol level 6', afterConnect: false, send: connectPacket({ level: 6 }), reason: 'PROTOCOL_VERSION', connack: 1 },
  { rule: 'MQTT-3.1.2-2', what: 'CONNECT of MQTT 5 (level 5)', afterConnect: false, send: connectPacket({ level: 5 }), reason: 'PROTOCOL_VERSION', connack: 1 },
  { rule: 'MQTT-3.1.2-1', what: 'CONNECT with protocol name MQTX', afterConnect: false, send: connectPacket({ name: 'MQTX' }), reason: 'PROTOCOL_NAME' },
  { rule: 'MQTT-2.2.2-2', what: 'CONNECT with fixed-header flags set', afterConnect: false, send: connectPacket({ firstByte: 0x11 }), reason: 'RESERVED_FLAGS' },
  { rule: 'MQTT-3.1.2-3', what: 'CONNECT with the reserved connect flag set', afterConnect: false, send: connectPacket({ flags: 0x03 }), reason: 'CONNECT_RESERVED_FLAG' },
  { rule: 'MQTT-3.1.2-14', what: 'CONNECT with Will QoS 3', afterConnect: false, send: connectPacket({ flags: 0x02 | 0x04 | 0x18, payload: bytes(str('c-will3'), str('w/t'), str('bye')) }), reason: 'WILL_QOS' },
  { rule: 'MQTT-3.1.2-13', what: 'CONNECT with Will QoS 1 but no Will flag', afterConnect: false, send: connectPacket({ flags: 0x02 | 0x08 }), reason: 'WILL_FLAGS' },
  { rule: 'MQTT-3.1.2-15', what: 'CONNECT with Will Retain but no Will flag', afterConnect: false, send: connectPacket({ flags: 0x02 | 0x20 }), reason: 'WILL_FLAGS' },
  { rule: 'MQTT-3.1.2-22', what: 'CONNECT with a password but no user name flag', afterConnect: false, send: connectPacket({ flags: 0x02 | 0x40, payload: bytes(str('c-pw'), str('secret')) }), reason: 'PASSWORD_WITHOUT_USERNAME' },
  { rule: 'MQTT-3.1.2-19', what: 'CONNECT with the user name flag but no user name', afterConnect: false, send: connectPacket({ flags: 0x02 | 0x80, payload: str('c-nouser') }), reason: 'CONNECT_PAYLOAD' },
  { rule: 'MQTT-3.1.2-18', what: 'CONNECT with a user name the flags do not announce', afterConnect: false, send: connectPacket({ flags: 0x02, payload: bytes(str('c-extra'), str('someone')) }), reason: 'CONNECT_PAYLOAD' },
  { rule: 'MQTT-1.5.3-2', what: 'CONNECT with U+0000 in the client id', afterConnect: false, send: connectPacket({ clientId: 'c\u0000id' }), reason: 'STRING_INVALID' },
  { rule: 'MQTT-1.5.3-1', what: 'CONNECT with a surrogate in the client id', afterConnect: false, send: connectPacket({ clientId: withBytes('c', SURROGATE, 'id') }), reason: 'STRING_INVALID' },
  { rule: 'MQTT-1.5.3-1', what: 'CONNECT with ill-formed UTF-8 in the client id', afterConnect: false, send: connectPacket({ clientId: Buffer.from([0x63, 0xc3, 0x28]) }), reason: 'STRING_INVALID' },
  { rule: 'MQTT-1.5.3-3', what: 'CONNECT with a control character in the client id', afterConnect: false, send: connectPacket({ clientId: 'c\u0007id' }), reason: 'STRING_INVALID', connack: 2 },
  { rule: 'MQTT-1.5.3-3', what: 'CONNECT with U+FFFF in the client id', afterConnect: false, send: connectPacket({ clientId: withBytes('c', NONCHARACTER, 'id') }), reason: 'STRING_INVALID', connack: 2 },
  { rule: 'MQTT-1.5.3-3', what: 'CONNECT with U+0085 in the user name', afterConnect: false, send: connectPacket({ flags: 0x02 | 0x80, payload: bytes(str('c-c1'), str('user\u0085')) }), reason: 'STRING_INVALID', connack: 4 },
  { rule: 'MQTT-1.5.3-2', what: 'CONNECT with U+0000 in the will topic', afterConnect: false, send: connectPacket({ flags: 0x02 | 0x04, payload: bytes(str('c-wt'), str('w/\u0000'), str('bye')) }), reason: 'STRING_INVALID' },
  { rule: 'MQTT-3.1.0-1', what: 'a first packet that is not CONNECT', afterConnect: false, send: packet(0xc0, Buffer.alloc(0)), reason: 'CONNECT_NOT_FIRST' },
  { rule: 'MQTT-3.1.0-2', what: 'a second CONNECT', afterConnect: true, send: connectPacket(), reason: 'CONNECT_AGAIN' },
  { rule: 'MQTT-3.3.1-2', what: 'PUBLISH at QoS 0 with DUP set', afterConnect: true, send: publishPacket(0x08, 'conformance/x', undefined), reason: 'PUBLISH_DUP_AT_QOS0' },
  { rule: 'MQTT-3.3.1-4', what: 'PUBLISH at QoS 3', afterConnect: true, send: publishPacket(0x06, 'conformance/x', 5), reason: 'PUBLISH_QOS' },
  { rule: 'MQTT-2.3.1-1', what: 'PUBLISH at QoS 1 with packet identifier 0', afterConnect: true, send: publishPacket(0x02, 'conformance/x', 0), reason: 'PACKET_ID_ZERO' },
  { rule: 'MQTT-2.3.1-1', what: 'PUBLISH at QoS 2 with packet identifier 0', afterConnect: true, send: publishPacket(0x04, 'conformance/x', 0), reason: 'PACKET_ID_ZERO' },
  { rule: 'MQTT-1.5.3-2', what: 'PUBLISH with U+0000 in the topic', afterConnect: true, send: publishPacket(0x02, 'conformance/\u0000', 7), reason: 'STRING_INVALID' },
  { rule: 'MQTT-1.5.3-1', what: 'PUBLISH with a surrogate in the topic', afterConnect: true, send: publishPacket(0x02, withBytes('conformance/', SURROGATE, ''), 7), reason: 'STRING_INVALID' },
  { rule: 'MQTT-1.5.3-3', what: 'PUBLISH with a control character in the topic', afterConnect: true, send: publishPacket(0x02, 'conformance/\u001b[31m', 7), reason: 'STRING_INVALID' },
  { rule: 'MQTT-1.5.3-3', what: 'PUBLISH with U+009B in the topic', afterConnect: true, send: publishPacket(0x02, 'conformance/\u009b', 7), reason: 'STRING_INVALID' },
  { rule: 'MQTT-1.5.3-3', what: 'PUBLISH with U+FFFF in the topic', afterConnect: true, send: publishPacket(0x02, withBytes('lab/v1/air/', NONCHARACTER, ''), 7), reason: 'STRING_INVALID' },
  { rule: 'MQTT-3.3.2-2', what: 'PUBLISH with a wildcard in the topic', afterConnect: true, send: publishPacket(0x02, 'lab/v1/air/+', 7), reason: 'TOPIC_WILDCARD' },
  { rule: 'MQTT-4.7.3-1', what: 'PUBLISH with an empty topic', afterConnect: true, send: publishPacket(0x02, '', 7), reason: 'TOPIC_EMPTY' },
  { rule: 'MQTT-3.4.2', what: 'PUBACK with remaining length 3', afterConnect: true, send: packet(0x40, Buffer.from([0, 1, 0])), reason: 'MALFORMED_PACKET' },
  { rule: 'MQTT-2.3.1-1', what: 'PUBACK with packet identifier 0', afterConnect: true, send: packet(0x40, Buffer.from([0, 0])), reason: 'PACKET_ID_ZERO' },
  { rule: 'MQTT-3.5.2', what: 'PUBREC with remaining length 1', afterConnect: true, send: packet(0x50, Buffer.from([1])), reason: 'MALFORMED_PACKET' },
  { rule: 'MQTT-3.6.1-1', what: 'PUBREL with flags 0', afterConnect: true, send: packet(0x60, Buffer.from([0, 1])), reason: 'RESERVED_FLAGS' },
  { rule: 'MQTT-2.3.1-1', what: 'PUBCOMP with packet identifier 0', afterConnect: true, send: packet(0x70, Buffer.from([0, 0])), reason: 'PACKET_ID_ZERO' },
  { rule: 'MQTT-3.12.1', what: 'PINGREQ with a non-zero remaining length', afterConnect: true, send: packet(0xc0, Buffer.from([0])), reason: 'MALFORMED_PACKET' },
  { rule: 'MQTT-2.2.2-2', what: 'DISCONNECT with flags set', afterConnect: true, send: packet(0xe1, Buffer.alloc(0)), reason: 'RESERVED_FLAGS' },
  { rule: 'MQTT-3.8.1-1', what: 'SUBSCRIBE with flags 0', afterConnect: true, send: packet(0x80, bytes([0, 1], str('conformance/#'), [1])), reason: 'RESERVED_FLAGS' },
  { rule: 'MQTT-3.8.3-3', what: 'SUBSCRIBE with no topic filter', afterConnect: true, send: packet(0x82, Buffer.from([0, 1])), reason: 'SUBSCRIBE_EMPTY' },
  { rule: 'MQTT-3.8.3-4', what: 'SUBSCRIBE requesting QoS 3', afterConnect: true, send: packet(0x82, bytes([0, 1], str('conformance/#'), [3])), reason: 'SUBSCRIBE_QOS' },
  { rule: 'MQTT-2.3.1-1', what: 'SUBSCRIBE with packet identifier 0', afterConnect: true, send: packet(0x82, bytes([0, 0], str('conformance/#'), [1])), reason: 'PACKET_ID_ZERO' },
  { rule: 'MQTT-1.5.3-2', what: 'SUBSCRIBE with U+0000 in a filter', afterConnect: true, send: packet(0x82, bytes([0, 1], str('a/\u0000'), [1])), reason: 'STRING_INVALID' },
  { rule: 'MQTT-3.10.3-2', what: 'UNSUBSCRIBE with no topic', afterConnect: true, send: packet(0xa2, Buffer.from([0, 1])), reason: 'UNSUBSCRIBE_EMPTY' },
  { rule: 'MQTT-3.10.1-1', what: 'UNSUBSCRIBE with flags 0', afterConnect: true, send: packet(0xa0, bytes([0, 1], str('conformance/#'))), reason: 'RESERVED_FLAGS' },
  { rule: 'MQTT-2.3.1-1', what: 'UNSUBSCRIBE with packet identifier 0', afterConnect: true, send: packet(0xa2, bytes([0, 0], str('conformance/#'))), reason: 'PACKET_ID_ZERO' },
  { rule: 'MQTT-2.2.1', what: 'a CONNACK sent by a client', afterConnect: true, send: packet(0x20, Buffer.from([0, 0])), reason: 'PACKET_NOT_ALLOWED' },
  { rule: 'MQTT-2.2.3', what: 'a remaining length of five bytes', afterConnect: true, send: Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]), reason: 'MALFORMED_LENGTH' },
];

/** Sends `first` (and, once its CONNACK 0 is in, `then`) on a raw socket; resolves with the CONNACK codes seen and whether the broker closed. */
async function exchange(first: Buffer, then?: Buffer): Promise<{ connacks: number[]; closed: boolean }> {
  const socket = connectTcp(broker.port, broker.host);
  socket.on('error', () => {});
  const connacks: number[] = [];
  let buffered = Buffer.alloc(0);
  const closed = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), 3_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
  let sentSecond = false;
  socket.on('data', (data: Buffer) => {
    buffered = Buffer.concat([buffered, data]);
    while (buffered.length >= 2 && buffered.length >= 2 + buffered[1]!) {
      const type = buffered[0]! >> 4;
      if (type === 2) connacks.push(buffered[3]!);
      buffered = buffered.subarray(2 + buffered[1]!);
      if (type === 2 && then && !sentSecond && connacks.at(-1) === 0) {
        sentSecond = true;
        socket.write(then);
      }
    }
  });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.write(first);
  const wasClosed = await closed;
  socket.destroy();
  return { connacks, closed: wasClosed };
}

describe('the strict MQTT 3.1.1 front door', () => {
  it.each(CASES.map((c) => [`[${c.rule}] ${c.what}`, c] as const))('%s: refused, counted, nothing stored, nobody else touched', async (_name, c) => {
    const guardBefore = broker.securityStats().guard[c.reason] ?? 0;
    const receivedBefore = edge.counters().received;
    const result = c.afterConnect ? await exchange(connectPacket(), c.send) : await exchange(c.send);
    expect(result.closed).toBe(true);
    expect(result.connacks).toEqual(c.afterConnect ? [0] : c.connack === undefined ? [] : [c.connack]);
    expect(broker.securityStats().guard[c.reason] ?? 0).toBe(guardBefore + 1);
    expect(edge.counters().received).toBe(receivedBefore);
    // The observer is still there and still served.
    expect(observer.connected).toBe(true);
    const marker = `conformance/after/${seen.length}`;
    await observer.publishAsync(marker, 'ok', { qos: 1 });
    await eventually(() => (seen.includes(marker) ? true : undefined), 2_000, 'the observer’s own message');
  });

  it('exposes the violations by reason in the broker metrics', async () => {
    const metrics = createMetricsRegistry();
    registerBrokerMetrics(metrics, broker);
    const text = await metrics.render();
    const expected = CASES.filter((c) => c.reason === 'PROTOCOL_VERSION').length;
    expect(readMetricText(text, 'streetlab_broker_protocol_violations', { reason: 'PROTOCOL_VERSION' })).toBeGreaterThanOrEqual(expected);
    expect(readMetricText(text, 'streetlab_broker_protocol_violations', { reason: 'STRING_INVALID' })).toBeGreaterThanOrEqual(10);
  });

  it('lets well-formed traffic through: MQTT 3.1 and 3.1.1 CONNECTs, a will, credentials, every packet type a client sends', async () => {
    const v31 = await exchange(connectPacket({ name: 'MQIsdp', level: 3 }), packet(0xc0, Buffer.alloc(0)));
    expect(v31.connacks).toEqual([0]);
    const session = bytes(
      publishPacket(0x00, 'conformance/ok/0', undefined),
      publishPacket(0x02, 'conformance/ok/1', 1),
      packet(0x82, bytes([0, 2], str('conformance/ok/#'), [1], str('other/+'), [0])),
      packet(0xa2, bytes([0, 3], str('other/+'))),
      packet(0xc0, Buffer.alloc(0)),
      packet(0xe0, Buffer.alloc(0)),
    );
    const ok = await exchange(connectPacket({ flags: 0x02 | 0x04 | 0x08 | 0xc0, payload: bytes(str('c-full'), str('conformance/will'), str('bye'), str('user-é'), str('pw\u0000ok')) }), session);
    expect(ok.connacks).toEqual([0]);
    expect(ok.closed).toBe(true); // by its own DISCONNECT
    await eventually(() => (seen.includes('conformance/ok/1') ? true : undefined), 2_000, 'its QoS 1 publish');
  });
});
