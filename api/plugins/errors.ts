/**
 * One error shape for every failure: `{ error: CODE, message, statusCode }`, where the
 * message names the offending parameter or field. Internal details stay in the log.
 */
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { isAppError, type ErrorCode } from '../../common/errors.ts';

const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  STORE_UNAVAILABLE: 503,
  STORE_QUERY_FAILED: 502,
  STORE_REJECTED: 502,
};

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const where = error.validationContext ?? 'request';
      const problems = error.validation.map((v) => {
        const field = v.instancePath.replace(/^\//, '').replace(/\//g, '.') || (v.params as { issue?: { keys?: string[] } })?.issue?.keys?.join(', ') || where;
        return `${field}: ${v.message}`;
      });
      return reply.code(400).send({ error: 'BAD_REQUEST', message: `invalid ${where}: ${problems.join('; ')}`, statusCode: 400 });
    }
    if (isAppError(error)) {
      const status = STATUS_BY_CODE[error.code] ?? 500;
      if (status >= 500) request.log.error({ err: error }, 'request failed');
      return reply.code(status).send({ error: error.code, message: error.message, statusCode: status });
    }
    if (isResponseSerializationError(error)) {
      request.log.error({ err: error }, 'response did not match its schema');
      return reply.code(500).send({ error: 'INTERNAL', message: 'internal error', statusCode: 500 });
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.code(500).send({ error: 'INTERNAL', message: 'internal error', statusCode: 500 });
    }
    // fastify's own 4xx (bad JSON body, body too large, unsupported media type …)
    return reply.code(status).send({ error: error.code ?? 'BAD_REQUEST', message: error.message, statusCode: status });
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({ error: 'NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}`, statusCode: 404 });
  });
}
