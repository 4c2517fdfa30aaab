/**
 * The broker's own limits, without sockets: the packet scanner follows MQTT framing however
 * the bytes are split into reads, finds an oversized payload from its header alone, and the
 * rate limiter and rejection reporter count every refusal while reporting a flood as a few
 * summarised rejections.
 */
import fc from 'fast-check';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import type { Rejection } from '../../../contracts/index.ts';
import { createPacketScanner, createRateLimiter, createRejectionReporter, packetLimitsFor } from '../../../broker/limits.ts';
import { createSecretVerifier, hashSecret } from '../../../common/registry/secrets.ts';

const limits = packetLimitsFor(1024);

function encode(packet: Record<string, unknown>): Buffer {
  return mqttPacket.generate(packet as unknown as mqttPacket.Packet);
}

const CONNECT = encode({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'air-1', keepalive: 30, username: 'air-1', password: Buffer.from('secret') });
const publish = (payloadBytes: number, qos: 0 | 1 = 1, topic = 'lab/v1/air/air-1') =>
  encode({ cmd: 'publish', topic, payload: Buffer.alloc(payloadBytes, 0x61), qos, messageId: qos > 0 ? 7 : undefined, retain: false, dup: false });
const PINGREQ = encode({ cmd: 'pingreq' });
const SUBSCRIBE = encode({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'lab/v1/air/air-1/rejected', qos: 1 }] });

/** Feeds `stream` to a fresh scanner in chunks cut at `cuts`; returns the first violation. */
function scanInChunks(stream: Buffer, cuts: number[]) {
  const scan = createPacketScanner(limits);
  const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
  let start = 0;
  for (const point of [...points, stream.length]) {
    const violation = scan(stream.subarray(start, point));
    if (violation) return violation;
    start = point;
  }
  return undefined;
}

describe('the packet scanner', () => {
  it('lets a valid session through however the bytes are split into reads', () => {
    const stream = Buffer.concat([CONNECT, SUBSCRIBE, publish(1024), publish(0, 0), PINGREQ, publish(300), encode({ cmd: 'puback', messageId: 9 }), encode({ cmd: 'disconnect' })]);
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 40 }), (cuts) => scanInChunks(stream, cuts) === undefined),
      { seed: 3, numRuns: 300 },
    );
  });

  it('finds a payload one byte over the limit however the bytes are split, before the payload arrives', () => {
    const stream = Buffer.concat([CONNECT, publish(100), publish(1025)]);
    const headerEnd = CONNECT.length + publish(100).length + 3 + 2; // fixed header (3 bytes here) + topic length
    fc.assert(
      fc.property(fc.array(fc.nat(), { maxLength: 30 }), (cuts) => {
        const violation = scanInChunks(stream, cuts);
        return violation?.reason === 'PAYLOAD_TOO_LARGE' && violation.payloadBytes === 1025;
      }),
      { seed: 4, numRuns: 300 },
    );
    // Header and topic length alone are enough to decide.
    const scan = createPacketScanner(limits);
    const early = scan(stream.subarray(0, headerEnd));
    expect(early).toMatchObject({ reason: 'PAYLOAD_TOO_LARGE', payloadBytes: 1025 });
    expect(early?.topic).toBeUndefined();
  });

  it('names the topic of an oversized publish when its bytes are in the same read', () => {
    const scan = createPacketScanner(limits);
    expect(scan(Buffer.concat([CONNECT, publish(5000, 0, 'lab/v1/air/other')]).subarray(0, CONNECT.length + 40))).toMatchObject({
      reason: 'PAYLOAD_TOO_LARGE',
      topic: 'lab/v1/air/other',
      payloadBytes: 5000,
    });
  });

  it('refuses a first packet that is not CONNECT, and a CONNECT announcing more than the limit', () => {
    expect(createPacketScanner(limits)(publish(10))).toMatchObject({ reason: 'CONNECT_NOT_FIRST' });
    // An unauthenticated client announcing a 100 MB CONNECT is refused on its first 5 bytes.
    const hugeConnect = Buffer.from([0x10, 0x80, 0x80, 0x80, 0x30]);
    expect(createPacketScanner(limits)(hugeConnect)).toMatchObject({ reason: 'CONNECT_TOO_LARGE', remainingLength: 100_663_296 });
    expect(createPacketScanner(limits)(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]))).toMatchObject({ reason: 'MALFORMED_LENGTH' });
  });

  it('refuses packets only a server sends, and oversized control packets', () => {
    expect(createPacketScanner(limits)(Buffer.concat([CONNECT, encode({ cmd: 'connack', returnCode: 0, sessionPresent: false })]))).toMatchObject({ reason: 'PACKET_NOT_ALLOWED', packetType: 2 });
    const bigSubscribe = encode({ cmd: 'subscribe', messageId: 1, subscriptions: Array.from({ length: 2000 }, (_, i) => ({ topic: `lab/v1/air/device-${i}/rejected`, qos: 0 })) });
    expect(createPacketScanner(limits)(Buffer.concat([CONNECT, bigSubscribe]))).toMatchObject({ reason: 'PACKET_TOO_LARGE', packetType: 8 });
  });
});

