/**
 * GET /api/v1/dashboard-config: what the dashboard reads before it draws the map (the tile
 * server and its attribution). Public: the dashboard's page is public too, and the map must
 * know whether it has street tiles before anyone logs in.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { DashboardConfigSchema, type DashboardConfig } from '../../contracts/dashboard-config.ts';
import type { MapSettings } from '../map-config.ts';

export interface DashboardConfigRoutesOptions {
  map: MapSettings;
}

export const dashboardConfigRoutes: FastifyPluginAsyncZod<DashboardConfigRoutesOptions> = async (app, { map }) => {
  // Validated once at start: a bad setting fails the API's start, not the dashboard's first load.
  const body: DashboardConfig = DashboardConfigSchema.parse({ map: { tilesUrl: map.tilesUrl, attribution: map.attribution } });
  app.get(
    '/dashboard-config',
    {
      config: { access: 'public' },
      schema: { summary: "The dashboard's deployment settings: the street map's tile server and attribution", tags: ['dashboard'], response: { 200: DashboardConfigSchema } },
    },
    async (_request, reply) => reply.header('cache-control', 'no-cache').send(body),
  );
};
