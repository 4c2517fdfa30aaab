/**
 * The app: wires the state, the API, the live connection and the views together.
 *
 * Data flow: the first paint comes from REST (`/devices`, `/latest`, `/rejections`, `/alerts`), then
 * socket.io events are queued and applied once per animation frame (batcher.ts), and the
 * mounted view redraws what changed. After a reconnect the gap is fetched from REST and
 * merged (series dedupe by timestamp), so charts have no hole.
 */
import { createApiClient, fetchAllReadings, READINGS_LIMIT_MAX, type ApiClient } from '../model/api-client.ts';
import { createBatcher, createRateMeter, type Scheduler } from '../model/batcher.ts';
import { createChartsView } from './charts-view.ts';
import type { AppContext, HistoryStatus } from './context.ts';
import { createDevicePage } from './device-page.ts';
import { createDevicesView } from './devices-view.ts';
import type { View } from './dom.ts';
import { createLiveConnection, type LiveConnection } from '../model/live-connection.ts';
import { createMapPage } from './map-page.ts';
import { createOverview } from './overview-view.ts';
import { createShowcase } from './showcase-view.ts';
import { RANGES, formatHash, parseHash, withRoute, type RangeKey, type Route } from '../model/route.ts';
import { ChartedSeries } from '../model/series.ts';
import { actionsFromEvents, createInitialState, startOfLocalDay, type LiveEvent } from '../model/state.ts';
import { createShell } from './shell.ts';
import { adoptKinds } from '../model/kinds.ts';
import { isKnownKind } from '../../contracts/kinds-table.ts';
import { createStateStore, type StateStore } from '../model/state-store.ts';

export interface AppOptions {
  root: HTMLElement;
  token?: string | undefined;
  /** The lab the page shows (main.ts: its path `/labs/{lab}/`, else the default lab). */
  lab?: string | undefined;
  tileUrl?: string | undefined;
  api?: ApiClient;
}

export interface App {
  store: StateStore;
  close(): void;
}

/** How far before the moment the connection dropped the back-fill starts (clock skew, in-flight events). */
export const BACKFILL_MARGIN_MS = 15_000;
/** Least time between two redraws, ms (live data; navigation redraws at once). */
export const RENDER_INTERVAL_MS = 150;
/** A second back-fill pass catches readings that were still in ingest's write batch at the first. */
export const BACKFILL_SECOND_PASS_MS = 3_000;

/** requestAnimationFrame, with a timer as a floor: a hidden tab gets no frames but must not queue forever. */
export const frameScheduler: Scheduler = (callback) => {
  let done = false;
  const run = () => {
    if (done) return;
    done = true;
    cancelAnimationFrame(frame);
    clearTimeout(timer);
    callback();
  };
  const frame = requestAnimationFrame(run);
  const timer = setTimeout(run, 250);
  return () => {
    done = true;
    cancelAnimationFrame(frame);
    clearTimeout(timer);
  };
};