describe('the device rate limiter', () => {
  it('allows the burst, then the sustained rate, per device', () => {
    let now = 0;
    const limiter = createRateLimiter({ ratePerSecond: 10, burst: 5, now: () => now });
    const taken = Array.from({ length: 8 }, () => limiter.take('a'));
    expect(taken).toEqual([true, true, true, true, true, false, false, false]);
    expect(limiter.take('b')).toBe(true); // another device has its own bucket
    now += 100; // 0.1 s at 10/s = one token
    expect(limiter.take('a')).toBe(true);
    expect(limiter.take('a')).toBe(false);
    now += 10_000;
    expect(Array.from({ length: 6 }, () => limiter.take('a')).filter(Boolean)).toHaveLength(5);
  });
});

describe('the rejection reporter', () => {
  it('counts every refusal but reports a flood once per interval, saying how many it covers', async () => {
    const published: Rejection[] = [];
    const reporter = createRejectionReporter({ publish: (r) => published.push(r), intervalMs: 50 });
    const input = { reason: 'RATE_LIMITED' as const, kind: 'air' as const, deviceId: 'air-1', topic: 'lab/v1/air/air-1', size: 10, detail: 'over the rate' };
    for (let i = 0; i < 100; i += 1) reporter.report(input);
    expect(reporter.counts()).toEqual({ RATE_LIMITED: 100 });
    expect(published).toHaveLength(1);
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(published).toHaveLength(2);
    expect(published[1]!.message).toContain('99 messages');
    expect(published[0]).toMatchObject({ reason: 'RATE_LIMITED', kind: 'air', deviceId: 'air-1', issues: [{ code: 'RATE_LIMITED' }] });
    reporter.close();
  });

  it('reports a hostile topic with control characters replaced', () => {
    const published: Rejection[] = [];
    const reporter = createRejectionReporter({ publish: (r) => published.push(r) });
    reporter.report({ reason: 'TOPIC_INVALID', kind: 'air', deviceId: 'air-1', topic: 'lab/v1/air/x\u0001\n\u0000y', size: 0, detail: 'foreign topic' });
    expect(published[0]!.topic).toBe('lab/v1/air/x\ufffd\ufffd\ufffdy');
    reporter.close();
  });
});

describe('the secret verifier', () => {
  it('answers busy instead of queueing scrypt work without bound', async () => {
    const verifier = createSecretVerifier({ maxConcurrent: 1, maxQueued: 2 });
    const hash = await hashSecret('right', { N: 1024 });
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => verifier.verify(`d${i}`, 'wrong', hash)));
    expect(results.filter((r) => r === 'busy').length).toBeGreaterThanOrEqual(3);
    expect(results.filter((r) => r === 'mismatch').length).toBeGreaterThanOrEqual(1);
    expect(await verifier.verify('d0', 'right', hash)).toBe('ok');
    expect(verifier.stats().cacheHits).toBe(0);
    expect(await verifier.verify('d0', 'right', hash)).toBe('ok');
    expect(verifier.stats().cacheHits).toBe(1);
    // A different stored hash (a rotation) misses the cache even with the same secret.
    const rotated = await hashSecret('right', { N: 1024 });
    expect(await verifier.verify('d0', 'right', rotated)).toBe('ok');
    expect(verifier.stats().cacheHits).toBe(1);
  });
});
