/** service-credentials <role>: a service's MQTT password, derived from SERVICE_TOKEN. */
import { SERVICE_ROLES, serviceCredentials, type ServiceRole } from '../../../common/registry/index.ts';
import { UsageError, type LocalCommand } from '../shared.ts';

export const SERVICE_CREDENTIALS: LocalCommand = {
  name: 'service-credentials',
  local: true,
  help: `  service-credentials <ingest|api|monitor>
                         MQTT_USERNAME / MQTT_PASSWORD for one service, derived from
                         SERVICE_TOKEN (environment): give a service only its own password`,
  options: {},
  async run(ctx) {
    const role = ctx.need('role');
    if (!(SERVICE_ROLES as readonly string[]).includes(role)) throw new UsageError(`service-credentials: role must be one of ${SERVICE_ROLES.join(', ')}`);
    const token = ctx.env.SERVICE_TOKEN;
    if (!token) throw new Error('SERVICE_TOKEN is not set in the environment');
    const credentials = serviceCredentials(token, role as ServiceRole);
    ctx.print(`MQTT_USERNAME=${credentials.username}\nMQTT_PASSWORD=${credentials.password}`, credentials);
    return 0;
  },
};
