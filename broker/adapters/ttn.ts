/**
 * The Things Stack v3 uplink message → a mapped uplink. The same JSON arrives by webhook
 * (POST /api/v1/uplinks/ttn/{integration}) and on TTS's MQTT server
 * (`v3/{application}@{tenant}/devices/{device}/up`).
 *
 *   end_device_ids.dev_eui / .device_id   → the device (devEui, else ttnDeviceId)
 *   uplink_message.decoded_payload        → the measurements (the application's payload formatter output)
 *   uplink_message.f_cnt                  → seq (trial reports see lost frames as gaps)
 *   uplink_message.rx_metadata[].rssi     → rssi of the best gateway
 *   received_at                           → ts
 */
import { TtsUplinkSchema } from '../../contracts/index.ts';
import { flattenFields, timeOf, bestRssi } from './map-fields.ts';
import { issuesOf, type AdapterResult } from './uplink.ts';

export function adaptTtsUplink(body: unknown): AdapterResult {
  const parsed = TtsUplinkSchema.safeParse(body);
  if (!parsed.success) return { ok: false, issues: issuesOf(parsed.error) };
  const { end_device_ids: ids, uplink_message: uplink } = parsed.data;
  if (uplink.decoded_payload === undefined) {
    return {
      ok: false,
      issues: [{ path: 'uplink_message.decoded_payload', message: 'no decoded payload: set a payload formatter for the device or application in The Things Stack' }],
    };
  }
  return {
    ok: true,
    uplink: {
      source: 'ttn',
      lookup: { ...(ids.dev_eui ? { devEui: ids.dev_eui } : {}), ttnDeviceId: ids.device_id },
      label: ids.dev_eui ? `${ids.device_id} (DevEUI ${ids.dev_eui})` : ids.device_id,
      fields: flattenFields(uplink.decoded_payload),
      meta: {
        ts: timeOf(parsed.data.received_at ?? uplink.received_at),
        seq: uplink.f_cnt,
        rssi: bestRssi((uplink.rx_metadata ?? []).map((rx) => rx.rssi ?? rx.channel_rssi)),
      },
    },
  };
}
