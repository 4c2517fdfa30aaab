/**
 * Alert rules (admin) and alerts (read: a reader key; not open data, even with PUBLIC_READ).
 * Rules are data: created, changed and removed here, evaluated by api/alerts/engine.ts.
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  AlertListResponseSchema,
  AlertRuleIdSchema,
  AlertRuleListResponseSchema,
  AlertRuleSchema,
  AlertsQuerySchema,
  CreateAlertRuleRequestSchema,
  ErrorResponseSchema,
  UpdateAlertRuleRequestSchema,
  type Alert,
} from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { AlertHistory } from '../alerts/history.ts';
import type { AlertRuleStore } from '../alerts/rule-store.ts';
import { parseTimeBound } from '../time-range.ts';

export interface AlertRoutesOptions {
  rules: AlertRuleStore;
  history: AlertHistory;
  now?: (() => number) | undefined;
}

const ParamsSchema = z.strictObject({ id: AlertRuleIdSchema });
const errors = { 400: ErrorResponseSchema, 401: ErrorResponseSchema, 403: ErrorResponseSchema, 404: ErrorResponseSchema, 429: ErrorResponseSchema };
const admin = { access: 'admin' as const };
const read = { access: 'read' as const };

export const alertRoutes: FastifyPluginAsyncZod<AlertRoutesOptions> = async (app, { rules, history, now = Date.now }) => {
  /** The rule if it exists in a lab the caller sees; another lab's answers like a missing one. */
  const found = (request: FastifyRequest, id: string) => {
    const rule = rules.get(id);
    if (!rule || !request.scope.sees(rule)) throw new AppError('NOT_FOUND', `no alert rule "${id}"`);
    return rule;
  };
  /** An alert of a device the caller sees, or (fleet-wide) of a rule of its lab. */
  const seesAlert = (request: FastifyRequest, alert: Alert) =>
    alert.deviceId !== undefined ? request.scope.seesDevice(alert.deviceId) : request.scope.sees(rules.get(alert.rule) ?? {});

  app.get('/alert-rules', {
    config: admin,
    schema: { summary: 'Alert rules', tags: ['alerts'], response: { 200: AlertRuleListResponseSchema, ...errors } },
  }, async (request) => ({ rules: rules.list().filter((rule) => request.scope.sees(rule)) }));

  app.get('/alert-rules/:id', {
    config: admin,
    schema: { summary: 'One alert rule', tags: ['alerts'], params: ParamsSchema, response: { 200: AlertRuleSchema, ...errors } },
  }, async (request) => found(request, request.params.id));

  app.post('/alert-rules', {
    config: admin,
    schema: {
      summary: 'Create an alert rule: threshold on a metric, EAQI level, offline, or reject rate',
      tags: ['alerts'],
      body: CreateAlertRuleRequestSchema,
      response: { 201: AlertRuleSchema, 409: ErrorResponseSchema, ...errors },
    },
  }, async (request, reply) => {
    const lab = await request.scope.labForNew(request.body.lab, 'alert rules');
    if (request.body.deviceId !== undefined && request.scope.forLab(lab).isForeign(request.body.deviceId)) {
      throw new AppError('BAD_REQUEST', `deviceId: no device "${request.body.deviceId}" in lab "${lab}"`);
    }
    const rule = await rules.create({ ...request.body, lab });
    request.log.info({ rule: rule.id, type: rule.type }, 'alert rule created');
    return reply.code(201).send(rule);
  });

  app.patch('/alert-rules/:id', {
    config: admin,
    schema: {
      summary: 'Change an alert rule (disable it with {"enabled": false}); active alerts clear when the condition changes',
      tags: ['alerts'],
      params: ParamsSchema,
      body: UpdateAlertRuleRequestSchema,
      response: { 200: AlertRuleSchema, ...errors },
    },
  }, async (request) => {
    found(request, request.params.id);
    const rule = await rules.update(request.params.id, request.body);
    request.log.info({ rule: rule.id, fields: Object.keys(request.body) }, 'alert rule updated');
    return rule;
  });

  app.delete('/alert-rules/:id', {
    config: admin,
    schema: { summary: 'Remove an alert rule; its active alerts clear', tags: ['alerts'], params: ParamsSchema, response: { 204: z.null(), ...errors } },
  }, async (request, reply) => {
    found(request, request.params.id);
    await rules.remove(request.params.id);
    request.log.info({ rule: request.params.id }, 'alert rule removed');
    return reply.code(204).send(null);
  });

  app.get('/alerts', {
    config: read,
    schema: {
      summary: 'Alerts, newest transition first: active (open or repeating) and cleared',
      tags: ['alerts'],
      querystring: AlertsQuerySchema,
      response: { 200: AlertListResponseSchema, ...errors },
    },
  }, async (request) => {
    const query = request.query;
    const sinceMs = query.since === undefined ? undefined : parseTimeBound(query.since, 'since', now());
    const visible = (alert: Alert) => seesAlert(request, alert);
    if (request.scope.lab === undefined) return { alerts: history.query({ state: query.state, deviceId: query.device, rule: query.rule, sinceMs, limit: query.limit }) };
    // Filtered before the limit, so a lab's page is as full as the platform's.
    return { alerts: history.query({ state: query.state, deviceId: query.device, rule: query.rule, sinceMs, limit: Number.MAX_SAFE_INTEGER }).filter(visible).slice(0, query.limit) };
  });
};
