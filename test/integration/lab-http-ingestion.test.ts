/**
 * What `npm run lab` prints for devices that do not speak MQTT, taken at its word: the lab
 * (in this process, with its real InfluxDB, broker, edge listener and API) is described by the
 * banner `npm run lab` prints (lab/banner.ts), and every HTTP URL in it is used as printed —
 * the onboarding's HTTP command run by bash with curl, the TTS and ChirpStack webhook URLs with
 * an integration's id filled in, and the Sensor.Community URL with a device's basic auth —
 * until each reading is in InfluxDB.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeLab } from '../../lab/banner.ts';
import { createLab, type Lab } from '../../lab/lab.ts';
import { eventually } from '../helpers/stack.ts';

let lab: Lab;
let banner: string;
const fixture = (name: string): Record<string, any> => JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/uplinks', name), 'utf8'));

beforeAll(async () => {
  lab = await createLab({ simulate: false, apiRateLimit: false, alerts: false, research: { rollups: false } });
  banner = describeLab(lab, { dataDir: '/tmp/lab', logFile: '/tmp/lab/lab.log' });
}, 120_000);
afterAll(async () => {
  await lab?.close();
});

/** The URL in the banner that contains `marker`, as printed. */
function printedUrl(marker: string): string {
  const url = banner.split(/[\s,]+/).find((word) => word.startsWith('http://') && word.includes(marker));
  if (!url) throw new Error(`no URL with ${marker} in the banner:\n${banner}`);
  return url;
}

async function stored(influxql: string, device: string): Promise<Record<string, unknown>> {
  return eventually(async () => {
    await lab.ingest.flush();
    return (await lab.influx.queryRows(influxql, { d: device }))[0];
  }, 15_000, `${device} in InfluxDB`);
}

async function integration(id: string, type: 'ttn' | 'chirpstack'): Promise<string> {
  const response = await fetch(`${lab.urls.api}/api/v1/integrations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${lab.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ id, type }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { secret: string }).secret;
}

const base = { owner: 'acme', lat: 55.69, lon: 12.55, intervalSeconds: 60, enabled: true, meta: {} };

describe('npm run lab: HTTP devices and uplinks', () => {
  it('prints every HTTP ingestion URL whole, on the API port', () => {
    expect(banner).toContain(`HTTP in     POST ${lab.urls.api}/api/v1/devices/{id}/readings`);
    expect(printedUrl('/uplinks/ttn/')).toBe(`${lab.urls.api}/api/v1/uplinks/ttn/{integration}`);
    expect(printedUrl('/uplinks/chirpstack/')).toBe(`${lab.urls.api}/api/v1/uplinks/chirpstack/{integration}?event=up`);
    expect(printedUrl('/uplinks/airrohr')).toBe(`${lab.urls.api}/api/v1/uplinks/airrohr`);
  });

  it('the onboarding\'s HTTP command works as printed: register, then post a reading with the secret', async () => {
    const register = /^\s*(SECRET=\$\(curl .*)$/m.exec(banner)?.[1];
    const http = /^\s*or over HTTP: (curl -X POST .*)$/m.exec(banner)?.[1];
    expect(register, banner).toBeDefined();
    expect(http, banner).toBeDefined();
    await promisify(execFile)('bash', ['-euo', 'pipefail', '-c', `${register}\n${http} --fail-with-body --silent --show-error`], { timeout: 20_000 });
    expect(await stored('SELECT pm25, no2 FROM air WHERE device = $d', 'my-sensor-1')).toMatchObject({ pm25: 12.5, no2: 31 });
  });

  it('The Things Stack and ChirpStack post to the printed webhook URLs', async () => {
    await lab.registry.create({ ...base, id: 'lab-tts-1', kind: 'air', source: 'ttn', devEui: '70B3D57ED0DD0001', fieldMap: { pm2_5: { to: 'pm25', scale: 0.1 }, pm10: { to: 'pm10', scale: 0.1 }, battery_voltage: { ignore: true } } });
    await lab.registry.create({ ...base, id: 'lab-cs-1', kind: 'waste', source: 'chirpstack', devEui: 'A84041000181C0D1', fieldMap: { fillLevel: { to: 'fill' }, lid: { to: 'lidOpen' }, temp: { to: 'temperature' } } });
    const ttsSecret = await integration('lab-tts', 'ttn');
    const csSecret = await integration('lab-cs', 'chirpstack');

    const tts = fixture('tts-v3-uplink.json');
    tts.end_device_ids.dev_eui = '70B3D57ED0DD0001';
    tts.received_at = new Date(Date.now() - 2_000).toISOString();
    const ttsUrl = printedUrl('/uplinks/ttn/').replace('{integration}', 'lab-tts');
    const ttsAnswer = await fetch(ttsUrl, { method: 'POST', headers: { 'x-streetlab-secret': ttsSecret, 'content-type': 'application/json' }, body: JSON.stringify(tts) });
    expect(ttsAnswer.status, await ttsAnswer.clone().text()).toBe(201);

    const cs = fixture('chirpstack-v4-up.json');
    cs.deviceInfo.devEui = 'a84041000181c0d1';
    cs.time = new Date(Date.now() - 2_000).toISOString();
    const csUrl = printedUrl('/uplinks/chirpstack/').replace('{integration}', 'lab-cs');
    const csAnswer = await fetch(csUrl, { method: 'POST', headers: { 'x-streetlab-secret': csSecret, 'content-type': 'application/json' }, body: JSON.stringify(cs) });
    expect(csAnswer.status, await csAnswer.clone().text()).toBe(201);

    expect(await stored('SELECT pm25, seq FROM air WHERE device = $d', 'lab-tts-1')).toMatchObject({ pm25: 8.4, seq: 1287 });
    expect(await stored('SELECT fill, seq FROM waste WHERE device = $d', 'lab-cs-1')).toMatchObject({ fill: 62, seq: 311 });
  });

  it('a Sensor.Community sensor posts to the printed airrohr URL with its basic auth', async () => {
    const { secret } = await lab.registry.create({ ...base, id: 'lab-sc-1', kind: 'air', source: 'airrohr', airrohrChipId: '13972394' });
    const answer = await fetch(printedUrl('/uplinks/airrohr'), {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`lab-sc-1:${secret}`).toString('base64')}`, 'x-sensor': 'esp8266-13972394', 'content-type': 'application/json' },
      body: JSON.stringify(fixture('airrohr.json')),
    });
    expect(answer.status, await answer.clone().text()).toBe(201);
    expect(await stored('SELECT pm10, pressure FROM air WHERE device = $d', 'lab-sc-1')).toMatchObject({ pm10: 14.65, pressure: 1013.25 });
  });
});
