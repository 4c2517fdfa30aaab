/**
 * Environment variables of alerting and its jobs (spread into the API's and the lab's
 * config, like the research API's): a bad value stops the process naming the variable.
 */
import { z } from 'zod';
import { booleanSchema, cronSchema, positiveIntSchema } from '../../common/config.ts';
import { DEFAULT_ALERT_HISTORY_MAX } from './history.ts';
import type { AlertingOptions } from './index.ts';

export const DEFAULT_OFFLINE_SCHEDULE = '* * * * *';
export const DEFAULT_REPEAT_SCHEDULE = '* * * * *';

export const AlertsConfigShape = {
  /** Evaluate alert rules, serve /api/v1/alert-rules and /api/v1/alerts, run the alert jobs. */
  ALERTS_ENABLED: booleanSchema(true),
  /** POST every alert event (JSON) here; unset = no webhook. */
  ALERT_WEBHOOK_URL: z
    .url({ protocol: /^https?$/, error: 'an http:// or https:// URL' })
    .optional(),
  /** One webhook attempt may take this long. */
  ALERT_WEBHOOK_TIMEOUT_MS: positiveIntSchema(5_000),
  /** Attempts per event (the first included) before it is given up. */
  ALERT_WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(5),
  /** Events waiting for the webhook; past this the oldest waiting one is dropped. */
  ALERT_WEBHOOK_QUEUE_MAX: positiveIntSchema(1_000),
  /** node-cron expression of the offline-detection job (offline rules, reject-rate windows). */
  ALERT_OFFLINE_SCHEDULE: cronSchema(DEFAULT_OFFLINE_SCHEDULE),
  /** node-cron expression of the alert-repeats job (each rule's repeatEveryMinutes). */
  ALERT_REPEAT_SCHEDULE: cronSchema(DEFAULT_REPEAT_SCHEDULE),
  /** Alerts kept in DATA_DIR/alerts.json (active ones always; the oldest cleared go first). */
  ALERT_HISTORY_MAX: z.coerce.number().int().min(10).max(1_000_000).default(DEFAULT_ALERT_HISTORY_MAX),
};
const AlertsConfigSchema = z.object(AlertsConfigShape);
export type AlertsConfig = z.infer<typeof AlertsConfigSchema>;

/** The options of AlertsConfigShape's variables; false when alerts are off. */
export function alertingOptionsFromConfig(config: AlertsConfig, dataDir: string | undefined): AlertingOptions | false {
  if (!config.ALERTS_ENABLED) return false;
  return {
    dataDir,
    offlineSchedule: config.ALERT_OFFLINE_SCHEDULE,
    repeatSchedule: config.ALERT_REPEAT_SCHEDULE,
    historyMax: config.ALERT_HISTORY_MAX,
    ...(config.ALERT_WEBHOOK_URL
      ? {
          webhook: {
            url: config.ALERT_WEBHOOK_URL,
            timeoutMs: config.ALERT_WEBHOOK_TIMEOUT_MS,
            maxAttempts: config.ALERT_WEBHOOK_MAX_ATTEMPTS,
            queueMax: config.ALERT_WEBHOOK_QUEUE_MAX,
          },
        }
      : {}),
  };
}
