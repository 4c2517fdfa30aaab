/**
 * The monitoring files docker-compose.yml mounts: Grafana's provisioning (data sources,
 * dashboard provider), the dashboards' JSON and Prometheus's scrape configuration, read from
 * the repository and checked against each other and against the compose file.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { EAQI_CURRENT_TABLE } from '../../../contracts/aqi.ts';
import { DASHBOARDS_DIR, PROVISIONING_DIR, allPanels, dashboardQueries, loadDashboards } from '../../helpers/grafana.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
// Compose files use YAML merge keys (`<<: *env`).
const readYaml = (path: string): any => parse(readFileSync(path, 'utf8'), { merge: true });

const compose = readYaml(join(ROOT, 'docker-compose.yml'));
const dashboards = loadDashboards();

interface Datasource {
  name: string;
  uid: string;
  type: string;
  url: string;
  jsonData?: Record<string, unknown>;
  secureJsonData?: Record<string, string>;
}

function datasources(): Datasource[] {
  const dir = join(PROVISIONING_DIR, 'datasources');
  return readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .flatMap((f) => {
      const doc = readYaml(join(dir, f));
      expect(doc.apiVersion, f).toBe(1);
      return doc.datasources as Datasource[];
    });
}

/** host path (relative to the repository) → container path, of a compose service's bind mounts. */
function bindMounts(service: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const volume of compose.services[service].volumes as string[]) {
    const [source, target] = volume.split(':');
    if (source!.startsWith('./')) out.set(source!.slice(2), target!);
  }
  return out;
}

