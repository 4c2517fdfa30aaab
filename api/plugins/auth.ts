/**
 * Who may call what. Every route has an access level:
 *   public  anyone (health, docs, the dashboard's files)
 *   read    readers and admins; everyone when PUBLIC_READ is on (readings, devices, live feed)
 *   admin   admins only (registering devices, rotating secrets, API keys)
 * A route states it with `config: { access }`; without it, routes under /api/ are `read`
 * and everything else is `public`, so a new data route is never open by accident.
 *
 * Credentials travel as `Authorization: Bearer <token>` (socket.io: handshake
 * `auth: { token }`): the admin token (ADMIN_TOKEN) or an API key from the registry. No
 * credentials → 401, the wrong role → 403, a token that matches nothing → 401 even on a
 * public route (the caller should know its token is wrong). Tokens are compared in constant
 * time and never logged (common/logger.ts redacts the authorization header).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyRole } from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { DeviceRegistry } from '../../common/registry/types.ts';
import { safeEqual } from '../../common/registry/secrets.ts';

export type Access = 'public' | 'read' | 'admin';

export interface Principal {
  role: ApiKeyRole;
  /** `admin-token`, or the API key's id. */
  id: string;
  /** A reader key scoped to one owner's trials (contracts/devices.ts). */
  owner?: string | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal?: Principal | null;
  }
}

export interface AuthSettings {
  /** The root credential; undefined = no admin token (admin routes need an admin API key). */
  adminToken?: string | undefined;
  /** Open data: read routes and the live feed need no credentials. */
  publicRead: boolean;
  registry?: Pick<DeviceRegistry, 'verifyApiKey'> | undefined;
}

export interface Authenticator {
  readonly publicRead: boolean;
  /** The principal a bearer token stands for, or undefined for a token that matches nothing. */
  authenticate(token: string): Principal | undefined;
  /** `undefined` when no header; `null` when credentials were sent but are not valid. */
  fromRequest(request: FastifyRequest): Principal | null | undefined;
  /** May `principal` use a route of this access level? 'ok', or the status to answer. */
  check(access: Access, principal: Principal | null | undefined): 'ok' | 401 | 403;
}

const BEARER = /^Bearer[ \t]+([\x21-\x7e]{1,512})[ \t]*$/i;

export function createAuthenticator(settings: AuthSettings): Authenticator {
  const resolved = new WeakMap<FastifyRequest, Principal | null | undefined>();

  function authenticate(token: string): Principal | undefined {
    if (settings.adminToken && safeEqual(token, settings.adminToken)) return { role: 'admin', id: 'admin-token' };
    const key = settings.registry?.verifyApiKey(token);
    return key ? { role: key.role, id: key.id, ...(key.owner !== undefined ? { owner: key.owner } : {}) } : undefined;
  }

  return {
    publicRead: settings.publicRead,
    authenticate,
    fromRequest(request) {
      if (resolved.has(request)) return resolved.get(request);
      const header = request.headers.authorization;
      let principal: Principal | null | undefined;
      if (header === undefined || header === '') principal = undefined;
      else {
        const match = BEARER.exec(header);
        principal = match ? (authenticate(match[1]!) ?? null) : null;
      }
      resolved.set(request, principal);
      return principal;
    },
    check(access, principal) {
      if (principal === null) return 401;
      if (access === 'public') return 'ok';
      if (access === 'read') return principal || settings.publicRead ? 'ok' : 401;
      if (!principal) return 401;
      return principal.role === 'admin' ? 'ok' : 403;
    },
  };
}

export function accessOf(request: FastifyRequest): Access {
  const configured = request.routeOptions.config?.access;
  if (configured) return configured;
  return request.url.startsWith('/api/') ? 'read' : 'public';
}

function deny(reply: FastifyReply, status: 401 | 403, principal: Principal | null | undefined): never {
  if (status === 401) {
    reply.header('www-authenticate', 'Bearer realm="streetlab"');
    throw new AppError('UNAUTHORIZED', principal === null ? 'the bearer token is not valid' : 'this endpoint needs a bearer token: Authorization: Bearer <API key>');
  }
  throw new AppError('FORBIDDEN', `this endpoint needs the admin role; your credentials have the ${principal?.role ?? 'no'} role`);
}

/** Adds the access check to every request of `app` (register on the root instance). */
export function registerAuth(app: FastifyInstance, authenticator: Authenticator): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request, reply) => {
    const principal = authenticator.fromRequest(request);
    request.principal = principal ?? null;
    const verdict = authenticator.check(accessOf(request), principal);
    if (verdict !== 'ok') deny(reply, verdict, principal);
  });
}
