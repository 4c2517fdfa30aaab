/**
 * What the simulator tells a person while it runs (one status line) and when it stops
 * (a summary), computed from two stats samples.
 */
import { FAULT_KINDS } from './faults.ts';
import type { FleetStats } from './fleet.ts';
import { formatCopenhagenIso } from './local-time.ts';

export interface StatsSample {
  atMs: number;
  stats: FleetStats;
}

function perSecond(now: number, before: number, dtMs: number): string {
  if (dtMs <= 0) return '0';
  const rate = ((now - before) * 1_000) / dtMs;
  return rate >= 100 ? String(Math.round(rate)) : rate.toFixed(1);
}

function totalInjected(stats: FleetStats): number {
  return FAULT_KINDS.reduce((sum, kind) => sum + stats.injected[kind], 0);
}

function simClock(stats: FleetStats): string {
  return formatCopenhagenIso(Date.parse(stats.simTime)).slice(0, 16).replace('T', ' ');
}

/** `sim 2026-03-02 07:13 · 12/12 devices connected · sent 6.0/s · acked 6.0/s · buffered 0 · errors 0 · faults 0` */
export function formatStatusLine(previous: StatsSample | undefined, current: StatsSample): string {
  const before = previous?.stats;
  const dtMs = previous ? current.atMs - previous.atMs : 0;
  const s = current.stats;
  const parts = [
    `sim ${simClock(s)}`,
    `${s.connected}/${s.devices} devices connected`,
    `sent ${perSecond(s.sent, before?.sent ?? s.sent, dtMs)}/s`,
    `acked ${perSecond(s.acked, before?.acked ?? s.acked, dtMs)}/s`,
    `buffered ${s.buffered}`,
    `errors ${s.errors}`,
    `faults ${totalInjected(s)}`,
  ];
  if (s.lagMs > 1_000) parts.push(`behind ${(s.lagMs / 1_000).toFixed(1)} s`);
  return parts.join(' · ');
}

/** The end-of-run report. */
export function formatSummary(stats: FleetStats): string {
  const seconds = stats.elapsedMs / 1_000;
  const rate = seconds > 0 ? stats.sent / seconds : 0;
  const lines = [
    'simulation summary',
    `  devices      ${stats.devices} on ${stats.connections} connection${stats.connections === 1 ? '' : 's'}`,
    `  ran          ${seconds.toFixed(1)} s, simulated clock at ${simClock(stats)} (Copenhagen)`,
    `  readings     ${stats.readings}`,
    `  sent         ${stats.sent} (${rate.toFixed(1)}/s)`,
    `  acked        ${stats.acked}${stats.sent > stats.acked ? ` (${stats.sent - stats.acked} unacknowledged)` : ''}`,
    `  errors       ${stats.errors} (${stats.connectErrors} connection)`,
    `  buffered     ${stats.buffered} left in device outboxes, ${stats.dropped} dropped on overflow`,
  ];
  const injected = FAULT_KINDS.filter((kind) => stats.injected[kind] > 0);
  if (injected.length === 0) lines.push('  faults       none injected');
  else {
    lines.push(`  faults       ${totalInjected(stats)} injected:`);
    for (const kind of injected) lines.push(`    ${kind.padEnd(20)} ${stats.injected[kind]}`);
  }
  return lines.join('\n');
}
