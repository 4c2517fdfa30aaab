/** Devices: add, list, show, update, rotate, disable, enable, remove. */
import { KIND_ID_PATTERN, LabIdSchema, readingKinds, type DeviceRecord, type DeviceSource, type DeviceWithSecret, type FieldMapping, type ReadingKind, type UpdateDeviceRequest } from '../../../contracts/index.ts';
import { UsageError, json, number, type OptionsConfig, type RegistryCommand } from '../shared.ts';

const LOCATION = {
  name: { type: 'string' },
  owner: { type: 'string' },
  lat: { type: 'string' },
  lon: { type: 'string' },
  site: { type: 'string' },
  interval: { type: 'string' },
  meta: { type: 'string' },
} as const satisfies OptionsConfig;

/** How a device sends and the identifiers other systems know it by (README, "Devices that do not speak MQTT"). */
const SOURCE = {
  source: { type: 'string' },
  'dev-eui': { type: 'string' },
  'ttn-device-id': { type: 'string' },
  'airrohr-chip-id': { type: 'string' },
  'field-map': { type: 'string' },
} as const satisfies OptionsConfig;

/** The source options given, as request fields; the registry validates them and names a bad one. */
function sourceFields(ctx: { option(name: string): string | undefined }): Pick<DeviceRecord, 'source' | 'devEui' | 'ttnDeviceId' | 'airrohrChipId' | 'fieldMap'> {
  const [source, devEui, ttnDeviceId, airrohrChipId, fieldMap] = (['source', 'dev-eui', 'ttn-device-id', 'airrohr-chip-id', 'field-map'] as const).map((o) => ctx.option(o));
  return {
    ...(source !== undefined ? { source: source as DeviceSource } : {}),
    ...(devEui !== undefined ? { devEui } : {}),
    ...(ttnDeviceId !== undefined ? { ttnDeviceId } : {}),
    ...(airrohrChipId !== undefined ? { airrohrChipId } : {}),
    ...(fieldMap !== undefined ? { fieldMap: json(fieldMap, 'field-map') as FieldMapping } : {}),
  };
}

export function describeDevice(d: DeviceRecord): string {
  return [
    `${d.id}  (${d.kind}${d.enabled ? '' : ', DISABLED'})`,
    `  name      ${d.name}`,
    `  owner     ${d.owner}`,
    `  location  ${d.lat}, ${d.lon}${d.site ? `  (${d.site})` : ''}`,
    `  interval  ${d.intervalSeconds} s`,
    `  created   ${d.createdAt}   updated ${d.updatedAt}`,
    ...(Object.keys(d.meta).length > 0 ? [`  meta      ${JSON.stringify(d.meta)}`] : []),
    ...(d.source && d.source !== 'mqtt' ? [`  source    ${d.source}${[d.devEui && ` DevEUI ${d.devEui}`, d.ttnDeviceId && ` TTS id ${d.ttnDeviceId}`, d.airrohrChipId && ` chip ${d.airrohrChipId}`].filter(Boolean).join(',')}`] : []),
    ...(d.fieldMap ? [`  fieldMap  ${JSON.stringify(d.fieldMap)}`] : []),
    ...(d.lab ? [`  lab       ${d.lab}`] : []),
  ].join('\n');
}

function describeSecret(issued: DeviceWithSecret): string {
  const d = issued.device;
  return [
    describeDevice(d),
    '',
    `  MQTT secret (shown only now; store it on the device):`,
    `    ${issued.secret}`,
    '',
    `  Connect with client id and username "${d.id}" and this secret as password; publish to lab/v1/${d.kind}/${d.id}`,
  ].join('\n');
}

const add: RegistryCommand = {
  name: 'add',
  help: `  add <id> --kind <kind> --owner <owner> --lat <deg> --lon <deg>
           [--site <label>] [--name <name>] [--interval <s>] [--meta <json>] [--disabled]
           [--source mqtt|http|ttn|chirpstack|airrohr] [--dev-eui <hex>] [--ttn-device-id <id>]
           [--airrohr-chip-id <n>] [--field-map <json>] [--lab <lab>]
                         register a device (in --lab, default the default lab); prints its
                         MQTT secret (shown only once)`,
  options: { kind: { type: 'string' }, ...LOCATION, ...SOURCE, disabled: { type: 'boolean' }, lab: { type: 'string' } },
  async run(ctx, backend) {
    const id = ctx.need('id');
    const kind = ctx.option('kind');
    // Which kinds exist is the catalogue's (the API answers 400 for an unknown one); here only the form.
    if (!kind || !KIND_ID_PATTERN.test(kind)) throw new UsageError(`add: --kind must be a kind id such as ${readingKinds().join(', ')} (GET /api/v1/kinds lists them all)`);
    const owner = ctx.option('owner');
    if (!owner) throw new UsageError('add: --owner is required');
    const lat = number(ctx.option('lat'), 'lat');
    const lon = number(ctx.option('lon'), 'lon');
    if (lat === undefined || lon === undefined) throw new UsageError('add: --lat and --lon are required');
    const name = ctx.option('name');
    const site = ctx.option('site');
    const lab = ctx.option('lab');
    if (lab !== undefined && !LabIdSchema.safeParse(lab).success) throw new UsageError(`add: --lab must be a lab id (lower-case letters, digits and -, at most 32); got "${lab}"`);
    const issued = await backend.create({
      id,
      kind: kind as ReadingKind,
      owner,
      lat,
      lon,
      ...(name ? { name } : {}),
      ...(site ? { site } : {}),
      intervalSeconds: number(ctx.option('interval'), 'interval') ?? 60,
      enabled: !ctx.flag('disabled'),
      meta: json(ctx.option('meta'), 'meta') ?? {},
      ...sourceFields(ctx),
      ...(lab !== undefined ? { lab } : {}),
    });
    ctx.print(describeSecret(issued), issued);
    return 0;
  },
};

