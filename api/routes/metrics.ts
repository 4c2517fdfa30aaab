/**
 * `GET /metrics`: the API's Prometheus text — HTTP requests by route and status with their
 * latency, socket.io clients, the live feed, and whatever else the server registers. Outside
 * /api/ (like /healthz), for the scraper on the operator's network.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { MetricsRegistry } from '../../common/metrics.ts';

export interface MetricsRoutesOptions {
  registry: MetricsRegistry;
}

export const metricsRoutes: FastifyPluginAsync<MetricsRoutesOptions> = async (app, { registry }) => {
  const requests = registry.counter({ name: 'streetlab_api_http_requests_total', help: 'HTTP requests answered, by method, route and status class.', labelNames: ['method', 'route', 'status'] });
  const latency = registry.histogram({ name: 'streetlab_api_http_request_seconds', help: 'HTTP request latency, by route.', labelNames: ['route'] });
  const children = new Map<string, { count: ReturnType<typeof requests.labels> }>();
  const timers = new Map<string, ReturnType<typeof latency.labels>>();
  // Route patterns, not URLs, as labels: bounded however clients spell their requests.
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    if (route === '/metrics') return;
    const status = `${Math.floor(reply.statusCode / 100)}xx`;
    const key = `${request.method} ${route} ${status}`;
    let child = children.get(key);
    if (!child) {
      child = { count: requests.labels({ method: request.method, route, status }) };
      children.set(key, child);
    }
    child.count.inc();
    let timer = timers.get(route);
    if (!timer) {
      timer = latency.labels({ route });
      timers.set(route, timer);
    }
    timer.observe(reply.elapsedTime / 1000);
  });

  app.get('/metrics', { schema: { hide: true }, config: { access: 'public' } }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    return reply.type(registry.contentType).send(await registry.render());
  });
};
// Not encapsulated (what fastify-plugin does): the onResponse hook sees every route registered after it.
(metricsRoutes as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
