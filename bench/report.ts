/**
 * The bench's figures — each with its unit, the issue's target where it has one, the ratio
 * to that target and a verdict — printed as a table and written as JSON. `FIGURE_KEYS` is
 * the contract the smoke test checks: every profile reports every one of them as a number.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { E2eResult } from './stages/e2e.ts';
import type { InfluxCeilingResult } from './stages/influx-ceiling.ts';
import type { LatencyResult } from './stages/latency.ts';
import type { MemoryResult } from './stages/memory.ts';
import type { PubSubResult } from './stages/pubsub.ts';
import type { QueriesResult } from './stages/queries.ts';
import type { ConformanceResult } from './stages/conformance.ts';
import type { ClusterResult } from './stages/cluster.ts';
import type { MachineInfo } from './system.ts';

export const STAGE_NAMES = ['e2e', 'brokers', 'influx-ceiling', 'latency', 'memory', 'queries', 'conformance', 'cluster'] as const;
export type StageName = (typeof STAGE_NAMES)[number];
/** What `npm run bench` runs without `--stages`: all but `cluster`, which `--cluster` adds. */
export const DEFAULT_STAGES: readonly StageName[] = STAGE_NAMES.filter((s) => s !== 'cluster');
/** Stages whose rows the table shows only when they ran (their figures are still in the JSON, as null). */
const OPTIONAL_STAGES: ReadonlySet<StageName> = new Set<StageName>(['cluster']);

export interface Target {
  op: '>=' | '<=' | '=';
  value: number;
}

interface FigureSpec {
  key: string;
  label: string;
  unit: string;
  stage: StageName;
  target?: Target;
}

