import { describe, expect, it } from 'vitest';
import { isAppError } from '../../../common/errors.ts';
import { FAULT_KINDS } from '../../../simulators/faults.ts';
import { HELP_TEXT, faultFlag, fleetOptionsOf, parseSimulatorCli } from '../../../simulators/config.ts';

const parse = (argv: string[], env: Record<string, string> = {}) => {
  const result = parseSimulatorCli(argv, env);
  if (result.help) throw new Error('unexpected help');
  return result.config;
};
const errorOf = (argv: string[], env: Record<string, string> = {}) => {
  try {
    parseSimulatorCli(argv, env);
  } catch (error) {
    if (isAppError(error, 'CONFIG_INVALID')) return error.message;
    throw error;
  }
  throw new Error('expected CONFIG_INVALID');
};

describe('simulator options', () => {
  it('has defaults that match the lab', () => {
    const config = parse([]);
    expect(config).toMatchObject({ mqttUrl: 'mqtt://127.0.0.1:1883', air: 4, traffic: 3, waste: 5, intervalMs: 2_000, qos: 1, seed: 1, durationS: 0, multiplex: 1, faultRate: 0 });
  });

  it('reads the environment, and flags win over it', () => {
    const env = { MQTT_URL: 'mqtt://broker:1883', SIM_AIR: '7', SIM_SEED: '9' };
    expect(parse([], env)).toMatchObject({ mqttUrl: 'mqtt://broker:1883', air: 7, seed: 9 });
    expect(parse(['--air', '2', '--mqtt-url', 'mqtts://other:8883'], env)).toMatchObject({ mqttUrl: 'mqtts://other:8883', air: 2, seed: 9 });
    // Empty means unset, as everywhere else.
    expect(parse([], { SIM_AIR: '' }).air).toBe(4);
  });

  it('parses every option into fleet options', () => {
    const config = parse([
      '--air', '1', '--traffic', '0', '--waste', '2', '--interval-ms', '500', '--qos', '0', '--seed', '42', '--duration-s', '30',
      '--multiplex', '10', '--time-scale', '60', '--start-time', '2026-03-02T07:00:00+01:00', '--timestamps', 'wall',
      '--fault-rate', '0.01', '--fault-dropout', '0.2', '--fault-payload-not-json', '0.5', '--max-payload-bytes', '2048',
    ]);
    const options = fleetOptionsOf(config);
    expect(options).toMatchObject({
      devices: { air: 1, traffic: 0, waste: 2 },
      intervalMs: 500,
      qos: 0,
      seed: 42,
      multiplex: 10,
      timeScale: 60,
      startTimeMs: Date.parse('2026-03-02T06:00:00Z'),
      timestamps: 'wall',
    });
    expect(options.faults).toMatchObject({ defaultRate: 0.01, rates: { dropout: 0.2, PAYLOAD_NOT_JSON: 0.5 }, maxPayloadBytes: 2048 });
    expect(parse(['--start-time', '1772431200000']).startTime).toBe(1_772_431_200_000);
  });

  it('names the option that is wrong, and what was given', () => {
    expect(errorOf(['--interval-ms', '5'])).toMatch(/--interval-ms: .*>=10.*\(got "5"\)/);
    expect(errorOf(['--qos', '2'])).toMatch(/--qos: .*\(got "2"\)/);
    expect(errorOf(['--mqtt-url', 'http://x'])).toMatch(/--mqtt-url/);
    expect(errorOf(['--fault-dropout', '1.5'])).toMatch(/--fault-dropout: .*\(got "1.5"\)/);
    expect(errorOf(['--start-time', 'soon'])).toMatch(/--start-time: expected ISO 8601/);
    expect(errorOf(['--air', '0', '--traffic', '0', '--waste', '0'])).toMatch(/at least one device/);
    expect(errorOf([], { SIM_WASTE: 'many' })).toMatch(/SIM_WASTE \(environment\)/);
    expect(errorOf(['--colour', 'red'])).toMatch(/--colour/);
    expect(errorOf(['extra'])).toMatch(/extra/);
  });

  it('offers a flag for every fault kind and documents them all', () => {
    expect(faultFlag('PAYLOAD_NOT_JSON')).toBe('fault-payload-not-json');
    expect(faultFlag('clockSkew')).toBe('fault-clock-skew');
    expect(faultFlag('outOfOrder')).toBe('fault-out-of-order');
    for (const kind of FAULT_KINDS) {
      expect(HELP_TEXT).toContain(`--${faultFlag(kind)}`);
      expect(parse([`--${faultFlag(kind)}`, '0.25']).faults[kind]).toBe(0.25);
    }
    expect(parseSimulatorCli(['--help'], {})).toEqual({ help: true });
    expect(parseSimulatorCli(['-h'], {})).toEqual({ help: true });
  });
});
