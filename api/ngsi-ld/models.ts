/**
 * The Smart Data Models StreetLab's built-in kinds map to, as pure functions: a device and the
 * values it measured become the attributes of an NGSI-LD entity, with the models' property names
 * and units (UN/CEFACT common codes) and the models' scales (relative humidity, occupancy and
 * filling level are fractions 0..1 there, percentages in the contract).
 *
 * - air → AirQualityObserved: the pollutants in µg/m³ (GQ; co in mg/m³, GP), temperature (CEL),
 *   relativeHumidity (0..1, C62), atmosphericPressure (hPa, A97). `noise` is not part of the
 *   model (it belongs to NoiseLevelObserved) and is left out.
 * - traffic → TrafficFlowObserved: intensity = vehicles counted in the period (cars, buses,
 *   trucks, bicycles), with one more instance per vehicle type (datasetId
 *   `urn:ngsi-ld:Dataset:{vehicleType}` and the sub-property vehicleType); averageVehicleSpeed
 *   (KMH); occupancy (0..1); dateObserved as the interval `from/to` of the counting period,
 *   which ends at the reading's time; laneDirection from the device's meta when it has one.
 *   Pedestrians are not vehicles and have no place in the model.
 * - waste → WasteContainer: fillingLevel (0..1), temperature (CEL), cargoWeight (KGM), status
 *   (`lidOpen` while the lid is open, else `ok`), dateLastEmptying when the last week's fill
 *   series shows an emptying (api/waste/collections.ts; added by entities.ts).
 * Other kinds have no Smart Data Model: they are not served as NGSI-LD entities (SensorThings
 * serves every kind).
 */
import type { NgsiLdProperty, NgsiLdType } from '../../contracts/ngsi-ld.ts';

/** One metric's value and when it was measured. */
export interface MetricValue {
  value: number | boolean;
  atMs: number;
}

/** The values of a device: per metric its value (latest state: each with its own time). */
export type Observed = Record<string, MetricValue>;

/** What a model needs of a device besides its values. */
export interface ModelDevice {
  id: string;
  meta: Record<string, unknown>;
}

export type Attribute = NgsiLdProperty | NgsiLdProperty[];

