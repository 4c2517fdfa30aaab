/**
 * MQTT credentials of StreetLab's own services (ingest, the API's live hub, monitors).
 *
 * One secret, `SERVICE_TOKEN`, is shared by the broker and the services; each service role
 * gets its own password derived from it (HMAC-SHA256), with username `svc:{role}`. A
 * service process may be given only its derived password (`MQTT_USERNAME` +
 * `MQTT_PASSWORD`, printed by `npm run devices -- service-credentials {role}`), so a leaked
 * API process cannot write the live feed as ingest. `:` cannot occur in a device id, so a
 * service username never collides with a device.
 */
import { createHmac } from 'node:crypto';
import { generateSecret } from './secrets.ts';

export const SERVICE_ROLES = ['ingest', 'api', 'monitor'] as const;
export type ServiceRole = (typeof SERVICE_ROLES)[number];
export const SERVICE_USERNAME_PREFIX = 'svc:';
/** A service token shorter than this is refused at start. */
export const MIN_SERVICE_TOKEN_LENGTH = 32;

export interface MqttCredentials {
  username: string;
  password: string;
}

export function generateServiceToken(): string {
  return generateSecret(32);
}

export function serviceUsername(role: ServiceRole): string {
  return `${SERVICE_USERNAME_PREFIX}${role}`;
}

/** The role a `svc:{role}` username names, or undefined. */
export function parseServiceUsername(username: string): ServiceRole | undefined {
  if (!username.startsWith(SERVICE_USERNAME_PREFIX)) return undefined;
  const role = username.slice(SERVICE_USERNAME_PREFIX.length);
  return (SERVICE_ROLES as readonly string[]).includes(role) ? (role as ServiceRole) : undefined;
}

export function servicePassword(serviceToken: string, role: ServiceRole): string {
  return createHmac('sha256', serviceToken).update(`streetlab/mqtt-service/v1/${role}`).digest('base64url');
}

export function serviceCredentials(serviceToken: string, role: ServiceRole): MqttCredentials {
  return { username: serviceUsername(role), password: servicePassword(serviceToken, role) };
}

/**
 * The credentials a service process connects with: explicit MQTT_USERNAME/MQTT_PASSWORD win
 * (e.g. for an external broker), else derived from SERVICE_TOKEN, else none (open broker).
 */
export function resolveServiceCredentials(
  role: ServiceRole,
  env: { MQTT_USERNAME?: string | undefined; MQTT_PASSWORD?: string | undefined; SERVICE_TOKEN?: string | undefined },
): MqttCredentials | undefined {
  if (env.MQTT_USERNAME) return { username: env.MQTT_USERNAME, password: env.MQTT_PASSWORD ?? '' };
  if (env.SERVICE_TOKEN) return serviceCredentials(env.SERVICE_TOKEN, role);
  return undefined;
}
