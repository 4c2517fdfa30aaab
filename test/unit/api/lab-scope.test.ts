/** The one place that decides what a lab sees (api/labs/scope.ts), and the live feed's lab rooms. */
import { describe, expect, it } from 'vitest';
import { AppError } from '../../../common/errors.ts';
import type { DeviceRecord } from '../../../contracts/index.ts';
import { NO_DEVICE, createLabScope, resolveLabScope, type LabDirectory } from '../../../api/labs/scope.ts';
import { labRoom, withLabRooms } from '../../../api/live-batch.ts';
import { labFromPath } from '../../../dashboard/model/route.ts';

function record(id: string, lab?: string): DeviceRecord {
  const at = '2026-12-01T00:00:00.000Z';
  return { id, kind: 'air', name: id, owner: 'acme', lat: 55.7, lon: 12.5, intervalSeconds: 60, enabled: true, createdAt: at, updatedAt: at, meta: {}, ...(lab ? { lab } : {}) };
}

const devices = [record('old-1'), record('main-1', 'main'), record('north-1', 'north'), record('north-2', 'north')];
const directory: LabDirectory = {
  defaultLab: 'main',
  peek: (id) => devices.find((d) => d.id === id),
  list: async () => devices,
  exists: async (lab) => lab === 'main' || lab === 'north',
};

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe('lab scope', () => {
  it('gives a lab its own devices only; records without a lab and unregistered devices are the default lab\'s', async () => {
    const north = createLabScope(directory, 'north');
    expect((await north.visibleDevices()).map((d) => d.id)).toEqual(['north-1', 'north-2']);
    expect(north.seesDevice('north-1')).toBe(true);
    expect(north.seesDevice('main-1')).toBe(false);
    expect(north.seesDevice('never-registered')).toBe(false);
    const main = createLabScope(directory, 'main');
    expect((await main.visibleDevices()).map((d) => d.id)).toEqual(['old-1', 'main-1']);
    expect(main.sees({})).toBe(true);
    expect(main.seesDevice('never-registered')).toBe(true);
    expect(main.seesDevice('north-1')).toBe(false);
    expect(north.sees({})).toBe(false);
  });

  it('narrows device filters to the lab and never to "every device"', async () => {
    const north = createLabScope(directory, 'north');
    expect(await north.narrowDevices(undefined)).toEqual({ devices: ['north-1', 'north-2'] });
    expect(await north.narrowDevices(['north-2', 'main-1'])).toEqual({ devices: ['north-2'] });
    expect(await north.narrowDevices(['main-1'])).toEqual({ devices: [NO_DEVICE] });
    const empty = createLabScope({ ...directory, list: async () => [] }, 'north');
    expect(await empty.narrowDevices(undefined)).toEqual({ devices: [NO_DEVICE] });
    // The default lab: everything but the other labs' devices (unregistered ones included).
    const main = createLabScope(directory, 'main');
    expect(await main.narrowDevices(undefined)).toEqual({ excludeDevices: ['north-1', 'north-2'] });
    expect(await main.narrowDevices(['never-registered', 'north-1'])).toEqual({ devices: ['never-registered'] });
    expect(await createLabScope({ ...directory, list: async () => [record('a')] }, 'main').narrowDevices(undefined)).toEqual({});
    // The platform view narrows nothing.
    const platform = createLabScope(directory, undefined);
    expect(await platform.narrowDevices(undefined)).toEqual({});
    expect(await platform.narrowDevices(['main-1'])).toEqual({ devices: ['main-1'] });
    expect(platform.seesDevice('never-registered')).toBe(true);
  });

  it('tells foreign devices from unregistered ones', () => {
    const north = createLabScope(directory, 'north');
    expect(north.isForeign('main-1')).toBe(true);
    expect(north.isForeign('old-1')).toBe(true);
    expect(north.isForeign('north-1')).toBe(false);
    expect(north.isForeign('never-registered')).toBe(false);
    expect(createLabScope(directory, undefined).isForeign('main-1')).toBe(false);
    expect(north.forLab('main').isForeign('old-1')).toBe(false);
  });

  it('resolves a key\'s lab and a picked lab, refusing another lab as missing', async () => {
    expect((await resolveLabScope(directory, 'north', undefined)).lab).toBe('north');
    expect((await resolveLabScope(directory, 'north', 'north')).lab).toBe('north');
    expect((await resolveLabScope(directory, '*', 'north')).lab).toBe('north');
    expect((await resolveLabScope(directory, '*', undefined)).lab).toBeUndefined();
    expect((await resolveLabScope(directory, undefined, undefined)).lab).toBeUndefined();
    const other = await rejection(resolveLabScope(directory, 'north', 'main'));
    expect(other.code).toBe('NOT_FOUND');
    const missing = await rejection(resolveLabScope(directory, '*', 'south'));
    expect(missing.code).toBe('NOT_FOUND');
    expect(missing.message).toContain('"south"');
  });

  it('puts new records in the scope\'s lab, or the one the platform picks', async () => {
    const north = createLabScope(directory, 'north');
    expect(await north.labForNew(undefined, 'devices')).toBe('north');
    expect(await north.labForNew('north', 'devices')).toBe('north');
    expect((await rejection(north.labForNew('main', 'devices'))).code).toBe('FORBIDDEN');
    const platform = createLabScope(directory, undefined);
    expect(await platform.labForNew(undefined, 'devices')).toBe('main');
    expect(await platform.labForNew('north', 'devices')).toBe('north');
    const unknown = await rejection(platform.labForNew('south', 'devices'));
    expect(unknown.code).toBe('BAD_REQUEST');
    expect(unknown.message).toContain('POST /api/v1/labs');
  });
});

describe('lab rooms and paths', () => {
  it('sends a lab device\'s events to the platform\'s rooms and the lab\'s copies', () => {
    expect(withLabRooms(['all', 'device:x'], 'north')).toEqual(['all', 'device:x', labRoom('north', 'all'), labRoom('north', 'device:x')]);
    expect(withLabRooms(['all'], undefined)).toEqual(['all']);
    expect(labRoom('north', 'all')).not.toEqual(labRoom('main', 'all'));
  });

  it('reads the lab from a dashboard path', () => {
    expect(labFromPath('/labs/north/')).toBe('north');
    expect(labFromPath('/labs/north')).toBe('north');
    expect(labFromPath('/')).toBeUndefined();
    expect(labFromPath('/labs/North/')).toBeUndefined();
    expect(labFromPath('/labs/north/extra/')).toBeUndefined();
  });
});
