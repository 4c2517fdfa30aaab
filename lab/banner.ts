import { buildReadingTopic } from '../contracts/index.ts';
import type { Lab } from './lab.ts';

/** What `npm run lab` prints once everything is up: where to look and how to publish by hand. */
export function describeLab(lab: Lab, paths: { dataDir: string; logFile: string }): string {
  const mqtt = new URL(lab.urls.mqtt);
  const topic = buildReadingTopic('air', 'my-sensor-1');
  const devices = lab.fleet ? lab.fleet.devices.length : 0;
  return [
    '',
    'StreetLab is running.',
    '',
    `  Dashboard   ${lab.urls.dashboard}`,
    `  REST API    ${lab.urls.api}/api/v1/latest`,
    `  MQTT        ${lab.urls.mqtt}${lab.urls.mqttWs ? `   (WebSocket ${lab.urls.mqttWs})` : ''}`,
    `  InfluxDB    ${lab.urls.influx}   (database streetlab)`,
    `  Devices     ${devices} simulated`,
    `  Data        ${paths.dataDir}   (log: ${paths.logFile})`,
    '',
    'Publish a reading by hand:',
    `  mosquitto_pub -h ${mqtt.hostname} -p ${mqtt.port} -i my-sensor-1 -q 1 -t ${topic} -m '{"pm25": 12.5, "no2": 31}'`,
    'and see it:',
    `  curl '${lab.urls.api}/api/v1/readings?device=my-sensor-1'`,
    '',
    'Ctrl-C stops everything; the data stays for the next start.',
    '',
  ].join('\n');
}
