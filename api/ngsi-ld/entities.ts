/**
 * NGSI-LD entities from the registry and the store: the latest state (each property the latest
 * value of its metric, with its own `observedAt`) and the temporal representation (every
 * instance in a time range). Devices without a Smart Data Model (models.ts) are skipped.
 */
import type { DeviceRecord, ReadingItem } from '../../contracts/index.ts';
import type { NgsiLdProperty } from '../../contracts/ngsi-ld.ts';
import { AppError, isAppError } from '../../common/errors.ts';
import type { QueryLimits } from '../query/limits.ts';
import { scanReadings } from '../reading-scan.ts';
import type { ReadingQueries, WasteQueries } from '../store.ts';
import { detectEmptyings } from '../waste/collections.ts';
import { entityId, modelOfKind, type Attribute, type EntityModel, type Observed } from './models.ts';

export type Entity = Record<string, unknown> & { id: string; type: string };

export interface EntitySources {
  store: Pick<ReadingQueries, 'latestPerMetric' | 'readings'> & Pick<WasteQueries, 'binSeries'>;
  now: () => number;
  /** How far back the latest state looks (as GET /api/v1/latest). */
  latestWindowMs: number;
  limits: QueryLimits;
}

/** Most fill readings read to find bins' last emptyings for one request. */
const EMPTYING_MAX_ROWS = 2_000_000;
/** How far back the last emptying is looked for: a bin reporting every 2 s sends 300,000 readings a week. */
const EMPTYING_LOOKBACK_MS = 7 * 86_400_000;

/** What every entity carries from the registry: name, location, the device, the site; the owner unless withheld. */
function registryAttributes(device: DeviceRecord, withholdOwner: boolean): Record<string, unknown> {
  return {
    name: { type: 'Property', value: device.name },
    location: { type: 'GeoProperty', value: { type: 'Point', coordinates: [device.lon, device.lat] } },
    refDevice: { type: 'Relationship', object: `urn:ngsi-ld:Device:${device.id}` },
    ...(device.site ? { areaServed: { type: 'Property', value: device.site } } : {}),
    ...(withholdOwner ? {} : { dataProvider: { type: 'Property', value: device.owner } }),
  };
}

