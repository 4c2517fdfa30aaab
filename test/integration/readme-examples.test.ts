/**
 * The README's examples for the data-exchange read-outs and the exports run as printed: the
 * `curl` lines of "Data exchange: NGSI-LD and SensorThings" and of the Research API's exports
 * are read from README.md, their host swapped for an API on a free port, and run by bash with
 * the real curl against a real InfluxDB holding a week of readings of the devices they name.
 * Each must answer 2xx with something in it (an example that finds nothing shows nothing).
 * The pandas and DuckDB lines beside them are not run: neither is installed here; the Parquet
 * files they read are checked with hyparquet in export-parquet.test.ts.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parquetMetadata } from 'hyparquet';
import { createInfluxClient } from '../../common/influx.ts';
import { startInfluxServer, type InfluxServer } from '../../common/influx-server.ts';
import { openFileRegistry, type FileRegistry } from '../../common/registry/index.ts';
import { buildApp } from '../../api/app.ts';
import { researchOf } from '../../api/plugins/research.ts';
import { createReadingStore } from '../../api/store.ts';

const run = promisify(execFile);
const README = new URL('../../README.md', import.meta.url);
const PRINTED_ORIGIN = 'http://127.0.0.1:8080';
const HOUR = 3_600_000;
/** The examples' dates: a week of readings up to noon on 1 May 2026. */
const NOW = Date.UTC(2026, 4, 1, 12, 0, 0);
const ADMIN = 'readme-examples-admin-token-0123456789';

let server: InfluxServer;
let registry: FileRegistry;
let app: FastifyInstance;
let origin: string;
let dir: string;
let readme: string;

