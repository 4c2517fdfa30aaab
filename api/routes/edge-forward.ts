/**
 * One public port: the API passes readings sent by HTTP devices and network servers to the
 * broker's HTTP ingestion listener (EDGE_HTTP_URL, broker/ingest-http.ts) unchanged — body
 * bytes, credentials and the headers the senders use — and answers what the edge answered, so
 * a 2xx still means "durable in the log". Nothing is checked or parsed here: the edge is the one
 * place readings are validated and devices authenticated (access `device`).
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

export interface EdgeForwardOptions {
  /** The broker's HTTP ingestion listener, e.g. http://127.0.0.1:8088. */
  edgeUrl: string;
  /** Longest wait for the edge's answer (default 30 s: it answers after the fsync). */
  timeoutMs?: number;
}

/** Request headers the senders' credentials and identities travel in. */
const FORWARDED_REQUEST_HEADERS = ['content-type', 'authorization', 'x-streetlab-secret', 'x-sensor', 'x-pin', 'user-agent'];
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'retry-after', 'www-authenticate'];

export const edgeForwardRoutes: FastifyPluginAsync<EdgeForwardOptions> = async (app, options) => {
  // This plugin's own context: bodies stay bytes, whatever their content type says.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  async function forward(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const headers: Record<string, string> = {};
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = request.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    headers['x-forwarded-for'] = request.ip; // the edge limits failing callers by their address, not the API's
    let response: Response;
    try {
      response = await fetch(new URL(request.url, options.edgeUrl), {
        method: 'POST',
        headers,
        ...(Buffer.isBuffer(request.body) ? { body: request.body } : {}),
        signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
      });
    } catch (error) {
      request.log.warn({ err: error instanceof Error ? error.message : String(error) }, 'edge HTTP ingestion unreachable');
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({ error: 'EDGE_UNAVAILABLE', message: 'the broker\'s ingestion endpoint is not reachable; nothing was stored, send again', statusCode: 503 });
    }
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) reply.header(name, value);
    }
    const body = Buffer.from(await response.arrayBuffer());
    return reply.code(response.status).send(body.byteLength > 0 ? body : undefined);
  }

  const device = { access: 'device' as const };
  app.post('/api/v1/devices/:id/readings', {
    config: device,
    schema: {
      summary: 'An HTTP device sends one reading or an array (the MQTT JSON contract); Authorization: Bearer <device secret> or basic id:secret. 201 stored, 202 some rejected, 400 rejected',
      tags: ['ingestion'],
    },
  }, forward);
  app.post('/api/v1/uplinks/*', {
    config: device,
    schema: {
      summary: 'Network servers and Sensor.Community: /uplinks/ttn/{integration}, /uplinks/chirpstack/{integration}?event=up (header X-StreetLab-Secret), /uplinks/airrohr (basic auth id:secret)',
      tags: ['ingestion'],
    },
  }, forward);
};
