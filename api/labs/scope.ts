/**
 * Which lab a request sees, answered in one place. The auth plugin resolves a request's
 * `LabScope` once (the key's lab, or the lab an unscoped caller picked with `?lab=`); routes
 * ask it "may this caller see device X / lab L / this record" and "which devices are
 * visible", and never compare labs themselves. A resource of another lab is treated exactly
 * like a missing one (404, or absent from lists and queries), so not even its existence leaks.
 *
 * Records stored before labs carry no `lab`: they belong to the default lab. So do readings of
 * devices that are not registered (an open broker, a device removed since): the default lab
 * sees everything except what is registered in another lab.
 */
import { AppError } from '../../common/errors.ts';
import { DEFAULT_LAB_ID, PLATFORM_KEY_LAB, type DeviceRecord } from '../../contracts/index.ts';
import type { TagFilter } from '../query/params.ts';

/** The device part of a query filter (api/query/params.ts). */
export type DeviceFilter = Pick<TagFilter, 'devices' | 'excludeDevices'>;

/**
 * A device id no device can have (`#` is not allowed in ids): a device filter of only this
 * matches no point, where an empty filter would mean "every device". Not '': InfluxQL's
 * `tag = ''` matches points without the tag (a rejection of an invalid topic has no device).
 */
export const NO_DEVICE = '#no-device#';

/** The registry as the scope needs it: synchronous lookups of the snapshot. */
export interface LabDirectory {
  readonly defaultLab: string;
  /** The device's record, if registered. */
  peek(id: string): DeviceRecord | undefined;
  /** Every registered device (the snapshot). */
  list(): Promise<DeviceRecord[]>;
  /** Whether a lab of that id exists. */
  exists(lab: string): Promise<boolean>;
}

export interface LabScope {
  /** The one lab this request sees; undefined = every lab (the platform view). */
  readonly lab: string | undefined;
  /** The lab of a record that may predate labs (absent = the default lab). */
  labOf(record: { lab?: string | undefined }): string;
  seesLab(lab: string | undefined): boolean;
  /** A record with an optional `lab` (trial, rule, key, device). */
  sees(record: { lab?: string | undefined }): boolean;
  /** A device by id; an unregistered device counts as the default lab's. */
  seesDevice(deviceId: string): boolean;
  /** Registered in another lab than this scope's (the platform view: never). Unregistered devices are not foreign. */
  isForeign(deviceId: string): boolean;
  /** The registered devices this request may see. */
  visibleDevices(): Promise<DeviceRecord[]>;
  /**
   * A query's device filter narrowed to the visible devices: the requested ones it may see; or,
   * when none were asked for, the lab's registered devices (the default lab: every device but
   * those registered in other labs). The platform view narrows nothing. `devices` is never
   * empty: nothing visible is `[NO_DEVICE]`.
   */
  narrowDevices(requested: readonly string[] | undefined): Promise<DeviceFilter>;
  /** The lab a new record goes to: the scope's own, or the one given if the caller may pick it; AppError otherwise. */
  labForNew(given: string | undefined, what: string): Promise<string>;
  /** The same directory seen from one lab (e.g. which devices a record of that lab may name). */
  forLab(lab: string): LabScope;
}

export function labOfRecord(record: { lab?: string | undefined }, defaultLab: string): string {
  return record.lab ?? defaultLab;
}

/**
 * The scope of one request: `keyLab` is the principal's key lab (`*` or undefined for the
 * platform view: admin token, platform keys, anonymous callers), `picked` the `?lab=` value.
 */
export async function resolveLabScope(directory: LabDirectory | undefined, keyLab: string | undefined, picked: string | undefined): Promise<LabScope> {
  const defaultLab = directory?.defaultLab ?? DEFAULT_LAB_ID;
  const fixed = keyLab !== undefined && keyLab !== PLATFORM_KEY_LAB ? keyLab : undefined;
  let lab = fixed;
  if (picked !== undefined) {
    // A scoped key naming another lab, or a lab that does not exist: the same 404.
    const known = directory ? await directory.exists(picked) : picked === defaultLab;
    if ((fixed !== undefined && picked !== fixed) || !known) throw new AppError('NOT_FOUND', `lab: no lab "${picked}"`);
    lab = picked;
  }
  return createLabScope(directory, lab);
}

export function createLabScope(directory: LabDirectory | undefined, lab: string | undefined): LabScope {
  const defaultLab = directory?.defaultLab ?? DEFAULT_LAB_ID;
  const labOf = (record: { lab?: string | undefined }) => labOfRecord(record, defaultLab);
  const seesLab = (other: string | undefined) => lab === undefined || (other ?? defaultLab) === lab;
  const seesDevice = (deviceId: string) => {
    if (lab === undefined) return true;
    const device = directory?.peek(deviceId);
    return (device === undefined ? defaultLab : labOf(device)) === lab;
  };
  return {
    lab,
    labOf,
    seesLab,
    sees: (record) => seesLab(labOf(record)),
    seesDevice,
    isForeign(deviceId) {
      const device = lab === undefined ? undefined : directory?.peek(deviceId);
      return device !== undefined && labOf(device) !== lab;
    },
    async visibleDevices() {
      const devices = directory ? await directory.list() : [];
      return lab === undefined ? devices : devices.filter((d) => labOf(d) === lab);
    },
    async narrowDevices(requested) {
      if (lab === undefined) return requested ? { devices: [...requested] } : {};
      if (requested) {
        const visible = requested.filter(seesDevice);
        return { devices: visible.length > 0 ? visible : [NO_DEVICE] };
      }
      const all = directory ? await directory.list() : [];
      if (lab === defaultLab) {
        // Unregistered devices are the default lab's too: leave out the other labs' instead.
        const others = all.filter((d) => labOf(d) !== lab).map((d) => d.id);
        return others.length > 0 ? { excludeDevices: others } : {};
      }
      const own = all.filter((d) => labOf(d) === lab).map((d) => d.id);
      return { devices: own.length > 0 ? own : [NO_DEVICE] };
    },
    forLab: (other) => createLabScope(directory, other),
    async labForNew(given, what) {
      if (lab !== undefined) {
        if (given !== undefined && given !== lab) throw new AppError('FORBIDDEN', `lab: this key may create ${what} only in lab "${lab}"`);
        return lab;
      }
      const target = given ?? defaultLab;
      if (directory && !(await directory.exists(target))) throw new AppError('BAD_REQUEST', `lab: no lab "${target}"; create it first (POST /api/v1/labs)`);
      return target;
    },
  };
}
