/**
 * Alerting as a fastify plugin: builds the rules, history, engine, webhook and their jobs
 * (api/alerts/index.ts) from its options, listens to the live hub, pushes alerts on
 * socket.io, serves /alert-rules and /alerts, and closes in `onClose`. Decorates the app
 * with `alerting` (see alertingOf).
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Alert } from '../../contracts/index.ts';
import type { Logger } from '../../common/logger.ts';
import type { DeviceRegistry } from '../../common/registry/types.ts';
import { createAlerting, type Alerting, type AlertingOptions } from '../alerts/index.ts';
import type { Scheduler } from '../jobs/scheduler.ts';
import { OPEN_DATA_ROOM, roomsOf, withLabRooms } from '../live-hub.ts';
import type { AlertRuleStore } from '../alerts/rule-store.ts';
import { DEFAULT_LAB_ID } from '../../contracts/index.ts';
import { alertRoutes } from '../routes/alerts.ts';
import type { Live } from './live.ts';

export interface AlertingPluginOptions {
  alerting: AlertingOptions;
  /** Where the offline-detection and alert-repeat jobs run. */
  scheduler: Scheduler;
  /** Readings and rejections in, alerts out; omitted = alerts only at REST and the webhook. */
  live?: Live | undefined;
  /** Devices for offline rules and rule filters (site, kind). */
  registry?: DeviceRegistry | undefined;
  logger?: Logger | undefined;
  /** Route prefix (default /api/v1). */
  routePrefix?: string | undefined;
  now?: (() => number) | undefined;
  /** Cluster mode: evaluate readings only while this node holds the lease (default: always). */
  leader?: (() => boolean) | undefined;
  /** The lab of rules and devices made before labs. */
  defaultLab?: string | undefined;
}

const DECORATOR = 'alerting';

/** The app's alerting, when the plugin is registered. */
export function alertingOf(app: FastifyInstance): Alerting | undefined {
  return app.hasDecorator(DECORATOR) ? app.getDecorator<Alerting>(DECORATOR) : undefined;
}

/** The rooms an alert goes to: its device's (and kind's), or everyone for a fleet-wide one. */
function alertRooms(alert: Alert): string[] {
  if (alert.deviceId === undefined) return ['all'];
  return alert.kind ? roomsOf(alert.kind, alert.deviceId) : ['all', `device:${alert.deviceId}`];
}

/** The lab of an alert: its device's, else its rule's (records made before labs: the default lab). */
function alertLab(alert: Alert, registry: DeviceRegistry | undefined, rules: AlertRuleStore, defaultLab: string): string {
  const device = alert.deviceId === undefined ? undefined : registry?.peek(alert.deviceId);
  return device?.lab ?? rules.get(alert.rule)?.lab ?? defaultLab;
}

export const alertingPlugin = fp<AlertingPluginOptions>(
  async (app, options) => {
    const { registry, live } = options;
    const defaultLab = options.defaultLab ?? DEFAULT_LAB_ID;
    const alerting = await createAlerting(options.alerting, {
      scheduler: options.scheduler,
      logger: options.logger,
      peekDevice: registry ? (id) => registry.peek(id) : undefined,
      listDevices: registry ? () => registry.list() : undefined,
      defaultLab,
      // Alerts are not open data: anonymous live clients (OPEN_DATA_ROOM) never get them. A
      // lab's sockets get its own (withLabRooms).
      emit: (alert) => live?.io.to(withLabRooms(alertRooms(alert), alertLab(alert, registry, alerting.rules, defaultLab))).except(OPEN_DATA_ROOM).emit('alert', alert),
    });
    // Every API node gets every reading; only the lease holder evaluates them (cluster mode).
    const leader = options.leader ?? (() => true);
    const unlisten = live?.hub.listen({
      onReading: (reading) => (leader() ? alerting.onReading(reading) : undefined),
      onRejection: (rejection) => (leader() ? alerting.onRejection(rejection) : undefined),
    });
    app.decorate(DECORATOR, alerting);
    await app.register(alertRoutes, { prefix: options.routePrefix ?? '/api/v1', rules: alerting.rules, history: alerting.history, now: options.now });
    app.addHook('onClose', async () => {
      unlisten?.();
      await alerting.close();
    });
  },
  { name: 'streetlab-alerting', fastify: '5.x' },
);
