/**
 * Simulating kinds added at run time from the command line: `--kind` / SIM_KINDS, the
 * definitions from a file or the lab's API, and what the devices of such a kind send.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_KIND_DEFINITIONS, KindDefinitionSchema, buildReadingTopic, readingKinds, setKindDefinitions, type KindDefinition, type ReadingPayload } from '../../../contracts/index.ts';
import { parseMessage } from '../../../broker/parse-message.ts';
import { isAppError } from '../../../common/errors.ts';
import { HELP_TEXT, fleetOptionsOf, parseSimulatorCli } from '../../../simulators/config.ts';
import { createDeviceModel, generateSeries } from '../../../simulators/devices/index.ts';
import { applicablePayloadFaults, createDeviceFaults, createFaultCounts, FAULT_KINDS, PAYLOAD_FAULTS } from '../../../simulators/faults.ts';
import { loadKindDefinitions, requireKnownKinds } from '../../../simulators/kinds.ts';
import { planDevices } from '../../../simulators/plan.ts';
import { createRandom } from '../../../simulators/random.ts';

const SOIL_FILE = join(import.meta.dirname, '..', '..', 'fixtures', 'kinds', 'soil.json');
const START = Date.parse('2026-06-01T00:00:00Z');

/** A kind with every awkward corner: two required fields, a range narrower than 0.01, an integer range off zero, negatives, a flag, atLeastOneOf. */
const PROBE: KindDefinition = KindDefinitionSchema.parse({
  id: 'sim_probe',
  name: 'Probe',
  description: 'A test kind with one field of every shape.',
  version: 1,
  fields: [
    { name: 'level', unit: '%', type: 'number', min: 0, max: 100, required: true, description: 'level' },
    { name: 'pressure', unit: 'hPa', type: 'integer', min: 950, max: 1050, required: true, description: 'pressure' },
    { name: 'trace', unit: 'ppm', type: 'number', min: 0.001, max: 0.005, description: 'a trace gas' },
    { name: 'pulses', unit: 'count', type: 'integer', min: 0, max: 20_000, description: 'pulses' },
    { name: 'offset', unit: '°C', type: 'number', min: -30, max: -10, description: 'a negative range' },
    { name: 'door', unit: 'bool', type: 'boolean', description: 'door open' },
  ],
  atLeastOneOf: ['pulses', 'offset'],
  display: { headline: 'level', letter: 'P', colours: [{ value: 0, colour: '#000000' }] },
});

const parse = (argv: string[], env: Record<string, string> = {}) => {
  const result = parseSimulatorCli(argv, env);
  if (result.help) throw new Error('unexpected help');
  return result.config;
};
const errorOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    if (isAppError(error, 'CONFIG_INVALID')) return error.message;
    throw error;
  }
  throw new Error('expected CONFIG_INVALID');
};
const asyncErrorOf = async (promise: Promise<unknown>) => {
  try {
    await promise;
  } catch (error) {
    if (isAppError(error)) return `${error.code}: ${error.message}`;
    throw error;
  }
  throw new Error('expected an AppError');
};

describe('--kind and SIM_KINDS', () => {
  const files = ['--kind-file', SOIL_FILE];

  it('counts devices per kind from repeated flags, and from the environment', () => {
    const config = parse(['--kind', 'soil=3', '--kind', 'foo_2=2', ...files]);
    expect(config.kinds).toEqual({ soil: 3, foo_2: 2 });
    expect(config.kindFiles).toEqual([SOIL_FILE]);
    expect(fleetOptionsOf(config).devices).toEqual({ soil: 3, foo_2: 2, air: 4, traffic: 3, waste: 5 });
    expect(parse([...files], { SIM_KINDS: 'soil:3,foo:2' }).kinds).toEqual({ soil: 3, foo: 2 });
    expect(parse([...files], { SIM_KINDS: ' soil : 1 , ' }).kinds).toEqual({ soil: 1 });
    // Flags win over the environment, as for every option; empty means unset.
    expect(parse(['--kind', 'soil=1', ...files], { SIM_KINDS: 'foo:2' }).kinds).toEqual({ soil: 1 });
    expect(parse([], { SIM_KINDS: '' }).kinds).toEqual({});
  });

  it('lets a fleet consist of such devices only', () => {
    const config = parse(['--air', '0', '--traffic', '0', '--waste', '0', '--kind', 'soil=2', ...files]);
    expect(fleetOptionsOf(config).devices).toMatchObject({ soil: 2, air: 0 });
  });

  it('names the flag or variable and the entry that is wrong', () => {
    expect(errorOf(() => parse(['--kind', 'soil', ...files]))).toMatch(/--kind: expected KIND=N, e\.g\. soil=3 \(got "soil"\)/);
    expect(errorOf(() => parse(['--kind', 'soil=-1', ...files]))).toMatch(/--kind: expected KIND=N/);
    expect(errorOf(() => parse(['--kind', 'Soil=1', ...files]))).toMatch(/--kind: "Soil" is not a kind id/);
    expect(errorOf(() => parse(['--kind', 'air=1', ...files]))).toMatch(/--kind: air is built in: use --air 1/);
    expect(errorOf(() => parse(['--kind', 'soil=1', '--kind', 'soil=2', ...files]))).toMatch(/--kind: soil is given twice/);
    expect(errorOf(() => parse([...files], { SIM_KINDS: 'soil=x' }))).toMatch(/SIM_KINDS \(environment\): expected KIND=N/);
    expect(errorOf(() => parse(['--kind', 'soil=20001', ...files]))).toMatch(/at most 20000 devices/);
    expect(errorOf(() => parse(['--kind', 'soil=3']))).toMatch(/--kind: needs --api-url \(definitions from GET \/api\/v1\/kinds\) or --kind-file/);
    expect(errorOf(() => parse(['--kind-file']))).toMatch(/--kind-file/);
  });

  it('is in the help text', () => {
    expect(HELP_TEXT).toMatch(/--kind KIND=N .*repeatable.*\[SIM_KINDS\]/);
    expect(HELP_TEXT).toContain('--kind-file FILE');
  });
});

