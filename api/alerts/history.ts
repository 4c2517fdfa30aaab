/**
 * Alert history: every alert (rule × device) with its latest transition, active ones and the
 * most recent cleared ones, bounded to `max` alerts (ALERT_HISTORY_MAX; the oldest cleared
 * alerts go first, active ones are never dropped).
 *
 * Kept in a file, `DATA_DIR/alerts.json`, written crash-safely under a lease lock like the
 * registry (common/store/document-store.ts), rather than in an InfluxDB measurement, because:
 * - the active alerts are state, not telemetry: after a restart the engine must know which
 *   alerts are open, so it neither opens them a second time nor forgets to clear them, and
 *   that must not depend on InfluxDB being reachable (an InfluxDB outage is exactly when
 *   alerts must keep flowing);
 * - alerts are few (transitions, not readings) and bounded, so a small JSON document is
 *   cheap to rewrite, and GET /api/v1/alerts answers from memory.
 * Writes are coalesced: a burst of transitions is one write, at most one in flight, so
 * persisting never slows the live stream. A crash may lose the last moment's transitions,
 * never the file.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { AlertSchema, type Alert } from '../../contracts/index.ts';
import type { Logger } from '../../common/logger.ts';
import { createSilentLogger } from '../../common/logger.ts';
import { openDocumentStore } from '../../common/store/document-store.ts';

export const ALERTS_FILE_NAME = 'alerts.json';
export const DEFAULT_ALERT_HISTORY_MAX = 1_000;

/** The document's content beside its envelope (format "streetlab-alerts", version 1). */
const AlertsContentSchema = z.object({ alerts: z.array(AlertSchema) });
type AlertsContent = z.infer<typeof AlertsContentSchema>;

export interface AlertFilter {
  state?: 'active' | 'cleared' | undefined;
  deviceId?: string | undefined;
  rule?: string | undefined;
  sinceMs?: number | undefined;
  limit?: number | undefined;
}

export interface AlertHistory {
  readonly file: string | undefined;
  /** Records an alert's latest transition (replacing its earlier one). */
  record(alert: Alert): void;
  get(id: string): Alert | undefined;
  active(): Alert[];
  /** Newest transition first. */
  query(filter?: AlertFilter): Alert[];
  size(): number;
  /** Resolves once everything recorded so far is on disk. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface AlertHistoryOptions {
  dataDir?: string | undefined;
  max?: number | undefined;
  logger?: Logger | undefined;
  now?: (() => number) | undefined;
}

export function isActive(alert: Alert): boolean {
  return alert.state !== 'cleared';
}

export async function openAlertHistory(options: AlertHistoryOptions = {}): Promise<AlertHistory> {
  const file = options.dataDir === undefined ? undefined : join(options.dataDir, ALERTS_FILE_NAME);
  const max = Math.max(1, options.max ?? DEFAULT_ALERT_HISTORY_MAX);
  const log = options.logger ?? createSilentLogger();
  const now = options.now ?? Date.now;
  // Insertion order = order of the latest transition (re-inserted on every record).
  const alerts = new Map<string, Alert>();
  let dirty = false;
  let writing: Promise<void> | undefined;
  let closed = false;

  // History is worth less than a running API: a broken file is set aside and the start goes on.
  const store = await openDocumentStore<readonly Alert[], AlertsContent>({
    file,
    what: 'the alert history',
    format: 'streetlab-alerts',
    content: AlertsContentSchema,
    decode: (content) => [...content.alerts].sort((a, b) => a.at.localeCompare(b.at)),
    encode: (list) => ({ alerts: [...list] }),
    empty: () => [],
    pretty: false,
    onInvalid: 'set-aside',
    logger: log,
    now,
  });
  for (const alert of store.state) alerts.set(alert.id, alert);

  function evict(): void {
    if (alerts.size <= max) return;
    for (const [id, alert] of alerts) {
      if (alerts.size <= max) break;
      if (!isActive(alert)) alerts.delete(id);
    }
  }

  async function writeLoop(): Promise<void> {
    while (dirty && file) {
      dirty = false;
      try {
        // This process's alerts are the history: the last writer wins.
        await store.write([...alerts.values()]);
      } catch (error) {
        log.error({ err: error, file }, 'could not save the alert history; retrying with the next change');
        // Leave it dirty for the next record or flush rather than spinning on a broken disk.
        dirty = true;
        return;
      }
    }
  }

  function schedule(): void {
    if (!file || closed) return;
    dirty = true;
    writing ??= writeLoop().finally(() => {
      writing = undefined;
    });
  }

  async function flush(): Promise<void> {
    if (writing) await writing;
    if (dirty && file) {
      writing ??= writeLoop().finally(() => {
        writing = undefined;
      });
      await writing;
    }
  }

  return {
    file,
    record(alert) {
      alerts.delete(alert.id);
      alerts.set(alert.id, alert);
      evict();
      schedule();
    },
    get: (id) => alerts.get(id),
    active: () => [...alerts.values()].filter(isActive),
    size: () => alerts.size,
    query(filter = {}) {
      const limit = filter.limit ?? 100;
      const out: Alert[] = [];
      const values = [...alerts.values()];
      for (let i = values.length - 1; i >= 0 && out.length < limit; i--) {
        const alert = values[i]!;
        if (filter.state === 'active' && !isActive(alert)) continue;
        if (filter.state === 'cleared' && isActive(alert)) continue;
        if (filter.deviceId !== undefined && alert.deviceId !== filter.deviceId) continue;
        if (filter.rule !== undefined && alert.rule !== filter.rule) continue;
        // Active since then: still active, or cleared at or after `since`.
        if (filter.sinceMs !== undefined && !isActive(alert) && Date.parse(alert.clearedAt ?? alert.at) < filter.sinceMs) continue;
        out.push(alert);
      }
      return out;
    },
    flush,
    async close() {
      await flush();
      closed = true;
      await store.close();
    },
  };
}
