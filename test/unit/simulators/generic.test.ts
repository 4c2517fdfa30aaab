import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KindDefinitionSchema, setKindDefinitions } from '../../../contracts/index.ts';
import { parseMessage } from '../../../broker/parse-message.ts';
import { createDeviceModel, generateSeries } from '../../../simulators/devices/index.ts';
import { planDevices } from '../../../simulators/plan.ts';

const SOIL = KindDefinitionSchema.parse({ ...JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'fixtures', 'kinds', 'soil.json'), 'utf8')), id: 'sim_soil', version: 1 });

describe('a simulated device of a kind added at run time', () => {
  it('is refused while the kind is unknown', () => {
    expect(() => planDevices([{ id: 'x-1', kind: 'sim_unknown' }], 1)).toThrow(/unknown kind "sim_unknown"/);
  });

  it('follows the definition: every reading accepted, values inside the ranges, integers whole, reproducible', () => {
    setKindDefinitions([SOIL]);
    const [spec] = planDevices({ sim_soil: 1 }, 3);
    expect(spec).toMatchObject({ id: 'sim_soil-001', kind: 'sim_soil' });
    const series = generateSeries(spec!, { seed: 3, startMs: Date.parse('2026-06-01T00:00:00Z'), intervalMs: 60_000, count: 500 });
    const conductivity = new Set<number>();
    for (const payload of series) {
      const tsMs = typeof payload.ts === 'number' ? payload.ts : Date.parse(String(payload.ts));
      const verdict = parseMessage(`lab/v1/sim_soil/${spec!.id}`, Buffer.from(JSON.stringify(payload)), tsMs);
      expect(verdict.ok, JSON.stringify(!verdict.ok && verdict.rejection)).toBe(true);
      const values = payload as Record<string, number>;
      expect(Number.isInteger(values.conductivity)).toBe(true);
      conductivity.add(values.conductivity!);
    }
    // It moves, it is not a constant.
    expect(conductivity.size).toBeGreaterThan(10);
    const again = createDeviceModel(spec!, { seed: 3 }).next(Date.parse('2026-06-01T00:00:00Z'));
    expect(again).toEqual(series[0]);
  });
});
