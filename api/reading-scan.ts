/**
 * Every raw reading of a selection in one time range, in time order, read page by page through
 * the research API's own plan and store (api/query/params.ts, api/store.ts): the standard
 * read-outs (NGSI-LD's temporal API, SensorThings' Observations) see exactly the readings
 * `/api/v1/readings` answers, under the same limits, and send no InfluxQL of their own.
 */
import type { ReadingItem, ReadingsQuery } from '../contracts/index.ts';
import { AppError } from '../common/errors.ts';
import type { QueryLimits } from './query/limits.ts';
import { planReadings } from './query/params.ts';
import type { ReadingQueries } from './store.ts';

export interface ScanSelection {
  /** One kind; undefined = every kind (then `metrics` must be undefined). */
  kind?: string | undefined;
  /** Device ids (at most 100, as /readings allows); undefined = every device. */
  devices?: readonly string[] | undefined;
  /** Metrics of `kind`; undefined = all. */
  metrics?: readonly string[] | undefined;
  fromMs: number;
  /** Exclusive. */
  toMs: number;
  order: 'asc' | 'desc';
}

/** Readings of `selection` in order; stop iterating to stop reading. */
export async function* scanReadings(
  store: Pick<ReadingQueries, 'readings'>,
  selection: ScanSelection,
  nowMs: number,
  limits: QueryLimits,
): AsyncGenerator<ReadingItem> {
  if (selection.devices !== undefined && selection.devices.length === 0) return;
  let cursor: string | undefined;
  for (;;) {
    const query: ReadingsQuery = {
      ...(selection.kind === undefined ? {} : { kind: selection.kind as ReadingsQuery['kind'] }),
      ...(selection.devices === undefined ? {} : { device: selection.devices.join(',') }),
      ...(selection.metrics === undefined ? {} : { metric: selection.metrics.join(',') }),
      from: String(selection.fromMs),
      to: String(selection.toMs),
      order: selection.order,
      limit: limits.jsonMaxPoints,
      ...(cursor === undefined ? {} : { cursor }),
    };
    const answer = await store.readings(planReadings(query, nowMs, limits), { limits });
    if (answer.type !== 'json') throw new AppError('INTERNAL', 'a JSON page was asked for but a stream came back');
    for (const reading of answer.body.readings) yield reading;
    cursor = answer.body.meta?.nextCursor;
    if (cursor === undefined) return;
  }
}
