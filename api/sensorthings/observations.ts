/**
 * Observations read from the stored readings (api/reading-scan.ts): one per metric value of a
 * reading, in a total order — phenomenonTime (asc or desc), then @iot.id — so pages never
 * overlap or skip. A page ends at a position (time and id); the next page's `$skiptoken`
 * carries it and reading resumes at that millisecond, not from the start of the range.
 */
import { AppError } from '../../common/errors.ts';
import type { QueryLimits } from '../query/limits.ts';
import { scanReadings } from '../reading-scan.ts';
import type { ReadingQueries } from '../store.ts';
import { evaluate, type FilterNode } from './filter.ts';
import { observation, observationId, type Links, type StaEntity } from './model.ts';

export interface DatastreamRef {
  deviceId: string;
  kind: string;
  metric: string;
}

export interface ObservationSelection {
  /** The datastreams whose observations are read (the visible ones a path leads to). */
  datastreams: readonly DatastreamRef[];
  fromMs: number;
  /** Exclusive. */
  toMs: number;
  order: 'asc' | 'desc';
  filter?: FilterNode | undefined;
}

/** Where a page ended: the last observation's time and id. */
export interface Position {
  t: number;
  id: string;
}

export function encodePosition(position: Position): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

export function decodePosition(token: string): Position {
  try {
    const value = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    const p = value as Position;
    if (p && typeof p === 'object' && Number.isInteger(p.t) && typeof p.id === 'string' && p.id.length <= 200) return { t: p.t, id: p.id };
  } catch {
    // answered below
  }
  throw new AppError('BAD_REQUEST', '$skiptoken: not a token of this service; follow @iot.nextLink as it is');
}

/** The scan a selection needs: one kind → its devices and metrics; several kinds → everything, narrowed here. */
function scanSelectionOf(selection: ObservationSelection) {
  const kinds = new Set(selection.datastreams.map((d) => d.kind));
  const devices = [...new Set(selection.datastreams.map((d) => d.deviceId))];
  const metrics = [...new Set(selection.datastreams.map((d) => d.metric))];
  if (kinds.size !== 1) return {};
  return { kind: [...kinds][0]!, ...(devices.length <= 100 ? { devices } : {}), metrics };
}

/**
 * The selection's observations in order, strictly after `after` when given. Matching the
 * filter is checked here; stop iterating to stop reading.
 */
export async function* scanObservations(
  store: Pick<ReadingQueries, 'readings'>,
  selection: ObservationSelection,
  after: Position | undefined,
  context: { nowMs: number; limits: QueryLimits; links: Links },
): AsyncGenerator<{ entity: StaEntity; position: Position }> {
  if (selection.datastreams.length === 0) return;
  let { fromMs, toMs } = selection;
  if (after) {
    if (selection.order === 'asc') fromMs = Math.max(fromMs, after.t);
    else toMs = Math.min(toMs, after.t + 1);
  }
  if (fromMs >= toMs) return;
  const wanted = new Set(selection.datastreams.map((d) => `${d.deviceId}:${d.metric}`));
  const metricsByKind = new Map<string, Set<string>>();
  for (const d of selection.datastreams) metricsByKind.set(d.kind, (metricsByKind.get(d.kind) ?? new Set()).add(d.metric));

  // Observations of one millisecond, sorted by id before they are given out.
  let group: { entity: StaEntity; position: Position }[] = [];
  let groupTime: number | undefined;
  const flush = function* () {
    group.sort((a, b) => (a.position.id < b.position.id ? -1 : a.position.id > b.position.id ? 1 : 0));
    for (const item of group) {
      if (after && item.position.t === after.t && item.position.id <= after.id) continue;
      if (selection.filter && !evaluate(selection.filter, item.entity)) continue;
      yield item;
    }
    group = [];
  };

  const scan = scanReadings(store, { ...scanSelectionOf(selection), fromMs, toMs, order: selection.order }, context.nowMs, context.limits);
  for await (const reading of scan) {
    const atMs = Date.parse(reading.ts);
    if (groupTime !== undefined && atMs !== groupTime) yield* flush();
    groupTime = atMs;
    for (const metric of metricsByKind.get(reading.kind) ?? []) {
      const value = reading.values[metric];
      if ((typeof value !== 'number' && typeof value !== 'boolean') || !wanted.has(`${reading.deviceId}:${metric}`)) continue;
      group.push({ entity: observation(reading.deviceId, metric, atMs, value, context.links), position: { t: atMs, id: observationId(reading.deviceId, metric, atMs) } });
    }
  }
  yield* flush();
}