describe('kind definitions for the simulator', () => {
  let dir: string;
  let server: Server;
  let apiUrl: string;
  const seen: (string | undefined)[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sim-kinds-'));
    // The lab's answer to GET /api/v1/kinds: built-in kinds and the probe, each with `builtIn`.
    const body = JSON.stringify({ kinds: [...BUILT_IN_KIND_DEFINITIONS.map((k) => ({ ...k, builtIn: true })), { ...PROBE, builtIn: false }] });
    server = createServer((request, response) => {
      seen.push(request.headers.authorization);
      if (request.url === '/api/v1/kinds' && request.headers.authorization !== 'Bearer wrong') {
        response.writeHead(200, { 'content-type': 'application/json' }).end(body);
      } else response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"UNAUTHORIZED","message":"a key is needed"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no port');
    apiUrl = `http://127.0.0.1:${address.port}/`;
  });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await new Promise((resolve) => server.close(resolve));
  });

  it('reads a definition file as the lab reads DATA_DIR/kinds/', async () => {
    const definitions = await loadKindDefinitions({ files: [SOIL_FILE] });
    expect(definitions.map((d) => [d.id, d.version])).toEqual([['soil', 1]]);
    expect(definitions[0]!.fields.find((f) => f.name === 'moisture')).toMatchObject({ required: true, min: 0, max: 100 });
  });

  it('names a file it cannot read or that is no definition', async () => {
    expect(await asyncErrorOf(loadKindDefinitions({ files: [join(dir, 'missing.json')] }))).toMatch(/CONFIG_INVALID: .*--kind-file: cannot read .*missing\.json/s);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...JSON.parse(readFileSync(SOIL_FILE, 'utf8')), fields: [] }));
    expect(await asyncErrorOf(loadKindDefinitions({ files: [bad] }))).toMatch(/--kind-file: .*bad\.json is not a kind definition: .*fields.*at least one field/s);
  });

  it("fetches the lab's kinds with the key it is given, and lets a file override one", async () => {
    const fromApi = await loadKindDefinitions({ apiUrl, token: 'a-key' });
    expect(fromApi.map((d) => d.id)).toEqual(['air', 'traffic', 'waste', 'sim_probe']);
    expect(fromApi[3]).toEqual(PROBE);
    expect(seen.at(-1)).toBe('Bearer a-key');
    const probeFile = join(dir, 'probe.json');
    writeFileSync(probeFile, JSON.stringify({ ...PROBE, version: 2, name: 'Probe from a file' }));
    const both = await loadKindDefinitions({ apiUrl, files: [probeFile, SOIL_FILE] });
    expect(seen.at(-1)).toBeUndefined();
    expect(both.find((d) => d.id === 'sim_probe')).toMatchObject({ version: 2, name: 'Probe from a file' });
    expect(both.map((d) => d.id)).toContain('soil');
  });

  it("names the API's refusal, and an API that is not there", async () => {
    expect(await asyncErrorOf(loadKindDefinitions({ apiUrl, token: 'wrong' }))).toMatch(/REGISTRATION_FAILED: reading the kind definitions: GET http:\/\/127\.0\.0\.1:\d+\/api\/v1\/kinds answered 401 .*a key is needed/);
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(await asyncErrorOf(loadKindDefinitions({ apiUrl: `http://127.0.0.1:${port}` }))).toMatch(/REGISTRATION_FAILED: cannot reach the lab's API for the kind definitions/);
  });

  it('refuses an unknown kind, naming the known ones', () => {
    expect(() => requireKnownKinds(['soil'], ['air', 'traffic', 'waste', 'soil'])).not.toThrow();
    const message = errorOf(() => requireKnownKinds(['soil', 'nope', 'gone'], ['air', 'traffic', 'waste', 'soil']));
    expect(message).toMatch(/--kind: unknown kinds "nope", "gone"; known kinds: air, traffic, waste, soil/);
  });
});

