/**
 * ChirpStack v4 `up` event (JSON marshaler) → a mapped uplink. Arrives from the HTTP
 * integration (POST …?event=up) and on ChirpStack's MQTT
 * (`application/{applicationId}/device/{devEui}/event/up`).
 *
 *   deviceInfo.devEui      → the device (devEui)
 *   object                 → the measurements (the device profile's codec output)
 *   fCnt                   → seq
 *   rxInfo[].rssi          → rssi of the best gateway
 *   time                   → ts
 */
import { ChirpStackUpSchema } from '../../contracts/index.ts';
import { bestRssi, flattenFields, timeOf } from './map-fields.ts';
import { issuesOf, type AdapterResult } from './uplink.ts';

export function adaptChirpStackUp(body: unknown): AdapterResult {
  const parsed = ChirpStackUpSchema.safeParse(body);
  if (!parsed.success) return { ok: false, issues: issuesOf(parsed.error) };
  const event = parsed.data;
  if (event.object === undefined) {
    return { ok: false, issues: [{ path: 'object', message: 'no decoded object: set a codec in the device profile in ChirpStack' }] };
  }
  const name = event.deviceInfo.deviceName;
  return {
    ok: true,
    uplink: {
      source: 'chirpstack',
      lookup: { devEui: event.deviceInfo.devEui },
      label: name ? `${name} (DevEUI ${event.deviceInfo.devEui})` : `DevEUI ${event.deviceInfo.devEui}`,
      fields: flattenFields(event.object),
      // ChirpStack's JSON leaves out fields at their protobuf default: no fCnt is frame 0.
      meta: { ts: timeOf(event.time), seq: event.fCnt ?? 0, rssi: bestRssi((event.rxInfo ?? []).map((rx) => rx.rssi)) },
    },
  };
}
