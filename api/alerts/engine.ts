/**
 * The alert engine: turns rule verdicts into alerts. One alert per rule × device:
 *   open     the first time the condition holds;
 *   repeat   while it still holds, every `repeatEveryMinutes` (sendRepeats, run by the
 *            `alert-repeats` job), carrying the latest observed value;
 *   cleared  when the condition ends (or its rule is removed, disabled or changed, or the
 *            device is removed or disabled for an offline alert).
 *
 * Where each condition is decided:
 * - threshold and EAQI: on every live reading of a matching device (onReading);
 * - reject rate: on every live reading and rejection of the device (onRejection), and on the
 *   `offline-detection` tick, so a window that ages out clears even when the device went quiet;
 * - offline: on the `offline-detection` tick against the registry (enabled devices, their
 *   declared intervalSeconds) and the last valid reading seen on the live feed; a reading
 *   clears it at once. A device not heard from since the API started is counted from the
 *   later of the start and its registration.
 *
 * Every decision is synchronous and in memory; delivery (`deliver`: socket.io and the
 * webhook queue) and persistence (coalesced) never wait on the network, so the live stream
 * never waits on alerts. `now()` is injectable: tests move time by hand.
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_LAB_ID } from '../../contracts/labs.ts';
import { unitsOf, type Alert, type AlertRule, type DeviceRecord, type LiveReading, type Rejection } from '../../contracts/index.ts';
import type { Logger } from '../../common/logger.ts';
import { createSilentLogger } from '../../common/logger.ts';
import {
  RejectWindow,
  evaluateEaqi,
  evaluateOffline,
  evaluateRejectRate,
  evaluateThreshold,
  ruleApplies,
  type DeviceFacts,
  type Verdict,
} from './evaluate.ts';
import type { AlertHistory } from './history.ts';
import type { AlertRuleStore, RuleChange } from './rule-store.ts';

export interface AlertEngineOptions {
  rules: AlertRuleStore;
  history: AlertHistory;
  /** The registry's snapshot of a device (kind, site, interval, enabled), synchronous. */
  peekDevice?: ((id: string) => DeviceRecord | undefined) | undefined;
  /** Every registered device (for offline detection). */
  listDevices?: (() => Promise<DeviceRecord[]>) | undefined;
  /** Called for every transition; must not throw or block. */
  deliver: (alert: Alert) => void;
  /** The lab of rules and devices made before labs (contracts/labs.ts). */
  defaultLab?: string | undefined;
  now?: (() => number) | undefined;
  logger?: Logger | undefined;
}

export interface AlertEngine {
  onReading(reading: LiveReading): void;
  onRejection(rejection: Rejection): void;
  /** Offline rules against the registry, and reject-rate windows that aged out. */
  checkTimeBased(): Promise<{ opened: number; cleared: number }>;
  /** Repeats every active alert whose rule's repeat interval has passed. */
  sendRepeats(): { repeated: number };
  active(): Alert[];
  stats(): { active: number; transitions: number };
  close(): void;
}

const keyOf = (ruleId: string, deviceId: string) => `${ruleId}\u0000${deviceId}`;

/** Rule changes that keep active alerts: they do not change what the condition means. */
const COSMETIC_FIELDS = new Set(['name', 'severity', 'repeatEveryMinutes', 'updatedAt']);

