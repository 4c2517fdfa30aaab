/**
 * The edge HTTP listener's limits as configured (broker/config.ts): defaults, accepted values,
 * and errors that name the variable and what it takes.
 */
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../common/config.ts';
import { BrokerConfigSchema } from '../../../broker/config.ts';

describe('EDGE_HTTP_* limits', () => {
  it('default to 20 failures at once and per minute, a 60 s DEVICE_UNKNOWN window, and trusting loopback', () => {
    const config = parseConfig(BrokerConfigSchema, {});
    expect(config).toMatchObject({ EDGE_HTTP_FAILURES_BURST: 20, EDGE_HTTP_FAILURES_PER_MIN: 20, EDGE_HTTP_UNKNOWN_WINDOW_S: 60, EDGE_HTTP_TRUST_PROXY: 'loopback' });
  });

  it('take numbers, address lists and true/false', () => {
    const config = parseConfig(BrokerConfigSchema, { EDGE_HTTP_FAILURES_BURST: '5', EDGE_HTTP_FAILURES_PER_MIN: '0', EDGE_HTTP_UNKNOWN_WINDOW_S: '300', EDGE_HTTP_TRUST_PROXY: 'loopback,uniquelocal, 10.0.0.0/8' });
    expect(config).toMatchObject({ EDGE_HTTP_FAILURES_BURST: 5, EDGE_HTTP_FAILURES_PER_MIN: 0, EDGE_HTTP_UNKNOWN_WINDOW_S: 300, EDGE_HTTP_TRUST_PROXY: 'loopback,uniquelocal, 10.0.0.0/8' });
    expect(parseConfig(BrokerConfigSchema, { EDGE_HTTP_TRUST_PROXY: 'true' }).EDGE_HTTP_TRUST_PROXY).toBe(true);
    expect(parseConfig(BrokerConfigSchema, { EDGE_HTTP_TRUST_PROXY: 'false' }).EDGE_HTTP_TRUST_PROXY).toBe(false);
  });

  it('refuse bad values with the variable named', () => {
    expect(() => parseConfig(BrokerConfigSchema, { EDGE_HTTP_FAILURES_BURST: '0' })).toThrow(/EDGE_HTTP_FAILURES_BURST: .*\(got "0"\)/);
    expect(() => parseConfig(BrokerConfigSchema, { EDGE_HTTP_FAILURES_PER_MIN: 'lots' })).toThrow(/EDGE_HTTP_FAILURES_PER_MIN/);
    expect(() => parseConfig(BrokerConfigSchema, { EDGE_HTTP_UNKNOWN_WINDOW_S: '0' })).toThrow(/EDGE_HTTP_UNKNOWN_WINDOW_S/);
    expect(() => parseConfig(BrokerConfigSchema, { EDGE_HTTP_TRUST_PROXY: 'everyone!' })).toThrow(/EDGE_HTTP_TRUST_PROXY: true, false, or comma-separated addresses/);
  });
});
