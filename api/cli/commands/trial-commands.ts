/** Trials: trial add, list, show, update, close, report (`trials` works as well as `trial`). */
import type { Trial, TrialReport, UpdateTrialRequest } from '../../../contracts/index.ts';
import { UsageError, number, type CommandContext, type OptionsConfig, type RegistryCommand } from '../shared.ts';

const TRIAL_FIELDS = {
  name: { type: 'string' },
  owner: { type: 'string' },
  devices: { type: 'string' },
  start: { type: 'string' },
  end: { type: 'string' },
  interval: { type: 'string' },
  completeness: { type: 'string' },
  'max-reject-rate': { type: 'string' },
  'max-latency-p95': { type: 'string' },
  reference: { type: 'string' },
} as const satisfies OptionsConfig;

function describeTrial(t: Trial): string {
  const g = t.goals;
  return [
    `${t.id}  (${t.status})`,
    `  name       ${t.name}`,
    `  owner      ${t.owner}`,
    `  devices    ${t.deviceIds.join(', ')}`,
    `  period     ${t.start} – ${t.end ?? 'open-ended'}`,
    `  goals      every ${g.intervalSeconds} s; completeness ≥ ${g.completenessPct} %; reject rate ≤ ${g.maxRejectRatePct} %${g.maxLatencyP95Ms !== undefined ? `; latency p95 ≤ ${g.maxLatencyP95Ms} ms` : ''}`,
    ...(t.referenceDeviceId ? [`  reference  ${t.referenceDeviceId}`] : []),
  ].join('\n');
}

function describeReport(report: TrialReport): string {
  const lines = [`Trial ${report.trial.id} (${report.trial.name}), ${report.period.from} – ${report.period.to}: ${report.allGoalsMet ? 'every goal met' : 'NOT every goal met'}`];
  for (const d of report.devices) {
    lines.push('', `${d.deviceId}: completeness ${d.completenessPct} %, uptime ${d.uptimePct} %, ${d.gaps.count} gaps (${d.gaps.missing} missing), ${d.duplicates.count} duplicates, ${d.outOfOrder.count} out of order, ${d.rejections.total} rejected`);
    for (const v of d.verdicts) lines.push(`  ${v.met ? 'met    ' : 'NOT MET'}  ${v.text}`);
    for (const c of d.reference?.pollutants ?? []) lines.push(`  vs ${d.reference!.deviceId} ${c.pollutant}: bias ${c.bias}, RMSE ${c.rmse}, R² ${c.r2}, ${c.pairedHours} paired hours`);
  }
  return lines.join('\n');
}

/** The goals given as options (only those given). */
function goalsOf(ctx: CommandContext) {
  const interval = ctx.option('interval');
  const completeness = ctx.option('completeness');
  const maxRejectRate = ctx.option('max-reject-rate');
  const maxLatency = ctx.option('max-latency-p95');
  return {
    ...(interval !== undefined ? { intervalSeconds: number(interval, 'interval') } : {}),
    ...(completeness !== undefined ? { completenessPct: number(completeness, 'completeness') } : {}),
    ...(maxRejectRate !== undefined ? { maxRejectRatePct: number(maxRejectRate, 'max-reject-rate') } : {}),
    ...(maxLatency !== undefined ? { maxLatencyP95Ms: number(maxLatency, 'max-latency-p95') } : {}),
  };
}

function devicesOf(ctx: CommandContext): string[] | undefined {
  return ctx.option('devices')?.split(',').map((d) => d.trim()).filter(Boolean);
}

