/** Labs (README "Several labs"): labs list, labs create. Creating one takes the platform admin. */
import type { Lab } from '../../../contracts/index.ts';
import { LabConfigShape } from '../../labs/config.ts';
import { UsageError, type RegistryCommand } from '../shared.ts';

function describeLab(lab: Lab, defaultLab?: string): string {
  const { south, west, north, east } = lab.area;
  return `${lab.id.padEnd(24)} ${lab.name}${lab.id === defaultLab ? '  (default lab)' : ''}\n${''.padEnd(25)}area ${south},${west},${north},${east}`;
}

/** `--area south,west,north,east`, checked exactly as LAB_AREA is (the same words when it is wrong). */
function parseArea(text: string): Lab['area'] {
  const parsed = LabConfigShape.LAB_AREA.safeParse(text);
  if (!parsed.success) throw new UsageError(`labs create: --area: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return parsed.data;
}

export const LAB_COMMANDS: RegistryCommand[] = [
  {
    name: 'labs list',
    help: '  labs list              the labs (with their areas) and which is the default lab',
    options: {},
    async run(ctx, backend) {
      const { labs, defaultLab } = await backend.listLabs();
      ctx.print(labs.length === 0 ? `no labs yet (the default lab "${defaultLab}" is created on the API's first start)` : labs.map((lab) => describeLab(lab, defaultLab)).join('\n'), { labs, defaultLab });
      return 0;
    },
  },
  {
    name: 'labs create',
    help: `  labs create <id> --name <name> --area <south,west,north,east>
                         create a lab (platform admin: ADMIN_TOKEN); the dashboard's map opens
                         on its area; then add its devices and keys with --lab <id>`,
    options: { name: { type: 'string' }, area: { type: 'string' } },
    async run(ctx, backend) {
      const id = ctx.need('id');
      const name = ctx.option('name');
      if (!name) throw new UsageError('labs create: --name is required');
      const area = ctx.option('area');
      if (!area) throw new UsageError('labs create: --area is required (south,west,north,east in degrees, e.g. 55.68,12.53,55.71,12.57)');
      const lab = await backend.createLab({ id, name, area: parseArea(area) });
      ctx.print(`created\n${describeLab(lab)}\n\n  its dashboard: /labs/${lab.id}/`, lab);
      return 0;
    },
  },
];