const list: RegistryCommand = {
  name: 'list',
  help: '  list                   list registered devices',
  options: {},
  async run(ctx, backend) {
    const devices = await backend.list();
    const lines = devices.map((d) => `${d.id.padEnd(24)} ${d.kind.padEnd(8)} ${(d.enabled ? 'enabled' : 'DISABLED').padEnd(9)} ${d.owner.padEnd(20)} ${d.site ?? ''}`);
    ctx.print(devices.length === 0 ? 'no devices registered' : [`${'ID'.padEnd(24)} ${'KIND'.padEnd(8)} ${'STATE'.padEnd(9)} ${'OWNER'.padEnd(20)} SITE`, ...lines].join('\n'), { devices });
    return 0;
  },
};

const show: RegistryCommand = {
  name: 'show',
  help: '  show <id>              one device',
  options: {},
  async run(ctx, backend) {
    const device = await backend.get(ctx.need('id'));
    ctx.print(describeDevice(device), device);
    return 0;
  },
};

const update: RegistryCommand = {
  name: 'update',
  help: '  update <id> [--name …] [--owner …] [--lat …] [--lon …] [--site …|--no-site] [--interval …] [--meta <json>] [--source …] [--dev-eui …] [--ttn-device-id …] [--airrohr-chip-id …] [--field-map <json>]',
  options: { ...LOCATION, ...SOURCE, 'no-site': { type: 'boolean' } },
  async run(ctx, backend) {
    const id = ctx.need('id');
    const [name, owner, lat, lon, site, interval, meta] = (['name', 'owner', 'lat', 'lon', 'site', 'interval', 'meta'] as const).map((o) => ctx.option(o));
    const patch: UpdateDeviceRequest = {
      ...(name !== undefined ? { name } : {}),
      ...(owner !== undefined ? { owner } : {}),
      ...(lat !== undefined ? { lat: number(lat, 'lat') } : {}),
      ...(lon !== undefined ? { lon: number(lon, 'lon') } : {}),
      ...(site !== undefined ? { site } : ctx.flag('no-site') ? { site: null } : {}),
      ...(interval !== undefined ? { intervalSeconds: number(interval, 'interval') } : {}),
      ...(meta !== undefined ? { meta: json(meta, 'meta') } : {}),
      ...sourceFields(ctx),
    };
    if (Object.keys(patch).length === 0) throw new UsageError('update: nothing to change; give --name, --owner, --lat, --lon, --site, --no-site, --interval or --meta');
    const device = await backend.update(id, patch);
    ctx.print(describeDevice(device), device);
    return 0;
  },
};

const rotate: RegistryCommand = {
  name: 'rotate',
  help: '  rotate <id>            issue a new secret; the old one stops working at once',
  options: {},
  async run(ctx, backend) {
    const issued = await backend.rotate(ctx.need('id'));
    ctx.print(describeSecret(issued), issued);
    return 0;
  },
};

function setEnabled(name: 'disable' | 'enable', help: string): RegistryCommand {
  return {
    name,
    help,
    options: {},
    async run(ctx, backend) {
      const device = await backend.update(ctx.need('id'), { enabled: name === 'enable' });
      ctx.print(describeDevice(device), device);
      return 0;
    },
  };
}

const remove: RegistryCommand = {
  name: 'remove',
  help: '  remove <id>            delete the device (its data stays in InfluxDB)',
  options: {},
  async run(ctx, backend) {
    const id = ctx.need('id');
    await backend.remove(id);
    ctx.print(`removed ${id}`, { removed: id });
    return 0;
  },
};

export const DEVICE_COMMANDS: RegistryCommand[] = [
  add,
  list,
  show,
  update,
  rotate,
  setEnabled('disable', "  disable <id>           refuse the device's connections (and close the open ones)"),
  setEnabled('enable', '  enable <id>            accept it again'),
  remove,
];
