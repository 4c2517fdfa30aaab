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
    `  InfluxDB    ${lab.urls.influx}   (database streetlab)`,
    `  Devices     ${devices} simulated${lab.security === 'secured' ? ', each with its own credentials' : ''}`,
    `  Admin token ${lab.adminToken}`,
    `  Read access ${lab.publicRead ? 'open to everyone (PUBLIC_READ=true)' : 'API key or admin token needed (PUBLIC_READ=false)'}`,
    `  Data        ${paths.dataDir}   (log: ${paths.logFile})`,
    '',
    'Add your own device and publish a reading by hand:',
    ...lab.onboarding.map((line) => `  ${line}`),
    '',
    'Ctrl-C stops everything; the data stays for the next start.',
    '',
  ].join('\n');
}
