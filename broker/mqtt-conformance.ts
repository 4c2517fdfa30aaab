/**
 * A strict MQTT 3.1.1 front door: every byte a client sends passes this scanner before Aedes
 * parses it (limits.ts puts it on the connection's `read()`), and the first violation closes
 * the connection — or, for an unacceptable protocol level, answers CONNACK 0x01 and closes
 * [MQTT-3.1.2-2]. It follows the framing across socket reads without buffering more than a
 * control packet (bounded by PacketLimits) or a PUBLISH's variable header: the payload of a
 * PUBLISH is never copied.
 *
 * What it enforces, with the clause each rule comes from (OASIS MQTT 3.1.1):
 * - framing: remaining length at most four bytes [MQTT-2.2.3]; CONNECT first [MQTT-3.1.0-1]
 *   and only once [MQTT-3.1.0-2]; no packet only a server sends; sizes within PacketLimits;
 * - fixed-header flags where the spec fixes them [MQTT-2.2.2-1, -2]: 0 for CONNECT, PUBACK,
 *   PUBREC, PUBCOMP, PINGREQ, DISCONNECT; 0b0010 for PUBREL [MQTT-3.6.1-1], SUBSCRIBE
 *   [MQTT-3.8.1-1], UNSUBSCRIBE [MQTT-3.10.1-1];
 * - CONNECT: protocol name MQTT (level 4) or MQIsdp (level 3, MQTT 3.1) [MQTT-3.1.2-1]; another
 *   level → CONNACK 0x01 [MQTT-3.1.2-2]; reserved flag 0 [MQTT-3.1.2-3]; Will QoS not 3
 *   [MQTT-3.1.2-14]; without the Will flag, Will QoS 0 and Will Retain 0 [MQTT-3.1.2-11, -13,
 *   -15]; no password without a user name [MQTT-3.1.2-22]; the payload holds exactly the fields
 *   the flags announce [MQTT-3.1.2-9, -16 … -21];
 * - PUBLISH: QoS not 3 [MQTT-3.3.1-4]; DUP 0 at QoS 0 [MQTT-3.3.1-2]; a packet identifier,
 *   not 0, at QoS 1 and 2 [MQTT-2.3.1-1]; a topic name that is not empty [MQTT-4.7.3-1] and has
 *   no wildcard [MQTT-3.3.2-2];
 * - PUBACK, PUBREC, PUBREL, PUBCOMP: remaining length 2 [MQTT-3.4.2, 3.5.2, 3.6.2, 3.7.2],
 *   identifier not 0 [MQTT-2.3.1-1]; PINGREQ and DISCONNECT: remaining length 0 [MQTT-3.12.1,
 *   3.14.1];
 * - SUBSCRIBE: identifier not 0, at least one filter [MQTT-3.8.3-3], requested QoS 0–2 with
 *   the reserved bits 0 [MQTT-3.8.3-4]; UNSUBSCRIBE: identifier not 0, at least one filter
 *   [MQTT-3.10.3-2]; filters not empty [MQTT-4.7.3-1];
 * - every string (client id, user name, will topic, topic names and filters): well-formed UTF-8
 *   [MQTT-1.5.3-1] without U+0000 [MQTT-1.5.3-2] or a surrogate [MQTT-1.5.3-1], and — the
 *   spec's SHOULD NOT, enforced here because these strings become log fields, InfluxDB tags
 *   and CSV cells — without control characters U+0001–U+001F, U+007F–U+009F or noncharacters
 *   (U+FDD0–U+FDEF, U+xFFFE, U+xFFFF) [MQTT-1.5.3-3].
 *
 * Why ~480 lines in one module: each rule cites its clause and is read best beside the framing state machine it hangs on.
 */

export interface PacketLimits {
  /** Largest PUBLISH payload, bytes (MAX_PAYLOAD_BYTES, default 16 KiB). */
  maxPayloadBytes: number;
  /** Largest CONNECT packet (ids, credentials, will) — what an unauthenticated client may make us hold. */
  maxConnectBytes: number;
  /** Largest SUBSCRIBE / UNSUBSCRIBE packet. */
  maxControlBytes: number;
}

