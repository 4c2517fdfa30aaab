/**
 * Entry point of the dashboard (the only module with side effects): reads the optional API
 * key and tile server from the URL or localStorage, and starts the app.
 *
 *   /labs/{lab}/  that lab's dashboard (`/` is the default lab's)
 *   ?key=…    API key (or localStorage `streetlab.apiKey`); the lab's public read needs none
 *   ?tiles=…  tile URL template such as https://tiles.example/{z}/{x}/{y}.png
 *             (or localStorage `streetlab.tileUrl`); without it the street map uses the
 *             deployment's tiles (MAP_TILES_URL, from GET /api/v1/dashboard-config)
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { readApiKey, resolveDashboardLab } from './model/api-client.ts';
import { labFromPath } from './model/route.ts';
import { createApp } from './views/app.ts';

function readTileUrl(): string | undefined {
  const fromUrl = new URLSearchParams(location.search).get('tiles');
  let value = fromUrl ?? undefined;
  if (!value) {
    try {
      value = localStorage.getItem('streetlab.tileUrl') ?? undefined;
    } catch {
      value = undefined;
    }
  }
  // Only http(s) templates: the value ends up in image URLs.
  return value && /^https?:\/\//.test(value) && value.includes('{z}') ? value : undefined;
}

function storage(): Storage | undefined {
  try {
    return localStorage;
  } catch {
    return undefined;
  }
}

const root = document.getElementById('app');
if (!root) throw new Error('index.html has no #app element');
const token = readApiKey(location, storage());
// `/labs/{lab}/` shows that lab; `/` the default lab (asked of the API once, before anything loads).
const lab = await resolveDashboardLab(labFromPath(location.pathname), { token });
const app = createApp({ root, token, lab, tileUrl: readTileUrl() });
// A handle for people debugging in the console: `streetlab.store.get()`.
(window as unknown as { streetlab: typeof app }).streetlab = app;