/** The `sh` blocks of the README section under `heading`, up to the next section of its level. */
function shellBlocks(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const level = /^#+/.exec(heading)![0];
  const after = markdown.slice(start + heading.length + 2);
  const end = after.search(new RegExp(`\\n${level} `));
  const section = end < 0 ? after : after.slice(0, end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** A block's commands, continuation lines joined; variable assignments kept apart. */
function commandsOf(block: string): { assignments: string[]; curls: string[] } {
  const joined = block.replace(/\\\n\s*/g, ' ');
  const lines = joined.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  return {
    assignments: lines.filter((l) => /^[A-Z_]+=\S+$/.test(l)),
    curls: lines.filter((l) => l.startsWith('curl ')),
  };
}

interface Ran {
  status: number;
  stdout: string;
}

/**
 * Runs one printed command in `cwd`: curl is a shell function that adds only what the test
 * reads (fail on an HTTP error, the status on a last line), the printed arguments follow.
 */
async function runPrinted(assignments: readonly string[], command: string, cwd: string): Promise<Ran> {
  const script = [
    `curl() { command curl -sS --fail-with-body -w '\\n@@status=%{http_code}' "$@"; }`,
    ...assignments,
    command,
  ]
    .join('\n')
    .replaceAll(PRINTED_ORIGIN, origin);
  const { stdout } = await run('bash', ['-c', script], { cwd, maxBuffer: 64 * 1024 * 1024 });
  const status = Number(/@@status=(\d+)$/.exec(stdout)?.[1]);
  return { status, stdout: stdout.replace(/\n?@@status=\d+$/, '') };
}

/** The JSON body of an answer printed with or without `-i`. */
function jsonBody(stdout: string): unknown {
  const at = stdout.indexOf('\r\n\r\n');
  return JSON.parse(at >= 0 && stdout.startsWith('HTTP/') ? stdout.slice(at + 4) : stdout);
}

/** Entities, a SensorThings collection's values or an entity: how many things an answer holds. */
function itemsIn(body: unknown): number {
  if (Array.isArray(body)) return body.length;
  const record = body as Record<string, unknown>;
  if (Array.isArray(record.value)) return record.value.length;
  if (Array.isArray(record.features)) return record.features.length;
  return Object.keys(record).length;
}

beforeAll(async () => {
  readme = await readFile(README, 'utf8');
  server = await startInfluxServer({ database: 'streetlab' });
  const influx = createInfluxClient({ url: server.url, database: 'streetlab' });
  dir = await mkdtemp(join(tmpdir(), 'readme-examples-'));
  registry = await openFileRegistry({ dataDir: join(dir, 'data'), pollIntervalMs: 0, scrypt: { N: 1024 } });
  const place = { lat: 55.6761, lon: 12.5683 };
  await registry.create({ id: 'air-001', kind: 'air', owner: 'acme', ...place, site: 'Jagtvej', intervalSeconds: 3600, enabled: true, meta: {} });
  await registry.create({ id: 'traffic-001', kind: 'traffic', owner: 'acme', lat: 55.6765, lon: 12.569, site: 'Jagtvej', intervalSeconds: 3600, enabled: true, meta: {} });
  await registry.create({ id: 'bin-001', kind: 'waste', owner: 'acme', lat: 55.6758, lon: 12.5679, site: 'Jagtvej', intervalSeconds: 3600, enabled: true, meta: {} });
  const lines: string[] = [];
  const tags = (device: string) => `device=${device},owner=acme,site=Jagtvej`;
  for (let h = 0; h <= 7 * 24; h++) {
    const t = (NOW - h * HOUR) * 1e6;
    lines.push(`air,${tags('air-001')} pm25=${12 + ((h + 10) % 24)},no2=${20 + (h % 15)},temperature=${8 + (h % 6)} ${t}`);
    lines.push(`traffic,${tags('traffic-001')} period=3600,cars=${100 + h},buses=4,trucks=2,bicycles=${300 + h},speed=32,occupancy=14 ${t}`);
    lines.push(`waste,${tags('bin-001')} fill=${Math.min(95, 40 + (7 * 24 - h) / 3)},temperature=9,lidOpen=false ${t}`);
  }
  await influx.write(lines);
  // As the lab runs it: rollups on, so long ranges of hourly windows read them. Retention is
  // off here (0 = forever), as InfluxDB would apply it against today's date, not NOW.
  app = await buildApp({
    store: createReadingStore(influx),
    registry,
    now: () => NOW,
    auth: { publicRead: true, adminToken: ADMIN },
    researchJob: { influx, research: { rollups: { runOnStart: false }, rawRetentionDays: 0, rollupRetentionDays: 0 } },
  });
  origin = await app.listen({ port: 0, host: '127.0.0.1' });
  // The rollup job catches up with the week, as it would have hour by hour.
  await researchOf(app)!.job!.recompute(NOW - 8 * 24 * HOUR, NOW + HOUR);
}, 120_000);

afterAll(async () => {
  await app?.close();
  await registry?.close();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('README: data exchange', () => {
  it('runs every NGSI-LD and SensorThings example as printed, each answering with data', async () => {
    const blocks = shellBlocks(readme, '## Data exchange: NGSI-LD and SensorThings');
    expect(blocks).toHaveLength(2);
    let ran = 0;
    for (const block of blocks) {
      const { assignments, curls } = commandsOf(block);
      expect(assignments.length).toBe(1);
      for (const command of curls) {
        const result = await runPrinted(assignments, command, dir);
        expect({ command, status: result.status }).toEqual({ command, status: 200 });
        // An example that saves its answer (`-o file`) is read from the file.
        const saved = /\s-o\s+(\S+)/.exec(command)?.[1];
        const body = saved ? JSON.parse(await readFile(join(dir, saved), 'utf8')) : jsonBody(result.stdout);
        if (saved?.endsWith('.geojson')) expect((body as { type: string }).type).toBe('FeatureCollection');
        expect({ command, items: itemsIn(body) > 0 }).toEqual({ command, items: true });
        if (command.includes('count=true') && command.includes('-i')) expect(result.stdout).toMatch(/^NGSILD-Results-Count: [1-9]/im);
        ran += 1;
      }
    }
    // Six NGSI-LD and six SensorThings examples at the time of writing.
    expect(ran).toBeGreaterThanOrEqual(12);
  });
});

describe('README: exports', () => {
  it('runs the CSV and Parquet download examples as printed: the files hold the readings', async () => {
    const section = shellBlocks(readme, '## Research API').join('\n');
    const downloads = commandsOf(section).curls.filter((c) => /format=(csv|parquet)/.test(c));
    expect(downloads.length).toBeGreaterThanOrEqual(2);
    const cwd = await mkdtemp(join(dir, 'downloads-'));
    for (const command of downloads) {
      const before = new Set(await readdir(cwd));
      const result = await runPrinted([], command, cwd);
      expect({ command, status: result.status }).toEqual({ command, status: 200 });
      const written = (await readdir(cwd)).filter((f) => !before.has(f));
      expect({ command, files: written.length }).toEqual({ command, files: 1 });
      const file = join(cwd, written[0]!);
      if (file.endsWith('.parquet')) {
        const bytes = await readFile(file);
        // A week of hourly windows of one air device.
        expect(Number(parquetMetadata(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)).num_rows)).toBeGreaterThanOrEqual(7 * 24);
      } else {
        expect(written[0]).toMatch(/^streetlab-air-.*\.csv$/);
        const rows = (await readFile(file, 'utf8')).trim().split('\r\n');
        expect(rows[0]).toMatch(/^time,device,pm25,/);
        // Up to the printed `to` (1 May 2026, midnight): the week's hours before it.
        expect(rows.length - 1).toBeGreaterThanOrEqual(6 * 24);
        expect((await stat(file)).size).toBeGreaterThan(0);
      }
    }
  });
});
