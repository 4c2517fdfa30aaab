/**
 * MQTT packets by hand, for tests that send what well-behaved clients (and mqtt-packet) will
 * not build: a fixed header with its variable-length remaining length [MQTT-2.2.3], and
 * length-prefixed strings [MQTT-1.5.3].
 */

/** Concatenates byte arrays and Buffers. */
export const bytes = (...parts: (number[] | Buffer)[]): Buffer => Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));

/** A UTF-8 string (or raw bytes) with its two-byte length. */
export function mqttString(value: string | Buffer): Buffer {
  const b = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
  return bytes([b.length >> 8, b.length & 0xff], b);
}

/** A whole packet: the first byte (type and flags), the remaining length, the body. */
export function mqttPacket(firstByte: number, body: Buffer): Buffer {
  const length: number[] = [];
  let n = body.length;
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    length.push(byte);
  } while (n > 0);
  return bytes([firstByte, ...length], body);
}
