/**
 * Stage 2, the storage ceiling: raw InfluxDB write throughput with pre-serialised line
 * protocol, 5,000-line batches, two writer processes each with one request in flight —
 * what InfluxDB can take when nothing upstream costs anything.
 */
import type { BenchContext } from '../context.ts';
import type { InfluxWriterApi, RawWriteResult } from '../load/influx-writer.ts';
import { createDatabase, cpuPercent, round, safeTicks } from './shared.ts';

export interface InfluxCeilingResult {
  pointsPerS: number;
  writers: number;
  batchLines: number;
  points: number;
  influxdCpuPercent: number;
  perWriter: Omit<RawWriteResult, 'perSecond'>[];
  perSecond: number[];
}

const WRITER_SCRIPT = new URL('../load/influx-writer.ts', import.meta.url);

export async function runInfluxCeiling(ctx: BenchContext): Promise<InfluxCeilingResult> {
  const { influxSeconds, influxWarmupSeconds, batchLines, writers } = ctx.profile.ceilings;
  const database = 'bench_ceiling';
  await createDatabase(ctx, ctx.influx.url, database);
  const workers = await Promise.all(
    Array.from({ length: writers }, async (_, i) => {
      const worker = await ctx.fork<InfluxWriterApi>(WRITER_SCRIPT, { name: `influx-writer-${i}` });
      return worker;
    }),
  );
  ctx.log(`InfluxDB write ceiling: ${writers} writers × ${batchLines}-line batches for ${influxSeconds} s`);
  const before = { influxd: safeTicks(ctx.influx.pid ?? -1) };
  const started = performance.now();
  const results = await Promise.all(
    workers.map((w, i) =>
      w.call('raw', { url: ctx.influx.url, database, writer: i, batchLines, durationMs: influxSeconds * 1000, warmupMs: influxWarmupSeconds * 1000 }),
    ),
  );
  const cpu = cpuPercent(before, { influxd: safeTicks(ctx.influx.pid ?? -1) }, performance.now() - started);
  const seconds = Math.max(...results.map((r) => r.perSecond.length));
  return {
    pointsPerS: results.reduce((sum, r) => sum + r.steadyLinesPerS, 0),
    writers,
    batchLines,
    points: results.reduce((sum, r) => sum + r.lines, 0),
    influxdCpuPercent: round(cpu.influxd ?? Number.NaN),
    perWriter: results.map(({ perSecond: _perSecond, ...rest }) => rest),
    perSecond: Array.from({ length: seconds }, (_, i) => results.reduce((sum, r) => sum + (r.perSecond[i] ?? 0), 0)),
  };
}
