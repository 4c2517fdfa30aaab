/**
 * The lab's example rules, seeded when its rule store has never been written: what the city
 * wants to see first — full bins, fire risk in a bin, poor air, congestion and silent devices.
 */
import type { CreateAlertRuleRequest } from '../../contracts/index.ts';

export const LAB_ALERT_RULES: readonly CreateAlertRuleRequest[] = [
  { id: 'bin-full', name: 'Bin full', type: 'threshold', kind: 'waste', metric: 'fill', op: '>=', value: 80, hysteresis: 5, severity: 'warning' },
  { id: 'bin-fire-risk', name: 'Fire risk in a bin', type: 'threshold', kind: 'waste', metric: 'temperature', op: '>=', value: 60, hysteresis: 5, severity: 'critical', repeatEveryMinutes: 15 },
  { id: 'air-poor', name: 'Poor air quality', type: 'eaqi', level: 4, severity: 'warning' },
  { id: 'congestion', name: 'Congestion', type: 'threshold', kind: 'traffic', metric: 'speed', op: '<', value: 10, hysteresis: 5, severity: 'info' },
  { id: 'device-offline', name: 'Device offline', type: 'offline', intervals: 3, severity: 'warning' },
];
