/**
 * The broker's HTTP ingestion listener: devices and network servers that do not speak our MQTT
 * contract send here, and every reading goes through the edge exactly as an MQTT one does
 * (broker/adapters/intake.ts). A 2xx is sent only once the readings are durable in the log.
 *
 *   POST /api/v1/devices/{id}/readings           HTTP devices: our JSON contract, one reading or an
 *                                                array; the device's own secret (Bearer, or basic id:secret)
 *   POST /api/v1/uplinks/ttn/{integration}       The Things Stack v3 webhook (uplink message)
 *   POST /api/v1/uplinks/chirpstack/{integration}?event=up   ChirpStack v4 HTTP integration
 *   POST /api/v1/uplinks/airrohr                 Sensor.Community firmware, basic auth id:secret
 *
 * Network servers authenticate with their integration's secret in the `X-StreetLab-Secret`
 * header. Bodies are read as bytes (whatever the content type says): a body that is not JSON
 * is recorded as a rejection like an MQTT payload that is not, not refused by the framework.
 *
 * Limits (./adapters/http-limits.ts): a source address whose requests keep failing
 * (authentication, unknown device or integration, oversized or malformed requests) is
 * answered 429 before any work once its failure budget is spent; a device that authenticated
 * is slowed down at its rate like an MQTT device; repeated DEVICE_UNKNOWN records of one
 * identifier are counted instead of stored one by one. The source address is the socket's,
 * or the X-Forwarded-For the API (EDGE_HTTP_URL) sets when it passes a request on, from
 * addresses `trustProxy` names (loopback by default).
 */
import type { AddressInfo } from 'node:net';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { INTEGRATION_SECRET_HEADER, type DeviceRecord, type IntegrationType } from '../contracts/index.ts';
import type { IntegrationStore } from '../common/registry/integrations.ts';
import type { DeviceRegistry } from '../common/registry/types.ts';
import type { Logger } from '../common/logger.ts';
import { createSilentLogger } from '../common/logger.ts';
import type { Edge } from './edge.ts';
import { adaptAirrohr, chipIdFromHeader } from './adapters/airrohr.ts';
import { adaptChirpStackUp } from './adapters/chirpstack.ts';
import { createDeviceIndex, type DeviceIndex } from './adapters/device-index.ts';
import { createFailureLimiter, createDeviceGate, type DeviceGate, type FailureLimiter } from './adapters/http-limits.ts';
import { createIntake, type Intake, type IntakeAnswer, type Origin } from './adapters/intake.ts';
import { adaptTtsUplink } from './adapters/ttn.ts';

export interface IngestHttpOptions {
  edge: Pick<Edge, 'submit' | 'refuse'>;
  registry: DeviceRegistry;
  integrations: IntegrationStore;
  host?: string;
  /** 0 = a free port. */
  port?: number;
  /** Largest request body (default 256 KiB); bigger → 413. */
  bodyLimitBytes?: number;
  /** Failed requests per source address: at once, and refilled per minute (default 20, 20); false = no limit. */
  failureLimit?: { burst: number; perMinute: number } | false;
  /** Authenticated devices' rate, as MQTT devices have (default 10/s, bursts of 50); false = none. */
  deviceRate?: { ratePerSecond: number; burst: number; maxWaiting?: number } | false;
  /** How long repeated DEVICE_UNKNOWN records of one identifier are counted instead of stored (default 60 s). */
  unknownWindowMs?: number;
  /**
   * Whose X-Forwarded-For is believed for the source address (Fastify's trustProxy: true,
   * false, or addresses/CIDRs/`loopback`/`uniquelocal`, comma-separated). Default `loopback`.
   */
  trustProxy?: boolean | string;
  logger?: Logger;
  now?: () => number;
}

export const DEFAULT_FAILURE_LIMIT = { burst: 20, perMinute: 20 };
export const DEFAULT_DEVICE_RATE = { ratePerSecond: 10, burst: 50 };

export interface IngestHttp {
  app: FastifyInstance;
  url: string;
  port: number;
  close(): Promise<void>;
}

const DEVICE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const BEARER = /^Bearer[ \t]+([\x21-\x7e]{1,512})[ \t]*$/i;
const BASIC = /^Basic[ \t]+([A-Za-z0-9+/=]{1,1024})[ \t]*$/i;