/** The latest state of each device that has a model, ordered by entity id. */
export async function latestEntities(devices: readonly DeviceRecord[], sources: EntitySources, options: { withholdOwner: boolean; wantEmptying: boolean }): Promise<Entity[]> {
  const modelled = devices.flatMap((device) => {
    const model = modelOfKind(device.kind);
    return model ? [{ device, model }] : [];
  });
  if (modelled.length === 0) return [];
  const nowMs = sources.now();
  const kinds = [...new Set(modelled.map((m) => m.model.kind))];
  const bins = modelled.filter((m) => m.model.kind === 'waste').map((m) => m.device.id);
  const [latest, lastEmptying] = await Promise.all([
    sources.store.latestPerMetric(kinds as Parameters<ReadingQueries['latestPerMetric']>[0], nowMs, sources.latestWindowMs),
    options.wantEmptying && bins.length > 0 ? lastEmptyings(bins, sources, nowMs) : new Map<string, number>(),
  ]);
  const entities = modelled.map(({ device, model }) => {
    const observed: Observed = {};
    for (const [metric, v] of Object.entries(latest.get(`${model.kind}/${device.id}`) ?? {})) observed[metric] = { value: v.value, atMs: Date.parse(v.ts) };
    const emptied = lastEmptying.get(device.id);
    return {
      id: entityId(model.type, device.id),
      type: model.type,
      ...registryAttributes(device, options.withholdOwner),
      ...model.toAttributes(observed, device),
      ...(emptied === undefined ? {} : { dateLastEmptying: { type: 'Property', value: { '@type': 'DateTime', '@value': new Date(emptied).toISOString() } } }),
    } satisfies Entity;
  });
  return entities.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * Each bin's last emptying within the last week (api/waste/collections.ts). More fill readings
 * than EMPTYING_MAX_ROWS (a large fleet reporting every few seconds) leave dateLastEmptying out
 * rather than refusing the entities: it is one optional property of the model.
 */
async function lastEmptyings(bins: readonly string[], sources: EntitySources, nowMs: number): Promise<Map<string, number>> {
  // A device filter has at most 100 ids; more bins read every bin's series instead.
  const filter = bins.length <= 100 ? { devices: [...bins] } : {};
  const range = { fromMs: nowMs - Math.min(EMPTYING_LOOKBACK_MS, sources.latestWindowMs), toMs: nowMs + 1 };
  let series: Awaited<ReturnType<EntitySources['store']['binSeries']>>;
  try {
    series = await sources.store.binSeries(filter, range, EMPTYING_MAX_ROWS);
  } catch (error) {
    if (isAppError(error) && error.code === 'BAD_REQUEST') return new Map();
    throw error;
  }
  const out = new Map<string, number>();
  for (const bin of series) {
    const last = detectEmptyings(bin.readings).at(-1);
    if (last) out.set(bin.deviceId, last.atMs);
  }
  return out;
}

/** Keeps id, type and the listed attributes (NGSI-LD `attrs`). */
export function project(entity: Entity, attrs: readonly string[] | undefined): Entity {
  if (!attrs) return entity;
  const out: Entity = { id: entity.id, type: entity.type };
  for (const name of attrs) if (entity[name] !== undefined) out[name] = entity[name];
  return out;
}

function simplified(attribute: unknown): unknown {
  if (Array.isArray(attribute)) return simplified(attribute.find((i: NgsiLdProperty) => i.datasetId === undefined) ?? attribute[0]);
  if (!attribute || typeof attribute !== 'object') return attribute;
  const a = attribute as { type?: string; value?: unknown; object?: unknown };
  if (a.type === 'Relationship') return a.object;
  const value = a.value;
  // A typed literal (DateTime) simplifies to its text.
  if (value && typeof value === 'object' && '@value' in value) return (value as { '@value': unknown })['@value'];
  return value;
}

/** The simplified (keyValues) representation: each attribute its value only. */
export function keyValues(entity: Entity): Entity {
  const out: Entity = { id: entity.id, type: entity.type };
  for (const [name, attribute] of Object.entries(entity)) {
    if (name === 'id' || name === 'type' || name === '@context') continue;
    out[name] = simplified(attribute);
  }
  return out;
}

export interface TemporalRequest {
  device: DeviceRecord;
  model: EntityModel;
  fromMs: number;
  toMs: number;
  attrs: readonly string[] | undefined;
  lastN: number | undefined;
}

/**
 * The temporal representation of one entity: every instance of every property in
 * [fromMs, toMs), oldest first; with `lastN`, the newest N of each. More readings than a
 * JSON page of /api/v1/readings may hold (QUERY_MAX_POINTS) without lastN is a 400.
 */
export async function temporalEntity(request: TemporalRequest, sources: EntitySources, withholdOwner: boolean): Promise<Entity> {
  const { device, model, lastN } = request;
  const max = sources.limits.jsonMaxPoints;
  const readings: ReadingItem[] = [];
  // lastN reads newest first, at most a page's worth of readings: enough for N of every property.
  const order = lastN === undefined ? 'asc' : 'desc';
  const scan = scanReadings(sources.store, { kind: model.kind, devices: [device.id], fromMs: request.fromMs, toMs: request.toMs, order }, sources.now(), sources.limits);
  for await (const reading of scan) {
    readings.push(reading);
    if (lastN === undefined && readings.length > max) {
      throw new AppError('BAD_REQUEST', `timeAt/endTimeAt: more than ${max} readings of ${device.id} in this range; narrow the range or ask for the last N with lastN`);
    }
    if (lastN !== undefined && readings.length >= max) break;
  }
  if (order === 'desc') readings.reverse();

  const instances = new Map<string, NgsiLdProperty[]>();
  for (const reading of readings) {
    const atMs = Date.parse(reading.ts);
    const observed: Observed = {};
    for (const [metric, value] of Object.entries(reading.values)) {
      if (typeof value === 'number' || typeof value === 'boolean') observed[metric] = { value, atMs };
    }
    for (const [name, attribute] of Object.entries(model.toAttributes(observed, device) as Record<string, Attribute>)) {
      if (request.attrs && !request.attrs.includes(name)) continue;
      const list = instances.get(name) ?? [];
      // Every instance of a temporal property carries its time, the model's plain ones too.
      for (const instance of Array.isArray(attribute) ? attribute : [attribute]) list.push({ observedAt: new Date(atMs).toISOString(), ...instance });
      instances.set(name, list);
    }
  }
  const entity: Entity = { id: entityId(model.type, device.id), type: model.type };
  const fixed = registryAttributes(device, withholdOwner);
  for (const [name, value] of Object.entries(fixed)) if (!request.attrs || request.attrs.includes(name)) entity[name] = value;
  for (const [name, list] of [...instances.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    entity[name] = lastN === undefined ? list : lastOfEachDataset(list, lastN);
  }
  return entity;
}

/** The newest `n` instances of each dataset (the default one and each datasetId), oldest first. */
function lastOfEachDataset(list: readonly NgsiLdProperty[], n: number): NgsiLdProperty[] {
  const counts = new Map<string, number>();
  const kept: NgsiLdProperty[] = [];
  for (let i = list.length - 1; i >= 0; i -= 1) {
    const key = list[i]!.datasetId ?? '';
    const seen = counts.get(key) ?? 0;
    if (seen >= n) continue;
    counts.set(key, seen + 1);
    kept.push(list[i]!);
  }
  return kept.reverse();
}
