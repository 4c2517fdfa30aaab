import { describe, expect, it } from 'vitest';
import { DEVICE_ID_PATTERN } from '../../../contracts/index.ts';
import { isAppError } from '../../../common/errors.ts';
import { MAX_FLEET_DEVICES, planDevices } from '../../../simulators/plan.ts';
import { STREET_SITES } from '../../../simulators/street.ts';

// Central Copenhagen, generously.
const inCopenhagen = (d: { lat: number; lon: number }) => d.lat > 55.6 && d.lat < 55.75 && d.lon > 12.45 && d.lon < 12.65;

describe('planDevices', () => {
  it('names devices air-001, traffic-001, bin-001 … and spreads them over the test-bed streets', () => {
    const devices = planDevices({ air: 3, traffic: 2, waste: 6 }, 1);
    expect(devices.map((d) => d.id)).toEqual(['air-001', 'air-002', 'air-003', 'traffic-001', 'traffic-002', 'bin-001', 'bin-002', 'bin-003', 'bin-004', 'bin-005', 'bin-006']);
    expect(devices.filter((d) => d.kind === 'waste')).toHaveLength(6);
    expect(new Set(devices.filter((d) => d.kind === 'waste').map((d) => d.site)).size).toBe(STREET_SITES.length);
    for (const d of devices) {
      expect(DEVICE_ID_PATTERN.test(d.id)).toBe(true);
      expect(inCopenhagen(d)).toBe(true);
      expect(STREET_SITES.map((s) => s.name)).toContain(d.site);
    }
  });

  it('pads ids to the width of the largest count and stays within one process’s limit', () => {
    const devices = planDevices({ air: 12_000 }, 1);
    expect(devices[0]!.id).toBe('air-00001');
    expect(devices.at(-1)!.id).toBe('air-12000');
    expect(() => planDevices({ air: MAX_FLEET_DEVICES + 1 }, 1)).toThrow(/at most 20000/);
  });

  it('places the same devices at the same spots for a seed', () => {
    expect(planDevices({ air: 5, waste: 5 }, 4)).toEqual(planDevices({ air: 5, waste: 5 }, 4));
    expect(planDevices({ air: 5 }, 4)).not.toEqual(planDevices({ air: 5 }, 5));
  });

  it('completes an explicit list and keeps what it gives', () => {
    const [a, b] = planDevices(
      [
        { id: 'sensor-x', kind: 'air', site: 'Jagtvej', lat: 55.7, lon: 12.56, password: 's3cret' },
        { id: 'counter-y', kind: 'traffic' },
      ],
      1,
    );
    expect(a).toEqual({ id: 'sensor-x', kind: 'air', site: 'Jagtvej', lat: 55.7, lon: 12.56, password: 's3cret' });
    expect(b!.site).toBe(STREET_SITES[0]!.name);
    expect(inCopenhagen(b!)).toBe(true);
  });

  it('refuses duplicate and malformed ids with CONFIG_INVALID', () => {
    const refused = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return isAppError(error, 'CONFIG_INVALID') ? error.message : 'wrong error';
      }
      return 'no error';
    };
    expect(refused(() => planDevices([{ id: 'a', kind: 'air' }, { id: 'a', kind: 'waste' }], 1))).toMatch(/appears twice/);
    expect(refused(() => planDevices([{ id: 'bad id', kind: 'air' }], 1))).toMatch(/"bad id"/);
    expect(refused(() => planDevices([{ id: 'lab/v1/x', kind: 'air' }], 1))).toMatch(/lab\/v1\/x/);
    expect(refused(() => planDevices({ air: -1 }, 1))).toMatch(/air/);
  });
});
