/**
 * The registry side of SensorThings for one request: every Thing, Location, Datastream,
 * Sensor and ObservedProperty of the devices the caller may see, and the navigation between
 * them (Things(id)/Datastreams, Datastreams(id)/Thing, …). Observations are not listed here:
 * a navigation to them yields the datastreams to read (observations.ts).
 */
import type { DeviceRecord, KindField } from '../../contracts/index.ts';
import type { StaEntitySet } from '../../contracts/sensorthings.ts';
import { datastream, fieldsOf, location, observedProperty, parseObservationId, sensor, sensorIdOf, thing, type Links, type StaEntity } from './model.ts';
import type { DatastreamRef } from './observations.ts';

interface DatastreamEntry {
  entity: StaEntity;
  ref: DatastreamRef;
  sensorId: string;
}

export interface Catalogue {
  devices: Map<string, DeviceRecord>;
  sets: Record<Exclude<StaEntitySet, 'Observations'>, Map<string, StaEntity>>;
  datastreams: Map<string, DatastreamEntry>;
}

export function buildCatalogue(devices: readonly DeviceRecord[], links: Links, withholdOwner: boolean): Catalogue {
  const sorted = [...devices].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const catalogue: Catalogue = {
    devices: new Map(sorted.map((d) => [d.id, d])),
    sets: { Things: new Map(), Locations: new Map(), Datastreams: new Map(), Sensors: new Map(), ObservedProperties: new Map() },
    datastreams: new Map(),
  };
  const properties: KindField[] = [];
  for (const device of sorted) {
    catalogue.sets.Things.set(device.id, thing(device, links, withholdOwner));
    catalogue.sets.Locations.set(device.id, location(device, links));
    const sensorId = sensorIdOf(device);
    if (!catalogue.sets.Sensors.has(sensorId)) catalogue.sets.Sensors.set(sensorId, sensor(device, links));
    for (const field of fieldsOf(device.kind)) {
      const entity = datastream(device, field, links);
      catalogue.sets.Datastreams.set(entity['@iot.id'], entity);
      catalogue.datastreams.set(entity['@iot.id'], { entity, ref: { deviceId: device.id, kind: device.kind, metric: field.name }, sensorId });
      if (!properties.some((p) => p.name === field.name)) properties.push(field);
    }
  }
  for (const field of properties.sort((a, b) => (a.name < b.name ? -1 : 1))) catalogue.sets.ObservedProperties.set(field.name, observedProperty(field, links));
  return catalogue;
}

/** Where a navigation leads: one entity, a list of entities, or the observations of some datastreams. */
export type Target =
  | { type: 'entity'; set: StaEntitySet; entity: StaEntity }
  | { type: 'list'; set: Exclude<StaEntitySet, 'Observations'>; items: StaEntity[] }
  | { type: 'observations'; datastreams: DatastreamRef[] }
  | { type: 'none' };

/** Navigation properties of each set: to which set, and whether to one entity. */
export const NAVIGATION: Record<StaEntitySet, Record<string, { set: StaEntitySet; one: boolean }>> = {
  Things: { Locations: { set: 'Locations', one: false }, Datastreams: { set: 'Datastreams', one: false } },
  Locations: { Things: { set: 'Things', one: false } },
  Datastreams: {
    Thing: { set: 'Things', one: true },
    Sensor: { set: 'Sensors', one: true },
    ObservedProperty: { set: 'ObservedProperties', one: true },
    Observations: { set: 'Observations', one: false },
  },
  Sensors: { Datastreams: { set: 'Datastreams', one: false } },
  ObservedProperties: { Datastreams: { set: 'Datastreams', one: false } },
  Observations: { Datastream: { set: 'Datastreams', one: true } },
};

/** Follows navigation property `name` from `entity` of `set` (names are checked by the caller against NAVIGATION). */
export function navigate(catalogue: Catalogue, set: StaEntitySet, entity: StaEntity, name: string): Target {
  const id = entity['@iot.id'];
  const datastreamsWhere = (match: (d: DatastreamEntry) => boolean): Target => ({
    type: 'list',
    set: 'Datastreams',
    items: [...catalogue.datastreams.values()].filter(match).map((d) => d.entity),
  });
  const one = (target: StaEntitySet, entry: StaEntity | undefined): Target => (entry ? { type: 'entity', set: target, entity: entry } : { type: 'none' });
  switch (`${set}/${name}`) {
    case 'Things/Locations':
      return { type: 'list', set: 'Locations', items: [catalogue.sets.Locations.get(id)].filter((e): e is StaEntity => e !== undefined) };
    case 'Things/Datastreams':
      return datastreamsWhere((d) => d.ref.deviceId === id);
    case 'Locations/Things':
      return { type: 'list', set: 'Things', items: [catalogue.sets.Things.get(id)].filter((e): e is StaEntity => e !== undefined) };
    case 'Datastreams/Thing':
      return one('Things', catalogue.sets.Things.get(catalogue.datastreams.get(id)?.ref.deviceId ?? ''));
    case 'Datastreams/Sensor':
      return one('Sensors', catalogue.sets.Sensors.get(catalogue.datastreams.get(id)?.sensorId ?? ''));
    case 'Datastreams/ObservedProperty':
      return one('ObservedProperties', catalogue.sets.ObservedProperties.get(catalogue.datastreams.get(id)?.ref.metric ?? ''));
    case 'Datastreams/Observations': {
      const ref = catalogue.datastreams.get(id)?.ref;
      return { type: 'observations', datastreams: ref ? [ref] : [] };
    }
    case 'Sensors/Datastreams':
      return datastreamsWhere((d) => d.sensorId === id);
    case 'ObservedProperties/Datastreams':
      return datastreamsWhere((d) => d.ref.metric === id);
    case 'Observations/Datastream': {
      const parsed = parseObservationId(id);
      return one('Datastreams', parsed ? catalogue.sets.Datastreams.get(`${parsed.deviceId}:${parsed.metric}`) : undefined);
    }
    default:
      return { type: 'none' };
  }
}
