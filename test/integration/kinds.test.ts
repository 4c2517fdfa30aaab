/**
 * Device kinds as data, end to end with real parts and no code change: a `soil` kind is added
 * through the API of a running lab (real InfluxDB, broker, ingest, API), a device of that kind
 * is registered, publishes over MQTT with its own secret, its readings are stored, queried,
 * exported as CSV and shown by the dashboard in Chromium; readings outside the new kind's
 * ranges are rejected with the kind's own message, and the versioning rules hold once
 * readings exist.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { type Browser } from 'playwright-core';
import { launchChromium } from '../helpers/chromium.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RejectionSchema, type KindResponse, type ReadingsResponse, type Rejection } from '../../contracts/index.ts';
import { ensureDashboardBuilt } from '../e2e/build-dashboard.ts';
import { eventually, startStack, type Stack } from '../helpers/stack.ts';

const SOIL = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'fixtures', 'kinds', 'soil.json'), 'utf8')) as KindResponse;
const DEVICE = 'soil-park-1';

let stack: Stack;
let browser: Browser;
let device: MqttClient | undefined;
const notices: Rejection[] = [];

async function api(method: string, path: string, body?: unknown, token: string | undefined = stack.adminToken): Promise<{ status: number; json: any; text: string; headers: Headers }> {
  const response = await fetch(`${stack.apiUrl}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, json, text, headers: response.headers };
}

beforeAll(async () => {
  await ensureDashboardBuilt();
  stack = await startStack({ security: 'secured' });
  browser = await launchChromium();
});

afterAll(async () => {
  await device?.endAsync(true);
  await browser?.close();
  await stack?.close();
});

describe('a kind added at run time', () => {
  it('is refused while its definition is wrong, naming the field', async () => {
    const fields = SOIL.fields.map((f, i) => (i === 2 ? { ...f, unit: undefined } : f));
    const bad = await api('POST', '/api/v1/kinds', { ...SOIL, fields });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toContain('fields.2.unit: required');
    expect((await api('GET', '/api/v1/kinds/soil')).status).toBe(404);
  });

  it('is created by an admin only, at version 1, and listed for readers', async () => {
    const { token: reader } = await stack.registry.createApiKey({ name: 'kinds reader', role: 'reader' });
    expect((await api('POST', '/api/v1/kinds', SOIL, reader)).status).toBe(403);
    const created = await api('POST', '/api/v1/kinds', SOIL);
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ id: 'soil', version: 1, builtIn: false });
    const list = await api('GET', '/api/v1/kinds', undefined, reader);
    expect(list.json.kinds.map((k: KindResponse) => k.id)).toEqual(['air', 'traffic', 'waste', 'soil']);
    expect((await api('POST', '/api/v1/kinds', SOIL)).status).toBe(409);
    const openapi = await api('GET', '/openapi.json');
    expect(Object.keys(openapi.json.paths)).toEqual(expect.arrayContaining(['/api/v1/kinds', '/api/v1/kinds/{id}']));
    expect(openapi.json.info.description).toContain('GET /api/v1/kinds');
  });

  it('takes devices of the new kind, and refuses an unknown kind with a clear 400', async () => {
    const unknown = await api('POST', '/api/v1/devices', { id: 'lava-1', kind: 'lava', owner: 'volcano-co', lat: 55.7, lon: 12.57 });
    expect(unknown.status).toBe(400);
    expect(unknown.json.message).toContain('kind: unknown kind "lava"');
    const registered = await api('POST', '/api/v1/devices', { id: DEVICE, kind: 'soil', owner: 'green-co', lat: 55.6884, lon: 12.5487, site: 'Nørrebroparken', intervalSeconds: 60 });
    expect(registered.status).toBe(201);
    device = await mqtt.connectAsync(stack.mqttUrl, { clientId: DEVICE, username: DEVICE, password: registered.json.secret as string, reconnectPeriod: 0 });
    device.on('message', (_topic, payload) => notices.push(RejectionSchema.parse(JSON.parse(payload.toString()))));
    await device.subscribeAsync(`lab/v1/soil/${DEVICE}/rejected`, { qos: 1 });
  });

  it('stores its readings over MQTT and serves them as JSON and CSV', async () => {
    const now = Date.now();
    const sent = [
      { ts: now - 120_000, seq: 1, moisture: 31.5, soilTemperature: 11.2, conductivity: 820, light: 15000, battery: 88 },
      { ts: now - 60_000, seq: 2, moisture: 30.9, soilTemperature: 11.4, conductivity: 815 },
      { ts: now - 1_000, seq: 3, moisture: 42.25, light: 18000 },
    ];
    for (const payload of sent) await device!.publishAsync(`lab/v1/soil/${DEVICE}`, JSON.stringify(payload), { qos: 1 });
    await stack.flush();

    const page = await eventually(async () => {
      const answer = await api('GET', `/api/v1/readings?kind=soil&device=${DEVICE}&from=-1h&order=asc`);
      return answer.status === 200 && (answer.json as ReadingsResponse).readings.length === 3 ? (answer.json as ReadingsResponse) : undefined;
    }, 10_000, 'three soil readings from the API');
    expect(page.readings.map((r) => r.values)).toEqual([
      { moisture: 31.5, soilTemperature: 11.2, conductivity: 820, light: 15000 },
      { moisture: 30.9, soilTemperature: 11.4, conductivity: 815 },
      { moisture: 42.25, light: 18000 },
    ]);
    const units = await api('GET', `/api/v1/readings?kind=soil&device=${DEVICE}&from=-1h&metric=moisture,conductivity,light`);
    expect(units.json.meta.units).toEqual({ moisture: '%VWC', conductivity: 'µS/cm', light: 'lx' });

    const metric = await api('GET', `/api/v1/readings?kind=soil&device=${DEVICE}&metric=moisture,ph&from=-1h`);
    expect(metric.status).toBe(400);
    expect(metric.json.message).toContain('"ph" is not a metric of soil; use one or several of moisture, soilTemperature, conductivity, light');

    const csv = await api('GET', `/api/v1/readings?kind=soil&device=${DEVICE}&from=-1h&format=csv`);
    expect(csv.status).toBe(200);
    const [header, ...rows] = csv.text.trim().split(/\r?\n/);
    const columns = header!.split(',');
    expect(columns).toEqual(expect.arrayContaining(['time', 'device', 'moisture', 'soilTemperature', 'conductivity', 'light']));
    expect(rows).toHaveLength(3);
    const moisture = rows.map((row) => row.split(',')[columns.indexOf('moisture')]);
    expect(moisture).toEqual(['31.5', '30.9', '42.25']);

    const rows_ = await stack.influx.queryRows('SELECT moisture FROM soil WHERE device = $d', { d: DEVICE });
    expect(rows_).toHaveLength(3);
  });

  it('rejects readings outside the new kind’s ranges with the right message, losing nothing else', async () => {
    await device!.publishAsync(`lab/v1/soil/${DEVICE}`, JSON.stringify({ moisture: 140 }), { qos: 1 });
    await device!.publishAsync(`lab/v1/soil/${DEVICE}`, JSON.stringify({ moisture: 20, conductivity: 12.5 }), { qos: 1 });
    await device!.publishAsync(`lab/v1/soil/${DEVICE}`, JSON.stringify({ moisture: 20, ph: 6.5 }), { qos: 1 });
    await eventually(() => (notices.length >= 3 ? true : undefined), 10_000, 'three rejections on the device’s own topic');
    expect(notices.map((n) => n.reason)).toEqual(['FIELD_RANGE', 'FIELD_TYPE', 'FIELD_UNKNOWN']);
    expect(notices[0]!.message).toMatch(/^moisture: .*100/);
    expect(notices[2]!.message).toBe('ph: unknown field "ph" for soil; allowed: ts, seq, battery, rssi, moisture, soilTemperature, conductivity, light');

    await stack.flush();
    const stored = await eventually(async () => {
      const answer = await api('GET', `/api/v1/rejections?device=${DEVICE}&kind=soil`);
      return answer.json?.rejections?.length >= 3 ? (answer.json.rejections as Rejection[]) : undefined;
    }, 10_000, 'the stored rejections');
    expect(stored.map((r) => r.reason).sort()).toEqual(['FIELD_RANGE', 'FIELD_TYPE', 'FIELD_UNKNOWN']);
    expect(stored.every((r) => r.kind === 'soil')).toBe(true);
    const readings = await api('GET', `/api/v1/readings?kind=soil&device=${DEVICE}&from=-1h`);
    expect(readings.json.readings).toHaveLength(3);
  });

  it('versions changes: a field may be added; removing one or changing a unit is refused once readings exist; built-ins never change', async () => {
    const withPh = { ...SOIL, fields: [...SOIL.fields, { name: 'ph', unit: 'pH', type: 'number', min: 0, max: 14, description: 'soil acidity' }] };
    const added = await api('PUT', '/api/v1/kinds/soil', withPh);
    expect(added.status).toBe(200);
    expect(added.json.version).toBe(2);

    const removed = await api('PUT', '/api/v1/kinds/soil', { ...withPh, fields: withPh.fields.filter((f) => f.name !== 'light') });
    expect(removed.status).toBe(409);
    expect(removed.json.message).toContain('field "light" cannot be removed');
    const unit = await api('PUT', '/api/v1/kinds/soil', { ...withPh, fields: withPh.fields.map((f) => (f.name === 'moisture' ? { ...f, unit: '%' } : f)) });
    expect(unit.status).toBe(409);
    expect(unit.json.message).toContain('cannot change its unit from %VWC to %');
    expect((await api('GET', '/api/v1/kinds/soil')).json.version).toBe(2);

    const air = (await api('GET', '/api/v1/kinds/air')).json as KindResponse;
    const builtIn = await api('PUT', '/api/v1/kinds/air', { ...air, version: undefined, builtIn: undefined, name: 'Air' });
    expect(builtIn.status).toBe(409);
    expect(builtIn.json.message).toContain('built in');

    // The added field is accepted at once by the edge.
    await device!.publishAsync(`lab/v1/soil/${DEVICE}`, JSON.stringify({ ts: Date.now(), moisture: 25, ph: 6.5 }), { qos: 1 });
    await stack.flush();
    const ph = await eventually(async () => {
      const answer = await api('GET', `/api/v1/readings?kind=soil&device=${DEVICE}&metric=ph&from=-1h`);
      return answer.status === 200 && answer.json.readings.length > 0 ? answer.json.readings : undefined;
    }, 10_000, 'the reading with ph');
    expect(ph[0].values).toEqual({ ph: 6.5 });
  });

  it('shows on the dashboard with its kind and its headline value', async () => {
    const { token } = await stack.registry.createApiKey({ name: 'kinds dashboard', role: 'reader' });
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    try {
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.addInitScript(`localStorage.setItem('streetlab.apiKey', ${JSON.stringify(token)})`);
      await page.goto(`${stack.apiUrl}/#/devices`);
      const group = page.getByTestId('device-group-soil');
      await group.waitFor({ timeout: 20_000 });
      await expect(group.locator('h2').textContent()).resolves.toContain('Soil');
      await page.getByTestId(`device-row-${DEVICE}`).waitFor();
      // The headline (moisture) of the newest reading: 25 from the last test.
      const headline = page.getByTestId(`headline-${DEVICE}`);
      await eventually(async () => ((await headline.textContent())?.trim() === '25' ? true : undefined), 20_000, 'the headline value');
      // 25 %VWC is in the stop from 20 (#dfc27d).
      await expect(headline.getAttribute('style')).resolves.toContain('#dfc27d');
      await expect(page.getByTestId('filter-kind').locator('option[value="soil"]').textContent()).resolves.toBe('Soil');

      // A live reading moves the headline.
      await device!.publishAsync(`lab/v1/soil/${DEVICE}`, JSON.stringify({ ts: Date.now(), moisture: 61.5 }), { qos: 1 });
      await eventually(async () => ((await headline.textContent())?.trim() === '61.5' ? true : undefined), 20_000, 'the live headline value');
      await expect(headline.getAttribute('style')).resolves.toContain('#018571');
      expect(pageErrors).toEqual([]);
    } finally {
      await context.close();
    }
  });
});
