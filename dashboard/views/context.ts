/**
 * What every view gets from the app: the state, the route, the API, the charted series and
 * a clock. Views read from here and navigate through it; they never talk to each other.
 */
import type { ApiClient } from '../model/api-client.ts';
import type { RangeKey, Route } from '../model/route.ts';
import type { ChartedSeries } from '../model/series.ts';
import type { StateStore } from '../model/state-store.ts';

export interface HistoryStatus {
  /** Earliest time the loaded history reaches, ms. */
  fromMs: number;
  /** The API returned its maximum: older readings in the range were not loaded. */
  truncated: boolean;
}

export interface AppContext {
  store: StateStore;
  api: ApiClient;
  series: ChartedSeries;
  now(): number;
  route(): Route;
  /** Changes the route (and the URL); `replace` for changes not worth a history entry. */
  navigate(patch: Partial<Route>, options?: { replace?: boolean }): void;
  /** The link for a route change from the current route. */
  href(patch: Partial<Route>): string;
  /** Loads a device's history for the range into `series` (once; live readings extend it). */
  loadHistory(deviceId: string, range: RangeKey): Promise<HistoryStatus>;
  /** The page's own tile server template (`{z}/{x}/{y}`, `?tiles=`), overriding the deployment's MAP_TILES_URL. */
  tileUrl?: string | undefined;
}
