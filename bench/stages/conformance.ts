/**
 * What the strict MQTT 3.1.1 front door (broker/mqtt-conformance.ts) costs per PUBLISH: the
 * scanner run in this process over a stream of realistic QoS 1 readings (a 174-byte air
 * payload on `lab/v1/air/{id}`), cut into 64 KiB socket reads as the broker receives them.
 * CPU time per PUBLISH, the median of several rounds; the target is under 1 µs.
 */
import mqttPacket from 'mqtt-packet';
import { createPacketScanner } from '../../broker/mqtt-conformance.ts';
import { packetLimitsFor } from '../../broker/limits.ts';

export interface ConformanceResult {
  publishes: number;
  rounds: number;
  nsPerPublish: number;
}

export function runConformance(options: { publishes?: number; rounds?: number } = {}): ConformanceResult {
  const publishes = options.publishes ?? 200_000;
  const rounds = options.rounds ?? 5;
  const payload = Buffer.from(JSON.stringify({ ts: 1_796_000_000_000, seq: 123_456, pm1: 4.1, pm25: 12.5, pm10: 20.1, no2: 31.2, o3: 40.5, temperature: 12.5, humidity: 80.2, pressure: 1013.2, noise: 55.1 }));
  const connect = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'air-0001', keepalive: 30 } as mqttPacket.IConnectPacket);
  const packets = [connect];
  for (let i = 0; i < publishes; i += 1) {
    packets.push(mqttPacket.generate({ cmd: 'publish', topic: `lab/v1/air/air-${String(i % 1000).padStart(4, '0')}`, payload, qos: 1, messageId: (i % 65_535) + 1, retain: false, dup: false } as mqttPacket.IPublishPacket));
  }
  const stream = Buffer.concat(packets);
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.length; at += 65_536) chunks.push(stream.subarray(at, at + 65_536));
  const limits = packetLimitsFor(16 * 1024);
  const timings: number[] = [];
  // Round -1 warms the JIT up and is not counted: the broker runs the scanner all day long.
  for (let round = -1; round < rounds; round += 1) {
    const scan = createPacketScanner(limits);
    const started = process.cpuUsage();
    for (const chunk of chunks) {
      const violation = scan(chunk);
      if (violation) throw new Error(`the front door refused a valid stream: ${violation.reason}`);
    }
    const used = process.cpuUsage(started);
    if (round >= 0) timings.push(((used.user + used.system) * 1_000) / publishes);
  }
  timings.sort((a, b) => a - b);
  return { publishes, rounds, nsPerPublish: Math.round(timings[Math.floor(timings.length / 2)]!) };
}
