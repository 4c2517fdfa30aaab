/**
 * Trials over HTTP. Creating, changing and closing trials is admin-only. Reading is for
 * admins (every trial) and for reader keys with an owner (that owner's trials only): another
 * owner's trial answers 404 exactly like a missing one, so not even its existence leaks.
 * Reader keys without an owner and anonymous callers (PUBLIC_READ) see no trials: a trial
 * is a company's business, not open data.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import {
  CloseTrialRequestSchema,
  CreateTrialRequestSchema,
  ErrorResponseSchema,
  TrialIdSchema,
  TrialListResponseSchema,
  TrialReportQuerySchema,
  TrialReportSchema,
  TrialSchema,
  UpdateTrialRequestSchema,
  type Trial,
} from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { TrialStore } from '../trials/store.ts';
import { renderTrialReportHtml } from '../trials/html.ts';
import { buildTrialReport, resolveReportPeriod, type TrialReportDeps } from '../trials/report.ts';

export interface TrialRoutesOptions {
  trials: TrialStore;
  report: Omit<TrialReportDeps, 'now'>;
  now: () => number;
}

const ParamsSchema = z.strictObject({ id: TrialIdSchema });
const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 404: ErrorResponseSchema, 429: ErrorResponseSchema };
const admin = { access: 'admin' as const };
const read = { access: 'read' as const };

/** Which trials the caller may see: all (admin) or one owner's. */
type Viewer = { all: true } | { all: false; owner: string };

function viewerOf(request: FastifyRequest, reply: FastifyReply): Viewer {
  const principal = request.principal;
  if (!principal) {
    reply.header('www-authenticate', 'Bearer realm="streetlab"');
    throw new AppError('UNAUTHORIZED', 'trials need a bearer token: an admin token, or an API key with an owner');
  }
  if (principal.role === 'admin') return { all: true };
  if (principal.owner !== undefined) return { all: false, owner: principal.owner };
  throw new AppError('FORBIDDEN', 'trials are visible to admins and to API keys with an owner; this key has none');
}

function visible(viewer: Viewer, trial: Trial, request: FastifyRequest): boolean {
  return (viewer.all || trial.owner === viewer.owner) && request.scope.sees(trial);
}

/** A lab's trial tests the lab's devices: another lab's device is as unknown as a missing one. */
function checkLabDevices(request: FastifyRequest, lab: string, deviceIds: readonly string[]): void {
  const scope = request.scope.forLab(lab);
  for (const id of deviceIds) {
    if (scope.isForeign(id)) throw new AppError('BAD_REQUEST', `deviceIds: no device "${id}" in lab "${lab}"`);
  }
}

export const trialRoutes: FastifyPluginAsyncZod<TrialRoutesOptions> = async (app, { trials, report, now }) => {
  /** The trial if it exists and the caller may see it; otherwise the same 404 either way. */
  async function visibleTrial(request: FastifyRequest, reply: FastifyReply, id: string): Promise<Trial> {
    const viewer = viewerOf(request, reply);
    const trial = await trials.get(id);
    if (!trial || !visible(viewer, trial, request)) throw new AppError('NOT_FOUND', `no trial "${id}"`);
    return trial;
  }

  app.get('/trials', {
    config: read,
    schema: { summary: 'Trials (an owner key sees its own only)', tags: ['trials'], response: { 200: TrialListResponseSchema, ...errors } },
  }, async (request, reply) => {
    const viewer = viewerOf(request, reply);
    return { trials: (await trials.list()).filter((t) => visible(viewer, t, request)) };
  });

  app.get('/trials/:id', {
    config: read,
    schema: { summary: 'One trial', tags: ['trials'], params: ParamsSchema, response: { 200: TrialSchema, ...errors } },
  }, async (request, reply) => visibleTrial(request, reply, request.params.id));

  app.post('/trials', {
    config: admin,
    schema: { summary: 'Create a trial', tags: ['trials'], body: CreateTrialRequestSchema, response: { 201: TrialSchema, 409: ErrorResponseSchema, ...errors } },
  }, async (request, reply) => {
    const lab = await request.scope.labForNew(request.body.lab, 'trials');
    checkLabDevices(request, lab, [...request.body.deviceIds, ...(request.body.referenceDeviceId ? [request.body.referenceDeviceId] : [])]);
    const trial = await trials.create({ ...request.body, lab });
    request.log.info({ trialId: trial.id, owner: trial.owner, devices: trial.deviceIds.length }, 'trial created');
    return reply.code(201).send(trial);
  });

  app.patch('/trials/:id', {
    config: admin,
    schema: { summary: 'Change a trial (goals merge: only those given change)', tags: ['trials'], params: ParamsSchema, body: UpdateTrialRequestSchema, response: { 200: TrialSchema, ...errors } },
  }, async (request, reply) => {
    const current = await visibleTrial(request, reply, request.params.id);
    checkLabDevices(request, request.scope.labOf(current), [...(request.body.deviceIds ?? []), ...(request.body.referenceDeviceId ? [request.body.referenceDeviceId] : [])]);
    const trial = await trials.update(request.params.id, request.body);
    request.log.info({ trialId: trial.id, fields: Object.keys(request.body) }, 'trial updated');
    return trial;
  });

  app.post('/trials/:id/close', {
    config: admin,
    schema: {
      summary: 'Close a trial (end = the given time, its planned end if past, else now)',
      tags: ['trials'],
      params: ParamsSchema,
      body: CloseTrialRequestSchema.nullish(),
      response: { 200: TrialSchema, 409: ErrorResponseSchema, ...errors },
    },
  }, async (request, reply) => {
    await visibleTrial(request, reply, request.params.id);
    const trial = await trials.closeTrial(request.params.id, request.body ?? {});
    request.log.info({ trialId: trial.id, end: trial.end }, 'trial closed');
    return trial;
  });

  app.get('/trials/:id/report', {
    config: read,
    schema: {
      summary: 'The device report of a trial, over its period or a sub-range: JSON, or a printable HTML page with charts (format=html)',
      tags: ['trials'],
      params: ParamsSchema,
      querystring: TrialReportQuerySchema,
      response: { 200: z.union([TrialReportSchema, z.string().describe('format=html: the printable page (text/html)')]), ...errors },
    },
  }, async (request, reply) => {
    const trial = await visibleTrial(request, reply, request.params.id);
    const nowMs = now();
    const period = resolveReportPeriod(trial, request.query, nowMs);
    const built = await buildTrialReport({ ...report, now: () => nowMs }, trial, period);
    if (request.query.format === 'html') {
      // Self-contained (no scripts, no external assets): a tight CSP costs nothing.
      return reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
        .header('cache-control', 'private, no-store')
        .serializer((payload: unknown) => payload as string)
        .send(renderTrialReportHtml(built));
    }
    return reply.header('cache-control', 'private, no-store').send(built);
  });
};
