/**
 * What every simulated device shares whatever it measures: identity and place, its message
 * counter, a slowly draining battery, a noisy radio link and the way its firmware writes
 * timestamps.
 */
import { CommonFieldsShape, type ReadingKind } from '../../contracts/readings.ts';
import { kindDefinitionOf } from '../../contracts/kinds-table.ts';
import { clamp, round, type Random } from '../random.ts';
import { formatCopenhagenIso } from '../local-time.ts';
import type { StreetSite } from '../street.ts';

/** How a device's firmware writes `ts` (all three are valid in the contract). */
export const TS_FORMATS = ['epoch-ms', 'iso-utc', 'iso-local'] as const;
export type TsFormat = (typeof TS_FORMATS)[number];

/** Where a device is and who it is: what a fleet knows about each device. */
export interface DeviceSpec {
  id: string;
  kind: ReadingKind;
  /** Street name, e.g. "Nørrebrogade". */
  site: string;
  lat: number;
  lon: number;
}

/** What every device model's configuration carries besides its own settings. */
export interface BaseDeviceConfig {
  id: string;
  site: StreetSite;
  /** Seed of the city-wide weather every device of a fleet shares. */
  weatherSeed: number;
  tsFormat: TsFormat;
  /** Mains-powered devices send no `battery`. */
  power: 'battery' | 'mains';
  /** % per hour of simulated time. */
  batteryDrainPerHour: number;
  /** % per message sent (the radio is the hungriest part). */
  batteryDrainPerMessage: number;
  /** Below this the battery is swapped on the next maintenance visit (back to 100 %). */
  batteryReplaceAt: number;
  /** Mean signal strength at this spot, dBm. */
  rssiMeanDbm: number;
  rssiSdDb: number;
}

export interface HealthState {
  /** The counter of the next message. */
  seq: number;
  battery: number;
  /** Time of the previous reading (sim ms); undefined before the first. */
  lastTMs: number | undefined;
}

/** A generator's answer: the payload to send and the state to pass to the next call. */
export interface Generated<P, S> {
  payload: P;
  state: S;
}

export function formatTimestamp(tMs: number, format: TsFormat): string | number {
  const ms = Math.round(tMs);
  switch (format) {
    case 'epoch-ms':
      return ms;
    case 'iso-utc':
      return new Date(ms).toISOString();
    case 'iso-local':
      return formatCopenhagenIso(ms);
  }
}

/** Draws the shared settings of a device at `site` (the caller's stream keeps it reproducible). */
export function createBaseConfig(
  id: string,
  site: StreetSite,
  weatherSeed: number,
  random: Random,
  overrides: Partial<BaseDeviceConfig> = {},
): BaseDeviceConfig {
  return {
    id,
    site,
    weatherSeed,
    tsFormat: random.pick(TS_FORMATS),
    power: 'battery',
    // 1.5–6 % a day: a battery lasts weeks to a couple of months, like real street nodes.
    batteryDrainPerHour: random.range(0.06, 0.25),
    batteryDrainPerMessage: random.range(0.00005, 0.0002),
    batteryReplaceAt: 3,
    rssiMeanDbm: round(random.range(-105, -58), 0),
    rssiSdDb: random.range(1.5, 4),
    ...overrides,
  };
}

export function initialHealth(random: Random): HealthState {
  return { seq: 0, battery: random.range(45, 100), lastTMs: undefined };
}

export interface HealthFields {
  ts: string | number;
  seq: number;
  battery?: number;
  rssi: number;
}

/**
 * Advances the counter, drains the battery for the time since the last message, and reads
 * the radio: the common fields of this message plus the next health state.
 */
export function nextHealth(config: BaseDeviceConfig, state: HealthState, tMs: number, random: Random): { fields: HealthFields; state: HealthState } {
  const dtH = state.lastTMs === undefined ? 0 : Math.max(0, tMs - state.lastTMs) / 3_600_000;
  let battery = state.battery - dtH * config.batteryDrainPerHour - config.batteryDrainPerMessage;
  // A technician swaps a flat battery; the device keeps reporting.
  if (battery < config.batteryReplaceAt) battery = 100;
  const rssi = round(clamp(random.gaussian(config.rssiMeanDbm, config.rssiSdDb), -150, 0), 0);
  const fields: HealthFields = { ts: formatTimestamp(tMs, config.tsFormat), seq: state.seq, rssi };
  if (config.power === 'battery') fields.battery = round(clamp(battery, 0, 100), 1);
  return {
    fields,
    state: { seq: state.seq + 1 > Number.MAX_SAFE_INTEGER ? 0 : state.seq + 1, battery, lastTMs: tMs },
  };
}

export interface ContractRange {
  min: number;
  max: number;
  integer: boolean;
}

/**
 * The plausible range the contract gives a numeric field, read from the kind's definition
 * (contracts/kinds.ts) or, for the common fields, their zod schema (one source of truth);
 * undefined for a field that is not a number.
 */
export function contractRange(kind: ReadingKind, field: string): ContractRange | undefined {
  const defined = kindDefinitionOf(kind)?.fields.find((f) => f.name === field);
  if (defined) {
    if (defined.type === 'boolean' || defined.min === undefined || defined.max === undefined) return undefined;
    return { min: defined.min, max: defined.max, integer: defined.type === 'integer' };
  }
  const shape: Record<string, unknown> = CommonFieldsShape;
  if (!Object.hasOwn(shape, field)) return undefined;
  let schema = shape[field] as { unwrap?: () => unknown; minValue?: number | null; maxValue?: number | null; isInt?: boolean; type?: string };
  if (typeof schema.unwrap === 'function' && schema.type === 'optional') schema = schema.unwrap() as typeof schema;
  if (schema.type !== 'number' || schema.minValue == null || schema.maxValue == null) return undefined;
  return { min: schema.minValue, max: schema.maxValue, integer: schema.isInt === true };
}

/** Keeps a generated value inside the contract: a simulated sensor is only wrong on purpose. */
export function withinContract(kind: ReadingKind, field: string, value: number): number {
  const range = contractRange(kind, field);
  if (!range) return value;
  const bounded = clamp(Number.isFinite(value) ? value : range.min, range.min, range.max);
  return range.integer ? Math.round(bounded) : bounded;
}
