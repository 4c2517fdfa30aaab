/**
 * Alerting as the API server builds it: the rule store and alert history under DATA_DIR,
 * the engine fed by the live hub, delivery on socket.io and the optional webhook, and the
 * two jobs on the scheduler (`offline-detection`, `alert-repeats`).
 */
import type { Alert, CreateAlertRuleRequest, DeviceRecord, LiveReading, Rejection } from '../../contracts/index.ts';
import type { Logger } from '../../common/logger.ts';
import { createSilentLogger } from '../../common/logger.ts';
import type { Scheduler } from '../jobs/scheduler.ts';
import { createAlertEngine, type AlertEngine } from './engine.ts';
import { openAlertHistory, type AlertHistory } from './history.ts';
import { openAlertRuleStore, type AlertRuleStore } from './rule-store.ts';
import { createWebhookSender, type WebhookOptions, type WebhookSender } from './webhook.ts';

export const OFFLINE_JOB = 'offline-detection';
export const REPEAT_JOB = 'alert-repeats';

export interface AlertingOptions {
  /** Rules in dataDir/alert-rules.json, history in dataDir/alerts.json; omitted = in memory. */
  dataDir?: string | undefined;
  /** node-cron expressions; default every minute. */
  offlineSchedule?: string | undefined;
  repeatSchedule?: string | undefined;
  /** Alerts kept (default 1,000). */
  historyMax?: number | undefined;
  webhook?: Omit<WebhookOptions, 'logger'> | undefined;
  /** Rules created when the rule store has never been written (the lab's examples). */
  seedRules?: readonly CreateAlertRuleRequest[] | undefined;
  /** The engine's clock (ms); tests move it by hand. */
  now?: (() => number) | undefined;
}

export interface Alerting {
  rules: AlertRuleStore;
  history: AlertHistory;
  engine: AlertEngine;
  webhook: WebhookSender | undefined;
  onReading(reading: LiveReading): void;
  onRejection(rejection: Rejection): void;
  close(): Promise<void>;
}

export interface AlertingContext {
  scheduler: Scheduler;
  /** Every transition: the server pushes it on socket.io. */
  emit: (alert: Alert) => void;
  peekDevice?: ((id: string) => DeviceRecord | undefined) | undefined;
  listDevices?: (() => Promise<DeviceRecord[]>) | undefined;
  /** The lab of rules and devices made before labs. */
  defaultLab?: string | undefined;
  logger?: Logger | undefined;
}

export async function createAlerting(options: AlertingOptions, context: AlertingContext): Promise<Alerting> {
  const log = (context.logger ?? createSilentLogger()).child({ component: 'alerts' });
  const now = options.now ?? Date.now;
  const rules = await openAlertRuleStore({ dataDir: options.dataDir, now });
  if (rules.fresh && options.seedRules) {
    for (const rule of options.seedRules) await rules.create(rule);
    log.info({ rules: options.seedRules.length }, 'seeded the example alert rules');
  }
  const history = await openAlertHistory({ dataDir: options.dataDir, max: options.historyMax, logger: log, now });
  const webhook = options.webhook ? createWebhookSender({ ...options.webhook, logger: log.child({ webhook: true }) }) : undefined;
  const engine = createAlertEngine({
    rules,
    history,
    peekDevice: context.peekDevice,
    listDevices: context.listDevices,
    defaultLab: context.defaultLab,
    now,
    logger: log,
    deliver(alert) {
      context.emit(alert);
      webhook?.enqueue(alert);
    },
  });
  context.scheduler.registerJob(OFFLINE_JOB, options.offlineSchedule ?? '* * * * *', () => engine.checkTimeBased(), {
    description: 'offline alert rules against the registry; reject-rate windows that aged out',
  });
  context.scheduler.registerJob(REPEAT_JOB, options.repeatSchedule ?? '* * * * *', () => engine.sendRepeats(), {
    description: "repeats active alerts on their rule's repeatEveryMinutes",
  });

  // The live hub calls these for every event: a bug here must never break the live stream.
  const guard =
    <T>(what: string, handle: (value: T) => void) =>
    (value: T) => {
      try {
        handle(value);
      } catch (error) {
        log.error({ err: error }, `alert evaluation failed on a ${what}`);
      }
    };

  return {
    rules,
    history,
    engine,
    webhook,
    onReading: guard('reading', engine.onReading),
    onRejection: guard('rejection', engine.onRejection),
    async close() {
      engine.close();
      await webhook?.close();
      await history.close();
    },
  };
}