export const TRIAL_COMMANDS: RegistryCommand[] = [
  {
    name: 'trial add',
    help: `  trial add <id> --name <name> --owner <owner> --devices <id,id,…> --start <ISO time> --interval <s>
           [--end <ISO time>] [--completeness <%>] [--max-reject-rate <%>] [--max-latency-p95 <ms>]
           [--reference <air device id>]
                         create a trial (goals default: completeness 95 %, reject rate 5 %)`,
    options: TRIAL_FIELDS,
    async run(ctx, backend) {
      const id = ctx.need('id');
      const goals = goalsOf(ctx);
      const devices = devicesOf(ctx);
      const [name, owner, start, end, reference] = (['name', 'owner', 'start', 'end', 'reference'] as const).map((o) => ctx.option(o));
      if (!name || !owner || !devices || !start || goals.intervalSeconds === undefined) {
        throw new UsageError('trial add: --name, --owner, --devices, --start and --interval are required');
      }
      const trial = await backend.createTrial({
        id,
        name,
        owner,
        deviceIds: devices,
        start,
        ...(end !== undefined ? { end } : {}),
        goals: { ...goals, intervalSeconds: goals.intervalSeconds },
        ...(reference !== undefined ? { referenceDeviceId: reference } : {}),
      });
      ctx.print(describeTrial(trial), trial);
      return 0;
    },
  },
  {
    name: 'trial list',
    help: '  trial list             list trials',
    options: {},
    async run(ctx, backend) {
      const trials = await backend.listTrials();
      ctx.print(trials.length === 0 ? 'no trials' : trials.map((t) => `${t.id.padEnd(24)} ${t.status.padEnd(7)} ${t.owner.padEnd(20)} ${t.start} – ${t.end ?? '…'}  ${t.name}`).join('\n'), { trials });
      return 0;
    },
  },
  {
    name: 'trial show',
    help: '  trial show <id>        one trial',
    options: {},
    async run(ctx, backend) {
      const trial = await backend.getTrial(ctx.need('id'));
      ctx.print(describeTrial(trial), trial);
      return 0;
    },
  },
  {
    name: 'trial update',
    help: `  trial update <id> [--name …] [--owner …] [--devices …] [--start …] [--end …|--no-end]
           [--interval …] [--completeness …] [--max-reject-rate …] [--max-latency-p95 …]
           [--reference …|--no-reference]`,
    options: { ...TRIAL_FIELDS, 'no-end': { type: 'boolean' }, 'no-reference': { type: 'boolean' } },
    async run(ctx, backend) {
      const id = ctx.need('id');
      const goals = goalsOf(ctx);
      const devices = devicesOf(ctx);
      const [name, owner, start, end, reference] = (['name', 'owner', 'start', 'end', 'reference'] as const).map((o) => ctx.option(o));
      const patch: UpdateTrialRequest = {
        ...(name !== undefined ? { name } : {}),
        ...(owner !== undefined ? { owner } : {}),
        ...(devices !== undefined ? { deviceIds: devices } : {}),
        ...(start !== undefined ? { start } : {}),
        ...(end !== undefined ? { end } : ctx.flag('no-end') ? { end: null } : {}),
        ...(Object.keys(goals).length > 0 ? { goals } : {}),
        ...(reference !== undefined ? { referenceDeviceId: reference } : ctx.flag('no-reference') ? { referenceDeviceId: null } : {}),
      };
      if (Object.keys(patch).length === 0) throw new UsageError('trial update: nothing to change');
      const trial = await backend.updateTrial(id, patch);
      ctx.print(describeTrial(trial), trial);
      return 0;
    },
  },
  {
    name: 'trial close',
    help: `  trial close <id> [--end <ISO time>]
                         end a trial (default: its planned end if past, else now)`,
    options: { end: { type: 'string' } },
    async run(ctx, backend) {
      const trial = await backend.closeTrial(ctx.need('id'), ctx.option('end'));
      ctx.print(describeTrial(trial), trial);
      return 0;
    },
  },
  {
    name: 'trial report',
    help: `  trial report <id> [--from <time>] [--to <time>] [--format json|html]
                         the device report (over HTTP only: it reads InfluxDB); human summary,
                         --json for the JSON report, --format html for the printable page`,
    options: { from: { type: 'string' }, to: { type: 'string' }, format: { type: 'string' } },
    async run(ctx, backend) {
      const id = ctx.need('id');
      const format = ctx.option('format') ?? 'json';
      if (format !== 'json' && format !== 'html') throw new UsageError('trial report: --format must be json or html');
      const report = await backend.trialReport(id, { from: ctx.option('from'), to: ctx.option('to'), format });
      if (typeof report === 'string') ctx.print(report, report);
      else ctx.print(describeReport(report), report);
      return 0;
    },
  },
];
