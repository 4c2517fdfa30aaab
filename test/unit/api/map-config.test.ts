/**
 * The street map's settings: MAP_TILES_URL and MAP_ATTRIBUTION validated with an error that
 * names them, served at GET /api/v1/dashboard-config without credentials, and a plain-http
 * tile server allowed as an image source by the Content-Security-Policy.
 */
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../../api/app.ts';
import { ApiConfigSchema } from '../../../api/config.ts';
import { mapSettingsFromConfig, tileImageSource } from '../../../api/map-config.ts';
import type { ReadingStore } from '../../../api/store.ts';
import { parseConfig } from '../../../common/config.ts';
import { DashboardConfigSchema } from '../../../contracts/dashboard-config.ts';
import { LabConfigSchema } from '../../../lab/config.ts';

const store = new Proxy({}, { get: () => async () => [] }) as unknown as ReadingStore;

describe('street map settings', () => {
  it('default to OpenStreetMap with the credit its licence requires', () => {
    const settings = mapSettingsFromConfig(parseConfig(ApiConfigSchema, {}));
    expect(settings.tilesUrl).toBe('https://tile.openstreetmap.org/{z}/{x}/{y}.png');
    expect(settings.attribution).toContain('OpenStreetMap contributors');
    expect(settings.attribution).toContain('href="https://www.openstreetmap.org/copyright"');
  });

  it('are taken as configured, by the API and by the lab alike', () => {
    const env = { MAP_TILES_URL: 'http://tiles.control-room.local:8081/{z}/{x}/{y}.png', MAP_ATTRIBUTION: 'Base map © City of Copenhagen' };
    expect(mapSettingsFromConfig(parseConfig(ApiConfigSchema, env))).toEqual({ tilesUrl: env.MAP_TILES_URL, attribution: env.MAP_ATTRIBUTION });
    expect(mapSettingsFromConfig(parseConfig(LabConfigSchema, env))).toEqual({ tilesUrl: env.MAP_TILES_URL, attribution: env.MAP_ATTRIBUTION });
  });

  it.each([
    ['MAP_TILES_URL', 'tile.openstreetmap.org/{z}/{x}/{y}.png', /http/],
    ['MAP_TILES_URL', 'javascript:alert(1)//{z}/{x}/{y}', /http/],
    ['MAP_TILES_URL', 'https://tiles.example/{z}/{x}.png', /\{y\}/],
    ['MAP_ATTRIBUTION', '<img src=x onerror=alert(1)>', /no other markup/],
    ['MAP_ATTRIBUTION', '<a href="javascript:alert(1)">x</a>', /no other markup/],
  ])('refuse a bad %s (%s) with an error naming it', (name, value, why) => {
    expect(() => parseConfig(ApiConfigSchema, { [name]: value })).toThrow(new RegExp(`${name}: .*`));
    expect(() => parseConfig(ApiConfigSchema, { [name]: value })).toThrow(why);
  });

  it('let a plain-http tile server through the Content-Security-Policy, sub-domains as a wildcard', () => {
    expect(tileImageSource('https://tile.openstreetmap.org/{z}/{x}/{y}.png')).toBeUndefined();
    expect(tileImageSource('http://127.0.0.1:8081/tiles/{z}/{x}/{y}.png')).toBe('http://127.0.0.1:8081');
    expect(tileImageSource('http://{s}.tiles.local/{z}/{x}/{y}.png')).toBe('http://*.tiles.local');
  });
});

describe('GET /api/v1/dashboard-config', () => {
  it('answers without credentials, in the contract, with the configured tiles', async () => {
    const map = { tilesUrl: 'http://127.0.0.1:8081/{z}/{x}/{y}.png', attribution: '© <a href="https://tiles.example/copyright">Example</a>' };
    const app = await buildApp({ store, auth: { publicRead: false }, map });
    try {
      const response = await app.inject({ method: 'GET', url: '/api/v1/dashboard-config' });
      expect(response.statusCode).toBe(200);
      expect(DashboardConfigSchema.parse(response.json())).toEqual({ map });
      // A read route next to it still needs a key: only this one is public.
      expect((await app.inject({ method: 'GET', url: '/api/v1/latest' })).statusCode).toBe(401);
      const csp = String(response.headers['content-security-policy']);
      expect(csp).toMatch(/img-src [^;]*http:\/\/127\.0\.0\.1:8081/);
    } finally {
      await app.close();
    }
  });

  it('defaults to OpenStreetMap, and then adds no http source to the policy', async () => {
    const app = await buildApp({ store });
    try {
      const response = await app.inject({ method: 'GET', url: '/api/v1/dashboard-config' });
      expect(response.json()).toMatchObject({ map: { tilesUrl: 'https://tile.openstreetmap.org/{z}/{x}/{y}.png' } });
      expect(String(response.headers['content-security-policy'])).not.toMatch(/img-src [^;]*http:\/\//);
    } finally {
      await app.close();
    }
  });

  it('refuses to start with settings outside the contract, naming the problem', async () => {
    await expect(buildApp({ store, map: { tilesUrl: 'ftp://tiles.example/{z}/{x}/{y}.png', attribution: 'x' } })).rejects.toThrow(/http/);
  });
});
