/**
 * The provisioned Grafana dashboards against real parts.
 *
 * InfluxDB: every InfluxQL query of docker/grafana/dashboards — panel targets and template
 * variables, read from the repository JSON — is expanded as Grafana would expand it
 * (test/helpers/grafana.ts) and run against a real InfluxDB holding known readings, written as
 * line protocol in the layout of common/influx-schema.ts (raw readings, rejections, hourly
 * rollups in retention policy `rollups`). The answers must equal the means, sums, counts and
 * latest values computed here from those readings. A query without an expectation fails.
 *
 * Prometheus: every PromQL expression of the operations dashboard must name metrics — and
 * match or group on labels — that the real broker, ingest and API processes expose on
 * /metrics once a reading and a rejection have gone through them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { createInfluxClient, type InfluxClient, type InfluxSeries } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { dashboardQueries, expandInfluxQL, intervalMs, loadDashboards, promReferences } from '../helpers/grafana.ts';
import { createPipeline, readMetric, waitUntil, type Pipeline } from '../helpers/processes.ts';

const MIN = 60_000;
const HOUR = 3_600_000;
const TO = Math.floor(Date.now() / 1000) * 1000;
const FROM = TO - 6 * HOUR;
const INTERVAL = '1h';
const IV = intervalMs(INTERVAL);

// ---------------------------------------------------------------- the readings

interface Point {
  measurement: string;
  rp?: string;
  tags: Record<string, string>;
  fields: Record<string, number | boolean | string>;
  /** Epoch ms; `ns` adds sub-millisecond digits (rejections, as common/influx-schema.ts writes them). */
  ts: number;
  ns?: number;
}

const SITE_A = 'Jagtvej';
const SITE_B = 'Dronning Louises Bro'; // a space: escaped in line protocol, plain in answers
const AIR = [
  { id: 'air-1', site: SITE_A },
  { id: 'air-2', site: SITE_A },
  { id: 'air-3', site: SITE_B },
];
const TRAFFIC = [
  { id: 'traffic-1', site: SITE_A },
  { id: 'traffic-2', site: SITE_B },
];
const BINS = [
  { id: 'bin-1', site: SITE_A },
  { id: 'bin-2', site: SITE_A },
  { id: 'bin-3', site: SITE_B },
];
/** Every 10 minutes from 5 minutes before TO back over the 6 hours: never on a boundary the queries draw. */
const TIMES = Array.from({ length: 36 }, (_, k) => TO - (5 + 10 * k) * MIN);

