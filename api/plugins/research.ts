/**
 * The research API's settings and rollup job (api/jobs/research.ts) as a fastify plugin:
 * built from its options, started (retention, then the rollup schedule) in `onReady`,
 * closed in `onClose`. Decorates the app with `research` (limits and lookupInterval for the
 * read routes; see researchOf). Register it before the jobs plugin: `onReady` hooks run in
 * registration order, and the rollups' retention policy must exist before their first run.
 */
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { InfluxClient } from '../../common/influx.ts';
import type { Logger } from '../../common/logger.ts';
import type { DeviceRegistry } from '../../common/registry/types.ts';
import { createResearch, type Research, type ResearchOptions } from '../jobs/research.ts';
import type { Scheduler } from '../jobs/scheduler.ts';

export interface ResearchPluginOptions {
  /** The rollup job writes rollups and applies retention (a job, not a route: routes read through a ReadingStore). */
  influx: Pick<InfluxClient, 'query' | 'write' | 'settings'>;
  research: ResearchOptions;
  /** The rollup job runs as the scheduler's job `rollups`. */
  scheduler?: Scheduler | undefined;
  registry?: DeviceRegistry | undefined;
  logger?: Logger | undefined;
}

const DECORATOR = 'research';

/** The app's research settings and job, when the plugin is registered. */
export function researchOf(app: FastifyInstance): Research | undefined {
  return app.hasDecorator(DECORATOR) ? app.getDecorator<Research>(DECORATOR) : undefined;
}

export const researchPlugin = fp<ResearchPluginOptions>(
  async (app, options) => {
    const research = createResearch(options.influx, options.research, { logger: options.logger, registry: options.registry, scheduler: options.scheduler });
    app.decorate(DECORATOR, research);
    app.addHook('onReady', async () => {
      await research.start();
    });
    app.addHook('onClose', async () => {
      await research.close();
    });
  },
  { name: 'streetlab-research', fastify: '5.x' },
);
