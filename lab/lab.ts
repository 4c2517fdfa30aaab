/**
 * The whole lab in one process: a private InfluxDB (unless an external one is given), the
 * broker, the ingest worker, the API with the dashboard, and optionally simulated devices.
 * `npm run lab` runs it with defaults; tests build it on free ports.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CreateDeviceRequest, DeviceWithSecret } from '../contracts/index.ts';
import { createInfluxClient, type InfluxClient } from '../common/influx.ts';
import {
  generateSecret,
  generateServiceToken,
  openFileRegistry,
  serviceCredentials,
  type FileRegistry,
} from '../common/registry/index.ts';
import { createBrokerPolicy } from '../broker/auth.ts';
import { startInfluxServer, type InfluxServer } from '../common/influx-server.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import type { ResearchOptions } from '../api/jobs/research.ts';
import type { AlertingOptions } from '../api/alerts/index.ts';
import type { MapSettings } from '../api/map-config.ts';
import type { CreateLabRequest, Licence } from '../contracts/index.ts';
import { LAB_ALERT_RULES } from '../api/alerts/defaults.ts';
import { createBroker, type Broker } from '../broker/broker.ts';
import { createIngest, type Ingest } from '../ingest/ingest.ts';
import { createEdge } from '../broker/edge.ts';
import { startEdgeIngestion, type EdgeIngestion } from '../broker/adapters/ingestion.ts';
import { openKindCatalogue, type KindCatalogue } from '../common/kinds/index.ts';
import { createApiServer, type ApiServer } from '../api/server.ts';
import type { Fleet } from '../simulators/fleet.ts';
import { createRegistryDeviceCheck, openFileTrialStore, type TrialStore } from '../api/trials/store.ts';

export interface LabOptions {
  /** Where the lab keeps its state (InfluxDB data, logs); omitted = a temporary InfluxDB. */
  dataDir?: string;
  /** Use this InfluxDB instead of starting one. */
  influx?: { url: string; database: string; token?: string; username?: string; password?: string; org?: string };
  /** Port of the lab's own InfluxDB; 0 or omitted = a free port. */
  influxPort?: number;
  /**
   * Start the lab's InfluxDB in its own process group (npm run lab): Ctrl-C in a terminal then
   * reaches only the lab, which stops InfluxDB after ingest has written its last readings.
   * Off for tests, where a worker killed by a signal must take its influxd with it.
   */
  influxOwnProcessGroup?: boolean;
  host?: string;
  mqttPort?: number;
  /** undefined = no WebSocket listener. */
  mqttWsPort?: number | undefined;
  httpPort?: number;
  dashboardDir?: string | undefined;
  /** Simulated devices per kind; false = none. */
  simulate?: false | { air: number; traffic: number; waste: number; intervalMs: number; seed?: number };
  /**
   * `secured` (default): devices need their registry secret, services their own credentials.
   * `open`: a plain anonymous MQTT broker (MQTT_ALLOW_ANONYMOUS=true), for protocol tests and demos.
   */
  security?: 'secured' | 'open';
  /** ADMIN_TOKEN for the admin API; omitted = a fresh random one (see `lab.adminToken`). */
  adminToken?: string | undefined;
  /** Secret the services' MQTT credentials derive from; omitted = a fresh random one. */
  serviceToken?: string | undefined;
  /** Open data (PUBLIC_READ); default true in the lab. */
  publicRead?: boolean;
  /** Per-device MQTT message rate; default max(10/s, twice the simulators' rate), bursts of 50. */
  deviceRateLimit?: { ratePerSecond: number; burst: number } | false;
  /** Largest MQTT payload (MAX_PAYLOAD_BYTES); default 16 KiB. */
  maxPayloadBytes?: number;
  /** API requests per client per window; default 1,200 per minute. */
  apiRateLimit?: { max: number; timeWindowMs: number } | false;
  /** MQTT over TLS with this certificate and key (PEM). */
  mqttTls?: { port: number; cert: string | Buffer; key: string | Buffer } | undefined;
  /** Research API: rollup job, retention and query limits; default rollups on (api/jobs/research.ts). */
  research?: ResearchOptions | undefined;
  /**
   * Alerts (api/alerts/); false = off. Rules and history live beside the registry; the example
   * rules (LAB_ALERT_RULES) are seeded when the rule store was never written, unless seedRules says otherwise.
   */
  alerts?: AlertingOptions | false | undefined;
  /** The edge's receive clock (tests script receipt times with it); default Date.now. */
  ingestNow?: (() => number) | undefined;
  /** The dashboard's street map: tile server and attribution; default OpenStreetMap's. */
  map?: MapSettings | undefined;
  /** The open data's licence and attribution (DATA_LICENCE, DATA_ATTRIBUTION); default CC-BY-4.0. */
  licence?: Licence | undefined;
  /** The lab to start (LAB_ID, LAB_NAME, LAB_AREA); default DEFAULT_LAB (`main`). */
  defaultLab?: CreateLabRequest | undefined;
  logger?: Logger;
}

