/**
 * Who may call what. Every route has an access level:
 *   public  anyone (health, docs, the dashboard's files, the data licence)
 *   open    open data: readers and admins; with PUBLIC_READ also anonymous callers, who get
 *           the open-data view (readings, latest values, windows, indices, exports, bin
 *           analytics, devices without owner or metadata — api/open-data.ts) with the licence
 *   read    readers and admins only, whatever PUBLIC_READ says (rejections with their payload
 *           excerpts, alerts, jobs, trials)
 *   admin   admins only (registering devices, rotating secrets, API keys, alert rules)
 *   device  readings sent by devices and network servers, forwarded to the broker's edge, which
 *           checks their own secrets (a device secret is not an API key, so no 401 here)
 * A route states it with `config: { access }`; without it, routes under /api/ are `read`
 * and everything else is `public`, so a new data route is never open by accident: opening
 * one to anonymous callers is a decision written next to the route.
 *
 * Credentials travel as `Authorization: Bearer <token>` (socket.io: handshake
 * `auth: { token }`): the admin token (ADMIN_TOKEN) or an API key from the registry. No
 * credentials → 401, the wrong role → 403, a token that matches nothing → 401 even on a
 * public route (the caller should know its token is wrong). Tokens are compared in constant
 * time and never logged (common/logger.ts redacts the authorization header).
 *
 * The structure: `authenticate` turns a token into a Principal (who), `check` decides by the
 * route's access level and the principal (may they), `registerAuth` runs both on every
 * request and leaves the principal on `request.principal` for routes that shape their answer
 * by it (no principal on an `open` route = the open-data view).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiKeyRole } from '../../contracts/index.ts';
import { AppError } from '../../common/errors.ts';
import type { DeviceRegistry } from '../../common/registry/types.ts';
import { safeEqual } from '../../common/registry/secrets.ts';
import { createLabScope, resolveLabScope, type LabDirectory, type LabScope } from '../labs/scope.ts';
import { DEFAULT_LAB_ID, LAB_QUERY_PARAMETER, PLATFORM_KEY_LAB } from '../../contracts/index.ts';

export type Access = 'public' | 'open' | 'read' | 'admin' | 'device';

export interface Principal {
  role: ApiKeyRole;
  /** `admin-token`, or the API key's id. */
  id: string;
  /** A reader key scoped to one owner's trials (contracts/devices.ts). */
  owner?: string | undefined;
  /** The one lab the credentials see, or `*` for every lab (the admin token, platform keys). */
  lab?: string | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    principal?: Principal | null;
    /** The lab this request sees (api/labs/scope.ts), resolved once per request. */
    scope: LabScope;
  }
}

export interface AuthSettings {
  /** The root credential; undefined = no admin token (admin routes need an admin API key). */
  adminToken?: string | undefined;
  /** Open data: `open` routes and the live feed's readings need no credentials. */
  publicRead: boolean;
  registry?: Pick<DeviceRegistry, 'verifyApiKey'> | undefined;
  /** The labs (api/labs/scope.ts): which lab a key without one belongs to, and which labs `?lab=` may pick. */
  labs?: LabDirectory | undefined;
}

export interface Authenticator {
  readonly publicRead: boolean;
  /** The principal a bearer token stands for, or undefined for a token that matches nothing. */
  authenticate(token: string): Principal | undefined;
  /** `undefined` when no header; `null` when credentials were sent but are not valid. */
  fromRequest(request: FastifyRequest): Principal | null | undefined;
  /** May `principal` use a route of this access level? 'ok', or the status to answer. */
  check(access: Access, principal: Principal | null | undefined): 'ok' | 401 | 403;
  /** The lab scope of a principal that picked `picked` (`?lab=`); AppError NOT_FOUND for a lab it may not see. */
  scopeOf(principal: Principal | null | undefined, picked: string | undefined): Promise<LabScope>;
}

const BEARER = /^Bearer[ \t]+([\x21-\x7e]{1,512})[ \t]*$/i;

export function createAuthenticator(settings: AuthSettings): Authenticator {
  const resolved = new WeakMap<FastifyRequest, Principal | null | undefined>();

  function authenticate(token: string): Principal | undefined {
    if (settings.adminToken && safeEqual(token, settings.adminToken)) return { role: 'admin', id: 'admin-token', lab: PLATFORM_KEY_LAB };
    const key = settings.registry?.verifyApiKey(token);
    // A key made before labs belongs to the default lab.
    const lab = key?.lab ?? settings.labs?.defaultLab ?? DEFAULT_LAB_ID;
    return key ? { role: key.role, id: key.id, ...(key.owner !== undefined ? { owner: key.owner } : {}), lab } : undefined;
  }

  return {
    publicRead: settings.publicRead,
    authenticate,
    scopeOf: (principal, picked) => resolveLabScope(settings.labs, principal?.lab, picked),
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
      // Forwarded to the edge, which checks the device's or integration's own secret (api/routes/edge-forward.ts).
      if (access === 'device') return 'ok';
      if (principal === null) return 401;
      if (access === 'public') return 'ok';
      if (access === 'open') return principal || settings.publicRead ? 'ok' : 401;
      if (access === 'read') return principal ? 'ok' : 401;
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

function deny(reply: FastifyReply, status: 401 | 403, principal: Principal | null | undefined, access: Access, publicRead: boolean): never {
  if (status === 401) {
    reply.header('www-authenticate', 'Bearer realm="streetlab"');
    // With PUBLIC_READ on, say why this one is closed: it is not part of the open data.
    const why = publicRead && access !== 'open' ? 'this endpoint is not open data; it needs' : 'this endpoint needs';
    throw new AppError('UNAUTHORIZED', principal === null ? 'the bearer token is not valid' : `${why} a bearer token: Authorization: Bearer <API key>`);
  }
  throw new AppError('FORBIDDEN', `this endpoint needs the admin role; your credentials have the ${principal?.role ?? 'no'} role`);
}

/** Adds the access check to every request of `app` (register on the root instance). */
export function registerAuth(app: FastifyInstance, authenticator: Authenticator): void {
  app.decorateRequest('principal', null);
  app.decorateRequest('scope', null as unknown as LabScope);
  app.addHook('onRequest', async (request, reply) => {
    const principal = authenticator.fromRequest(request);
    request.principal = principal ?? null;
    const access = accessOf(request);
    const verdict = authenticator.check(access, principal);
    if (verdict !== 'ok') deny(reply, verdict, principal, access, authenticator.publicRead);
    // Every route sees one lab or all of them, decided here once: `?lab=` is taken off the
    // query before the route's own schema (often strict) sees it.
    const query = request.query as Record<string, unknown> | undefined;
    const picked = query?.[LAB_QUERY_PARAMETER];
    if (query && picked !== undefined) delete query[LAB_QUERY_PARAMETER];
    if (Array.isArray(picked) || (picked !== undefined && typeof picked !== 'string')) throw new AppError('BAD_REQUEST', 'lab: give one lab id');
    request.scope = access === 'public' && picked === undefined ? createLabScope(undefined, undefined) : await authenticator.scopeOf(principal, picked);
  });
}