export type GuardViolationReason =
  | 'CONNECT_NOT_FIRST'
  | 'CONNECT_AGAIN'
  | 'CONNECT_TOO_LARGE'
  | 'PAYLOAD_TOO_LARGE'
  | 'PACKET_TOO_LARGE'
  | 'PACKET_NOT_ALLOWED'
  | 'MALFORMED_LENGTH'
  | 'MALFORMED_PACKET'
  | 'RESERVED_FLAGS'
  | 'PROTOCOL_NAME'
  | 'PROTOCOL_VERSION'
  | 'CONNECT_RESERVED_FLAG'
  | 'WILL_QOS'
  | 'WILL_FLAGS'
  | 'PASSWORD_WITHOUT_USERNAME'
  | 'CONNECT_PAYLOAD'
  | 'PUBLISH_QOS'
  | 'PUBLISH_DUP_AT_QOS0'
  | 'PACKET_ID_ZERO'
  | 'TOPIC_EMPTY'
  | 'TOPIC_WILDCARD'
  | 'SUBSCRIBE_EMPTY'
  | 'SUBSCRIBE_QOS'
  | 'UNSUBSCRIBE_EMPTY'
  | 'STRING_INVALID';

export interface GuardViolation {
  reason: GuardViolationReason;
  /** The clause of MQTT 3.1.1 the packet broke. */
  rule?: string;
  /** MQTT control packet type (1 CONNECT, 3 PUBLISH, …). */
  packetType: number;
  remainingLength?: number;
  payloadBytes?: number;
  /** The PUBLISH topic, when its bytes had arrived. */
  topic?: string;
  detail?: string;
  /** Answer with a CONNACK of this return code before closing (0x01: unacceptable protocol version). */
  connackReturnCode?: number;
}

const CONNECT = 1;
const PUBLISH = 3;
const PUBACK = 4;
const PUBREC = 5;
const PUBREL = 6;
const PUBCOMP = 7;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;
const PINGREQ = 12;
const DISCONNECT = 14;
/** Packets a client never sends: reserved (0, 15) and server-to-client (CONNACK, SUBACK, UNSUBACK, PINGRESP). */
const SERVER_ONLY = new Set([0, 2, 9, 11, 13, 15]);
/** The fixed-header flags the spec fixes, by packet type [MQTT-2.2.2-1, -2]. */
const FIXED_FLAGS: Partial<Record<number, number>> = {
  [CONNECT]: 0,
  [PUBACK]: 0,
  [PUBREC]: 0,
  [PUBREL]: 0b0010,
  [PUBCOMP]: 0,
  [SUBSCRIBE]: 0b0010,
  [UNSUBSCRIBE]: 0b0010,
  [PINGREQ]: 0,
  [DISCONNECT]: 0,
};
const EMPTY = new Uint8Array(0);
const FLAG_RULES: Partial<Record<number, string>> = { [PUBREL]: 'MQTT-3.6.1-1', [SUBSCRIBE]: 'MQTT-3.8.1-1', [UNSUBSCRIBE]: 'MQTT-3.10.1-1' };

/**
 * Why a string breaks the rules above, or undefined when it is fine: `buf[start, start + length)`
 * as UTF-8, checked byte by byte without decoding it.
 */
export function mqttStringProblem(buf: Uint8Array, start: number, length: number): string | undefined {
  const end = start + length;
  let i = start;
  while (i < end) {
    const b = buf[i]!;
    if (b < 0x80) {
      if (b === 0) return 'U+0000';
      if (b < 0x20 || b === 0x7f) return 'a control character';
      i += 1;
      continue;
    }
    let cp: number;
    let size: number;
    let min: number;
    if (b >= 0xc2 && b <= 0xdf) {
      size = 2;
      cp = b & 0x1f;
      min = 0x80;
    } else if (b >= 0xe0 && b <= 0xef) {
      size = 3;
      cp = b & 0x0f;
      min = 0x800;
    } else if (b >= 0xf0 && b <= 0xf4) {
      size = 4;
      cp = b & 0x07;
      min = 0x10000;
    } else {
      return 'invalid UTF-8';
    }
    if (i + size > end) return 'invalid UTF-8';
    for (let k = 1; k < size; k += 1) {
      const c = buf[i + k]!;
      if ((c & 0xc0) !== 0x80) return 'invalid UTF-8';
      cp = (cp << 6) | (c & 0x3f);
    }
    if (cp < min || cp > 0x10ffff) return 'invalid UTF-8';
    if (cp >= 0xd800 && cp <= 0xdfff) return 'a surrogate';
    if (cp >= 0x80 && cp <= 0x9f) return 'a control character';
    if ((cp >= 0xfdd0 && cp <= 0xfdef) || (cp & 0xfffe) === 0xfffe) return 'a noncharacter';
    i += size;
  }
  return undefined;
}