describe('devices of a kind added at run time', () => {
  beforeAll(() => setKindDefinitions([PROBE]));

  const seriesOf = (seed: number, id = 'sim_probe-001', count = 2_000) =>
    generateSeries({ id, kind: 'sim_probe', site: 'Nørrebrogade', lat: 55.69, lon: 12.55 }, { seed, startMs: START, intervalMs: 60_000, count });

  it('are planned like the built-in ones once the kind is known', () => {
    expect(readingKinds()).toContain('sim_probe');
    const planned = planDevices({ air: 1, sim_probe: 2 }, 5);
    expect(planned.map((d) => [d.id, d.kind])).toEqual([['air-001', 'air'], ['sim_probe-001', 'sim_probe'], ['sim_probe-002', 'sim_probe']]);
  });

  it.each([1, 2, 99, 123_456_789])('send every field inside its range, required fields always, each reading accepted (seed %i)', (seed) => {
    const series = seriesOf(seed);
    const ranges = new Map(PROBE.fields.map((f) => [f.name, f]));
    for (const payload of series) {
      const values = payload as Record<string, unknown>;
      expect(values.level).toBeTypeOf('number');
      expect(values.pressure).toBeTypeOf('number');
      for (const [name, field] of ranges) {
        const value = values[name];
        if (field.type === 'boolean') {
          if (value !== undefined) expect(value).toBeTypeOf('boolean');
          continue;
        }
        if (value === undefined) continue;
        expect(value).toBeGreaterThanOrEqual(field.min!);
        expect(value).toBeLessThanOrEqual(field.max!);
        if (field.type === 'integer') expect(Number.isInteger(value)).toBe(true);
      }
      const tsMs = typeof payload.ts === 'number' ? payload.ts : Date.parse(String(payload.ts));
      const verdict = parseMessage(buildReadingTopic('sim_probe', 'sim_probe-001'), Buffer.from(JSON.stringify(payload)), tsMs);
      expect(verdict.ok, JSON.stringify(!verdict.ok && verdict.rejection)).toBe(true);
    }
  });

  it('drift rather than jump: a reading is near the one before, far nearer than readings an hour apart', () => {
    const series = seriesOf(7);
    for (const field of ['level', 'trace', 'pulses', 'offset']) {
      const values = series.map((p) => (p as Record<string, number>)[field]!);
      const meanGap = (lag: number) => {
        let sum = 0;
        for (let i = lag; i < values.length; i += 1) sum += Math.abs(values[i]! - values[i - lag]!);
        return sum / (values.length - lag);
      };
      // Uniform noise would make both the same; an AR(1) with an hour's memory keeps neighbours close.
      expect(meanGap(1), field).toBeGreaterThan(0);
      expect(meanGap(1), field).toBeLessThan(meanGap(60) / 3);
      // And it moves over the day: not one value repeated.
      expect(new Set(values).size, field).toBeGreaterThan(10);
    }
  });

  it('are reproducible: the same seed gives the same series, another seed another', () => {
    expect(seriesOf(42, 'sim_probe-001', 300)).toEqual(seriesOf(42, 'sim_probe-001', 300));
    expect(seriesOf(43, 'sim_probe-001', 300)).not.toEqual(seriesOf(42, 'sim_probe-001', 300));
    expect(seriesOf(42, 'sim_probe-002', 300)).not.toEqual(seriesOf(42, 'sim_probe-001', 300));
  });

  it('commit the faults their definition allows, each rejected by ingest as the layer expects', () => {
    expect(applicablePayloadFaults('sim_probe')).toEqual(PAYLOAD_FAULTS);
    const model = createDeviceModel({ id: 'sim_probe-001', kind: 'sim_probe', site: 'Nørrebrogade', lat: 55.69, lon: 12.55 }, { seed: 3 });
    const counts = createFaultCounts();
    const faults = createDeviceFaults('sim_probe', { rates: Object.fromEntries(FAULT_KINDS.map((f) => [f, 0.03])), dropoutMeanMs: 5 * 60_000 }, createRandom(3), counts);
    const sent: { payload: Buffer; expect: string; atMs: number }[] = [];
    for (let i = 0; i < 4_000; i += 1) {
      const t = START + i * 60_000;
      for (const message of faults.apply(model.next(t) as ReadingPayload, t, t).messages) sent.push({ payload: message.payload, expect: message.expect, atMs: t });
    }
    for (const { payload, expect: expected, atMs } of sent) {
      const verdict = parseMessage(buildReadingTopic('sim_probe', 'sim_probe-001'), payload, atMs);
      expect(verdict.ok ? 'accepted' : verdict.rejection.reason).toBe(expected);
    }
    expect(counts.FIELD_MISSING).toBeGreaterThan(0);
    expect(counts.NO_MEASUREMENT).toBeGreaterThan(0);
  });
});