const points: Point[] = [];
AIR.forEach(({ id, site }, d) => {
  TIMES.forEach((ts, k) => {
    const pm25 = 4.5 + ((k * 7 + d * 3) % 19);
    points.push({
      measurement: 'air',
      tags: { device: id, site, owner: 'acme' },
      fields: { pm25, pm10: pm25 * 2, no2: 20 + ((k * 11 + d * 5) % 37), battery: 100 - k * 0.5 - d, rssi: -60 - (k % 9) - d, seq: k, received_ms: ts + 150 },
      ts,
    });
  });
});
// Outside the dashboards' range, inside the PM2.5 index's 24 hours; and outside both.
points.push({ measurement: 'air', tags: { device: 'air-1', site: SITE_A, owner: 'acme' }, fields: { pm25: 61, no2: 300, received_ms: TO - 7 * HOUR }, ts: TO - 7 * HOUR });
points.push({ measurement: 'air', tags: { device: 'air-3', site: SITE_B, owner: 'acme' }, fields: { pm25: 700, no2: 900, received_ms: TO - 25 * HOUR }, ts: TO - 25 * HOUR });
TRAFFIC.forEach(({ id, site }, d) => {
  TIMES.forEach((ts, k) => {
    points.push({
      measurement: 'traffic',
      tags: { device: id, site, owner: 'city' },
      fields: { period: 600, cars: 10 + ((k * 3 + d) % 17), buses: k % 3, trucks: (k + d) % 4, bicycles: 20 + ((k * 5 + d * 2) % 23), pedestrians: 15 + ((k * 2 + d) % 11), speed: 30 + d, battery: 90 - d, rssi: -70 - (k % 4), received_ms: ts + 80 },
      ts,
    });
  });
});
BINS.forEach(({ id, site }, d) => {
  TIMES.forEach((ts, k) => {
    points.push({ measurement: 'waste', tags: { device: id, site, owner: 'binco' }, fields: { fill: (k * 3 + d * 20) % 100, lidOpen: k % 5 === 0, battery: 80 - k * 0.25, rssi: -80 - d, received_ms: ts + 40 }, ts });
  });
});
const REJECTIONS: { device: string; kind: string; reason: string; at: number; sub: number }[] = [
  { device: 'air-1', kind: 'air', reason: 'FIELD_RANGE', at: TIMES[1]!, sub: 1 },
  { device: 'air-1', kind: 'air', reason: 'FIELD_RANGE', at: TIMES[1]!, sub: 2 }, // same millisecond, its own point
  { device: 'air-1', kind: 'air', reason: 'PAYLOAD_NOT_JSON', at: TIMES[20]!, sub: 3 },
  { device: 'traffic-1', kind: 'traffic', reason: 'FIELD_TYPE', at: TIMES[3]!, sub: 4 },
  { device: 'unknown', kind: 'unknown', reason: 'TOPIC_INVALID', at: TIMES[4]!, sub: 5 },
];
for (const r of REJECTIONS) {
  points.push({
    measurement: 'rejected',
    tags: { device: r.device, kind: r.kind, reason: r.reason },
    fields: { message: `${r.reason} #${r.sub}`, issues: '[]', topic: `lab/v1/${r.kind}/${r.device}`, excerpt: `{"n":${r.sub}}`, size: 12 },
    ts: r.at,
    ns: r.sub,
  });
}
// Hourly rollups of air-1 and air-2, and one of air-1 outside the range.
const ROLLUP_HOURS = [1, 2, 3, 4, 5].map((h) => Math.floor((TO - h * HOUR) / HOUR) * HOUR);
for (const [d, device] of ['air-1', 'air-2'].entries()) {
  ROLLUP_HOURS.forEach((hour, i) => {
    points.push({ measurement: 'air_1h', rp: 'rollups', tags: { device, site: SITE_A, owner: 'acme' }, fields: { pm25_mean: 10 + i + d * 100, pm25_min: 2 + i, pm25_max: 30 + i, readings: 6 }, ts: hour });
  });
}
points.push({ measurement: 'air_1h', rp: 'rollups', tags: { device: 'air-1', site: SITE_A, owner: 'acme' }, fields: { pm25_mean: 99, pm25_min: 1, pm25_max: 200, readings: 6 }, ts: Math.floor((TO - 30 * HOUR) / HOUR) * HOUR });