export interface Lab {
  influx: InfluxClient;
  influxServer: InfluxServer | undefined;
  broker: Broker;
  ingest: Ingest;
  api: ApiServer;
  fleet: Fleet | undefined;
  urls: { dashboard: string; api: string; mqtt: string; mqttWs: string | undefined; mqttTls: string | undefined; influx: string };
  /** The device registry (DATA_DIR/registry.json, or a temporary one). */
  registry: FileRegistry;
  /** Trials (DATA_DIR/trials.json, beside the registry). */
  trials: TrialStore;
  /** Device kinds (DATA_DIR/kinds.json and DATA_DIR/kinds/*.json, beside the registry). */
  kinds: KindCatalogue;
  /** HTTP devices, network-server webhooks and MQTT bridges (the edge's loopback listener; the API port forwards to it). */
  ingestion: EdgeIngestion;
  security: 'secured' | 'open';
  /** Read routes and the live feed open without a key (PUBLIC_READ). */
  publicRead: boolean;
  /** Bearer token for the admin API (generated unless given): print it once, keep it out of logs. */
  adminToken: string;
  /** Registers a device and returns its secret (what POST /api/v1/devices does). */
  registerDevice(request: CreateDeviceRequest): Promise<DeviceWithSecret>;
  /** The onboarding flow as shell commands, ready to print: register, publish, read back. */
  onboarding: string[];
  close(): Promise<void>;
}

