/**
 * The SensorThings data model over StreetLab's registry and kinds, as pure functions. Every id
 * is derived from what it stands for, so it is stable across restarts and servers:
 *
 * | entity            | one per                      | @iot.id                  |
 * |-------------------|------------------------------|--------------------------|
 * | Thing             | device                       | `{deviceId}`             |
 * | Location          | device (its registered point)| `{deviceId}`             |
 * | Datastream        | device × metric of its kind  | `{deviceId}:{metric}`    |
 * | ObservedProperty  | metric name                  | `{metric}`               |
 * | Sensor            | kind (and `meta.model`)      | `{kind}` / `{kind}:{model}` |
 * | Observation       | stored value of a metric     | `{deviceId}:{metric}:{epoch ms}` |
 *
 * Every kind is served, the ones added at run time too: what a kind measures, with unit and
 * type, comes from its definition (contracts/kinds-table.ts).
 */
import { kindDefinitionOf, type DeviceRecord, type KindField } from '../../contracts/index.ts';

export type StaEntity = Record<string, unknown> & { '@iot.id': string };

/** Where links point: the service root's absolute URL. */
export interface Links {
  base: string;
}

const OM = 'http://www.opengis.net/def/observationType/OGC-OM/2.0/';

/** UCUM-style names and QUDT definitions of the contract's units. */
const UNITS: Record<string, { name: string; symbol: string; definition: string }> = {
  'µg/m³': { name: 'microgram per cubic metre', symbol: 'µg/m³', definition: 'http://qudt.org/vocab/unit/MicroGM-PER-M3' },
  'mg/m³': { name: 'milligram per cubic metre', symbol: 'mg/m³', definition: 'http://qudt.org/vocab/unit/MilliGM-PER-M3' },
  '°C': { name: 'degree Celsius', symbol: '°C', definition: 'http://qudt.org/vocab/unit/DEG_C' },
  '%RH': { name: 'percent relative humidity', symbol: '%', definition: 'http://qudt.org/vocab/unit/PERCENT' },
  '%': { name: 'percent', symbol: '%', definition: 'http://qudt.org/vocab/unit/PERCENT' },
  hPa: { name: 'hectopascal', symbol: 'hPa', definition: 'http://qudt.org/vocab/unit/HectoPA' },
  'dB(A)': { name: 'decibel (A-weighted)', symbol: 'dB(A)', definition: 'http://qudt.org/vocab/unit/DeciB' },
  s: { name: 'second', symbol: 's', definition: 'http://qudt.org/vocab/unit/SEC' },
  count: { name: 'count', symbol: '{count}', definition: 'http://qudt.org/vocab/unit/NUM' },
  'km/h': { name: 'kilometre per hour', symbol: 'km/h', definition: 'http://qudt.org/vocab/unit/KiloM-PER-HR' },
  '°': { name: 'degree', symbol: '°', definition: 'http://qudt.org/vocab/unit/DEG' },
  kg: { name: 'kilogram', symbol: 'kg', definition: 'http://qudt.org/vocab/unit/KiloGM' },
  bool: { name: 'boolean', symbol: '', definition: 'http://www.opengis.net/def/uom/OGC/1.0/unity' },
};

export function unitOfMeasurement(unit: string): { name: string; symbol: string; definition: string } {
  return UNITS[unit] ?? { name: unit, symbol: unit, definition: `urn:streetlab:unit:${encodeURIComponent(unit)}` };
}

/** `'id'` as an STA URL key: quoted, a quote inside doubled. */
export function quoteId(id: string): string {
  return `'${id.replace(/'/g, "''")}'`;
}

export function linkTo(links: Links, set: string, id: string): string {
  return `${links.base}/${set}(${encodeURIComponent(quoteId(id)).replace(/%3A/gi, ':')})`;
}

/** The measured fields of a kind (its definition); none for a kind this process does not know. */
export function fieldsOf(kind: string): readonly KindField[] {
  return kindDefinitionOf(kind)?.fields ?? [];
}

const MODEL_ID = /^[A-Za-z0-9_.-]{1,64}$/;

export function sensorIdOf(device: Pick<DeviceRecord, 'kind' | 'meta'>): string {
  const model = device.meta.model;
  return typeof model === 'string' && MODEL_ID.test(model) ? `${device.kind}:${model}` : device.kind;
}

export function datastreamId(deviceId: string, metric: string): string {
  return `${deviceId}:${metric}`;
}