describe('Grafana provisioning', () => {
  it('provisions an InfluxQL data source on the compose InfluxDB and a Prometheus one', () => {
    const all = datasources();
    expect(new Set(all.map((d) => d.uid)).size).toBe(all.length);
    const influx = all.find((d) => d.type === 'influxdb')!;
    expect(influx).toMatchObject({ uid: 'streetlab-influxdb', url: 'http://influxdb:8086', access: 'proxy' });
    expect(influx.jsonData).toMatchObject({ version: 'InfluxQL', dbName: compose.services.api.environment.INFLUX_DB, httpHeaderName1: 'Authorization' });
    // InfluxDB 2.x takes InfluxQL with a token; Grafana expands it from its environment, which compose sets.
    expect(influx.secureJsonData?.httpHeaderValue1).toBe('Token $INFLUX_TOKEN');
    expect(compose.services.grafana.environment.INFLUX_TOKEN).toMatch(/INFLUX_TOKEN/);
    const prometheus = all.find((d) => d.type === 'prometheus')!;
    expect(prometheus).toMatchObject({ uid: 'streetlab-prometheus', url: 'http://prometheus:9090' });
    expect(compose.services.prometheus.ports).toContain('127.0.0.1:9090:9090');
  });

  it('loads the repository dashboards from where compose mounts them', () => {
    const doc = readYaml(join(PROVISIONING_DIR, 'dashboards', 'streetlab.yml'));
    expect(doc.apiVersion).toBe(1);
    const [provider] = doc.providers;
    expect(provider.type).toBe('file');
    const mounts = bindMounts('grafana');
    expect(mounts.get('docker/grafana/dashboards')).toBe(provider.options.path);
    expect(mounts.get('docker/grafana/provisioning')).toBe('/etc/grafana/provisioning');
    expect(DASHBOARDS_DIR.endsWith(join('docker', 'grafana', 'dashboards'))).toBe(true);
    const home = compose.services.grafana.environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH as string;
    expect(home.startsWith(`${provider.options.path}/`)).toBe(true);
    expect(dashboards.has(home.slice(provider.options.path.length + 1))).toBe(true);
  });

  it('runs Grafana pinned, on loopback port 3001, open to anonymous viewers', () => {
    const grafana = compose.services.grafana;
    expect(grafana.image).toMatch(/^grafana\/grafana-oss:\d+\.\d+\.\d+$/);
    expect(compose.services.prometheus.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(grafana.ports).toEqual(['127.0.0.1:3001:3000']);
    expect(grafana.environment.GF_AUTH_ANONYMOUS_ENABLED).toBe('true');
    expect(grafana.environment.GF_AUTH_ANONYMOUS_ORG_ROLE).toBe('Viewer');
  });
});

describe('the dashboards', () => {
  it('are the three expected, with unique uids, panel ids and provisioned data sources', () => {
    expect([...dashboards.keys()]).toEqual(['device.json', 'lab-overview.json', 'operations.json']);
    const uids = [...dashboards.values()].map((d) => d.uid);
    expect(new Set(uids).size).toBe(3);
    const sources = new Map(datasources().map((d) => [d.uid, d.type]));
    for (const [file, dashboard] of dashboards) {
      expect(dashboard.title, file).toMatch(/^StreetLab: /);
      const panels = allPanels(dashboard);
      expect(panels.length, file).toBeGreaterThan(3);
      expect(new Set(panels.map((p) => p.id)).size, `${file}: panel ids`).toBe(panels.length);
      for (const panel of panels) {
        expect(panel.targets?.length, `${file}/${panel.title}: targets`).toBeGreaterThan(0);
        for (const target of panel.targets ?? []) {
          const ds = target.datasource ?? panel.datasource;
          expect(ds, `${file}/${panel.title}/${target.refId}`).toBeDefined();
          expect(sources.get(ds!.uid), `${file}/${panel.title}/${target.refId}: data source ${ds!.uid}`).toBe(ds!.type);
          if (ds!.type === 'influxdb') expect(target.rawQuery, `${file}/${panel.title}: raw InfluxQL`).toBe(true);
        }
        expect(new Set(panel.targets!.map((t) => t.refId)).size, `${file}/${panel.title}: refIds`).toBe(panel.targets!.length);
      }
    }
  });

  it('lab overview reads InfluxDB, operations reads Prometheus', () => {
    const overview = dashboards.get('lab-overview.json')!;
    const operations = dashboards.get('operations.json')!;
    expect(dashboardQueries(overview, 'influxdb').length).toBeGreaterThan(5);
    expect(dashboardQueries(overview, 'prometheus')).toEqual([]);
    expect(dashboardQueries(operations, 'prometheus').length).toBeGreaterThan(10);
    expect(dashboardQueries(operations, 'influxdb')).toEqual([]);
  });

  it('the device dashboard is templated by a device variable from SHOW TAG VALUES, which every query uses', () => {
    const device = dashboards.get('device.json')!;
    const variable = device.templating!.list.find((v) => v.name === 'device')!;
    expect(variable.type).toBe('query');
    expect(variable.datasource?.uid).toBe('streetlab-influxdb');
    expect(variable.query).toMatch(/^SHOW TAG VALUES WITH KEY = "device"/);
    const panelQueries = dashboardQueries(device, 'influxdb').filter((q) => !q.key.endsWith('/$device'));
    expect(panelQueries.length).toBeGreaterThan(5);
    for (const q of panelQueries) expect(q.text, q.key).toContain(`"device" = '$device'`);
  });

  it('colours the air index panels with the EAQI bands of contracts/aqi.ts', () => {
    const overview = dashboards.get('lab-overview.json')!;
    const bandPanels = allPanels(overview).filter((p) => p.title.startsWith('Air index now'));
    expect(bandPanels).toHaveLength(2);
    for (const panel of bandPanels) {
      const pollutant = /mean\("(\w+)"\)/.exec(panel.targets![0]!.query!)![1] as 'pm25' | 'no2';
      const limits = EAQI_CURRENT_TABLE.upperLimits[pollutant];
      const defaults = panel.fieldConfig!.defaults as { thresholds: { steps: { value: number | null }[] }; mappings: { options: { from: number; to: number; result: { text: string } } }[] };
      expect(defaults.thresholds.steps.map((s) => s.value), panel.title).toEqual([null, ...limits.slice(0, 5)]);
      expect(defaults.mappings.map((m) => m.options.to).slice(0, 6), panel.title).toEqual([...limits.slice(0, 5), 1e9]);
      expect(defaults.mappings.map((m) => m.options.result.text), panel.title).toEqual(['1 Good', '2 Fair', '3 Moderate', '4 Poor', '5 Very poor', '6 Extremely poor']);
    }
  });
});

describe('Prometheus', () => {
  it('scrapes broker, ingest and API on the ports their services serve /metrics on', () => {
    const config = readYaml(join(ROOT, 'docker', 'prometheus', 'prometheus.yml'));
    expect(bindMounts('prometheus').get('docker/prometheus/prometheus.yml')).toBe('/etc/prometheus/prometheus.yml');
    const jobs = config.scrape_configs as { job_name: string; metrics_path?: string; static_configs: { targets: string[] }[] }[];
    expect(new Set(jobs.map((j) => j.job_name)).size).toBe(jobs.length);
    const targets = new Map(jobs.map((j) => [j.job_name, j.static_configs.flatMap((s) => s.targets)]));
    expect(targets.get('broker')).toContain('broker:9102');
    expect(targets.get('ingest')).toContain('ingest:9101');
    expect(targets.get('api')).toEqual([`api:${compose.services.api.environment.HTTP_PORT}`]);
    for (const hostPort of [...targets.values()].flat()) {
      const host = hostPort.split(':')[0]!;
      expect(compose.services[host], `scrape target ${hostPort} is a compose service`).toBeDefined();
    }
    // The ops servers listen beyond loopback only where compose says so.
    expect(compose.services.broker.environment.BROKER_HTTP_HOST).toBe('0.0.0.0');
    expect(compose.services.ingest.environment.INGEST_HTTP_HOST).toBe('0.0.0.0');
  });
});