export async function createLab(options: LabOptions = {}): Promise<Lab> {
  const log = options.logger ?? createSilentLogger();
  const host = options.host ?? '127.0.0.1';
  const closers: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) {
      try {
        await close();
      } catch (error) {
        log.warn({ err: error }, 'error while stopping the lab');
      }
    }
  };

  try {
    let influxServer: InfluxServer | undefined;
    let influxSettings = options.influx;
    if (!influxSettings) {
      influxServer = await startInfluxServer({
        ...(options.dataDir ? { dataDir: join(options.dataDir, 'influxdb'), logFile: join(options.dataDir, 'influxd.log') } : {}),
        ...(options.influxPort ? { port: options.influxPort } : {}),
        database: 'streetlab',
        ...(options.influxOwnProcessGroup ? { ownProcessGroup: true } : {}),
      });
      closers.push(() => influxServer!.stop());
      influxSettings = { url: influxServer.url, database: 'streetlab' };
      log.info({ url: influxServer.url, dataDir: influxServer.dataDir }, 'InfluxDB started');
    }
    const influx = createInfluxClient(influxSettings);
    await influx.ensureDatabase();

    // Security: the registry every service shares, the admin token, and the services' own credentials.
    const security = options.security ?? 'secured';
    let registryDir = options.dataDir;
    if (registryDir === undefined) {
      const temporary = await mkdtemp(join(tmpdir(), 'streetlab-registry-'));
      closers.push(() => rm(temporary, { recursive: true, force: true }));
      registryDir = temporary;
    }
    const registry = await openFileRegistry({ dataDir: registryDir, logger: log.child({ service: 'registry' }) });
    closers.push(() => registry.close());
    const trials = await openFileTrialStore({ dataDir: registryDir, checkDevices: createRegistryDeviceCheck(registry) });
    closers.push(() => trials.close());
    // Device kinds beside the registry: DATA_DIR/kinds.json (the API writes it) and DATA_DIR/kinds/*.json.
    const kinds = await openKindCatalogue({ dataDir: registryDir, logger: log.child({ service: 'kinds' }) });
    closers.push(() => kinds.close());
    const adminToken = options.adminToken ?? generateSecret(32);
    const publicRead = options.publicRead ?? true;
    const serviceToken = options.serviceToken ?? generateServiceToken();
    const apiCredentials = serviceCredentials(serviceToken, 'api');
    const maxPayloadBytes = options.maxPayloadBytes ?? 16 * 1024;
    const simRate = options.simulate ? Math.ceil(2_000 / options.simulate.intervalMs) : 0;

    // The reading log: DATA_DIR/log, so what was acknowledged survives a crash of the lab
    // process as it does with separate services; without a data dir (tests), a temporary one.
    let logDir = options.dataDir === undefined ? undefined : join(options.dataDir, 'log');
    if (logDir === undefined) {
      const temporary = await mkdtemp(join(tmpdir(), 'streetlab-log-'));
      closers.push(() => rm(temporary, { recursive: true, force: true }));
      logDir = temporary;
    }
    // Ingest drains the log in this process; it closes after the broker, so it stores what
    // the broker's last groups committed.
    const ingest = createIngest({ logDir, influx, logger: log.child({ service: 'ingest' }) });
    closers.push(() => ingest.close());
    await ingest.ready;

    const edge = await createEdge({
      logDir,
      limits: { maxPayloadBytes },
      lookupTags: (deviceId) => registry.tagsOf(deviceId),
      ...(options.ingestNow ? { now: options.ingestNow } : {}),
      // Same process: tell the drainer at once instead of letting it poll.
      onCommit: () => ingest.wake(),
      logger: log.child({ service: 'edge' }),
    });
    const policy = createBrokerPolicy({
      registry,
      serviceToken,
      edge,
      allowAnonymous: security === 'open',
      rateLimit: options.deviceRateLimit ?? { ratePerSecond: Math.max(10, simRate), burst: 50 },
      maxPayloadBytes,
      logger: log.child({ service: 'broker' }),
    });

    const broker = await createBroker({
      host,
      port: options.mqttPort ?? 0,
      wsPort: options.mqttWsPort,
      policy,
      edge,
      maxPayloadBytes,
      tls: options.mqttTls,
      logger: log.child({ service: 'broker' }),
    });
    closers.push(() => broker.close());
    // HTTP devices, webhooks and bridges into the same edge; the API forwards its port's
    // /api/v1/devices/{id}/readings and /api/v1/uplinks/* here, so the lab needs no extra port.
    const ingestion = await startEdgeIngestion({
      edge,
      registry,
      dataDir: registryDir,
      // HTTP devices get the rate the lab's MQTT devices have.
      http: { host: '127.0.0.1', port: 0, bodyLimitBytes: 256 * 1024, deviceRate: options.deviceRateLimit ?? { ratePerSecond: Math.max(10, simRate), burst: 50 } },
      logger: log.child({ service: 'edge-http' }),
    });
    closers.push(() => ingestion.close());

    const api = await createApiServer({
      host,
      port: options.httpPort ?? 0,
      influx,
      mqttUrl: broker.url,
      mqttUsername: apiCredentials.username,
      mqttPassword: apiCredentials.password,
      dashboardDir: options.dashboardDir,
      registry,
      integrations: ingestion.integrations,
      edgeHttpUrl: ingestion.http?.url,
      kinds,
      trials: { store: trials },
      adminToken,
      publicRead,
      ...(options.apiRateLimit === undefined ? {} : { rateLimit: options.apiRateLimit }),
      ...(options.research === undefined ? {} : { research: options.research }),
      alerts: options.alerts === false ? false : { seedRules: LAB_ALERT_RULES, ...options.alerts, dataDir: registryDir },
      ...(options.map ? { map: options.map } : {}),
      ...(options.licence ? { licence: options.licence } : {}),
      ...(options.defaultLab ? { defaultLab: options.defaultLab } : {}),
      logger: log.child({ service: 'api' }),
    });
    closers.push(() => api.close());

    let fleet: Fleet | undefined;
    const simulatorSecrets = new Map<string, string>();
    if (options.simulate) {
      // Loaded only when simulating: a lab fed by real devices does not need it.
      const { createFleet } = await import('../simulators/fleet.ts');
      fleet = createFleet({
        mqttUrl: broker.url,
        devices: { air: options.simulate.air, traffic: options.simulate.traffic, waste: options.simulate.waste },
        intervalMs: options.simulate.intervalMs,
        qos: 1,
        seed: options.simulate.seed ?? 1,
        // Each simulated device connects with its own registry secret, like a real one.
        credentials: (deviceId) => {
          const password = simulatorSecrets.get(deviceId);
          return password === undefined ? undefined : { username: deviceId, password };
        },
        logger: log.child({ service: 'simulators' }),
      });
      closers.push(() => fleet!.stop());
      // Registered before they connect; a device kept from an earlier run gets a fresh secret
      // (the lab holds its simulators' secrets only in memory).
      const intervalSeconds = Math.max(1, Math.ceil(options.simulate.intervalMs / 1000));
      for (const device of fleet.devices) {
        const existing = registry.peek(device.id);
        const issued =
          existing && existing.kind === device.kind
            ? await registry.rotateSecret(device.id)
            : await (async () => {
                if (existing) await registry.remove(device.id);
                return registry.create({
                  id: device.id,
                  kind: device.kind,
                  name: `${device.id} · ${device.site} (simulated)`,
                  owner: 'StreetLab simulator',
                  lat: device.lat,
                  lon: device.lon,
                  site: device.site,
                  intervalSeconds,
                  enabled: true,
                  meta: { simulated: true },
                });
              })();
        if (!issued.device.enabled) await registry.update(device.id, { enabled: true });
        simulatorSecrets.set(device.id, issued.secret);
      }
      await fleet.start();
    }

    return {
      influx,
      influxServer,
      broker,
      ingest,
      api,
      fleet,
      urls: { dashboard: `${api.url}/`, api: api.url, mqtt: broker.url, mqttWs: broker.wsUrl, mqttTls: broker.tlsUrl, influx: influxSettings.url },
      registry,
      trials,
      kinds,
      ingestion,
      security,
      publicRead,
      adminToken,
      registerDevice: (request) => registry.create(request),
      onboarding: describeOnboarding(api.url, broker.url, adminToken, security, publicRead, ingestion.http !== undefined),
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/**
 * The onboarding flow as commands a person can paste: register a device with the admin
 * token, publish with the secret from the answer, read the reading back.
 */
export function describeOnboarding(apiUrl: string, mqttUrl: string, adminToken: string, security: 'secured' | 'open', publicRead = true, httpIngestion = false): string[] {
  const mqtt = new URL(mqttUrl);
  const body = JSON.stringify({ id: 'my-sensor-1', kind: 'air', owner: 'my-company', lat: 55.6761, lon: 12.5683, site: 'Test bench' });
  const auth = security === 'open' ? '' : ` -u my-sensor-1 -P "$SECRET"`;
  // Closed data (PUBLIC_READ=false): reading needs a key too; the admin token is one.
  const read = publicRead ? '' : ` -H 'authorization: Bearer ${adminToken}'`;
  return [
    '1. Register a device (admin); the answer holds its secret, shown only once:',
    `   SECRET=$(curl -s -X POST ${apiUrl}/api/v1/devices -H 'authorization: Bearer ${adminToken}' -H 'content-type: application/json' -d '${body}' | sed -E 's/.*"secret":"([^"]+)".*/\\1/')`,
    '2. Publish a reading as the device (username and client id = device id, password = secret):',
    `   mosquitto_pub -h ${mqtt.hostname} -p ${mqtt.port} -i my-sensor-1${auth} -q 1 -t lab/v1/air/my-sensor-1 -m '{"pm25": 12.5, "no2": 31}'`,
    // HTTP devices authenticate with their secret whatever the MQTT security (the edge's HTTP listener).
    ...(httpIngestion
      ? [`   or over HTTP: curl -X POST ${apiUrl}/api/v1/devices/my-sensor-1/readings -H "authorization: Bearer $SECRET" -H 'content-type: application/json' -d '{"pm25": 12.5, "no2": 31}'`]
      : []),
    '3. See it:',
    `   curl${read} '${apiUrl}/api/v1/readings?device=my-sensor-1'`,
    // Rejections are not open data (their excerpts are the company's payloads): a key even with PUBLIC_READ.
    `   (rejections, if any: curl -H 'authorization: Bearer ${adminToken}' '${apiUrl}/api/v1/rejections?device=my-sensor-1'; rotate the secret: POST ${apiUrl}/api/v1/devices/my-sensor-1/secret)`,
  ];
}
