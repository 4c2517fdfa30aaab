/** Network-server integrations: integrations list, integrations add, integrations rotate, integrations remove. */
import { INTEGRATION_TYPES, type IntegrationType, type IntegrationWithSecret } from '../../../contracts/index.ts';
import { UsageError, type RegistryCommand } from '../shared.ts';

function describeSecret(created: IntegrationWithSecret): string {
  const { integration, secret } = created;
  const path = integration.type === 'ttn' ? `/api/v1/uplinks/ttn/${integration.id}` : `/api/v1/uplinks/chirpstack/${integration.id}`;
  return [
    `${integration.id}  ${integration.type}  ${integration.name}${integration.owner ? `  (owner ${integration.owner})` : ''}`,
    '',
    `  webhook secret (shown only now): ${secret}`,
    `  the network server sends it as the header  X-StreetLab-Secret: ${secret}`,
    `  to  https://<your lab>${path}${integration.type === 'chirpstack' ? '  (ChirpStack adds ?event=up)' : ''}`,
  ].join('\n');
}

export const INTEGRATION_COMMANDS: RegistryCommand[] = [
  {
    name: 'integrations list',
    help: '  integrations list      network-server integrations (without secrets)',
    options: {},
    async run(ctx, backend) {
      const integrations = await backend.listIntegrations();
      ctx.print(
        integrations.length === 0
          ? 'no integrations'
          : integrations.map((i) => `${i.id.padEnd(24)} ${i.type.padEnd(11)} ${(i.enabled ? 'enabled' : 'DISABLED').padEnd(9)} ${i.mqtt ? `bridge ${i.mqtt.url}` : 'webhook'}${i.owner ? `  (owner ${i.owner})` : ''}`).join('\n'),
        { integrations },
      );
      return 0;
    },
  },
  {
    name: 'integrations add',
    help: `  integrations add <id> --type ttn|chirpstack [--owner <owner>]
           [--mqtt-url <url> [--mqtt-username <user>] [--mqtt-topic <topic>]]
                         create an integration; prints its webhook secret (shown only once);
                         the bridge's MQTT password comes from MQTT_BRIDGE_PASSWORD, never an argument`,
    options: { type: { type: 'string' }, owner: { type: 'string' }, 'mqtt-url': { type: 'string' }, 'mqtt-username': { type: 'string' }, 'mqtt-topic': { type: 'string' } },
    async run(ctx, backend) {
      const id = ctx.need('id');
      const type = ctx.option('type');
      if (!type || !(INTEGRATION_TYPES as readonly string[]).includes(type)) throw new UsageError(`integrations add: --type must be one of ${INTEGRATION_TYPES.join(', ')}`);
      const [owner, url, username, topic] = (['owner', 'mqtt-url', 'mqtt-username', 'mqtt-topic'] as const).map((o) => ctx.option(o));
      if (url === undefined && (username !== undefined || topic !== undefined)) throw new UsageError('integrations add: --mqtt-username and --mqtt-topic need --mqtt-url');
      const password = ctx.env.MQTT_BRIDGE_PASSWORD;
      const created = await backend.createIntegration({
        id,
        type: type as IntegrationType,
        enabled: true,
        ...(owner !== undefined ? { owner } : {}),
        ...(url !== undefined
          ? { mqtt: { url, ...(username !== undefined ? { username } : {}), ...(password ? { password } : {}), ...(topic !== undefined ? { topic } : {}) } }
          : {}),
      });
      ctx.print(describeSecret(created), created);
      return 0;
    },
  },
  {
    name: 'integrations rotate',
    help: '  integrations rotate <id>  new webhook secret; the old one stops working at once',
    options: {},
    async run(ctx, backend) {
      const rotated = await backend.rotateIntegration(ctx.need('id'));
      ctx.print(describeSecret(rotated), rotated);
      return 0;
    },
  },
  {
    name: 'integrations remove',
    help: '  integrations remove <id>  remove it: its webhook secret stops working, its bridge disconnects',
    options: {},
    async run(ctx, backend) {
      const id = ctx.need('id');
      await backend.removeIntegration(id);
      ctx.print(`removed ${id}`, { removed: id });
      return 0;
    },
  },
];
