import { describe, expect, it } from 'vitest';
import { createFaultCounts } from '../../../simulators/faults.ts';
import type { FleetStats } from '../../../simulators/fleet.ts';
import { formatStatusLine, formatSummary } from '../../../simulators/status.ts';

const stats = (over: Partial<FleetStats> = {}): FleetStats => ({
  devices: 12,
  connections: 12,
  connectionsUp: 12,
  connected: 11,
  readings: 100,
  sent: 100,
  acked: 98,
  errors: 1,
  connectErrors: 1,
  buffered: 3,
  dropped: 0,
  injected: createFaultCounts(),
  lagMs: 0,
  simTime: '2026-03-02T06:13:00.000Z',
  elapsedMs: 10_000,
  running: true,
  ...over,
});

describe('status output', () => {
  it('shows connected devices, rates per second, errors and the simulated Copenhagen clock', () => {
    const line = formatStatusLine({ atMs: 0, stats: stats() }, { atMs: 2_000, stats: stats({ sent: 130, acked: 126 }) });
    expect(line).toBe('sim 2026-03-02 07:13 · 11/12 devices connected · sent 15.0/s · acked 14.0/s · buffered 3 · errors 1 · faults 0');
    expect(formatStatusLine(undefined, { atMs: 0, stats: stats() })).toContain('sent 0/s');
    expect(formatStatusLine(undefined, { atMs: 0, stats: stats({ lagMs: 2_500 }) })).toContain('behind 2.5 s');
  });

  it('summarises a run with every fault injected', () => {
    const injected = { ...createFaultCounts(), FIELD_TYPE: 4, dropout: 2 };
    const summary = formatSummary(stats({ injected, running: false }));
    expect(summary).toContain('sent         100 (10.0/s)');
    expect(summary).toContain('acked        98 (2 unacknowledged)');
    expect(summary).toMatch(/faults {7}6 injected:\n {4}FIELD_TYPE +4\n {4}dropout +2/);
    expect(formatSummary(stats())).toContain('none injected');
  });
});
