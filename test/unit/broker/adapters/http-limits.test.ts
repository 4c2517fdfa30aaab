/**
 * The HTTP ingestion listener's limits without sockets: the failure budget per source address
 * (on a scripted clock), the per-device gate (slowed down, refused only past its queue), the
 * DEVICE_UNKNOWN collapse per identifier, and the identifier index that is rebuilt only when
 * the registry changes (a real file registry in a temporary directory).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createDeviceGate, createFailureLimiter } from '../../../../broker/adapters/http-limits.ts';
import { createUnknownDeviceCollapser } from '../../../../broker/adapters/unknown-devices.ts';
import { createDeviceIndex } from '../../../../broker/adapters/device-index.ts';
import { openFileRegistry, type FileRegistry } from '../../../../common/registry/index.ts';
import { tempDir } from '../../../helpers/processes.ts';

describe('the failure budget per source address', () => {
  it('refuses an address once it spent its burst, says when to come back, and refills at its rate', () => {
    let t = 1_000_000;
    const limiter = createFailureLimiter({ burst: 3, perMinute: 6, now: () => t });
    for (let i = 0; i < 3; i += 1) {
      expect(limiter.retryAfterSeconds('10.0.0.1')).toBeUndefined();
      limiter.fail('10.0.0.1');
    }
    // One failure refills every 10 s.
    expect(limiter.retryAfterSeconds('10.0.0.1')).toBe(10);
    // Another address is not affected.
    expect(limiter.retryAfterSeconds('10.0.0.2')).toBeUndefined();
    t += 4_000;
    expect(limiter.retryAfterSeconds('10.0.0.1')).toBe(6);
    t += 6_000;
    expect(limiter.retryAfterSeconds('10.0.0.1')).toBeUndefined();
    limiter.fail('10.0.0.1');
    expect(limiter.retryAfterSeconds('10.0.0.1')).toBe(10);
  });

  it('stays bounded under a spray of addresses', () => {
    let t = 0;
    const limiter = createFailureLimiter({ burst: 2, perMinute: 60, now: () => t, maxAddresses: 100 });
    for (let i = 0; i < 1_000; i += 1) {
      limiter.fail(`10.1.${Math.floor(i / 250)}.${i % 250}`);
      t += 1;
    }
    expect(limiter.size()).toBeLessThanOrEqual(100);
  });
});

describe('the per-device gate', () => {
  const gates: { close(): void }[] = [];
  afterEach(() => gates.splice(0).forEach((gate) => gate.close()));

  it('lets a device through within its rate, makes it wait over it, and refuses only past its queue', async () => {
    const gate = createDeviceGate({ ratePerSecond: 20, burst: 2, maxWaiting: 2 });
    gates.push(gate);
    const verdicts = await Promise.all(Array.from({ length: 5 }, () => gate.enter('dev-1')));
    expect(verdicts.filter((v) => v.ok)).toHaveLength(4);
    const refused = verdicts.find((v) => !v.ok);
    expect(refused).toMatchObject({ ok: false });
    expect(refused && !refused.ok && refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(gate.throttled()).toBe(2);
    expect(gate.waiting()).toBe(0);
    // Another device has its own budget.
    expect(await gate.enter('dev-2')).toEqual({ ok: true });
  });
});

describe('DEVICE_UNKNOWN collapse', () => {
  it('records the first message of an identifier, counts the rest, and hands the count over once', () => {
    const summaries: [string, number][] = [];
    const collapser = createUnknownDeviceCollapser({ windowMs: 60_000, onSummary: (key, count) => summaries.push([key, count]) });
    expect(collapser.admit('devEui A')).toEqual({ record: true });
    expect(collapser.admit('devEui A')).toEqual({ record: false, suppressed: 1 });
    expect(collapser.admit('devEui A')).toEqual({ record: false, suppressed: 2 });
    expect(collapser.admit('devEui B')).toEqual({ record: true });
    collapser.flush();
    // B had nothing to count: no summary for it.
    expect(summaries).toEqual([['devEui A', 2]]);
    expect(collapser.size()).toBe(0);
    expect(collapser.admit('devEui A')).toEqual({ record: true });
    collapser.flush();
  });

  it('ends a window when it runs out, and the oldest early when too many are open', async () => {
    const summaries: [string, number][] = [];
    const collapser = createUnknownDeviceCollapser({ windowMs: 50, maxKeys: 2, onSummary: (key, count) => summaries.push([key, count]) });
    collapser.admit('a');
    collapser.admit('a');
    collapser.admit('b');
    collapser.admit('c'); // ends a's window (the oldest)
    expect(summaries).toEqual([['a', 1]]);
    collapser.admit('c');
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(summaries).toEqual([['a', 1], ['c', 1]]);
    expect(collapser.size()).toBe(0);
  });
});

describe('the identifier index', () => {
  let registry: FileRegistry | undefined;
  let dir: { path: string; remove: () => Promise<void> } | undefined;
  afterEach(async () => {
    await registry?.close();
    await dir?.remove();
  });

  it('is rebuilt when the registry changes, not for every unknown identifier', async () => {
    dir = await tempDir('device-index');
    registry = await openFileRegistry({ dataDir: dir.path, scrypt: { N: 1024 }, pollIntervalMs: 0 });
    const base = { kind: 'air', owner: 'acme', lat: 55.69, lon: 12.55, intervalSeconds: 60, enabled: true, meta: {} } as const;
    await registry.create({ ...base, id: 'idx-1', source: 'ttn', devEui: '00000000000000A1' });
    let lists = 0;
    const counted = { ...registry, list: () => ((lists += 1), registry!.list()), peek: registry.peek, refresh: registry.refresh, onChange: registry.onChange };
    const index = createDeviceIndex(counted);
    try {
      expect((await index.find({ devEui: '00000000000000a1' }))?.id).toBe('idx-1');
      for (let i = 0; i < 50; i += 1) expect(await index.find({ devEui: `FFFFFFFFFFFF${String(i).padStart(4, '0')}` })).toBeUndefined();
      expect(index.builds()).toBe(1);
      expect(lists).toBe(1);
      // Registered (here, or by another process and adopted on the next look): found at once.
      await registry.create({ ...base, id: 'idx-2', source: 'chirpstack', devEui: 'FFFFFFFFFFFF0007' });
      expect((await index.find({ devEui: 'FFFFFFFFFFFF0007' }))?.id).toBe('idx-2');
      expect(index.builds()).toBe(2);
      for (let i = 0; i < 20; i += 1) await index.find({ airrohrChipId: String(1000 + i) });
      expect(index.builds()).toBe(2);
    } finally {
      index.close();
    }
  });

  it('finds a device another process registered, on the first message naming it', async () => {
    dir = await tempDir('device-index');
    registry = await openFileRegistry({ dataDir: dir.path, scrypt: { N: 1024 }, pollIntervalMs: 0 });
    const index = createDeviceIndex(registry);
    const other = await openFileRegistry({ dataDir: dir.path, scrypt: { N: 1024 }, pollIntervalMs: 0 });
    try {
      expect(await index.find({ ttnDeviceId: 'eui-other' })).toBeUndefined();
      await other.create({ id: 'idx-other', kind: 'air', owner: 'acme', lat: 55.69, lon: 12.55, intervalSeconds: 60, enabled: true, meta: {}, source: 'ttn', ttnDeviceId: 'eui-other' });
      expect((await index.find({ ttnDeviceId: 'eui-other' }))?.id).toBe('idx-other');
    } finally {
      index.close();
      await other.close();
    }
  });
});
