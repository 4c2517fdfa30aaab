import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../common/config.ts';
import { ApiConfigSchema } from '../../../api/config.ts';
import { LabConfigSchema } from '../../../lab/config.ts';
import { alertingOptionsFromConfig } from '../../../api/alerts/config.ts';

describe('alert configuration', () => {
  it('defaults: alerts on, jobs every minute, no webhook', () => {
    const config = parseConfig(ApiConfigSchema, {});
    expect(config).toMatchObject({ ALERTS_ENABLED: true, ALERT_OFFLINE_SCHEDULE: '* * * * *', ALERT_REPEAT_SCHEDULE: '* * * * *', ALERT_HISTORY_MAX: 1000, ALERT_WEBHOOK_TIMEOUT_MS: 5000 });
    expect(alertingOptionsFromConfig(config, '/data')).toEqual({ dataDir: '/data', offlineSchedule: '* * * * *', repeatSchedule: '* * * * *', historyMax: 1000 });
    expect(parseConfig(LabConfigSchema, {}).ALERTS_ENABLED).toBe(true);
  });

  it('passes the webhook settings through, and ALERTS_ENABLED=false turns alerting off', () => {
    const config = parseConfig(ApiConfigSchema, { ALERT_WEBHOOK_URL: 'https://hooks.example/streetlab', ALERT_WEBHOOK_TIMEOUT_MS: '2500', ALERT_WEBHOOK_MAX_ATTEMPTS: '3' });
    expect(alertingOptionsFromConfig(config, undefined)).toMatchObject({ webhook: { url: 'https://hooks.example/streetlab', timeoutMs: 2500, maxAttempts: 3, queueMax: 1000 } });
    expect(alertingOptionsFromConfig(parseConfig(ApiConfigSchema, { ALERTS_ENABLED: 'false' }), '/data')).toBe(false);
  });

  it.each([
    ['ALERTS_ENABLED', 'maybe'],
    ['ALERT_WEBHOOK_URL', 'ftp://example.org/hook'],
    ['ALERT_WEBHOOK_URL', 'not a url'],
    ['ALERT_WEBHOOK_TIMEOUT_MS', '0'],
    ['ALERT_WEBHOOK_MAX_ATTEMPTS', '100'],
    ['ALERT_WEBHOOK_QUEUE_MAX', '-1'],
    ['ALERT_OFFLINE_SCHEDULE', 'every minute'],
    ['ALERT_REPEAT_SCHEDULE', '61 * * * *'],
    ['ALERT_HISTORY_MAX', 'lots'],
  ])('refuses %s=%s with a message naming the variable', (name, value) => {
    for (const schema of [ApiConfigSchema, LabConfigSchema]) {
      expect(() => parseConfig(schema, { [name]: value })).toThrow(new RegExp(`${name}: .*\\(got "${value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"\\)`));
    }
  });
});