/** The credentials of an Authorization header: a bearer secret, or basic user:password. */
export function credentialsOf(header: string | undefined): { user?: string; secret: string } | undefined {
  if (!header) return undefined;
  const bearer = BEARER.exec(header);
  if (bearer) return { secret: bearer[1]! };
  const basic = BASIC.exec(header);
  if (!basic) return undefined;
  const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  return colon < 0 ? undefined : { user: text.slice(0, colon), secret: text.slice(colon + 1) };
}

function fail(reply: FastifyReply, status: number, error: string, message: string): FastifyReply {
  return reply.code(status).send({ error, message, statusCode: status });
}

function answer(reply: FastifyReply, result: IntakeAnswer): FastifyReply {
  if (result.retryAfterSeconds !== undefined) reply.header('retry-after', String(result.retryAfterSeconds));
  return reply.code(result.status).send(result.body);
}

export interface IngestHttpApp {
  app: FastifyInstance;
  devices: DeviceIndex;
  intake: Intake;
  /** Undefined when failures are not limited. */
  failures: FailureLimiter | undefined;
  /** Undefined when devices have no rate. */
  deviceGate: DeviceGate | undefined;
}

export function buildIngestHttpApp(options: IngestHttpOptions): IngestHttpApp {
  const log = options.logger ?? createSilentLogger();
  const devices = createDeviceIndex(options.registry);
  const failureLimit = options.failureLimit ?? DEFAULT_FAILURE_LIMIT;
  const failures = failureLimit === false ? undefined : createFailureLimiter({ ...failureLimit, ...(options.now ? { now: options.now } : {}) });
  const deviceRate = options.deviceRate ?? DEFAULT_DEVICE_RATE;
  const deviceGate = deviceRate === false ? undefined : createDeviceGate(deviceRate);
  const intake = createIntake({
    edge: options.edge,
    devices,
    logger: log,
    ...(options.now ? { now: options.now } : {}),
    ...(options.unknownWindowMs !== undefined ? { unknownWindowMs: options.unknownWindowMs } : {}),
    ...(deviceGate
      ? {
          admit: async (device) => {
            const verdict = await deviceGate.enter(device.id);
            if (verdict.ok) return undefined;
            const message = `device "${device.id}" has too many requests waiting for its rate (${deviceRate === false ? 0 : deviceRate.ratePerSecond}/s); send again in ${verdict.retryAfterSeconds} s`;
            return { status: 429, retryAfterSeconds: verdict.retryAfterSeconds, body: { error: 'DEVICE_RATE_EXCEEDED', message, statusCode: 429 } };
          },
        }
      : {}),
  });
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes ?? 256 * 1024,
    routerOptions: { ignoreTrailingSlash: true },
    trustProxy: options.trustProxy ?? 'loopback',
  });
  app.addHook('onClose', async () => {
    intake.close();
    deviceGate?.close();
    devices.close();
  });

  // A request that failed spends its source address's budget at once (once per request), so
  // the caller's next request already finds it spent.
  const counted = new WeakSet<FastifyRequest>();
  function countFailure(request: FastifyRequest): void {
    if (!failures || counted.has(request)) return;
    counted.add(request);
    failures.fail(request.ip);
  }
  if (failures) {
    app.addHook('onRequest', async (request, reply) => {
      const wait = failures.retryAfterSeconds(request.ip);
      if (wait === undefined) return;
      reply.header('retry-after', String(wait));
      return fail(
        reply,
        429,
        'TOO_MANY_FAILURES',
        `too many failed requests from ${request.ip}; send again in ${wait} s (check the device id and secret, or the integration id and its ${INTEGRATION_SECRET_HEADER})`,
      );
    });
  }
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  app.setErrorHandler((error: { statusCode?: number; message: string; code?: string }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (status < 500) countFailure(request);
    if (status === 500) log.error({ err: error }, 'ingest request failed');
    return fail(reply, status, status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 500 ? 'INTERNAL' : (error.code ?? 'BAD_REQUEST'), status === 500 ? 'internal error' : error.message);
  });

  const rawOf = (body: unknown): Buffer => (Buffer.isBuffer(body) ? body : Buffer.alloc(0));
  const jsonOf = (raw: Buffer): { ok: true; value: unknown } | { ok: false; message: string } => {
    try {
      return { ok: true, value: JSON.parse(raw.toString('utf8')) };
    } catch (error) {
      return { ok: false, message: `the body is not valid JSON (${error instanceof SyntaxError ? error.message : 'unparseable'})` };
    }
  };

  /** The device a request's own credentials prove, or the answer refusing it (sent). */
  async function authenticateDevice(request: FastifyRequest, reply: FastifyReply, claimedId: string | undefined, origin: Origin): Promise<DeviceRecord | undefined> {
    const device = await checkDevice(reply, request.headers.authorization, claimedId, origin);
    if (!device) countFailure(request);
    return device;
  }

  async function checkDevice(reply: FastifyReply, header: string | undefined, claimedId: string | undefined, origin: Origin): Promise<DeviceRecord | undefined> {
    const unauthorized = (message: string) => {
      reply.header('www-authenticate', 'Basic realm="streetlab", charset="UTF-8"');
      fail(reply, 401, 'UNAUTHORIZED', message);
      return undefined;
    };
    const credentials = credentialsOf(header);
    if (!credentials) return unauthorized("send the device's secret: Authorization: Bearer <secret>, or basic auth with the device id as user and the secret as password");
    const id = claimedId ?? credentials.user;
    if (id === undefined || !DEVICE_ID.test(id)) return unauthorized('the basic auth user must be the device id');
    if (claimedId !== undefined && credentials.user !== undefined && credentials.user !== claimedId) {
      fail(reply, 403, 'FORBIDDEN', `these credentials name device "${credentials.user}", not "${claimedId}"`);
      return undefined;
    }
    let verdict = await options.registry.verifySecret(id, credentials.secret);
    if (!verdict.ok && verdict.reason === 'UNKNOWN_DEVICE') {
      // Registered a moment ago in another process? Read the registry afresh before refusing.
      await options.registry.refresh?.();
      verdict = await options.registry.verifySecret(id, credentials.secret);
    }
    if (verdict.ok) return verdict.device;
    switch (verdict.reason) {
      case 'UNKNOWN_DEVICE':
        answer(reply, await intake.unknownDevice(`no registered device "${id}"; register it first (POST /api/v1/devices)`, origin, `device ${id}`));
        return undefined;
      case 'DISABLED':
        fail(reply, 403, 'DEVICE_DISABLED', `device "${id}" is disabled; its readings are not taken`);
        return undefined;
      case 'BUSY':
        reply.header('retry-after', '1');
        fail(reply, 503, 'BUSY', 'too many secret checks at once; try again in a second');
        return undefined;
      default:
        return unauthorized(`wrong secret for device "${id}"`);
    }
  }

  /** The integration a webhook's secret header opens, or the answer refusing it (sent). */
  async function authenticateIntegration(request: FastifyRequest, reply: FastifyReply, id: string, type: IntegrationType) {
    const integration = await checkIntegration(reply, id, type, request.headers[INTEGRATION_SECRET_HEADER]);
    if (!integration) countFailure(request);
    return integration;
  }

  async function checkIntegration(reply: FastifyReply, id: string, type: IntegrationType, secret: string | string[] | undefined) {
    if (typeof secret !== 'string' || secret === '') {
      fail(reply, 401, 'UNAUTHORIZED', `send the integration's secret in the ${INTEGRATION_SECRET_HEADER} header (set it as an additional header in the network server's webhook)`);
      return undefined;
    }
    let verdict = options.integrations.verifySecret(id, secret);
    if (!verdict.ok && verdict.reason !== 'DISABLED') {
      await options.integrations.refresh();
      verdict = options.integrations.verifySecret(id, secret);
    }
    if (!verdict.ok) {
      if (verdict.reason === 'UNKNOWN') fail(reply, 404, 'NOT_FOUND', `no integration "${id}" (POST /api/v1/integrations creates one)`);
      else if (verdict.reason === 'DISABLED') fail(reply, 403, 'INTEGRATION_DISABLED', `integration "${id}" is disabled`);
      else fail(reply, 401, 'UNAUTHORIZED', `wrong ${INTEGRATION_SECRET_HEADER} for integration "${id}"`);
      return undefined;
    }
    if (verdict.integration.type !== type) {
      fail(reply, 400, 'BAD_REQUEST', `integration "${id}" is a ${verdict.integration.type} integration; send to /api/v1/uplinks/${verdict.integration.type}/${id}`);
      return undefined;
    }
    return verdict.integration;
  }

  app.post<{ Params: { id: string } }>('/api/v1/devices/:id/readings', async (request, reply) => {
    const { id } = request.params;
    if (!DEVICE_ID.test(id)) {
      countFailure(request);
      return fail(reply, 400, 'BAD_REQUEST', 'id: device id must be 1–64 of A–Z a–z 0–9 _ . -');
    }
    const raw = rawOf(request.body);
    const origin: Origin = { topic: `POST /api/v1/devices/${id}/readings`, raw };
    const device = await authenticateDevice(request, reply, id, origin);
    if (!device) return reply;
    const json = jsonOf(raw);
    if (!json.ok) return answer(reply, await intake.refuse('PAYLOAD_NOT_JSON', json.message, origin, device));
    return answer(reply, await intake.readings(device, json.value, origin));
  });

  const uplinkRoute = (type: IntegrationType, adapt: (body: unknown) => ReturnType<typeof adaptTtsUplink>) =>
    app.post<{ Params: { integration: string }; Querystring: { event?: string } }>(`/api/v1/uplinks/${type}/:integration`, async (request, reply) => {
      const { integration: id } = request.params;
      const integration = await authenticateIntegration(request, reply, id, type);
      if (!integration) return reply;
      // ChirpStack posts every event type to one URL and names it in ?event=: only uplinks carry readings.
      if (type === 'chirpstack') {
        const event = request.query.event;
        if (event === undefined) return fail(reply, 400, 'BAD_REQUEST', 'event: missing; ChirpStack sends ?event=up for uplinks');
        if (event !== 'up') return reply.code(204).send();
      }
      const raw = rawOf(request.body);
      const origin: Origin = { topic: `POST /api/v1/uplinks/${type}/${id}`, raw, owner: integration.owner };
      const json = jsonOf(raw);
      if (!json.ok) return answer(reply, await intake.refuse('PAYLOAD_NOT_JSON', json.message, origin));
      return answer(reply, await intake.uplink(adapt(json.value), origin));
    });
  uplinkRoute('ttn', adaptTtsUplink);
  uplinkRoute('chirpstack', adaptChirpStackUp);

  app.post('/api/v1/uplinks/airrohr', async (request, reply) => {
    const raw = rawOf(request.body);
    const sensor = typeof request.headers['x-sensor'] === 'string' ? request.headers['x-sensor'] : undefined;
    const origin: Origin = { topic: `POST /api/v1/uplinks/airrohr${sensor ? ` (${sensor})` : ''}`, raw };
    const device = await authenticateDevice(request, reply, undefined, origin);
    if (!device) return reply;
    const json = jsonOf(raw);
    if (!json.ok) return answer(reply, await intake.refuse('PAYLOAD_NOT_JSON', json.message, origin, device));
    const result = adaptAirrohr(json.value, sensor);
    const chipId = result.ok ? result.uplink.lookup.airrohrChipId : chipIdFromHeader(sensor);
    if (device.airrohrChipId !== undefined && chipId !== undefined && chipId !== device.airrohrChipId) {
      countFailure(request);
      return fail(reply, 403, 'FORBIDDEN', `sensor esp8266-${chipId} is not device "${device.id}" (registered chip id ${device.airrohrChipId})`);
    }
    return answer(reply, await intake.uplink(result, origin, device));
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  return { app, devices, intake, failures, deviceGate };
}

/** The listener on its port (`startIngestHttp`); closed with the broker. */
export async function startIngestHttp(options: IngestHttpOptions): Promise<IngestHttp> {
  const { app } = buildIngestHttpApp(options);
  const host = options.host ?? '127.0.0.1';
  try {
    await app.listen({ host, port: options.port ?? 8088 });
  } catch (error) {
    await app.close().catch(() => {});
    throw error;
  }
  const port = (app.server.address() as AddressInfo).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return { app, port, url: `http://${shown}:${port}`, close: () => app.close() };
}
