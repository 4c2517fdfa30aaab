/**
 * Alert rules (admin) and alerts (read, like readings: a reader key or PUBLIC_READ).
 * Rules are data: created, changed and removed here, evaluated by api/alerts/engine.ts.
 */
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
  const found = (id: string) => {
    const rule = rules.get(id);
    if (!rule) throw new AppError('NOT_FOUND', `no alert rule "${id}"`);
    return rule;
  };

  app.get('/alert-rules', {
    config: admin,
    schema: { summary: 'Alert rules', tags: ['alerts'], response: { 200: AlertRuleListResponseSchema, ...errors } },
  }, async () => ({ rules: rules.list() }));

  app.get('/alert-rules/:id', {
    config: admin,
    schema: { summary: 'One alert rule', tags: ['alerts'], params: ParamsSchema, response: { 200: AlertRuleSchema, ...errors } },
  }, async (request) => found(request.params.id));

  app.post('/alert-rules', {
    config: admin,
    schema: {
      summary: 'Create an alert rule: threshold on a metric, EAQI level, offline, or reject rate',
      tags: ['alerts'],
      body: CreateAlertRuleRequestSchema,
      response: { 201: AlertRuleSchema, 409: ErrorResponseSchema, ...errors },
    },
  }, async (request, reply) => {
    const rule = await rules.create(request.body);
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
    found(request.params.id);
    const rule = await rules.update(request.params.id, request.body);
    request.log.info({ rule: rule.id, fields: Object.keys(request.body) }, 'alert rule updated');
    return rule;
  });

  app.delete('/alert-rules/:id', {
    config: admin,
    schema: { summary: 'Remove an alert rule; its active alerts clear', tags: ['alerts'], params: ParamsSchema, response: { 204: z.null(), ...errors } },
  }, async (request, reply) => {
    found(request.params.id);
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
    return { alerts: history.query({ state: query.state, deviceId: query.device, rule: query.rule, sinceMs, limit: query.limit }) };
  });
};
