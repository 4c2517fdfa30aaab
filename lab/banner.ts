import type { Lab } from './lab.ts';

/**
 * What `npm run lab` prints once everything is up: where to look, the admin token, and the
 * onboarding flow (register a device, publish as it, read it back) as commands to paste.
 */
export function describeLab(lab: Lab, paths: { dataDir: string; logFile: string }): string {
  const devices = lab.fleet ? lab.fleet.devices.length : 0;
  return [
    '',
    'StreetLab is running.',
    '',
    `  Dashboard   ${lab.urls.dashboard}`,
    `  REST API    ${lab.urls.api}/api/v1/latest   (docs: ${lab.urls.api}/docs)`,
    `  MQTT        ${lab.urls.mqtt}${lab.urls.mqttWs ? `   (WebSocket ${lab.urls.mqttWs})` : ''}`,
    ...describeHttpIngestion(lab),
    `  InfluxDB    ${lab.urls.influx}   (database streetlab)`,
    `  Devices     ${devices} simulated${lab.security === 'secured' ? ', each with its own credentials' : ''}`,
    `  Admin token ${lab.adminToken}`,
    `  Read access ${lab.publicRead ? `open data for everyone, without owners (PUBLIC_READ=true; licence: ${lab.urls.api}/api/v1/licence); rejections and alerts need a key` : 'API key or admin token needed (PUBLIC_READ=false)'}`,
    `  Data        ${paths.dataDir}   (log: ${paths.logFile})`,
    '',
    'Add your own device and publish a reading by hand:',
    ...lab.onboarding.map((line) => `  ${line}`),
    '',
    'Ctrl-C stops everything; the data stays for the next start.',
    '',
  ].join('\n');
}

/**
 * Where HTTP devices and network servers send, on the API's port (it passes them to the edge's
 * listener): every URL whole, so it can be pasted into a device or a network server's console.
 */
export function describeHttpIngestion(lab: Pick<Lab, 'urls' | 'ingestion'>): string[] {
  if (!lab.ingestion.http) return ['  HTTP in     not running (the edge\'s HTTP listener did not start; see the log)'];
  const base = `${lab.urls.api}/api/v1`;
  return [
    `  HTTP in     POST ${base}/devices/{id}/readings   (HTTP devices: Authorization: Bearer <secret>)`,
    `  Uplinks     POST ${base}/uplinks/ttn/{integration}   (The Things Stack webhook; header X-StreetLab-Secret)`,
    `              POST ${base}/uplinks/chirpstack/{integration}?event=up   (ChirpStack HTTP integration; same header)`,
    `              POST ${base}/uplinks/airrohr   (Sensor.Community: basic auth <id>:<secret>)`,
  ];
}