export interface EntityModel {
  kind: string;
  type: NgsiLdType;
  /** Attribute names this model can produce (for `attrs` and `q` validation). */
  attributes: readonly string[];
  /** Attributes from observed values; what the device did not measure is left out. */
  toAttributes(observed: Observed, device: ModelDevice): Record<string, Attribute>;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A Property with its unit and observation time; `scale` turns the contract's unit into the model's. */
function property(v: MetricValue, unitCode?: string, scale = 1): NgsiLdProperty {
  const value = typeof v.value === 'number' && scale !== 1 ? round(v.value * scale) : v.value;
  return { type: 'Property', value, ...(unitCode ? { unitCode } : {}), observedAt: iso(v.atMs) };
}

/** Scaling by 0.01 must not turn 42 into 0.42000000000000004 in the answer. */
function round(value: number): number {
  return Number(value.toPrecision(12));
}

interface Direct {
  metric: string;
  attribute: string;
  unitCode?: string;
  scale?: number;
}

function direct(observed: Observed, mappings: readonly Direct[]): Record<string, Attribute> {
  const out: Record<string, Attribute> = {};
  for (const m of mappings) {
    const v = observed[m.metric];
    if (v !== undefined) out[m.attribute] = property(v, m.unitCode, m.scale);
  }
  return out;
}

const AIR: readonly Direct[] = [
  { metric: 'pm1', attribute: 'pm1', unitCode: 'GQ' },
  { metric: 'pm25', attribute: 'pm25', unitCode: 'GQ' },
  { metric: 'pm10', attribute: 'pm10', unitCode: 'GQ' },
  { metric: 'no2', attribute: 'no2', unitCode: 'GQ' },
  { metric: 'o3', attribute: 'o3', unitCode: 'GQ' },
  { metric: 'so2', attribute: 'so2', unitCode: 'GQ' },
  { metric: 'co', attribute: 'co', unitCode: 'GP' },
  { metric: 'temperature', attribute: 'temperature', unitCode: 'CEL' },
  { metric: 'humidity', attribute: 'relativeHumidity', unitCode: 'C62', scale: 0.01 },
  { metric: 'pressure', attribute: 'atmosphericPressure', unitCode: 'A97' },
];

/** The newest time among some metrics' values. */
function newest(observed: Observed, metrics: readonly string[]): number | undefined {
  const times = metrics.map((m) => observed[m]?.atMs).filter((t): t is number => t !== undefined);
  return times.length === 0 ? undefined : Math.max(...times);
}

export const airQualityObserved: EntityModel = {
  kind: 'air',
  type: 'AirQualityObserved',
  attributes: [...AIR.map((m) => m.attribute), 'dateObserved'],
  toAttributes(observed) {
    const out = direct(observed, AIR);
    const at = newest(observed, AIR.map((m) => m.metric));
    if (at !== undefined) out.dateObserved = { type: 'Property', value: iso(at) };
    return out;
  },
};

/** Contract count fields and the model's vehicleType for each. */
const VEHICLES: readonly { metric: string; vehicleType: string }[] = [
  { metric: 'cars', vehicleType: 'car' },
  { metric: 'buses', vehicleType: 'bus' },
  { metric: 'trucks', vehicleType: 'lorry' },
  { metric: 'bicycles', vehicleType: 'bicycle' },
];
const LANE_DIRECTIONS = ['forward', 'backward'];

export const trafficFlowObserved: EntityModel = {
  kind: 'traffic',
  type: 'TrafficFlowObserved',
  attributes: ['intensity', 'averageVehicleSpeed', 'occupancy', 'dateObserved', 'dateObservedFrom', 'dateObservedTo', 'laneDirection'],
  toAttributes(observed, device) {
    const out = direct(observed, [
      { metric: 'speed', attribute: 'averageVehicleSpeed', unitCode: 'KMH' },
      { metric: 'occupancy', attribute: 'occupancy', unitCode: 'C62', scale: 0.01 },
    ]);
    // A count belongs to one counting period: the total sums only the counts of the newest one.
    const at = newest(observed, VEHICLES.map((v) => v.metric));
    if (at !== undefined) {
      const counted = VEHICLES.filter((v) => observed[v.metric]?.atMs === at && typeof observed[v.metric]!.value === 'number');
      const total = counted.reduce((sum, v) => sum + (observed[v.metric]!.value as number), 0);
      out.intensity = [
        { type: 'Property', value: total, observedAt: iso(at) },
        ...counted.map((v) => ({
          type: 'Property' as const,
          value: observed[v.metric]!.value,
          observedAt: iso(at),
          datasetId: `urn:ngsi-ld:Dataset:${v.vehicleType}`,
          vehicleType: { type: 'Property', value: v.vehicleType },
        })),
      ];
    }
    const period = observed.period;
    if (period !== undefined && typeof period.value === 'number') {
      const from = iso(period.atMs - period.value * 1000);
      const to = iso(period.atMs);
      out.dateObserved = { type: 'Property', value: `${from}/${to}` };
      out.dateObservedFrom = { type: 'Property', value: from };
      out.dateObservedTo = { type: 'Property', value: to };
    }
    const lane = device.meta.laneDirection;
    if (typeof lane === 'string' && LANE_DIRECTIONS.includes(lane)) out.laneDirection = { type: 'Property', value: lane };
    return out;
  },
};

export const wasteContainer: EntityModel = {
  kind: 'waste',
  type: 'WasteContainer',
  attributes: ['fillingLevel', 'temperature', 'cargoWeight', 'status', 'dateLastEmptying'],
  toAttributes(observed) {
    const out = direct(observed, [
      { metric: 'fill', attribute: 'fillingLevel', unitCode: 'C62', scale: 0.01 },
      { metric: 'temperature', attribute: 'temperature', unitCode: 'CEL' },
      { metric: 'weight', attribute: 'cargoWeight', unitCode: 'KGM' },
    ]);
    const lid = observed.lidOpen;
    if (lid !== undefined) out.status = { type: 'Property', value: lid.value === true ? 'lidOpen' : 'ok', observedAt: iso(lid.atMs) };
    return out;
  },
};

export const ENTITY_MODELS: readonly EntityModel[] = [airQualityObserved, trafficFlowObserved, wasteContainer];

export function modelOfKind(kind: string): EntityModel | undefined {
  return ENTITY_MODELS.find((m) => m.kind === kind);
}

export function modelOfType(type: string): EntityModel | undefined {
  return ENTITY_MODELS.find((m) => m.type === type);
}

/** Attributes every entity may carry besides its model's. */
export const COMMON_ATTRIBUTES = ['name', 'location', 'refDevice', 'areaServed', 'dataProvider'] as const;

export function entityId(type: string, deviceId: string): string {
  return `urn:ngsi-ld:${type}:${deviceId}`;
}

/** `urn:ngsi-ld:{Type}:{deviceId}` → its model and device id, or undefined for any other id. */
export function parseEntityId(id: string): { model: EntityModel; deviceId: string } | undefined {
  const match = /^urn:ngsi-ld:([A-Za-z]+):([A-Za-z0-9_.-]{1,64})$/.exec(id);
  const model = match ? modelOfType(match[1]!) : undefined;
  return model ? { model, deviceId: match![2]! } : undefined;
}