const escapeTag = (v: string) => v.replace(/[,= \\]/g, (c) => `\\${c}`);
function toLine(p: Point): string {
  const tags = Object.keys(p.tags).sort().map((k) => `,${k}=${escapeTag(p.tags[k]!)}`).join('');
  const fields = Object.entries(p.fields)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? `"${v.replace(/["\\]/g, (c) => `\\${c}`)}"` : k === 'size' ? `${v}i` : String(v)}`)
    .join(',');
  return `${p.measurement}${tags} ${fields} ${p.ts}${String(p.ns ?? 0).padStart(6, '0')}`;
}

// ---------------------------------------------------------------- what the answers must be

interface Answer {
  series: { name: string; tags: Record<string, string>; columns: string[]; values: unknown[][] }[];
}

type Filter = (p: Point) => boolean;
const inRange: Filter = (p) => p.ts >= FROM && p.ts <= TO;
const raw = (measurement: string, ...filters: Filter[]) => points.filter((p) => p.measurement === measurement && !p.rp && filters.every((f) => f(p)));
const bucket = (ts: number) => Math.floor(ts / IV) * IV;
const tag = (key: string, value: string): Filter => (p) => p.tags[key] === value;
const num = (p: Point, field: string) => p.fields[field] as number | undefined;

type Agg = 'mean' | 'sum' | 'count' | 'max' | 'last';
function aggregate(rows: Point[], field: string, agg: Agg): number | undefined {
  const withField = [...rows].filter((p) => num(p, field) !== undefined).sort((a, b) => a.ts - b.ts);
  if (withField.length === 0) return undefined;
  const values = withField.map((p) => num(p, field)!);
  if (agg === 'count') return values.length;
  if (agg === 'sum') return values.reduce((a, b) => a + b, 0);
  if (agg === 'max') return Math.max(...values);
  if (agg === 'last') return values.at(-1);
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** One series per value of `groupTag` (or one series), one row per window of IV with data (fill(none)). */
function grouped(name: string, rows: Point[], columns: [field: string, agg: Agg, as: string][], options: { groupTag?: string; byTime: boolean }): Answer {
  const groups = new Map<string, Point[]>();
  for (const p of rows) {
    const key = options.groupTag ? p.tags[options.groupTag]! : '';
    groups.set(key, [...(groups.get(key) ?? []), p]);
  }
  const series: Answer['series'] = [];
  for (const [key, members] of groups) {
    const windows = new Map<number, Point[]>();
    for (const p of members) {
      const w = options.byTime ? bucket(p.ts) : 0;
      windows.set(w, [...(windows.get(w) ?? []), p]);
    }
    const values = [...windows]
      .sort(([a], [b]) => a - b)
      .map(([w, inWindow]) => [w, ...columns.map(([field, agg]) => aggregate(inWindow, field, agg) ?? null)])
      .filter((row) => row.slice(1).some((v) => v !== null));
    if (values.length > 0) series.push({ name, tags: options.groupTag ? { [options.groupTag]: key } : {}, columns: ['time', ...columns.map(([, , as]) => as)], values });
  }
  return { series };
}

const TRAFFIC_COLUMNS: [string, Agg, string][] = ['cars', 'buses', 'trucks', 'bicycles', 'pedestrians'].map((f) => [f, 'sum', f]);

/** Query results whose `time` is not a point's: aggregates over a whole range start at its lower bound. */
const IGNORE_TIME = new Set(['streetlab-lab-overview/Air index now: PM2.5 band by site (24 h mean)/A', 'streetlab-lab-overview/Air index now: NO2 band by site (last hour mean)/A', 'streetlab-lab-overview/Traffic counts by site over the range/A', 'streetlab-lab-overview/Bin fill now (latest reading per bin)/A']);

const OVERVIEW: Record<string, () => Answer> = {
  'streetlab-lab-overview/Air index now: PM2.5 band by site (24 h mean)/A': () =>
    grouped('air', raw('air', (p) => p.ts > TO - 24 * HOUR), [['pm25', 'mean', 'mean']], { groupTag: 'site', byTime: false }),
  'streetlab-lab-overview/Air index now: NO2 band by site (last hour mean)/A': () =>
    grouped('air', raw('air', (p) => p.ts > TO - HOUR), [['no2', 'mean', 'mean']], { groupTag: 'site', byTime: false }),
  'streetlab-lab-overview/PM2.5 by site/A': () => grouped('air', raw('air', inRange), [['pm25', 'mean', 'mean']], { groupTag: 'site', byTime: true }),
  'streetlab-lab-overview/NO2 by site/A': () => grouped('air', raw('air', inRange), [['no2', 'mean', 'mean']], { groupTag: 'site', byTime: true }),
  'streetlab-lab-overview/Traffic counts per interval, all sites/A': () => grouped('traffic', raw('traffic', inRange), TRAFFIC_COLUMNS, { byTime: true }),
  'streetlab-lab-overview/Traffic counts by site over the range/A': () => grouped('traffic', raw('traffic', inRange), TRAFFIC_COLUMNS, { groupTag: 'site', byTime: false }),
  'streetlab-lab-overview/Bin fill now (latest reading per bin)/A': () => grouped('waste', raw('waste', inRange), [['fill', 'last', 'last']], { groupTag: 'device', byTime: false }),
  'streetlab-lab-overview/Mean bin fill by site/A': () => grouped('waste', raw('waste', inRange), [['fill', 'mean', 'mean']], { groupTag: 'site', byTime: true }),
};

/** The device dashboard's queries, for one device. */
function deviceAnswers(device: string): Record<string, () => Answer> {
  const mine = tag('device', device);
  const readings = ['air', 'traffic', 'waste'].flatMap((m) => raw(m, inRange, mine));
  const kindOf = readings[0]!.measurement;
  const rejections = raw('rejected', inRange, mine);
  return {
    'streetlab-device/$device': () => ({
      series: [{ name: 'device', tags: {}, columns: ['value'], values: [...new Set(points.filter((p) => !p.rp && p.tags.device && p.tags.device !== 'unknown').map((p) => p.tags.device!))].sort().map((v) => [v]) }],
    }),
    'streetlab-device/Readings per interval/A': () => grouped(kindOf, readings, [['received_ms', 'count', 'count']], { byTime: true }),
    'streetlab-device/Battery/A': () => grouped(kindOf, readings, [['battery', 'mean', 'mean']], { byTime: true }),
    'streetlab-device/Signal (RSSI)/A': () => grouped(kindOf, readings, [['rssi', 'mean', 'mean']], { byTime: true }),
    'streetlab-device/Air quality/A': () => grouped('air', raw('air', inRange, mine), [['pm25', 'mean', 'PM2.5'], ['pm10', 'mean', 'PM10'], ['no2', 'mean', 'NO2']], { byTime: true }),
    'streetlab-device/Hourly PM2.5 from the rollups (mean, min, max)/A': () => {
      const rows = points.filter((p) => p.rp === 'rollups' && p.measurement === 'air_1h' && mine(p) && inRange(p)).sort((a, b) => a.ts - b.ts);
      return { series: rows.length ? [{ name: 'air_1h', tags: {}, columns: ['time', 'mean', 'min', 'max'], values: rows.map((p) => [p.ts, p.fields.pm25_mean, p.fields.pm25_min, p.fields.pm25_max]) }] : [] };
    },
    'streetlab-device/Traffic counts/A': () => grouped('traffic', raw('traffic', inRange, mine), TRAFFIC_COLUMNS, { byTime: true }),
    'streetlab-device/Bin fill/A': () => grouped('waste', raw('waste', inRange, mine), [['fill', 'max', 'fill']], { byTime: true }),
    'streetlab-device/Rejections by reason/A': () => grouped('rejected', rejections, [['size', 'count', 'count']], { groupTag: 'reason', byTime: true }),
    'streetlab-device/Latest rejections/A': () => {
      const rows = [...rejections].sort((a, b) => b.ts - a.ts || (b.ns ?? 0) - (a.ns ?? 0)).slice(0, 20);
      return { series: rows.length ? [{ name: 'rejected', tags: {}, columns: ['time', 'reason', 'message', 'excerpt'], values: rows.map((p) => [p.ts, p.tags.reason, p.fields.message, p.fields.excerpt]) }] : [] };
    },
  };
}

// ---------------------------------------------------------------- comparing

const round = (v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(12)) : v);

function normalise(series: readonly InfluxSeries[], options: { ignoreTime: boolean }): Answer['series'] {
  return series
    .map((s) => {
      const timeAt = s.columns.indexOf('time');
      const drop = options.ignoreTime && timeAt >= 0;
      return {
        name: s.name,
        tags: s.tags ?? {},
        columns: drop ? s.columns.filter((_, i) => i !== timeAt) : s.columns,
        values: s.values.map((row) => (drop ? row.filter((_, i) => i !== timeAt) : row).map(round)),
      };
    })
    .sort((a, b) => `${a.name}${JSON.stringify(a.tags)}`.localeCompare(`${b.name}${JSON.stringify(b.tags)}`));
}

/** SHOW TAG VALUES answers one series per measurement; Grafana offers the distinct values. */
function tagValues(series: readonly InfluxSeries[]): Answer['series'] {
  const values = new Set<string>();
  for (const s of series) for (const row of s.values) values.add(String(row[s.columns.indexOf('value')]));
  return [{ name: 'device', tags: {}, columns: ['value'], values: [...values].sort().map((v) => [v]) }];
}

// ---------------------------------------------------------------- InfluxDB

let server: InfluxServer;
let influx: InfluxClient;

beforeAll(async () => {
  server = await startInfluxServer({ database: 'streetlab' });
  influx = createInfluxClient({ url: server.url, database: 'streetlab' });
  await influx.query('CREATE RETENTION POLICY "rollups" ON "streetlab" DURATION 0s REPLICATION 1');
  await influx.write(points.filter((p) => !p.rp).map(toLine));
  await influx.write(points.filter((p) => p.rp === 'rollups').map(toLine), { retentionPolicy: 'rollups' });
});

afterAll(async () => {
  await server?.stop();
});

const dashboards = loadDashboards();

async function run(query: string, variables: Record<string, string> = {}): Promise<InfluxSeries[]> {
  const expanded = expandInfluxQL(query, { fromMs: FROM, toMs: TO, interval: INTERVAL, variables });
  const [result] = await influx.query(expanded);
  return result?.series ?? [];
}

describe('InfluxQL of the provisioned dashboards, on known readings', () => {
  it('the lab overview: air index, PM2.5 and NO2 per site, traffic counts, bin fill', async () => {
    const queries = dashboardQueries(dashboards.get('lab-overview.json')!, 'influxdb');
    expect(queries.map((q) => q.key).sort()).toEqual(Object.keys(OVERVIEW).sort());
    for (const q of queries) {
      const ignoreTime = IGNORE_TIME.has(q.key);
      const expected = normalise(OVERVIEW[q.key]!().series as InfluxSeries[], { ignoreTime });
      expect(expected.length, `${q.key}: the readings give it something to show`).toBeGreaterThan(0);
      expect(normalise(await run(q.text), { ignoreTime }), q.key).toEqual(expected);
    }
  });

  it('the air index panels see the 24 hours and the last hour, not the time picker', async () => {
    const [pm25] = dashboardQueries(dashboards.get('lab-overview.json')!, 'influxdb').filter((q) => q.key.includes('PM2.5 band'));
    const bySite = new Map((await run(pm25!.text)).map((s) => [s.tags!.site, s.values[0]![1] as number]));
    // The reading 7 hours back counts; the one 25 hours back does not.
    const jagtvej = raw('air', (p) => p.tags.site === SITE_A && p.ts > TO - 24 * HOUR);
    expect(jagtvej.some((p) => p.ts < FROM)).toBe(true);
    expect(bySite.get(SITE_A)).toBeCloseTo(aggregate(jagtvej, 'pm25', 'mean')!, 9);
    expect(bySite.get(SITE_B)).toBeLessThan(700);
  });

  for (const device of ['air-1', 'traffic-1', 'bin-2']) {
    it(`the device dashboard for ${device}: its variable, readings, health, rollups, rejections`, async () => {
      const answers = deviceAnswers(device);
      const queries = dashboardQueries(dashboards.get('device.json')!, 'influxdb');
      expect(queries.map((q) => q.key).sort()).toEqual(Object.keys(answers).sort());
      let nonEmpty = 0;
      for (const q of queries) {
        const series = await run(q.text, { device });
        const actual = q.key.endsWith('/$device') ? tagValues(series) : normalise(series, { ignoreTime: false });
        const expected = normalise(answers[q.key]!().series as InfluxSeries[], { ignoreTime: false });
        expect(actual, `${q.key} for ${device}`).toEqual(expected);
        if (expected.length > 0) nonEmpty += 1;
      }
      // Panels of the device's own kind and its health show data; other kinds' panels stay empty.
      expect(nonEmpty).toBeGreaterThanOrEqual(5);
    });
  }

  it('every device panel query shows data for some device', async () => {
    const queries = dashboardQueries(dashboards.get('device.json')!, 'influxdb');
    for (const q of queries) {
      const counts = await Promise.all(['air-1', 'traffic-1', 'bin-2'].map(async (device) => (await run(q.text, { device })).length));
      expect(Math.max(...counts), q.key).toBeGreaterThan(0);
    }
  });
});

// ---------------------------------------------------------------- Prometheus

describe('PromQL of the operations dashboard, against the running services', () => {
  let pipeline: Pipeline | undefined;

  afterAll(async () => {
    await pipeline?.close();
  });

  it('names only metrics and labels that broker, ingest and API expose on /metrics', async () => {
    // Its own database: these services' readings stay out of the known readings above. A
    // string pm25 there makes InfluxDB refuse the float one of the reading below for good
    // (field-type conflict), so ingest dead-letters it and its labelled series exist too.
    const ops = createInfluxClient({ url: server.url, database: 'streetlab_ops' });
    await ops.ensureDatabase();
    await ops.write([`air,device=ops-conflict pm25="high" ${Date.now()}000000`]);
    pipeline = await createPipeline(server.url, { database: 'streetlab_ops' });
    const broker = await pipeline.startBroker();
    const ingest = await pipeline.startIngest();
    const api = await pipeline.startApi({ PUBLIC_READ: 'true', ROLLUPS_ENABLED: 'false' });

    // A reading and a rejection through the edge, so the labelled series exist.
    const client = await mqtt.connectAsync(pipeline.mqttUrl, { clientId: 'ops-air-1', clean: true });
    await client.publishAsync('lab/v1/air/ops-air-1', JSON.stringify({ pm25: 12.5, no2: 30 }), { qos: 1 });
    await client.publishAsync('lab/v1/air/ops-air-1', 'not json', { qos: 1 });
    await client.endAsync();
    await waitUntil(async () => ((await readMetric(ingest.opsUrl!, 'streetlab_ingest_dead_letters_total', { reason: 'FIELD_TYPE_CONFLICT' })) ?? 0) >= 1, 20_000, 'ingest dead-letters the conflicting reading');
    await waitUntil(async () => ((await readMetric(ingest.opsUrl!, 'streetlab_ingest_lines_stored_total', { type: 'rejection' })) ?? 0) >= 1, 20_000, 'ingest stores the rejection');
    expect((await fetch(`${api.opsUrl}/healthz`)).status).toBe(200);

    // metric name → label names seen on its samples, over the three services.
    const exposed = new Map<string, Set<string>>();
    for (const [job, url] of [['broker', broker.opsUrl], ['ingest', ingest.opsUrl], ['api', api.opsUrl]] as const) {
      const response = await fetch(`${url}/metrics`);
      expect(response.status, job).toBe(200);
      expect(response.headers.get('content-type'), job).toContain('text/plain; version=0.0.4');
      for (const line of (await response.text()).split('\n')) {
        const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
        if (!match) continue;
        const labels = exposed.get(match[1]!) ?? new Set<string>();
        for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="/g)) labels.add(pair[1]!);
        exposed.set(match[1]!, labels);
      }
    }
    expect(exposed.get('streetlab_edge_readings_rejected_total')).toContain('reason');

    const queries = dashboardQueries(dashboards.get('operations.json')!, 'prometheus');
    const named = new Set<string>();
    for (const q of queries) {
      const { metrics, labels } = promReferences(q.text);
      expect(metrics.length, q.key).toBeGreaterThan(0);
      for (const metric of metrics) {
        named.add(metric);
        // `up` is Prometheus's own, one per scrape target.
        if (metric === 'up') continue;
        expect(exposed.has(metric), `${q.key}: ${metric} is not on any service's /metrics`).toBe(true);
      }
      for (const label of labels) {
        // job and instance are the scrape target's (docker/prometheus/prometheus.yml).
        if (label === 'job' || label === 'instance') continue;
        const carriers = metrics.filter((m) => exposed.get(m)?.has(label));
        expect(carriers.length, `${q.key}: no metric of "${q.text}" carries label ${label}`).toBeGreaterThan(0);
      }
    }
    // What the operations dashboard is for: ingest rate, rejections by reason, log depth, InfluxDB write latency.
    for (const metric of ['streetlab_ingest_lines_stored_total', 'streetlab_edge_readings_rejected_total', 'streetlab_ingest_log_backlog_bytes', 'streetlab_ingest_write_seconds_bucket']) {
      expect(named, metric).toContain(metric);
    }
  });
});
