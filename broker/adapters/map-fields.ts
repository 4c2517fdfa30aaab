/**
 * From a source's measurements to our JSON reading contract: decoder field names through the
 * device's mapping (source field → contract field × scale), then the network's metadata as
 * the common fields (`ts` from the network server's receive time, `seq` from the frame counter,
 * `rssi` from the best gateway). Validation is not done here: the result goes through the
 * edge like any MQTT payload, so a field that maps to nothing is rejected there (FIELD_UNKNOWN)
 * with the same rejection record an MQTT device would get.
 */
import type { FieldMapping } from '../../contracts/index.ts';

export interface UplinkMeta {
  /** Epoch ms, or the text as received when it does not parse (validation then says TS_INVALID). */
  ts?: number | string | undefined;
  seq?: number | undefined;
  rssi?: number | undefined;
}

/**
 * Nested decoder output (`{"sensor": {"temp": 21}}`) as dotted names (`sensor.temp`), so a
 * mapping can name any leaf. Arrays and scalars are leaves.
 */
export function flattenFields(input: Record<string, unknown>, prefix = '', into: Record<string, unknown> = {}, depth = 0): Record<string, unknown> {
  for (const [key, value] of Object.entries(input)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && depth < 4) flattenFields(value as Record<string, unknown>, name, into, depth + 1);
    else into[name] = value;
  }
  return into;
}

/** `value × scale` without binary noise (0.1 × 3 = 0.3, not 0.30000000000000004). */
function scaled(value: unknown, scale: number | undefined): unknown {
  if (scale === undefined || scale === 1 || typeof value !== 'number') return value;
  return Number((value * scale).toPrecision(12));
}

/**
 * The reading as our contract's JSON object. Fields neither mapped nor ignored keep their
 * names; when two source fields land on one contract field the first one wins.
 */
export function toContractReading(fields: Record<string, unknown>, mapping: FieldMapping | undefined, meta: UplinkMeta): Record<string, unknown> {
  const reading: Record<string, unknown> = {};
  for (const [source, value] of Object.entries(fields)) {
    const entry = mapping && Object.hasOwn(mapping, source) ? mapping[source] : undefined;
    if (entry && 'ignore' in entry) continue;
    const target = entry ? entry.to : source;
    if (Object.hasOwn(reading, target)) continue;
    reading[target] = scaled(value, entry?.scale);
  }
  if (meta.ts !== undefined) reading.ts = meta.ts;
  if (meta.seq !== undefined) reading.seq = meta.seq;
  if (meta.rssi !== undefined) reading.rssi = meta.rssi;
  return reading;
}

/** A network server's time (ISO 8601, often with nanoseconds) as epoch ms; unparseable text is kept for validation to name. */
export function timeOf(text: string | undefined): number | string | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? Math.floor(ms) : text;
}

/** The strongest signal among the gateways that heard the uplink (dBm), rounded to 0.1. */
export function bestRssi(values: readonly (number | undefined)[]): number | undefined {
  const heard = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (heard.length === 0) return undefined;
  return Math.round(Math.max(...heard) * 10) / 10;
}
