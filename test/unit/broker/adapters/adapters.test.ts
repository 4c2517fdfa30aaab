/**
 * The source adapters on recorded messages in the vendors' formats (test/fixtures/uplinks):
 * what each takes from the message, and how the mapping turns it into our contract.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adaptAirrohr, chipIdFromHeader } from '../../../../broker/adapters/airrohr.ts';
import { adaptChirpStackUp } from '../../../../broker/adapters/chirpstack.ts';
import { bestRssi, flattenFields, timeOf, toContractReading } from '../../../../broker/adapters/map-fields.ts';
import { adaptTtsUplink } from '../../../../broker/adapters/ttn.ts';
import type { AdapterResult, MappedUplink } from '../../../../broker/adapters/uplink.ts';

const fixture = (name: string): Record<string, unknown> => JSON.parse(readFileSync(join(import.meta.dirname, '../../../fixtures/uplinks', name), 'utf8'));
function mapped(result: AdapterResult): MappedUplink {
  if (!result.ok) throw new Error(`adapter refused: ${JSON.stringify(result.issues)}`);
  return result.uplink;
}

describe('The Things Stack v3 uplink', () => {
  it('takes the DevEUI and device id, the decoded payload, f_cnt as seq, the best gateway and received_at', () => {
    const uplink = mapped(adaptTtsUplink(fixture('tts-v3-uplink.json')));
    expect(uplink.lookup).toEqual({ devEui: '70B3D57ED005A1B2', ttnDeviceId: 'eui-70b3d57ed005a1b2' });
    expect(uplink.fields).toEqual({ pm2_5: 84, pm10: 141, temperature: 4.2, humidity: 81, battery_voltage: 3.61 });
    expect(uplink.meta).toEqual({ ts: Date.parse('2026-11-20T09:41:17.512Z'), seq: 1287, rssi: -87 });
  });

  it('says what to fix when the uplink has no decoded payload', () => {
    const message = fixture('tts-v3-uplink.json');
    delete (message.uplink_message as Record<string, unknown>).decoded_payload;
    const result = adaptTtsUplink(message);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues[0]).toMatchObject({ path: 'uplink_message.decoded_payload', message: expect.stringContaining('payload formatter') });
  });

  it('names the missing identifiers of a message that is not an uplink', () => {
    const result = adaptTtsUplink({ uplink_message: {} });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues.map((i) => i.path)).toContain('end_device_ids');
  });
});

describe('ChirpStack v4 up event', () => {
  it('takes the DevEUI, object, fCnt as seq, the best gateway and time', () => {
    const uplink = mapped(adaptChirpStackUp(fixture('chirpstack-v4-up.json')));
    expect(uplink.lookup).toEqual({ devEui: 'a84041000181c061' });
    expect(uplink.fields).toEqual({ fillLevel: 62, lid: false, temp: 7.5 });
    expect(uplink.meta).toEqual({ ts: Date.parse('2026-11-20T09:42:03.114Z'), seq: 311, rssi: -71 });
  });

  it('reads a missing fCnt as frame 0 (ChirpStack leaves out protobuf defaults)', () => {
    const event = fixture('chirpstack-v4-up.json');
    delete event.fCnt;
    expect(mapped(adaptChirpStackUp(event)).meta.seq).toBe(0);
  });
});

describe('Sensor.Community airrohr', () => {
  it('turns string values into numbers and maps value types, pressure from Pa to hPa', () => {
    const uplink = mapped(adaptAirrohr(fixture('airrohr.json')));
    expect(uplink.lookup).toEqual({ airrohrChipId: '13972394' });
    const reading = toContractReading(uplink.fields, uplink.builtInMapping, uplink.meta);
    expect(reading).toEqual({ pm10: 14.65, pm25: 8.3, temperature: 5.42, pressure: 1013.25, humidity: 78.31, rssi: -67 });
  });

  it('passes an unknown value type under its own name (validation names it) unless a mapping says otherwise', () => {
    const body = { esp8266id: '1', sensordatavalues: [{ value_type: 'SDS_P2', value: '3.1' }, { value_type: 'SCD30_co2', value: '612' }] };
    const uplink = mapped(adaptAirrohr(body));
    expect(toContractReading(uplink.fields, uplink.builtInMapping, uplink.meta)).toEqual({ pm25: 3.1, SCD30_co2: 612 });
    expect(toContractReading(uplink.fields, { ...uplink.builtInMapping, SCD30_co2: { ignore: true } }, uplink.meta)).toEqual({ pm25: 3.1 });
  });

  it('keeps a value that is not a number as text, so validation reports its type', () => {
    const uplink = mapped(adaptAirrohr({ sensordatavalues: [{ value_type: 'SDS_P1', value: 'nan' }] }));
    expect(toContractReading(uplink.fields, uplink.builtInMapping, uplink.meta)).toEqual({ pm10: 'nan' });
  });

  it('reads the chip id from X-Sensor when the body has none', () => {
    expect(chipIdFromHeader('esp8266-13972394')).toBe('13972394');
    expect(chipIdFromHeader('esp32-77')).toBe('77');
    expect(chipIdFromHeader('raspi-1')).toBeUndefined();
    expect(mapped(adaptAirrohr({ sensordatavalues: [] }, 'esp8266-42')).lookup).toEqual({ airrohrChipId: '42' });
  });
});

describe('field mapping', () => {
  it('renames, scales without binary noise, ignores, and lets metadata set ts, seq and rssi', () => {
    const reading = toContractReading(
      { pm2_5: 3, 'sensor.t': 215, status: 1, humidity: 40 },
      { pm2_5: { to: 'pm25', scale: 0.1 }, 'sensor.t': { to: 'temperature', scale: 0.1 }, status: { ignore: true } },
      { ts: 1_700_000_000_000, seq: 9, rssi: -80 },
    );
    expect(reading).toEqual({ pm25: 0.3, temperature: 21.5, humidity: 40, ts: 1_700_000_000_000, seq: 9, rssi: -80 });
  });

  it('flattens nested decoder output to dotted names', () => {
    expect(flattenFields({ a: { b: 1, c: { d: true } }, e: [1, 2] })).toEqual({ 'a.b': 1, 'a.c.d': true, e: [1, 2] });
  });

  it('keeps an unparseable network time as text and picks the strongest gateway', () => {
    expect(timeOf('yesterday')).toBe('yesterday');
    expect(timeOf('2026-11-20T09:41:17.512345678Z')).toBe(Date.parse('2026-11-20T09:41:17.512Z'));
    expect(bestRssi([-110, undefined, -87.26])).toBe(-87.3);
    expect(bestRssi([])).toBeUndefined();
  });
});
