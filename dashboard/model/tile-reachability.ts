/**
 * Whether the street map's tile server answers, decided from the first tiles the map asks
 * for: one tile that loads settles it (a later failure is a missing tile, not a missing
 * server); failures with nothing loaded — a few of them, or every tile asked for — or no
 * tile loaded within the time limit, mean the server is out of reach (an air-gapped control
 * room, a test without a tile fixture), and the map falls back to its schematic. Pure: the
 * view feeds it the tile layer's events and a timer.
 */
export type TileVerdict = 'pending' | 'available' | 'unavailable';

/** Failed tiles, with none loaded, that mean "no tile server" even while others are still loading. */
export const TILE_FAILURES_TO_GIVE_UP = 3;
/** How long the first tile may take before the server counts as unreachable, ms. */
export const TILE_PROBE_TIMEOUT_MS = 10_000;

export interface TileProbe {
  readonly verdict: TileVerdict;
  /** A tile was requested. */
  started(): TileVerdict;
  loaded(): TileVerdict;
  failed(): TileVerdict;
  /** TILE_PROBE_TIMEOUT_MS passed since the first request. */
  timedOut(): TileVerdict;
}

export function createTileProbe(failuresToGiveUp = TILE_FAILURES_TO_GIVE_UP): TileProbe {
  let verdict: TileVerdict = 'pending';
  let started = 0;
  let failed = 0;
  const settle = (next: TileVerdict) => {
    if (verdict === 'pending') verdict = next;
    return verdict;
  };
  return {
    get verdict() {
      return verdict;
    },
    started() {
      started += 1;
      return verdict;
    },
    loaded: () => settle('available'),
    failed() {
      failed += 1;
      return failed >= failuresToGiveUp || failed >= started ? settle('unavailable') : verdict;
    },
    timedOut: () => settle('unavailable'),
  };
}