export function createAlertEngine(options: AlertEngineOptions): AlertEngine {
  const log = options.logger ?? createSilentLogger();
  const defaultLab = options.defaultLab ?? DEFAULT_LAB_ID;
  const now = options.now ?? Date.now;
  const { rules, history } = options;
  const startedMs = now();
  /** Active alerts by rule × device, restored from history so a restart neither reopens nor forgets them. */
  const active = new Map<string, Alert>();
  /** The latest verdict of each active alert, for the message and value of its repeats. */
  const latest = new Map<string, Verdict>();
  const lastSeen = new Map<string, number>();
  const windows = new Map<string, RejectWindow>();
  let transitions = 0;

  for (const alert of history.active()) {
    if (alert.deviceId !== undefined) active.set(keyOf(alert.rule, alert.deviceId), alert);
  }

  function emit(alert: Alert): void {
    transitions += 1;
    history.record(alert);
    try {
      options.deliver(alert);
    } catch (error) {
      log.error({ err: error, alertId: alert.id }, 'alert delivery failed');
    }
  }

  function factsOf(deviceId: string, kind?: DeviceFacts['kind']): DeviceFacts {
    const device = options.peekDevice?.(deviceId);
    return { deviceId, kind: kind ?? device?.kind, site: device?.site, lab: device?.lab };
  }

  function apply(rule: AlertRule, device: DeviceFacts, verdict: Verdict | undefined): 'opened' | 'cleared' | undefined {
    if (!verdict) return undefined;
    const key = keyOf(rule.id, device.deviceId);
    const current = active.get(key);
    if (verdict.holds) {
      latest.set(key, verdict);
      if (current) return undefined;
      const at = new Date(now()).toISOString();
      const alert: Alert = {
        id: `alert-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`,
        rule: rule.id,
        ruleName: rule.name,
        ruleType: rule.type,
        severity: rule.severity,
        state: 'open',
        deviceId: device.deviceId,
        ...(device.kind ? { kind: device.kind } : {}),
        ...(device.site ? { site: device.site } : {}),
        message: verdict.message,
        value: verdict.value,
        at,
        openedAt: at,
        repeats: 0,
      };
      active.set(key, alert);
      log.info({ alertId: alert.id, rule: rule.id, deviceId: device.deviceId, severity: rule.severity }, 'alert opened');
      emit(alert);
      return 'opened';
    }
    if (!current) return undefined;
    clear(key, current, verdict.message, verdict.value);
    return 'cleared';
  }

  function clear(key: string, current: Alert, message: string, value?: number): void {
    active.delete(key);
    latest.delete(key);
    const at = new Date(now()).toISOString();
    const alert: Alert = { ...current, state: 'cleared', message, at, clearedAt: at, ...(value === undefined ? {} : { value }) };
    log.info({ alertId: alert.id, rule: alert.rule, deviceId: alert.deviceId }, 'alert cleared');
    emit(alert);
  }

  function clearRule(ruleId: string, why: string): void {
    for (const [key, alert] of active) if (alert.rule === ruleId) clear(key, alert, `${alert.deviceId}: ${why}`);
  }

  function windowOf(deviceId: string): RejectWindow {
    let window = windows.get(deviceId);
    if (!window) {
      window = new RejectWindow();
      windows.set(deviceId, window);
    }
    return window;
  }

  function evaluateRejectRules(device: DeviceFacts, nowMs: number): void {
    const window = windows.get(device.deviceId);
    for (const rule of rules.list()) {
      if (rule.type !== 'reject_rate' || !ruleApplies(rule, device, defaultLab)) continue;
      apply(rule, device, evaluateRejectRate(rule, device.deviceId, window, nowMs));
    }
  }

  const unsubscribe = rules.onChange((change: RuleChange) => {
    if (change.type === 'removed') clearRule(change.rule.id, `rule "${change.rule.name}" removed`);
    else if (change.type === 'updated') {
      if (!change.rule.enabled) clearRule(change.rule.id, `rule "${change.rule.name}" disabled`);
      else {
        const keys = new Set([...Object.keys(change.before), ...Object.keys(change.rule)]);
        const before = change.before as Record<string, unknown>;
        const after = change.rule as Record<string, unknown>;
        const meaningful = [...keys].some((k) => !COSMETIC_FIELDS.has(k) && JSON.stringify(before[k]) !== JSON.stringify(after[k]));
        if (meaningful) clearRule(change.rule.id, `rule "${change.rule.name}" changed`);
      }
    }
  });

  return {
    onReading(reading) {
      const nowMs = now();
      lastSeen.set(reading.deviceId, nowMs);
      const device = factsOf(reading.deviceId, reading.kind);
      const units = unitsOf(reading.kind);
      let hasRejectRules = false;
      for (const rule of rules.list()) {
        if (!ruleApplies(rule, device, defaultLab)) continue;
        switch (rule.type) {
          case 'threshold':
            apply(rule, device, evaluateThreshold(rule, reading, units[rule.metric] ?? '', active.has(keyOf(rule.id, reading.deviceId))));
            break;
          case 'eaqi':
            apply(rule, device, evaluateEaqi(rule, reading));
            break;
          case 'offline': {
            const key = keyOf(rule.id, reading.deviceId);
            const current = active.get(key);
            if (current) clear(key, current, `${reading.deviceId}: reporting again`, 0);
            break;
          }
          case 'reject_rate':
            hasRejectRules = true;
            break;
        }
      }
      // Accepted messages count only while some rule watches the rate (memory stays bounded).
      if (hasRejectRules) {
        windowOf(reading.deviceId).record(nowMs, true);
        evaluateRejectRules(device, nowMs);
      }
    },

    onRejection(rejection) {
      if (rejection.deviceId === undefined) return;
      const nowMs = now();
      const device = factsOf(rejection.deviceId, rejection.kind);
      if (!rules.list().some((rule) => rule.type === 'reject_rate' && ruleApplies(rule, device, defaultLab))) return;
      windowOf(rejection.deviceId).record(nowMs, false);
      evaluateRejectRules(device, nowMs);
    },

    async checkTimeBased() {
      const nowMs = now();
      let opened = 0;
      let cleared = 0;
      const count = (result: 'opened' | 'cleared' | undefined) => {
        if (result === 'opened') opened += 1;
        else if (result === 'cleared') cleared += 1;
      };
      const offlineRules = rules.list().filter((r) => r.type === 'offline' && r.enabled);
      if (offlineRules.length > 0 && options.listDevices) {
        const devices = await options.listDevices();
        const watched = new Set<string>();
        for (const device of devices) {
          if (!device.enabled) continue;
          watched.add(device.id);
          const facts: DeviceFacts = { deviceId: device.id, kind: device.kind, site: device.site, lab: device.lab };
          const since = lastSeen.get(device.id) ?? Math.max(startedMs, Date.parse(device.createdAt));
          for (const rule of offlineRules) {
            if (rule.type !== 'offline' || !ruleApplies(rule, facts, defaultLab)) continue;
            count(apply(rule, facts, evaluateOffline(rule, { deviceId: device.id, lastSeenMs: since, intervalSeconds: device.intervalSeconds, nowMs })));
          }
        }
        // Removed or disabled devices are not expected to report: their offline alerts end.
        for (const [key, alert] of active) {
          if (alert.ruleType !== 'offline' || alert.deviceId === undefined || watched.has(alert.deviceId)) continue;
          clear(key, alert, `${alert.deviceId}: no longer watched (removed or disabled)`);
          cleared += 1;
        }
      }
      for (const [deviceId, window] of windows) {
        if (window.prune(nowMs) && ![...active.values()].some((a) => a.deviceId === deviceId && a.ruleType === 'reject_rate')) {
          windows.delete(deviceId);
          continue;
        }
        const before = active.size;
        evaluateRejectRules(factsOf(deviceId), nowMs);
        if (active.size < before) cleared += before - active.size;
      }
      // Active alerts of rules that are gone (e.g. the rules file was edited by hand) end too.
      for (const [key, alert] of active) {
        if (!rules.get(alert.rule)) {
          clear(key, alert, `${alert.deviceId}: rule "${alert.ruleName}" removed`);
          cleared += 1;
        }
      }
      return { opened, cleared };
    },

    sendRepeats() {
      const nowMs = now();
      let repeated = 0;
      for (const [key, alert] of active) {
        const rule = rules.get(alert.rule);
        if (!rule || rule.repeatEveryMinutes === 0) continue;
        if (nowMs - Date.parse(alert.at) < rule.repeatEveryMinutes * 60_000) continue;
        const verdict = latest.get(key);
        const next: Alert = {
          ...alert,
          state: 'repeat',
          // Severity and name follow the rule as it is now (they may have been edited).
          severity: rule.severity,
          ruleName: rule.name,
          at: new Date(nowMs).toISOString(),
          repeats: alert.repeats + 1,
          ...(verdict ? { message: verdict.message, value: verdict.value } : {}),
        };
        active.set(key, next);
        emit(next);
        repeated += 1;
      }
      return { repeated };
    },

    active: () => [...active.values()],
    stats: () => ({ active: active.size, transitions }),
    close() {
      unsubscribe();
    },
  };
}
