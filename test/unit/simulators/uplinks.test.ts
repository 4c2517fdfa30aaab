/**
 * The simulated network-server devices: their decoders' output maps back to the street model's
 * reading through the field map they are registered with, their messages are what the
 * adapters read, and the CLI asks for the API they post to.
 */
import { describe, expect, it } from 'vitest';
import { adaptChirpStackUp } from '../../../broker/adapters/chirpstack.ts';
import { toContractReading } from '../../../broker/adapters/map-fields.ts';
import { adaptTtsUplink } from '../../../broker/adapters/ttn.ts';
import { parseSimulatorCli } from '../../../simulators/config.ts';
import { SIMULATED_FIELD_MAPS, chirpStackUpEvent, decoderOutput, ttsUplinkMessage, type UplinkDevice } from '../../../simulators/uplinks.ts';

const node: UplinkDevice = { id: 'ttn-air-001', source: 'ttn', devEui: '70B3D57ED0ABCDEF', site: 'Nørrebrogade', lat: 55.69, lon: 12.55 };
const bin: UplinkDevice = { id: 'cs-bin-001', source: 'chirpstack', devEui: 'A840410001ABCDEF', site: 'Jagtvej', lat: 55.69, lon: 12.55 };

describe('simulated decoders', () => {
  it('name fields like real decoders, and the registered field map turns them back', () => {
    const air = { ts: 1, seq: 4, rssi: -80, pm25: 8.4, pm10: 14.1, no2: 22, battery: 88 };
    const decoded = decoderOutput('ttn', air);
    expect(decoded).toEqual({ pm2_5: 84, pm10: 141, no2: 22, battery: 88 });
    expect(toContractReading(decoded, SIMULATED_FIELD_MAPS.ttn, {})).toEqual({ pm25: 8.4, pm10: 14.1, no2: 22, battery: 88 });
    const waste = { fill: 62, lidOpen: false, temperature: 7.5 };
    expect(toContractReading(decoderOutput('chirpstack', waste), SIMULATED_FIELD_MAPS.chirpstack, {})).toEqual(waste);
  });

  it('send messages the adapters read back: identifiers, frame counter, gateway signal, time', () => {
    const at = Date.parse('2026-12-03T10:00:00Z');
    const tts = adaptTtsUplink(ttsUplinkMessage(node, { pm2_5: 84 }, 12, -90, at));
    expect(tts.ok && tts.uplink).toMatchObject({ lookup: { devEui: node.devEui, ttnDeviceId: 'eui-70b3d57ed0abcdef' }, meta: { ts: at, seq: 12, rssi: -90 } });
    const cs = adaptChirpStackUp(chirpStackUpEvent(bin, { fillLevel: 62 }, 3, -70, at));
    expect(cs.ok && cs.uplink).toMatchObject({ lookup: { devEui: 'a840410001abcdef' }, fields: { fillLevel: 62 }, meta: { ts: at, seq: 3, rssi: -70 } });
  });
});

describe('npm run simulate -- --ttn / --chirpstack', () => {
  it('needs --api-url (the devices post webhooks to the API) and counts them as devices', () => {
    expect(() => parseSimulatorCli(['--air', '0', '--traffic', '0', '--waste', '0', '--ttn', '2'], {})).toThrow(/--ttn: needs --api-url/);
    const parsed = parseSimulatorCli(['--air', '0', '--traffic', '0', '--waste', '0', '--chirpstack', '2', '--api-url', 'http://127.0.0.1:8080', '--admin-token', 't'], {});
    expect(parsed.help === false && parsed.config).toMatchObject({ chirpstack: 2, ttn: 0 });
  });
});
