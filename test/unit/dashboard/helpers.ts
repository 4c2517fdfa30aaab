/** Builders for the dashboard's unit tests: readings and device views with sensible defaults. */
import type { LiveReading } from '../../../contracts/live.ts';
import type { ReadingKind } from '../../../contracts/readings.ts';
import type { DeviceView } from '../../../dashboard/model/device-status.ts';

export const T0 = Date.parse('2026-11-22T10:00:00Z');

export function reading(deviceId: string, kind: ReadingKind, tsMs: number, values: LiveReading['values'], extra: Partial<LiveReading> = {}): LiveReading {
  return { kind, deviceId, ts: new Date(tsMs).toISOString(), receivedAt: new Date(tsMs + 50).toISOString(), values, ...extra };
}

export function device(id: string, kind: ReadingKind, latest?: LiveReading, extra: Partial<DeviceView['info']> & { lastHeardMs?: number } = {}): DeviceView {
  const { lastHeardMs, ...info } = extra;
  return {
    info: { id, kind, name: id, intervalSeconds: 60, enabled: true, registered: false, ...info },
    latest,
    latestTsMs: latest ? Date.parse(latest.ts) : undefined,
    lastHeardMs: lastHeardMs ?? (latest ? Date.parse(latest.receivedAt ?? latest.ts) : undefined),
  };
}