export function observationId(deviceId: string, metric: string, atMs: number): string {
  return `${deviceId}:${metric}:${atMs}`;
}

/** `{deviceId}:{metric}:{ms}` → its parts, or undefined. */
export function parseObservationId(id: string): { deviceId: string; metric: string; atMs: number } | undefined {
  const match = /^([A-Za-z0-9_.-]{1,64}):([A-Za-z][A-Za-z0-9_]{0,39}):(\d{1,15})$/.exec(id);
  return match ? { deviceId: match[1]!, metric: match[2]!, atMs: Number(match[3]) } : undefined;
}

export function thing(device: DeviceRecord, links: Links, withholdOwner: boolean): StaEntity {
  const self = linkTo(links, 'Things', device.id);
  return {
    '@iot.id': device.id,
    '@iot.selfLink': self,
    name: device.name,
    description: `${kindDefinitionOf(device.kind)?.name ?? device.kind} device ${device.id}${device.site ? ` at ${device.site}` : ''}`,
    properties: {
      kind: device.kind,
      ...(device.site ? { site: device.site } : {}),
      ...(withholdOwner ? {} : { owner: device.owner }),
      intervalSeconds: device.intervalSeconds,
      enabled: device.enabled,
    },
    'Locations@iot.navigationLink': `${self}/Locations`,
    'Datastreams@iot.navigationLink': `${self}/Datastreams`,
  };
}

export function location(device: DeviceRecord, links: Links): StaEntity {
  const self = linkTo(links, 'Locations', device.id);
  return {
    '@iot.id': device.id,
    '@iot.selfLink': self,
    name: device.site ?? device.name,
    description: `where ${device.id} is installed`,
    encodingType: 'application/geo+json',
    location: { type: 'Point', coordinates: [device.lon, device.lat] },
    'Things@iot.navigationLink': `${self}/Things`,
  };
}

export function datastream(device: DeviceRecord, field: KindField, links: Links): StaEntity {
  const id = datastreamId(device.id, field.name);
  const self = linkTo(links, 'Datastreams', id);
  return {
    '@iot.id': id,
    '@iot.selfLink': self,
    name: `${field.name} of ${device.id}`,
    description: field.description,
    unitOfMeasurement: unitOfMeasurement(field.unit),
    observationType: `${OM}${field.type === 'boolean' ? 'OM_TruthObservation' : 'OM_Measurement'}`,
    properties: { kind: device.kind, metric: field.name, deviceId: device.id },
    'Thing@iot.navigationLink': `${self}/Thing`,
    'Sensor@iot.navigationLink': `${self}/Sensor`,
    'ObservedProperty@iot.navigationLink': `${self}/ObservedProperty`,
    'Observations@iot.navigationLink': `${self}/Observations`,
  };
}

export function observedProperty(field: KindField, links: Links): StaEntity {
  const self = linkTo(links, 'ObservedProperties', field.name);
  return {
    '@iot.id': field.name,
    '@iot.selfLink': self,
    name: field.name,
    definition: `urn:streetlab:observed-property:${field.name}`,
    description: field.description,
    'Datastreams@iot.navigationLink': `${self}/Datastreams`,
  };
}

export function sensor(device: Pick<DeviceRecord, 'kind' | 'meta'>, links: Links): StaEntity {
  const id = sensorIdOf(device);
  const self = linkTo(links, 'Sensors', id);
  const definition = kindDefinitionOf(device.kind);
  const model = id.includes(':') ? id.slice(device.kind.length + 1) : undefined;
  return {
    '@iot.id': id,
    '@iot.selfLink': self,
    name: `${definition?.name ?? device.kind} sensor${model ? ` ${model}` : ''}`,
    description: definition?.description ?? `devices of kind ${device.kind}`,
    encodingType: 'application/json',
    metadata: `/api/v1/kinds/${device.kind}`,
    'Datastreams@iot.navigationLink': `${self}/Datastreams`,
  };
}

export function observation(deviceId: string, metric: string, atMs: number, result: number | boolean, links: Links): StaEntity {
  const id = observationId(deviceId, metric, atMs);
  const self = linkTo(links, 'Observations', id);
  const time = new Date(atMs).toISOString();
  return {
    '@iot.id': id,
    '@iot.selfLink': self,
    phenomenonTime: time,
    resultTime: time,
    result,
    'Datastream@iot.navigationLink': `${self}/Datastream`,
  };
}