const FIGURE_SPECS = [
  { key: 'e2e.qos1.readingsPerS', label: 'End to end, QoS 1, services as processes', unit: 'readings/s', stage: 'e2e', target: { op: '>=', value: 30_000 } },
  { key: 'e2e.qos1.lost', label: '  lost (sent − stored, by count)', unit: 'readings', stage: 'e2e', target: { op: '=', value: 0 } },
  { key: 'e2e.qos0.readingsPerS', label: 'End to end, QoS 0, offered at the QoS 1 rate', unit: 'readings/s', stage: 'e2e' },
  { key: 'e2e.qos0.lost', label: '  lost at QoS 0 (best effort)', unit: 'readings', stage: 'e2e' },
  { key: 'e2e.lab.readingsPerS', label: 'End to end, QoS 1, one process (npm run lab)', unit: 'readings/s', stage: 'e2e' },
  { key: 'e2e.lab.lost', label: '  lost (sent − stored, by count)', unit: 'readings', stage: 'e2e', target: { op: '=', value: 0 } },
  { key: 'e2e.qos1.cpuUs.streetlab', label: 'CPU per stored reading, StreetLab (broker + ingest + API)', unit: 'µs', stage: 'e2e', target: { op: '<=', value: 40 } },
  { key: 'e2e.qos1.cpuUs.broker', label: '  broker (with its edge)', unit: 'µs', stage: 'e2e' },
  { key: 'e2e.qos1.cpuUs.ingest', label: '  ingest', unit: 'µs', stage: 'e2e' },
  { key: 'e2e.qos1.cpuUs.api', label: '  API', unit: 'µs', stage: 'e2e' },
  { key: 'e2e.qos1.cpuUs.influxd', label: '  apart: InfluxDB', unit: 'µs', stage: 'e2e' },
  { key: 'e2e.qos1.cpuUs.loadGenerator', label: '  apart: load generator (devices)', unit: 'µs', stage: 'e2e' },
  { key: 'e2e.lab.cpuUs.streetlab', label: 'CPU per stored reading, one process (npm run lab)', unit: 'µs', stage: 'e2e', target: { op: '<=', value: 40 } },
  { key: 'ceiling.influx.pointsPerS', label: 'Ceiling: InfluxDB raw writes (2 × 5,000-line)', unit: 'points/s', stage: 'influx-ceiling' },
  { key: 'ceiling.broker.msgPerS', label: 'Ceiling: broker pub/sub, ours, open', unit: 'msg/s', stage: 'brokers' },
  { key: 'e2e.ratioToCeiling', label: 'End to end QoS 1 ÷ smaller ceiling', unit: '×', stage: 'e2e' },
  { key: 'peer.mosquitto.msgPerS', label: 'Peer: Mosquitto 2, auth + ACL, same workload', unit: 'msg/s', stage: 'brokers' },
  { key: 'peer.ours.msgPerS', label: 'Peer: ours (with the edge\'s fsynced log), auth + ACL', unit: 'msg/s', stage: 'brokers' },
  { key: 'peer.ratio', label: 'Peer: ours ÷ Mosquitto', unit: '×', stage: 'brokers', target: { op: '>=', value: 1 } },
  { key: 'peer.ratioOpen', label: 'Peer: ours ÷ Mosquitto, both open', unit: '×', stage: 'brokers' },
  { key: 'latency.p50Ms', label: 'Latency publish → socket.io, p50', unit: 'ms', stage: 'latency', target: { op: '<=', value: 3 } },
  { key: 'latency.p99Ms', label: 'Latency publish → socket.io, p99', unit: 'ms', stage: 'latency', target: { op: '<=', value: 10 } },
  { key: 'latency.maxMs', label: 'Latency publish → socket.io, max', unit: 'ms', stage: 'latency' },
  { key: 'latency.deliveredRatio', label: '  deliveries received ÷ expected', unit: '×', stage: 'latency' },
  { key: 'memory.mbPer1000', label: 'Broker RSS per 1,000 idle devices', unit: 'MB', stage: 'memory', target: { op: '<=', value: 15 } },
  { key: 'memory.devices', label: '  measured at', unit: 'devices', stage: 'memory' },
  { key: 'query.aggregate.p50Ms', label: 'Query 1 day of 5-min means, 1 device, p50', unit: 'ms', stage: 'queries' },
  { key: 'query.aggregate.p95Ms', label: 'Query 1 day of 5-min means, 1 device, p95', unit: 'ms', stage: 'queries', target: { op: '<=', value: 100 } },
  { key: 'query.export.p95Ms', label: 'CSV export, p95', unit: 'ms', stage: 'queries' },
  { key: 'query.export.rowsPerS', label: 'CSV export rate', unit: 'rows/s', stage: 'queries', target: { op: '>=', value: 200_000 } },
  { key: 'query.export.cpuUs.api', label: '  CPU per exported CSV row: API', unit: 'µs', stage: 'queries' },
  { key: 'query.export.cpuUs.influxd', label: '  CPU per exported CSV row: InfluxDB', unit: 'µs', stage: 'queries' },
  { key: 'query.parquet.rowsPerS', label: 'Parquet export rate', unit: 'rows/s', stage: 'queries' },
  { key: 'query.seededPoints', label: '  store size under the queries', unit: 'points', stage: 'queries' },
  { key: 'frontdoor.nsPerPublish', label: 'Strict MQTT front door, CPU per PUBLISH', unit: 'ns', stage: 'conformance', target: { op: '<=', value: 1_000 } },
  { key: 'cluster.n1.readingsPerS', label: 'Cluster (Redis), 1 node of each service, QoS 1 end to end', unit: 'readings/s', stage: 'cluster' },
  { key: 'cluster.n1.lost', label: '  lost, 1 node (acknowledged − stored)', unit: 'readings', stage: 'cluster', target: { op: '=', value: 0 } },
  { key: 'cluster.n1.cpuUs.streetlab', label: '  CPU per stored reading, 1 node: StreetLab (broker + ingest + API)', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n1.cpuUs.broker', label: '    broker (with its edge, on Redis)', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n1.cpuUs.ingest', label: '    ingest', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n1.cpuUs.api', label: '    API (on Redis)', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n1.cpuUs.redis', label: '    apart: Redis', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n1.cpuUs.influxd', label: '    apart: InfluxDB', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n1.cpuUs.loadGenerator', label: '    apart: load generator (devices)', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n2.readingsPerS', label: 'Cluster (Redis), 2 nodes of each service, QoS 1 end to end', unit: 'readings/s', stage: 'cluster' },
  { key: 'cluster.n2.lost', label: '  lost, 2 nodes (acknowledged − stored)', unit: 'readings', stage: 'cluster', target: { op: '=', value: 0 } },
  { key: 'cluster.n2.cpuUs.streetlab', label: '  CPU per stored reading, 2 nodes: StreetLab (all six processes)', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n2.cpuUs.broker', label: '    broker, node 1', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n2.cpuUs.broker2', label: '    broker, node 2', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n2.cpuUs.ingest', label: '    ingest, node 1', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n2.cpuUs.ingest2', label: '    ingest, node 2', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n2.cpuUs.api', label: '    API, node 1', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n2.cpuUs.api2', label: '    API, node 2', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n2.cpuUs.redis', label: '    apart: Redis', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n2.cpuUs.influxd', label: '    apart: InfluxDB', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.n2.cpuUs.loadGenerator', label: '    apart: load generator (devices)', unit: 'µs', stage: 'cluster' },
  { key: 'cluster.scaling', label: 'Cluster: 2 nodes ÷ 1 node (same 2-core machine)', unit: '×', stage: 'cluster' },
] as const satisfies readonly FigureSpec[];

export type FigureKey = (typeof FIGURE_SPECS)[number]['key'];
export const FIGURE_KEYS: readonly FigureKey[] = FIGURE_SPECS.map((s) => s.key);

export type Verdict = 'met' | 'missed' | 'info' | 'not measured';

export interface Figure {
  label: string;
  value: number | null;
  unit: string;
  stage: StageName;
  target: string | null;
  /** value ÷ target (how far above or below it); null without a non-zero target. */
  ratio: number | null;
  verdict: Verdict;
}

export interface StageOutcome {
  ok: boolean;
  seconds: number;
  error?: string;
}

export interface StageResults {
  e2e?: { qos1: E2eResult; qos0: E2eResult; lab: E2eResult };
  brokers?: { runs: PubSubResult[]; oursOpen: number; mosquittoOpen: number; oursPeer: number; mosquittoPeer: number; peerMode: 'auth' | 'open' };
  'influx-ceiling'?: InfluxCeilingResult;
  latency?: LatencyResult;
  memory?: MemoryResult;
  queries?: QueriesResult;
  conformance?: ConformanceResult;
  cluster?: ClusterResult;
}

export interface BenchReport {
  schema: 1;
  profile: string;
  startedAt: string;
  finishedAt: string;
  seconds: number;
  machine: MachineInfo & { loadAverage1mAtEnd: number };
  versions: Record<string, string>;
  security: { mode: 'auth' | 'open'; detail: string };
  notes: string[];
  figures: Record<FigureKey, Figure>;
  stages: Record<string, StageOutcome>;
  details: StageResults;
  /** Processes the bench started, and any still alive after cleanup (must be none). */
  cleanup: { processesStarted: number; leftAlive: number[] };
}

function values(results: StageResults): Partial<Record<FigureKey, number>> {
  const { e2e, brokers, latency, memory, queries } = results;
  const influx = results['influx-ceiling'];
  const out: Partial<Record<FigureKey, number>> = {};
  if (e2e) {
    out['e2e.qos1.readingsPerS'] = e2e.qos1.readingsPerS;
    out['e2e.qos1.lost'] = e2e.qos1.lost;
    out['e2e.qos0.readingsPerS'] = e2e.qos0.readingsPerS;
    out['e2e.qos0.lost'] = e2e.qos0.lost;
    out['e2e.lab.readingsPerS'] = e2e.lab.readingsPerS;
    out['e2e.lab.lost'] = e2e.lab.lost;
    const cpu = e2e.qos1.cpuUsPerReading;
    out['e2e.qos1.cpuUs.streetlab'] = cpu.streetlab;
    if (cpu.broker !== undefined) out['e2e.qos1.cpuUs.broker'] = cpu.broker;
    if (cpu.ingest !== undefined) out['e2e.qos1.cpuUs.ingest'] = cpu.ingest;
    if (cpu.api !== undefined) out['e2e.qos1.cpuUs.api'] = cpu.api;
    out['e2e.qos1.cpuUs.influxd'] = cpu.influxd;
    out['e2e.qos1.cpuUs.loadGenerator'] = cpu.loadGenerator;
    out['e2e.lab.cpuUs.streetlab'] = e2e.lab.cpuUsPerReading.streetlab;
  }
  if (influx) out['ceiling.influx.pointsPerS'] = influx.pointsPerS;
  if (brokers) {
    out['ceiling.broker.msgPerS'] = brokers.oursOpen;
    out['peer.mosquitto.msgPerS'] = brokers.mosquittoPeer;
    out['peer.ours.msgPerS'] = brokers.oursPeer;
    out['peer.ratio'] = ratio(brokers.oursPeer, brokers.mosquittoPeer);
    out['peer.ratioOpen'] = ratio(brokers.oursOpen, brokers.mosquittoOpen);
  }
  if (e2e && influx && brokers) out['e2e.ratioToCeiling'] = ratio(e2e.qos1.readingsPerS, Math.min(influx.pointsPerS, brokers.oursOpen));
  if (latency) {
    out['latency.p50Ms'] = latency.p50Ms;
    out['latency.p99Ms'] = latency.p99Ms;
    out['latency.maxMs'] = latency.maxMs;
    out['latency.deliveredRatio'] = latency.deliveredRatio;
  }
  if (memory) {
    out['memory.mbPer1000'] = memory.mbPer1000;
    out['memory.devices'] = memory.devices;
  }
  if (results.conformance) out['frontdoor.nsPerPublish'] = results.conformance.nsPerPublish;
  if (results.cluster) {
    const { one, two } = results.cluster;
    out['cluster.n1.readingsPerS'] = one.readingsPerS;
    out['cluster.n1.lost'] = one.lost;
    out['cluster.n2.readingsPerS'] = two.readingsPerS;
    out['cluster.n2.lost'] = two.lost;
    const set = (prefix: 'cluster.n1.cpuUs' | 'cluster.n2.cpuUs', cpu: E2eResult['cpuUsPerReading'], roles: readonly (keyof E2eResult['cpuUsPerReading'])[]) => {
      for (const role of roles) {
        const v = cpu[role];
        if (v !== undefined) out[`${prefix}.${role}` as FigureKey] = v;
      }
    };
    set('cluster.n1.cpuUs', one.cpuUsPerReading, ['streetlab', 'broker', 'ingest', 'api', 'redis', 'influxd', 'loadGenerator']);
    set('cluster.n2.cpuUs', two.cpuUsPerReading, ['streetlab', 'broker', 'broker2', 'ingest', 'ingest2', 'api', 'api2', 'redis', 'influxd', 'loadGenerator']);
    out['cluster.scaling'] = results.cluster.scaling;
  }
  if (queries) {
    out['query.aggregate.p50Ms'] = queries.aggregate.p50Ms;
    out['query.aggregate.p95Ms'] = queries.aggregate.p95Ms;
    out['query.export.p95Ms'] = queries.export.p95Ms;
    out['query.export.rowsPerS'] = queries.export.rowsPerS;
    out['query.export.cpuUs.api'] = queries.export.cpuUsPerRow.api;
    out['query.export.cpuUs.influxd'] = queries.export.cpuUsPerRow.influxd;
    out['query.parquet.rowsPerS'] = queries.parquet.rowsPerS;
    out['query.seededPoints'] = queries.seededPoints;
  }
  return out;
}

function ratio(a: number, b: number): number {
  return b > 0 ? Math.round((a / b) * 100) / 100 : Number.NaN;
}

function targetText(target: Target | undefined, unit: string): string | null {
  if (!target) return null;
  const op = target.op === '>=' ? '≥' : target.op === '<=' ? '≤' : '=';
  return `${op} ${formatNumber(target.value)}${unit === '×' ? '×' : ''}`;
}

function verdictOf(value: number | undefined, target: Target | undefined): Verdict {
  if (value === undefined || !Number.isFinite(value)) return 'not measured';
  if (!target) return 'info';
  const met = target.op === '>=' ? value >= target.value : target.op === '<=' ? value <= target.value : value === target.value;
  return met ? 'met' : 'missed';
}

/** Labels that must say what was actually measured. */
function labelOf(key: FigureKey, label: string, results: StageResults): string {
  if (results.brokers?.peerMode === 'open') {
    if (key === 'peer.ours.msgPerS') return 'Peer: ours, OPEN (auth not available)';
    if (key === 'peer.mosquitto.msgPerS') return 'Peer: Mosquitto 2, open, same workload';
  }
  return label;
}

export function buildFigures(results: StageResults): Record<FigureKey, Figure> {
  const measured = values(results);
  const figures = {} as Record<FigureKey, Figure>;
  for (const spec of FIGURE_SPECS as readonly FigureSpec[]) {
    const key = spec.key as FigureKey;
    const value = measured[key];
    const finite = value !== undefined && Number.isFinite(value);
    figures[key] = {
      label: labelOf(key, spec.label, results),
      value: finite ? value : null,
      unit: spec.unit,
      stage: spec.stage,
      target: targetText(spec.target, spec.unit),
      ratio: finite && spec.target && spec.target.value !== 0 ? Math.round((value / spec.target.value) * 100) / 100 : null,
      verdict: verdictOf(value, spec.target),
    };
  }
  return figures;
}

/** Observations that say why a figure is what it is, derived from the stage details. */
export function deriveNotes(results: StageResults, security: { mode: string; detail: string }, loadAverage: number, cores: number): string[] {
  const notes: string[] = [];
  if (loadAverage > cores * 0.5) {
    notes.push(`The machine was busy when the bench started (1-min load ${loadAverage} on ${cores} cores): absolute figures are low and noisy; the ratios measured in this run hold better.`);
  }
  notes.push(`Security: ${security.detail}.`);
  const { e2e, brokers, latency, memory, queries } = results;
  const influx = results['influx-ceiling'];
  if (e2e) {
    const q1 = e2e.qos1;
    const k = (rate: number) => `${(rate / 1000).toFixed(1)}k`;
    const searched = (r: E2eResult) => {
      if (r.search.length === 0) return `offered at a fixed ${r.offeredPerS.toLocaleString('en')}/s`;
      const o = r.searchOutcome;
      const steps = r.search.map((st) => `${k(st.offeredPerS)}${st.keptUp ? '✓' : '✗'}${st.drainSeconds === undefined ? '(not drained)' : ''}`).join(' ');
      const bracket =
        o === undefined
          ? ''
          : ` → held ${o.held === undefined ? 'nothing' : k(o.held)}, missed ${o.missed === undefined ? 'nothing' : k(o.missed)} (${o.stoppedBy}, ${r.search.length} steps, ${r.search.filter((st) => st.freshProcesses).length} on fresh processes)`;
      return (
        `search ${steps}${bracket}` +
        (r.attempts.length > 0 ? `; runs that could not hold their rate: ${r.attempts.map((a) => `${k(a.offeredPerS)} (${a.heldSeconds} s)`).join(', ')}` : '') +
        ` → measured on fresh processes at ${r.offeredPerS.toLocaleString('en')}/s offered`
      );
    };
    notes.push(`Sustainable QoS 1 rate (doubling, then bisection to < 5%), services as processes: ${searched(q1)}; one process: ${searched(e2e.lab)} (✓ held, ✗ missed).`);
    for (const r of [q1, e2e.lab]) {
      if (r.searchOutcome && r.searchOutcome.problems.length > 0) notes.push(`The search's pipelines (${r.topology}) reported: ${r.searchOutcome.problems.join('; ')}.`);
      const lostInSearch = r.search.filter((st) => (st.lost ?? 0) !== 0);
      if (lostInSearch.length > 0) {
        notes.push(`Search steps of the ${r.topology === 'lab' ? 'one-process' : 'services-as-processes'} pipeline with acknowledged − stored ≠ 0 after draining: ${lostInSearch.map((st) => `${k(st.offeredPerS)}: ${st.lost}`).join(', ')}.`);
      }
      if (r.publishRatePerS < r.offeredPerS * 0.95 || r.drainSeconds > r.loadSeconds * 0.1) {
        notes.push(
          `The ${r.topology === 'lab' ? 'one-process' : 'services-as-processes'} measurement fell behind its offered rate (offered ${r.offeredPerS.toLocaleString('en')}/s, ` +
            `acknowledged ${r.publishRatePerS.toLocaleString('en')}/s, ${r.drainSeconds} s to drain after the devices stopped): its figure counts that drain.`,
        );
      }
    }
    const cpuText = (c: E2eResult['cpuUsPerReading'], unit: string) =>
      [
        ...(c.lab !== undefined ? [`lab process ${c.lab}${unit}`] : [`broker ${c.broker}${unit}`, `ingest ${c.ingest}${unit}`, `API ${c.api}${unit}`]),
      ].join(' + ') +
      (c.lab !== undefined ? '' : ` = StreetLab ${c.streetlab}${unit}`) +
      `; apart: InfluxDB ${c.influxd}${unit}, load generator ${c.loadGenerator}${unit}`;
    notes.push(`End to end QoS 1: ${q1.sent.toLocaleString('en')} sent, ${q1.stored.toLocaleString('en')} stored in ${q1.loadSeconds} s of load + ${q1.drainSeconds} s drain; CPU (100% = one core): ${cpuText(q1.cpuPercent, '%')}.`);
    notes.push(
      `CPU µs per stored reading (process CPU time from /proc, all threads, over the measurement) — QoS 1, services as processes: ${cpuText(q1.cpuUsPerReading, '')}; ` +
        `QoS 0: ${cpuText(e2e.qos0.cpuUsPerReading, '')}; one process: ${cpuText(e2e.lab.cpuUsPerReading, '')}.`,
    );
    const commits = (r: E2eResult) => {
      const m = Object.values(r.serviceMetrics ?? {}).find((x) => x.edgeCommits !== undefined);
      const w = Object.values(r.serviceMetrics ?? {}).find((x) => x.ingestWrites !== undefined);
      const parts: string[] = [];
      if (m?.edgeCommits) parts.push(`edge ${m.edgeCommits.toLocaleString('en')} group commits, ${Math.round((m.edgeCommitRecords ?? 0) / m.edgeCommits)} records and ${(((m.edgeCommitSeconds ?? 0) / m.edgeCommits) * 1000).toFixed(1)} ms (write + fdatasync) each on average`);
      if (w?.ingestWrites) parts.push(`ingest ${w.ingestWrites.toLocaleString('en')} InfluxDB writes, ${(((w.ingestWriteSeconds ?? 0) / w.ingestWrites) * 1000).toFixed(1)} ms each on average`);
      return parts.join('; ');
    };
    notes.push(`The log under load — QoS 1, services as processes: ${commits(q1) || 'n/a'}; one process: ${commits(e2e.lab) || 'n/a'}.`);
    for (const r of [q1, e2e.qos0, e2e.lab]) {
      const name = `${r.topology === 'lab' ? 'one process' : 'services as processes'}, QoS ${r.qos}`;
      const edge = r.edge;
      if (edge && edge.rejected > 0) notes.push(`The edge rejected ${edge.rejected} bench readings (${name}): ${JSON.stringify(edge.rejectedByReason)}.`);
      if (edge && edge.logFailures > 0) notes.push(`The edge's log refused ${edge.logFailures} writes (${name}); their devices were not acknowledged.`);
      if (edge && r.qos === 1 && edge.accepted !== r.sent) notes.push(`The edge accepted ${edge.accepted.toLocaleString('en')} readings but the devices counted ${r.sent.toLocaleString('en')} acknowledged (${name}).`);
      if (r.ingest && r.ingest.deadLettered > 0) notes.push(`Ingest dead-lettered ${r.ingest.deadLettered} lines InfluxDB refused (${name}).`);
      if (r.writer && (r.writer.retries > 0 || r.writer.failedBatches > 0)) notes.push(`Ingest's InfluxDB writes (${name}): ${r.writer.retries} retries, ${r.writer.failedBatches} failed batches.`);
      if (r.publisherErrors.length > 0) notes.push(`Devices saw errors (${name}): ${r.publisherErrors.slice(0, 3).join('; ')}.`);
      for (const [role, l] of Object.entries(r.logs ?? {})) {
        if (l.errors + l.warnings === 0) continue;
        notes.push(`${role} logged ${l.errors} error(s) and ${l.warnings} warning(s) (${name}): ${Object.entries(l.byMessage).map(([m, n]) => `"${m}" ×${n}`).join(', ')}.`);
      }
    }
    if (e2e.qos0.lost > 0) {
      notes.push(`QoS 0 at ${e2e.qos0.offeredPerS.toLocaleString('en')} readings/s offered lost ${e2e.qos0.lost.toLocaleString('en')} of ${e2e.qos0.sent.toLocaleString('en')} written to the sockets (best effort by contract; the edge received ${e2e.qos0.edge?.received.toLocaleString('en') ?? '?'}).`);
    }
    if (influx && brokers) {
      const pct = (a: number, b: number) => `${Math.round((a / b) * 100)}%`;
      const busiest = (['broker', 'ingest', 'api'] as const)
        .map((role) => [role, q1.cpuUsPerReading[role]] as const)
        .filter((e): e is readonly [typeof e[0], number] => e[1] !== undefined)
        .sort((a, b) => b[1] - a[1])[0];
      notes.push(
        `End to end QoS 1 is ${pct(q1.readingsPerS, brokers.oursOpen)} of the broker-only pub/sub ceiling and ${pct(q1.readingsPerS, influx.pointsPerS)} of the InfluxDB write ceiling. ` +
          `Each reading is validated and fsynced into the log by the broker's edge, read back from the log by ingest and written to InfluxDB, and sent once, batched, to the API` +
          (busiest ? `; the StreetLab process spending the most CPU per reading is ${busiest[0]} (${busiest[1]} µs).` : '.'),
      );
    }
  }
  if (brokers) {
    const undelivered = brokers.runs.filter((r) => r.undelivered > 0);
    for (const r of undelivered) notes.push(`${r.variant}: ${r.undelivered} acknowledged messages never reached the subscriber.`);
    const cpu = brokers.runs.map((r) => `${r.variant} ${r.brokerCpuUsPerMsg} µs at ${r.brokerCpuPercent}% CPU`).join(', ');
    notes.push(
      `Broker CPU per pub/sub message (steadier than rates on a busy machine; a broker well under 100% CPU was held back by something else; ours includes its edge: ` +
        `zod validation, line protocol and the log append with a group fdatasync before each PUBACK, which Mosquitto without persistence does not do): ${cpu}.`,
    );
    if (brokers.peerMode === 'open') notes.push('Peer comparison ran with both brokers OPEN because our authentication could not be measured (see Security).');
  }
  if (latency && latency.deliveredRatio < 1) {
    notes.push(`Latency: ${latency.expected - latency.samples} of ${latency.expected} expected deliveries did not arrive (the live feed is QoS 0 end to end).`);
  }
  if (latency) {
    const cpu = Object.entries(latency.cpuPercent).map(([role, pct]) => `${role} ${pct}%`).join(', ');
    notes.push(
      `Latency measured with ${latency.clients} ${latency.clientMode === 'wire' ? 'lean socket.io protocol clients (engine.io v4 over ws)' : 'socket.io-client instances'} at ${latency.ratePerS} readings/s; ` +
        `p90 ${latency.p90Ms} ms, p99.9 ${latency.p999Ms} ms; CPU: ${cpu}.`,
    );
  }
  if (memory) notes.push(`Memory: broker RSS ${memory.baselineMb} MB idle → ${memory.loadedMb} MB with ${memory.devices.toLocaleString('en')} devices (${memory.kbPerDevice} KB each), measured in open mode.`);
  if (queries) {
    if (queries.seededPoints < 10_000_000) notes.push(`Queries ran over ${queries.seededPoints.toLocaleString('en')} points: fewer than the 10 million of the full profile.`);
    if (queries.countedPoints !== queries.seededPoints) notes.push(`InfluxDB counted ${queries.countedPoints.toLocaleString('en')} of ${queries.seededPoints.toLocaleString('en')} seeded points.`);
    notes.push(`Aggregate query: ${queries.aggregate.pathNote}.`);
    notes.push(`CSV export (${queries.export.rows.toLocaleString('en')} rows, ${(queries.export.bytes / 1e6).toFixed(1)} MB each): ${queries.export.pathNote}.`);
  }
  if (results.cluster) notes.push(...clusterNotes(results.cluster, cores));
  return notes;
}

/** The cluster measurement: how each rate was found, CPU by process and by node, trouble. */
function clusterNotes(cluster: ClusterResult, cores: number): string[] {
  const notes: string[] = [];
  const k = (rate: number) => `${(rate / 1000).toFixed(1)}k`;
  const name = (r: E2eResult) => `${r.clusterNodes} node${r.clusterNodes === 1 ? '' : 's'} of each service`;
  for (const r of [cluster.one, cluster.two]) {
    const how =
      r.search.length === 0
        ? `offered at a fixed ${r.offeredPerS.toLocaleString('en')}/s`
        : `search ${r.search.map((st) => `${k(st.offeredPerS)}${st.keptUp ? '✓' : '✗'}${st.drainSeconds === undefined ? '(not drained)' : ''}`).join(' ')}` +
          (r.attempts.length > 0 ? `; runs that could not hold their rate: ${r.attempts.map((a) => `${k(a.offeredPerS)} (${a.heldSeconds} s)`).join(', ')}` : '') +
          ` → measured at ${r.offeredPerS.toLocaleString('en')}/s offered`;
    const cpu = r.cpuUsPerReading;
    const pct = r.cpuPercent;
    const own = ['broker', 'ingest', 'api', 'broker2', 'ingest2', 'api2'] as const;
    const list = (c: E2eResult['cpuUsPerReading'], unit: string) =>
      own.filter((role) => c[role] !== undefined).map((role) => `${role} ${c[role]}${unit}`).join(' + ') + ` = StreetLab ${c.streetlab}${unit}; apart: Redis ${c.redis ?? '?'}${unit}, InfluxDB ${c.influxd}${unit}, load generator ${c.loadGenerator}${unit}`;
    notes.push(
      `Cluster, ${name(r)} (Redis, auth as in e2e, ${r.devices} devices${r.clusterNodes && r.clusterNodes > 1 ? ` split evenly over the ${r.clusterNodes} brokers` : ''}): ${how}; ` +
        `${r.sent.toLocaleString('en')} acknowledged, ${r.stored.toLocaleString('en')} stored in ${r.loadSeconds} s of load + ${r.drainSeconds} s drain. ` +
        `CPU µs per stored reading: ${list(cpu, '')}. CPU (100% = one core): ${list(pct, '%')}.`,
    );
    const lostInSearch = r.search.filter((st) => (st.lost ?? 0) !== 0);
    if (lostInSearch.length > 0) notes.push(`Cluster search steps (${name(r)}) with acknowledged − stored ≠ 0 after draining: ${lostInSearch.map((st) => `${k(st.offeredPerS)}: ${st.lost}`).join(', ')}.`);
    if (r.searchOutcome && r.searchOutcome.problems.length > 0) notes.push(`The cluster search's pipelines (${name(r)}) reported: ${r.searchOutcome.problems.join('; ')}.`);
    if (r.edge && r.edge.rejected > 0) notes.push(`The edges rejected ${r.edge.rejected} bench readings (cluster, ${name(r)}): ${JSON.stringify(r.edge.rejectedByReason)}.`);
    if (r.edge && r.edge.accepted !== r.sent) notes.push(`The edges accepted ${r.edge.accepted.toLocaleString('en')} readings but the devices counted ${r.sent.toLocaleString('en')} acknowledged (cluster, ${name(r)}).`);
    if (r.publisherErrors.length > 0) notes.push(`Devices saw errors (cluster, ${name(r)}): ${r.publisherErrors.slice(0, 3).join('; ')}.`);
    for (const [role, l] of Object.entries(r.logs ?? {})) {
      if (l.errors + l.warnings === 0) continue;
      notes.push(`${role} logged ${l.errors} error(s) and ${l.warnings} warning(s) (cluster, ${name(r)}): ${Object.entries(l.byMessage).map(([m, n]) => `"${m}" ×${n}`).join(', ')}.`);
    }
  }
  const fixedRate = cluster.one.search.length === 0 && cluster.two.search.length === 0 && cluster.one.offeredPerS === cluster.two.offeredPerS;
  notes.push(
    `Cluster scaling: 2 nodes ÷ 1 node = ${cluster.scaling}×${fixedRate ? ` (both offered the same fixed ${cluster.one.offeredPerS.toLocaleString('en')}/s: the ratio only says whether both kept up)` : ''} — every node of both configurations runs on this machine's ${cores} cores (with Redis, InfluxDB and the devices), ` +
      `so a second node adds processes, not CPU: this cannot show what a second machine adds. The CPU per stored reading by process is the figure to scale from (redis-server ${cluster.redisVersion}).`,
  );
  return notes;
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 1_000) return Math.round(value).toLocaleString('en');
  if (Number.isInteger(value)) return String(value);
  return value.toFixed(Math.abs(value) >= 100 ? 0 : 2);
}

/** The table, plain text, aligned for a terminal and for a README code block. */
export function renderTable(report: BenchReport): string {
  const header = ['Figure', 'Value', 'Unit', 'Target', 'Ratio', 'Verdict'];
  const shown = FIGURE_KEYS.filter((key) => !OPTIONAL_STAGES.has(report.figures[key].stage) || report.stages[report.figures[key].stage] !== undefined);
  const rows = shown.map((key) => {
    const f = report.figures[key];
    return [f.label, f.value === null ? '—' : formatNumber(f.value), f.unit, f.target ?? '', f.ratio === null ? '' : `${f.ratio.toFixed(2)}×`, f.verdict === 'info' ? '' : f.verdict];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const right = new Set([1, 4]);
  const line = (cells: string[]) => cells.map((c, i) => (right.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const m = report.machine;
  const out = [
    `StreetLab bench — profile ${report.profile}, ${report.startedAt}, ${report.seconds} s`,
    `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, Linux ${m.kernel}, Node ${m.node}; load ${m.loadAverage1m} at start, ${m.loadAverage1mAtEnd} at end`,
    Object.entries(report.versions).map(([k, v]) => `${k} ${v}`).join(', '),
    '',
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    ...report.notes.map((n) => `- ${n}`),
  ];
  const failed = Object.entries(report.stages).filter(([, s]) => !s.ok);
  if (failed.length > 0) out.push('', ...failed.map(([name, s]) => `! stage ${name} failed: ${s.error}`));
  return out.join('\n');
}

export async function writeReport(path: string, report: BenchReport): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(report, null, 2)}\n`);
}
