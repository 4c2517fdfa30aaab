import { describe, expect, it } from 'vitest';
import { DEFAULT_MAP_ATTRIBUTION, parseAttribution } from '../../../contracts/dashboard-config.ts';
import { attributionHtml, fetchDashboardConfig, mapTilesOf } from '../../../dashboard/model/map-tiles.ts';
import { createTileProbe } from '../../../dashboard/model/tile-reachability.ts';

const CONFIG = { map: { tilesUrl: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png', attribution: DEFAULT_MAP_ATTRIBUTION } };

describe('map attribution', () => {
  it('splits text and links, entities decoded', () => {
    expect(parseAttribution('&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap contributors</a>, tiles by Us')).toEqual([
      { text: '© ' },
      { text: 'OpenStreetMap contributors', href: 'https://www.openstreetmap.org/copyright' },
      { text: ', tiles by Us' },
    ]);
  });

  it('refuses any other markup', () => {
    expect(parseAttribution('<b>bold</b>')).toBeUndefined();
    expect(parseAttribution('<a href="https://x.example" onclick="evil()">x</a>')).toBeUndefined();
    expect(parseAttribution('<a href="data:text/html,x">x</a>')).toBeUndefined();
  });

  it('renders to HTML with every text escaped and links opening apart', () => {
    const html = attributionHtml([{ text: 'A & B "quoted" ' }, { text: '<OSM>', href: 'https://www.openstreetmap.org/copyright' }, { text: 'x', href: 'javascript:alert(1)' }]);
    expect(html).toBe('A &amp; B &quot;quoted&quot; <a href="https://www.openstreetmap.org/copyright" target="_blank" rel="noopener noreferrer">&lt;OSM&gt;</a>x');
  });
});

describe('map tiles', () => {
  it('come from the deployment, or from the page override credited to its host', () => {
    expect(mapTilesOf(CONFIG)).toEqual({ url: CONFIG.map.tilesUrl, attribution: parseAttribution(DEFAULT_MAP_ATTRIBUTION) });
    expect(mapTilesOf(CONFIG, 'https://tiles.example:8443/{z}/{x}/{y}.png')).toEqual({
      url: 'https://tiles.example:8443/{z}/{x}/{y}.png',
      attribution: [{ text: 'Map tiles: tiles.example:8443' }],
    });
    expect(mapTilesOf(undefined)).toBeUndefined();
  });

  it('checks the dashboard config against the contract and says what answered', async () => {
    const answer = (status: number, body: unknown): typeof fetch => async () => new Response(JSON.stringify(body), { status });
    await expect(fetchDashboardConfig(answer(200, CONFIG))).resolves.toEqual(CONFIG);
    await expect(fetchDashboardConfig(answer(404, { error: 'NOT_FOUND' }))).rejects.toThrow(/dashboard-config answered 404/);
    await expect(fetchDashboardConfig(answer(200, { map: { tilesUrl: 'https://x.example/tiles.png', attribution: 'x' } }))).rejects.toThrow(/\{z\}/);
  });
});

describe('tile server reachability', () => {
  it('is settled by the first tile that loads, whatever fails after it', () => {
    const probe = createTileProbe(3);
    probe.started();
    probe.started();
    expect(probe.failed()).toBe('pending');
    expect(probe.loaded()).toBe('available');
    probe.failed();
    probe.failed();
    expect(probe.timedOut()).toBe('available');
  });

  it('gives up after a few failures with nothing loaded', () => {
    const probe = createTileProbe(3);
    for (let i = 0; i < 12; i++) probe.started();
    expect(probe.failed()).toBe('pending');
    expect(probe.failed()).toBe('pending');
    expect(probe.failed()).toBe('unavailable');
    expect(probe.loaded()).toBe('unavailable');
  });

  it('gives up when every tile asked for failed, even fewer than the limit', () => {
    const probe = createTileProbe(3);
    probe.started();
    probe.started();
    probe.failed();
    expect(probe.verdict).toBe('pending');
    expect(probe.failed()).toBe('unavailable');
  });

  it('gives up when no tile arrived in time', () => {
    const probe = createTileProbe();
    probe.started();
    expect(probe.timedOut()).toBe('unavailable');
  });
});
