import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BUILT_IN_KINDS, readingSchemaOf, buildReadingTopic, type ReadingKind, type ReadingPayload } from '../../../contracts/index.ts';
import { parseMessage } from '../../../broker/parse-message.ts';
import { createDeviceModel, generateSeries } from '../../../simulators/devices/index.ts';
import { STREET_SITES } from '../../../simulators/street.ts';
import { planDevices } from '../../../simulators/plan.ts';
import type { DeviceSpec } from '../../../simulators/devices/common.ts';

const SITES = [...STREET_SITES.map((s) => s.name), 'Somewhere Else'];
const spec = (kind: ReadingKind, id: string, site = STREET_SITES[0]!.name): DeviceSpec => ({ id, kind, site, lat: 55.68, lon: 12.57 });
const tsMs = (payload: ReadingPayload) => (typeof payload.ts === 'number' ? payload.ts : Date.parse(payload.ts!));

function expectAccepted(kind: ReadingKind, deviceId: string, payload: ReadingPayload): void {
  const schema = readingSchemaOf(kind)!.safeParse(payload);
  if (!schema.success) throw new Error(`${kind} payload rejected by its schema: ${JSON.stringify(payload)}\n${schema.error.message}`);
  const parsed = parseMessage(buildReadingTopic(kind, deviceId), Buffer.from(JSON.stringify(payload)), tsMs(payload));
  if (!parsed.ok) throw new Error(`${kind} payload rejected by ingest (${parsed.rejection.reason}): ${JSON.stringify(payload)}`);
}

describe('device generators', () => {
  it('produce only payloads the contract accepts, over many seeds, sites, seasons and intervals', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 32 - 1 }),
        fc.constantFrom(...BUILT_IN_KINDS),
        fc.constantFrom(...SITES),
        fc.integer({ min: Date.parse('2000-01-01T00:00:00Z'), max: Date.parse('2060-01-01T00:00:00Z') }),
        fc.integer({ min: 1_000, max: 6 * 3_600_000 }),
        (seed, kind, site, startMs, intervalMs) => {
          const id = `${kind}-dev-${seed % 1000}`;
          const series = generateSeries(spec(kind, id, site), { seed, startMs, intervalMs, count: 60, periodS: Math.max(1, Math.round(intervalMs / 1000)) });
          for (const payload of series) expectAccepted(kind, id, payload);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('stay valid through a month of 5-minute readings for every model on every street', () => {
    const devices = planDevices({ air: 10, traffic: 5, waste: 10 }, 11);
    const start = Date.parse('2026-01-15T00:00:00+01:00');
    for (const device of devices) {
      const series = generateSeries(device, { seed: 11, startMs: start, intervalMs: 5 * 60_000, count: 30 * 288, periodS: 300 });
      for (const payload of series) expectAccepted(device.kind, device.id, payload);
    }
  });

  it('repeat the same series for the same seed and differ for another seed', () => {
    for (const kind of BUILT_IN_KINDS) {
      const options = { startMs: Date.parse('2026-05-04T06:00:00Z'), intervalMs: 60_000, count: 200 };
      const a = generateSeries(spec(kind, 'dev-1'), { seed: 5, ...options });
      const b = generateSeries(spec(kind, 'dev-1'), { seed: 5, ...options });
      const c = generateSeries(spec(kind, 'dev-1'), { seed: 6, ...options });
      expect(b).toEqual(a);
      expect(c).not.toEqual(a);
    }
  });

  it("give each device its own stream: another device's presence never changes a series", () => {
    const small = planDevices({ air: 2, traffic: 1, waste: 1 }, 9);
    const large = planDevices({ air: 40, traffic: 10, waste: 30 }, 9);
    for (const device of small) {
      expect(large.find((d) => d.id === device.id)).toEqual(device);
      const options = { seed: 9, startMs: Date.parse('2026-05-04T06:00:00Z'), intervalMs: 30_000, count: 50 };
      expect(generateSeries(large.find((d) => d.id === device.id)!, options)).toEqual(generateSeries(device, options));
    }
  });

  it('count messages with seq, report rssi as a noisy whole dBm, and write ts in the firmware format', () => {
    for (const kind of BUILT_IN_KINDS) {
      for (let n = 0; n < 12; n += 1) {
        const model = createDeviceModel(spec(kind, `${kind}-${n}`), { seed: 1 });
        const start = Date.parse('2026-05-04T06:00:00Z');
        const series = Array.from({ length: 100 }, (_, i) => model.next(start + i * 60_000));
        expect(series.map((p) => p.seq)).toEqual(series.map((_, i) => i));
        const rssi = series.map((p) => p.rssi!);
        expect(rssi.every((r) => Number.isInteger(r) && r <= 0 && r >= -150)).toBe(true);
        expect(new Set(rssi).size).toBeGreaterThan(3);
        series.forEach((p, i) => expect(tsMs(p)).toBe(start + i * 60_000));
        const format = model.config.tsFormat;
        const ts = series[0]!.ts;
        if (format === 'epoch-ms') expect(typeof ts).toBe('number');
        if (format === 'iso-utc') expect(ts).toMatch(/Z$/);
        if (format === 'iso-local') expect(ts).toMatch(/\+0[12]:00$/);
      }
    }
  });
});