export function createApp(options: AppOptions): App {
  const api = options.api ?? createApiClient({ token: options.token, lab: options.lab });
  const store = createStateStore(createInitialState(Date.now()));
  const series = new ChartedSeries();
  const rate = createRateMeter();
  let route: Route = parseHash(location.hash);
  let view: View | undefined;
  let viewKey = '';
  const historyLoads = new Map<string, Promise<HistoryStatus>>();
  let viewGeneration = 0;

  const ctx: AppContext = {
    store,
    api,
    series,
    now: () => Date.now(),
    route: () => route,
    href: (patch) => formatHash(withRoute(route, patch)),
    navigate(patch, navOptions) {
      const next = withRoute(route, patch);
      const hash = formatHash(next);
      if (navOptions?.replace) {
        history.replaceState(history.state, '', hash);
        applyRoute(next);
      } else if (location.hash !== hash) {
        location.hash = hash;
      } else {
        applyRoute(next);
      }
    },
    loadHistory,
    tileUrl: options.tileUrl,
  };

  const shell = createShell(ctx);
  options.root.replaceChildren(shell.el);

  /** History for a device over a range: once per device and range; live readings extend it. */
  function loadHistory(deviceId: string, range: RangeKey): Promise<HistoryStatus> {
    const fromMs = Date.now() - RANGES[range].ms;
    if (series.covers(deviceId, fromMs)) return Promise.resolve({ fromMs, truncated: false });
    const key = `${deviceId}|${range}`;
    let load = historyLoads.get(key);
    if (!load) {
      // Track first: live readings that arrive while the request runs are kept.
      series.track(deviceId);
      const generation = viewGeneration;
      load = api
        .readings({ devices: [deviceId], from: new Date(fromMs).toISOString(), limit: READINGS_LIMIT_MAX })
        .then((response) => {
          const truncated = response.count >= READINGS_LIMIT_MAX;
          // Newest first: the last one is the oldest loaded.
          const oldest = response.readings[response.readings.length - 1];
          const loadedFrom = truncated && oldest ? Date.parse(oldest.ts) : fromMs;
          // A view that is gone does not get its series back.
          if (generation === viewGeneration) series.loaded(deviceId, loadedFrom, response.readings);
          scheduleRender();
          return { fromMs: loadedFrom, truncated };
        })
        .finally(() => historyLoads.delete(key));
      historyLoads.set(key, load);
    }
    return load;
  }

  let renderPending = false;
  let lastRenderMs = 0;
  /**
   * Redraws on the next frame, but at most every RENDER_INTERVAL_MS: state follows every
   * frame's batch, the screen a few times a second, which is what a person can read and
   * keeps painting (the costly part with hundreds of SVG markers) bounded.
   */
  function scheduleRender(): void {
    if (renderPending) return;
    renderPending = true;
    const wait = Math.max(0, RENDER_INTERVAL_MS - (Date.now() - lastRenderMs));
    const run = () =>
      frameScheduler(() => {
        renderPending = false;
        render();
      });
    if (wait === 0) run();
    else setTimeout(run, wait);
  }

  function render(): void {
    lastRenderMs = Date.now();
    shell.update();
    view?.update();
  }

  function mountView(): void {
    view?.dispose();
    // Charts of the previous view are not needed any more; their history reloads on return.
    series.retainOnly(new Set());
    historyLoads.clear();
    viewGeneration += 1;
    switch (route.view) {
      case 'map':
        view = createMapPage(ctx);
        break;
      case 'charts':
        view = createChartsView(ctx);
        break;
      case 'devices':
        view = createDevicesView(ctx);
        break;
      case 'device':
        view = createDevicePage(ctx, route.deviceId!);
        break;
      case 'showcase':
        view = createShowcase(ctx);
        break;
      default:
        view = createOverview(ctx, { rate: () => rate.perSecond(Date.now()) });
    }
    shell.main.replaceChildren(view.el);
    document.title = `${titleOf(route)} · StreetLab`;
  }

  function applyRoute(next: Route): void {
    route = next;
    const key = next.view === 'device' ? `device/${next.deviceId}` : next.view;
    if (key !== viewKey) {
      viewKey = key;
      mountView();
      window.scrollTo(0, 0);
    }
    render();
  }

  const onHashChange = () => applyRoute(parseHash(location.hash));
  window.addEventListener('hashchange', onHashChange);

  const batcher = createBatcher<LiveEvent>({
    schedule: frameScheduler,
    onFlush(events) {
      const actions = actionsFromEvents(events);
      store.dispatch(...actions);
      for (const action of actions) {
        if (action.type === 'readings') {
          series.ingest(action.readings);
          rate.add(action.readings.length, Date.now());
        }
      }
      scheduleRender();
    },
  });

  store.subscribe(() => scheduleRender());

  async function backfill(downSinceMs: number, pass: number): Promise<void> {
    const from = new Date(downSinceMs - BACKFILL_MARGIN_MS).toISOString();
    const tracked = series.ids();
    try {
      // Every device's state comes back with /latest; the full gap is fetched only for the
      // charted devices (no hole in their lines) and for air sensors (today's EAQI hours).
      const [latest, rejections, alerts, charted, air] = await Promise.all([
        api.latest(),
        api.rejections({ from, limit: 1_000 }),
        api.alerts({ since: from, limit: 1_000 }),
        tracked.length > 0 ? fetchAllReadings(api, { devices: tracked, from }) : { readings: [], complete: true },
        fetchAllReadings(api, { kind: 'air', from }, 2),
      ]);
      // Oldest first, as they happened; duplicates of what arrived live merge away.
      const ordered = [...charted.readings, ...air.readings].sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
      series.ingest(ordered);
      store.dispatch(
        { type: 'readings', readings: latest, live: false },
        { type: 'readings', readings: ordered, live: false },
        { type: 'rejections', rejections },
        { type: 'alerts', alerts },
        ...(pass === 1 ? [{ type: 'backfilled' as const, atMs: Date.now(), readings: new Set(ordered.map((r) => `${r.deviceId}|${r.ts}`)).size }] : []),
      );
    } catch (error) {
      console.warn(`back-fill after reconnect failed: ${(error as Error).message}`);
    }
  }

  const live: LiveConnection = createLiveConnection({
    token: options.token,
    lab: options.lab,
    onEvent: (event) => batcher.push(event),
    onState: (state, atMs) => {
      batcher.flush();
      store.dispatch({ type: 'connection', state, atMs });
    },
    onReconnect: (downSinceMs) => {
      void backfill(downSinceMs, 1);
      setTimeout(() => void backfill(downSinceMs, 2), BACKFILL_SECOND_PASS_MS);
    },
  });

  /**
   * Kinds are data (GET /api/v1/kinds): loaded before anything is drawn by kind, and again
   * when a device of a kind the page does not know shows up (a kind added after the page loaded).
   */
  let kindsLoad: Promise<void> | undefined;
  function loadKinds(): Promise<void> {
    kindsLoad ??= api
      .kinds()
      .then((kinds) => {
        if (kinds) adoptKinds(kinds);
        scheduleRender();
      })
      .catch((error: unknown) => console.warn(`could not load the device kinds: ${(error as Error).message}`))
      .finally(() => {
        kindsLoad = undefined;
      });
    return kindsLoad;
  }
  const askedFor = new Set<string>();
  store.subscribe(() => {
    for (const device of store.get().devices.values()) {
      const { kind } = device.info;
      // Once per unknown kind: a device whose kind the API does not list must not make every redraw ask again.
      if (!isKnownKind(kind) && !askedFor.has(kind)) {
        askedFor.add(kind);
        void loadKinds();
        return;
      }
    }
  });

  async function initialLoad(): Promise<void> {
    await loadKinds();
    const [devices, latest, rejections, alerts] = await Promise.allSettled([api.devices(), api.latest(), api.rejections({ limit: 100 }), api.alerts({ limit: 100 })]);
    if (devices.status === 'fulfilled' && devices.value) store.dispatch({ type: 'registry-loaded', devices: devices.value });
    else store.dispatch({ type: 'registry-unavailable' });
    if (latest.status === 'fulfilled') store.dispatch({ type: 'readings', readings: latest.value, live: false });
    else console.warn(`could not load the latest readings: ${latest.reason}`);
    if (rejections.status === 'fulfilled') store.dispatch({ type: 'rejections', rejections: rejections.value });
    // Alerts that opened before the page did are still open: the feed shows them too.
    if (alerts.status === 'fulfilled') store.dispatch({ type: 'alerts', alerts: alerts.value });
    else console.warn(`could not load the active alerts: ${alerts.reason}`);
    // Today's EAQI per hour: air readings since local midnight (the newest 10,000 at most).
    try {
      const today = await api.readings({ kind: 'air', from: new Date(store.get().dayStartMs).toISOString(), limit: READINGS_LIMIT_MAX });
      store.dispatch({ type: 'readings', readings: today.readings, live: false });
    } catch (error) {
      console.warn(`could not load today's air readings: ${(error as Error).message}`);
    }
  }

  // Ages, offline transitions and the clock move without events: redraw every second.
  const ticker = setInterval(() => {
    const dayStartMs = startOfLocalDay(Date.now());
    if (dayStartMs !== store.get().dayStartMs) store.dispatch({ type: 'day-started', dayStartMs });
    scheduleRender();
  }, 1_000);

  applyRoute(route);
  void initialLoad().then(scheduleRender);

  return {
    store,
    close() {
      clearInterval(ticker);
      window.removeEventListener('hashchange', onHashChange);
      batcher.dispose();
      live.close();
      view?.dispose();
    },
  };
}

function titleOf(route: Route): string {
  switch (route.view) {
    case 'device':
      return route.deviceId ?? 'Device';
    case 'map':
      return 'Lab map';
    case 'charts':
      return 'Live charts';
    case 'devices':
      return 'Devices';
    case 'showcase':
      return 'Showcase';
    default:
      return 'Overview';
  }
}