/** Tracks MQTT framing and the rules above across reads; returns the first violation, if any. */
export function createPacketScanner(limits: PacketLimits): (chunk: Uint8Array) => GuardViolation | undefined {
  let phase: 'header' | 'length' | 'collect' | 'skip' = 'header';
  let type = 0;
  let flags = 0;
  let remaining = 0;
  let multiplier = 1;
  let lengthBytes = 0;
  let toSkip = 0;
  let packets = 0;
  // A packet part being collected across reads: `need` bytes, `have` so far in `pending`.
  let need = 0;
  let have = 0;
  let pending: Buffer | undefined;
  let onCollected: (buf: Uint8Array, at: number) => GuardViolation | undefined = () => undefined;
  let publishTopicLength = 0;

  const fail = (reason: GuardViolationReason, rule: string, extra: Partial<GuardViolation> = {}): GuardViolation => ({
    reason,
    rule,
    packetType: type,
    remainingLength: remaining,
    ...extra,
  });

  function afterPacket(bytes: number): void {
    toSkip = bytes;
    phase = bytes > 0 ? 'skip' : 'header';
  }

  function collect(bytes: number, then: (buf: Uint8Array, at: number) => GuardViolation | undefined): void {
    need = bytes;
    have = 0;
    pending = undefined;
    onCollected = then;
    phase = 'collect';
  }

  function checkHeader(): GuardViolation | undefined {
    if (packets === 0 && type !== CONNECT) return fail('CONNECT_NOT_FIRST', 'MQTT-3.1.0-1');
    if (packets > 0 && type === CONNECT) return fail('CONNECT_AGAIN', 'MQTT-3.1.0-2');
    if (SERVER_ONLY.has(type)) return fail('PACKET_NOT_ALLOWED', 'MQTT-2.2.1');
    const fixed = FIXED_FLAGS[type];
    if (fixed !== undefined && flags !== fixed) return fail('RESERVED_FLAGS', FLAG_RULES[type] ?? 'MQTT-2.2.2-2', { detail: `flags 0b${flags.toString(2).padStart(4, '0')}` });
    switch (type) {
      case CONNECT:
        return remaining > limits.maxConnectBytes ? fail('CONNECT_TOO_LARGE', 'limit') : undefined;
      case PUBLISH: {
        const qos = (flags >> 1) & 0x03;
        if (qos === 3) return fail('PUBLISH_QOS', 'MQTT-3.3.1-4');
        if (qos === 0 && flags & 0x08) return fail('PUBLISH_DUP_AT_QOS0', 'MQTT-3.3.1-2');
        // Topic (2 + ≤ 65,535 bytes) + packet identifier (2) + payload: the exact payload size needs the topic length.
        if (remaining > limits.maxPayloadBytes + 65_539) return fail('PAYLOAD_TOO_LARGE', 'limit', { payloadBytes: remaining });
        if (remaining < 2 + (qos > 0 ? 2 : 0)) return fail('MALFORMED_PACKET', 'MQTT-3.3.2');
        return undefined;
      }
      case SUBSCRIBE:
      case UNSUBSCRIBE:
        return remaining > limits.maxControlBytes ? fail('PACKET_TOO_LARGE', 'limit') : undefined;
      case PUBACK:
      case PUBREC:
      case PUBREL:
      case PUBCOMP:
        return remaining === 2 ? undefined : fail('MALFORMED_PACKET', `MQTT-3.${type}.2`, { detail: `remaining length ${remaining}, not 2` });
      case PINGREQ:
        return remaining === 0 ? undefined : fail('MALFORMED_PACKET', 'MQTT-3.12.1', { detail: `remaining length ${remaining}, not 0` });
      case DISCONNECT:
        return remaining === 0 ? undefined : fail('MALFORMED_PACKET', 'MQTT-3.14.1', { detail: `remaining length ${remaining}, not 0` });
      default:
        return undefined;
    }
  }

  /** Starts on a packet's body once its fixed header is read and accepted. */
  function beginBody(): void {
    switch (type) {
      case PUBLISH:
        collect(2, publishTopicLengthRead);
        return;
      case CONNECT:
        collect(remaining, checkConnect);
        return;
      case SUBSCRIBE:
        collect(remaining, checkSubscribe);
        return;
      case UNSUBSCRIBE:
        collect(remaining, checkUnsubscribe);
        return;
      case PUBACK:
      case PUBREC:
      case PUBREL:
      case PUBCOMP:
        collect(2, (buf, at) => (buf[at]! === 0 && buf[at + 1]! === 0 ? fail('PACKET_ID_ZERO', 'MQTT-2.3.1-1') : undefined));
        return;
      default:
        afterPacket(remaining);
    }
  }

  function publishTopicLengthRead(buf: Uint8Array, at: number): GuardViolation | undefined {
    publishTopicLength = buf[at]! * 256 + buf[at + 1]!;
    const qos = (flags >> 1) & 0x03;
    const header = publishTopicLength + (qos > 0 ? 2 : 0);
    if (2 + header > remaining) return fail('MALFORMED_PACKET', 'MQTT-3.3.2', { detail: 'topic longer than the packet' });
    const payloadBytes = remaining - 2 - header;
    if (payloadBytes > limits.maxPayloadBytes) {
      const violation = fail('PAYLOAD_TOO_LARGE', 'limit', { payloadBytes });
      // The topic, when its bytes are already here, names the device in the report.
      if (at + 2 + publishTopicLength <= buf.length) violation.topic = Buffer.from(buf.buffer, buf.byteOffset + at + 2, publishTopicLength).toString('utf8');
      return violation;
    }
    if (publishTopicLength === 0) return fail('TOPIC_EMPTY', 'MQTT-4.7.3-1');
    collect(header, publishHeaderRead);
    return undefined;
  }

  function publishHeaderRead(buf: Uint8Array, at: number): GuardViolation | undefined {
    const problem = mqttStringProblem(buf, at, publishTopicLength);
    if (problem) return fail('STRING_INVALID', problem === 'U+0000' ? 'MQTT-1.5.3-2' : problem === 'a control character' || problem === 'a noncharacter' ? 'MQTT-1.5.3-3' : 'MQTT-1.5.3-1', { detail: `topic name contains ${problem}` });
    for (let k = at; k < at + publishTopicLength; k += 1) {
      const c = buf[k]!;
      if (c === 0x23 || c === 0x2b) return fail('TOPIC_WILDCARD', 'MQTT-3.3.2-2');
    }
    const qos = (flags >> 1) & 0x03;
    if (qos > 0 && buf[at + publishTopicLength]! === 0 && buf[at + publishTopicLength + 1]! === 0) return fail('PACKET_ID_ZERO', 'MQTT-2.3.1-1');
    afterPacket(remaining - 2 - publishTopicLength - (qos > 0 ? 2 : 0));
    return undefined;
  }

  /** A length-prefixed string or binary field at `at` of a packet ending at `end`; -1 when it does not fit. */
  function fieldEnd(buf: Uint8Array, at: number, end: number): number {
    if (at + 2 > end) return -1;
    const next = at + 2 + buf[at]! * 256 + buf[at + 1]!;
    return next > end ? -1 : next;
  }

  /**
   * U+0000, a surrogate or broken UTF-8 must close the connection [MQTT-1.5.3-1, -2]. The
   * characters the spec only advises against [MQTT-1.5.3-3] get the CONNACK a client can act
   * on, when `connack` is given: 0x02 for a client identifier, 0x04 for a user name.
   */
  function stringViolation(buf: Uint8Array, at: number, end: number, what: string, connack?: number): GuardViolation | undefined {
    const problem = mqttStringProblem(buf, at + 2, end - at - 2);
    if (!problem) return undefined;
    const advisory = problem === 'a control character' || problem === 'a noncharacter';
    const rule = problem === 'U+0000' ? 'MQTT-1.5.3-2' : advisory ? 'MQTT-1.5.3-3' : 'MQTT-1.5.3-1';
    return fail('STRING_INVALID', rule, { detail: `${what} contains ${problem}`, ...(advisory && connack !== undefined ? { connackReturnCode: connack } : {}) });
  }

  function checkConnect(buf: Uint8Array, at: number): GuardViolation | undefined {
    const end = at + remaining;
    const nameEnd = fieldEnd(buf, at, end);
    if (nameEnd < 0 || nameEnd + 4 > end) return fail('MALFORMED_PACKET', 'MQTT-3.1.2');
    const name = Buffer.from(buf.buffer, buf.byteOffset + at + 2, nameEnd - at - 2).toString('latin1');
    if (name !== 'MQTT' && name !== 'MQIsdp') return fail('PROTOCOL_NAME', 'MQTT-3.1.2-1', { detail: `protocol name ${JSON.stringify(name.slice(0, 16))}` });
    const level = buf[nameEnd]!;
    if ((name === 'MQTT' && level !== 4) || (name === 'MQIsdp' && level !== 3)) {
      return fail('PROTOCOL_VERSION', 'MQTT-3.1.2-2', { detail: `protocol level ${level}`, connackReturnCode: 0x01 });
    }
    const connectFlags = buf[nameEnd + 1]!;
    if (connectFlags & 0x01) return fail('CONNECT_RESERVED_FLAG', 'MQTT-3.1.2-3');
    const will = (connectFlags & 0x04) !== 0;
    const willQos = (connectFlags >> 3) & 0x03;
    const willRetain = (connectFlags & 0x20) !== 0;
    const hasPassword = (connectFlags & 0x40) !== 0;
    const hasUsername = (connectFlags & 0x80) !== 0;
    if (willQos === 3) return fail('WILL_QOS', 'MQTT-3.1.2-14');
    if (!will && willQos !== 0) return fail('WILL_FLAGS', 'MQTT-3.1.2-13');
    if (!will && willRetain) return fail('WILL_FLAGS', 'MQTT-3.1.2-15');
    if (hasPassword && !hasUsername) return fail('PASSWORD_WITHOUT_USERNAME', 'MQTT-3.1.2-22');
    // Payload: client id, [will topic, will message], [user name], [password] — exactly these [MQTT-3.1.3-1].
    let cursor = nameEnd + 4;
    const clientIdEnd = fieldEnd(buf, cursor, end);
    if (clientIdEnd < 0) return fail('CONNECT_PAYLOAD', 'MQTT-3.1.3-3', { detail: 'no client identifier' });
    const badId = stringViolation(buf, cursor, clientIdEnd, 'the client identifier', 0x02);
    if (badId) return badId;
    cursor = clientIdEnd;
    if (will) {
      const topicEnd = fieldEnd(buf, cursor, end);
      if (topicEnd < 0) return fail('CONNECT_PAYLOAD', 'MQTT-3.1.2-9', { detail: 'Will flag set, no will topic' });
      const badTopic = stringViolation(buf, cursor, topicEnd, 'the will topic');
      if (badTopic) return badTopic;
      if (topicEnd === cursor + 2) return fail('TOPIC_EMPTY', 'MQTT-4.7.3-1', { detail: 'empty will topic' });
      for (let k = cursor + 2; k < topicEnd; k += 1) if (buf[k] === 0x23 || buf[k] === 0x2b) return fail('TOPIC_WILDCARD', 'MQTT-3.3.2-2', { detail: 'will topic' });
      const messageEnd = fieldEnd(buf, topicEnd, end);
      if (messageEnd < 0) return fail('CONNECT_PAYLOAD', 'MQTT-3.1.2-9', { detail: 'Will flag set, no will message' });
      cursor = messageEnd;
    }
    if (hasUsername) {
      const userEnd = fieldEnd(buf, cursor, end);
      if (userEnd < 0) return fail('CONNECT_PAYLOAD', 'MQTT-3.1.2-19', { detail: 'User Name flag set, no user name' });
      const badUser = stringViolation(buf, cursor, userEnd, 'the user name', 0x04);
      if (badUser) return badUser;
      cursor = userEnd;
    }
    if (hasPassword) {
      const passwordEnd = fieldEnd(buf, cursor, end);
      if (passwordEnd < 0) return fail('CONNECT_PAYLOAD', 'MQTT-3.1.2-21', { detail: 'Password flag set, no password' });
      cursor = passwordEnd;
    }
    if (cursor !== end) return fail('CONNECT_PAYLOAD', hasUsername ? 'MQTT-3.1.2-20' : 'MQTT-3.1.2-18', { detail: `${end - cursor} bytes the flags do not announce` });
    afterPacket(0);
    return undefined;
  }

  function checkSubscribe(buf: Uint8Array, at: number): GuardViolation | undefined {
    const end = at + remaining;
    if (remaining < 2) return fail('MALFORMED_PACKET', 'MQTT-3.8.2');
    if (buf[at]! === 0 && buf[at + 1]! === 0) return fail('PACKET_ID_ZERO', 'MQTT-2.3.1-1');
    let cursor = at + 2;
    if (cursor === end) return fail('SUBSCRIBE_EMPTY', 'MQTT-3.8.3-3');
    while (cursor < end) {
      const filterEnd = fieldEnd(buf, cursor, end);
      if (filterEnd < 0 || filterEnd >= end) return fail('MALFORMED_PACKET', 'MQTT-3.8.3-1', { detail: 'a topic filter without its requested QoS' });
      if (filterEnd === cursor + 2) return fail('TOPIC_EMPTY', 'MQTT-4.7.3-1');
      const bad = stringViolation(buf, cursor, filterEnd, 'a topic filter');
      if (bad) return bad;
      const requested = buf[filterEnd]!;
      if (requested > 2) return fail('SUBSCRIBE_QOS', 'MQTT-3.8.3-4', { detail: `requested QoS byte 0x${requested.toString(16)}` });
      cursor = filterEnd + 1;
    }
    afterPacket(0);
    return undefined;
  }

  function checkUnsubscribe(buf: Uint8Array, at: number): GuardViolation | undefined {
    const end = at + remaining;
    if (remaining < 2) return fail('MALFORMED_PACKET', 'MQTT-3.10.2');
    if (buf[at]! === 0 && buf[at + 1]! === 0) return fail('PACKET_ID_ZERO', 'MQTT-2.3.1-1');
    let cursor = at + 2;
    if (cursor === end) return fail('UNSUBSCRIBE_EMPTY', 'MQTT-3.10.3-2');
    while (cursor < end) {
      const filterEnd = fieldEnd(buf, cursor, end);
      if (filterEnd < 0) return fail('MALFORMED_PACKET', 'MQTT-3.10.3-1');
      if (filterEnd === cursor + 2) return fail('TOPIC_EMPTY', 'MQTT-4.7.3-1');
      const bad = stringViolation(buf, cursor, filterEnd, 'a topic filter');
      if (bad) return bad;
      cursor = filterEnd;
    }
    afterPacket(0);
    return undefined;
  }

  return (chunk) => {
    let i = 0;
    while (i < chunk.length) {
      switch (phase) {
        case 'skip': {
          const n = Math.min(toSkip, chunk.length - i);
          i += n;
          toSkip -= n;
          if (toSkip === 0) phase = 'header';
          break;
        }
        case 'header': {
          const byte = chunk[i++]!;
          type = byte >> 4;
          flags = byte & 0x0f;
          remaining = 0;
          multiplier = 1;
          lengthBytes = 0;
          phase = 'length';
          break;
        }
        case 'length': {
          const byte = chunk[i++]!;
          remaining += (byte & 0x7f) * multiplier;
          multiplier *= 128;
          lengthBytes += 1;
          if (byte & 0x80) {
            // [MQTT-2.2.3] the remaining length is at most four bytes.
            if (lengthBytes >= 4) return fail('MALFORMED_LENGTH', 'MQTT-2.2.3');
            break;
          }
          const violation = checkHeader();
          if (violation) return violation;
          packets += 1;
          beginBody();
          if ((phase as string) === 'collect' && need === 0) {
            // Nothing to wait for (an empty body): check it now, not on the next read.
            phase = 'header';
            const empty = onCollected(EMPTY, 0);
            if (empty) return empty;
          }
          break;
        }
        case 'collect': {
          // Fast path: the part is whole in this read (almost always): check it in place.
          if (have === 0 && chunk.length - i >= need) {
            const at = i;
            i += need;
            phase = 'header';
            const violation = onCollected(chunk, at);
            if (violation) return violation;
            break;
          }
          pending ??= Buffer.allocUnsafe(need);
          const n = Math.min(need - have, chunk.length - i);
          pending.set(chunk.subarray(i, i + n), have);
          have += n;
          i += n;
          if (have === need) {
            const whole = pending;
            pending = undefined;
            have = 0;
            phase = 'header';
            const violation = onCollected(whole, 0);
            if (violation) return violation;
          }
          break;
        }
      }
    }
    return undefined;
  };
}
