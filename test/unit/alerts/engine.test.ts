/**
 * The alert engine with an injected clock: each rule type opens once, repeats on its
 * schedule while the condition holds, and clears when it ends.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Alert, CreateAlertRuleRequest, DeviceRecord, LiveReading, Rejection } from '../../../contracts/index.ts';
import { createAlertEngine, type AlertEngine } from '../../../api/alerts/engine.ts';
import { openAlertHistory, type AlertHistory } from '../../../api/alerts/history.ts';
import { openAlertRuleStore, type AlertRuleStore } from '../../../api/alerts/rule-store.ts';

const T0 = Date.parse('2026-05-01T12:00:00.000Z');
const MIN = 60_000;

let clock: number;
let rules: AlertRuleStore;
let history: AlertHistory;
let engine: AlertEngine;
let delivered: Alert[];
let devices: DeviceRecord[];

function device(id: string, kind: DeviceRecord['kind'], extra: Partial<DeviceRecord> = {}): DeviceRecord {
  const at = new Date(T0 - 3_600_000).toISOString();
  return { id, kind, name: id, owner: 'test', lat: 55.7, lon: 12.6, intervalSeconds: 60, enabled: true, createdAt: at, updatedAt: at, meta: {}, ...extra };
}

function reading(kind: LiveReading['kind'], deviceId: string, values: LiveReading['values']): LiveReading {
  return { kind, deviceId, ts: new Date(clock).toISOString(), values };
}

function rejection(kind: LiveReading['kind'], deviceId: string): Rejection {
  return { reason: 'FIELD_RANGE', message: 'out of range', issues: [], kind, deviceId, topic: `lab/v1/${kind}/${deviceId}`, receivedAt: new Date(clock).toISOString(), excerpt: '{}', size: 2 };
}

async function start(ruleRequests: CreateAlertRuleRequest[]): Promise<void> {
  rules = await openAlertRuleStore({ now: () => clock });
  for (const request of ruleRequests) await rules.create(request);
  history = await openAlertHistory({ now: () => clock });
  delivered = [];
  engine = createAlertEngine({
    rules,
    history,
    now: () => clock,
    peekDevice: (id) => devices.find((d) => d.id === id),
    listDevices: async () => devices,
    deliver: (alert) => delivered.push(alert),
  });
}

const states = () => delivered.map((a) => `${a.state}:${a.deviceId}`);

beforeEach(() => {
  clock = T0;
  devices = [device('bin-1', 'waste', { site: 'Nørrebro' }), device('bin-2', 'waste', { site: 'Vesterbro' }), device('air-1', 'air'), device('car-1', 'traffic')];
});
afterEach(() => engine?.close());

describe('threshold alerts', () => {
  beforeEach(() => start([{ id: 'bin-full', name: 'Bin full', type: 'threshold', kind: 'waste', metric: 'fill', op: '>=', value: 80, severity: 'warning', repeatEveryMinutes: 60 }]));

  it('open once when the condition starts, repeat on schedule, clear when it ends', () => {
    engine.onReading(reading('waste', 'bin-1', { fill: 50 }));
    expect(delivered).toHaveLength(0);

    engine.onReading(reading('waste', 'bin-1', { fill: 85 }));
    engine.onReading(reading('waste', 'bin-1', { fill: 90 }));
    expect(states()).toEqual(['open:bin-1']);
    const opened = delivered[0]!;
    expect(opened).toMatchObject({ rule: 'bin-full', ruleName: 'Bin full', ruleType: 'threshold', severity: 'warning', kind: 'waste', site: 'Nørrebro', value: 85, repeats: 0 });
    expect(opened.at).toBe(new Date(T0).toISOString());

    clock += 59 * MIN;
    expect(engine.sendRepeats().repeated).toBe(0);
    clock += MIN;
    expect(engine.sendRepeats().repeated).toBe(1);
    const repeat = delivered[1]!;
    expect(repeat).toMatchObject({ id: opened.id, state: 'repeat', repeats: 1, value: 90, openedAt: opened.openedAt });
    expect(repeat.message).toContain('fill 90 %');
    // The next repeat counts from this one.
    clock += 30 * MIN;
    expect(engine.sendRepeats().repeated).toBe(0);
    clock += 30 * MIN;
    expect(engine.sendRepeats().repeated).toBe(1);

    engine.onReading(reading('waste', 'bin-1', { fill: 5 }));
    expect(states()).toEqual(['open:bin-1', 'repeat:bin-1', 'repeat:bin-1', 'cleared:bin-1']);
    const cleared = delivered[3]!;
    expect(cleared).toMatchObject({ id: opened.id, state: 'cleared', clearedAt: new Date(clock).toISOString(), value: 5 });
    clock += 120 * MIN;
    expect(engine.sendRepeats().repeated).toBe(0);
  });

  it('keeps one alert per device', () => {
    engine.onReading(reading('waste', 'bin-1', { fill: 85 }));
    engine.onReading(reading('waste', 'bin-2', { fill: 95 }));
    expect(states()).toEqual(['open:bin-1', 'open:bin-2']);
    expect(new Set(delivered.map((a) => a.id)).size).toBe(2);
    expect(history.query({ state: 'active' }).map((a) => a.deviceId)).toEqual(['bin-2', 'bin-1']);
  });

  it('hysteresis keeps an alert open while the value hovers just below the threshold', async () => {
    await rules.update('bin-full', { hysteresis: 5 });
    engine.onReading(reading('waste', 'bin-1', { fill: 81 }));
    engine.onReading(reading('waste', 'bin-1', { fill: 79 }));
    engine.onReading(reading('waste', 'bin-1', { fill: 80.5 }));
    expect(states()).toEqual(['open:bin-1']);
    engine.onReading(reading('waste', 'bin-1', { fill: 70 }));
    expect(states()).toEqual(['open:bin-1', 'cleared:bin-1']);
  });

  it('a reading without the metric changes nothing', () => {
    engine.onReading(reading('waste', 'bin-1', { fill: 85 }));
    engine.onReading(reading('waste', 'bin-1', { temperature: 20 } as LiveReading['values']));
    expect(states()).toEqual(['open:bin-1']);
  });

  it('removing the rule clears its alerts; a cosmetic change keeps them, a changed condition clears them', async () => {
    engine.onReading(reading('waste', 'bin-1', { fill: 85 }));
    await rules.update('bin-full', { severity: 'critical', name: 'Bin really full' });
    expect(states()).toEqual(['open:bin-1']);
    clock += 60 * MIN;
    engine.sendRepeats();
    expect(delivered[1]).toMatchObject({ state: 'repeat', severity: 'critical', ruleName: 'Bin really full' });
    await rules.update('bin-full', { value: 90 });
    expect(delivered[2]).toMatchObject({ state: 'cleared' });
    expect(delivered[2]!.message).toContain('changed');
    engine.onReading(reading('waste', 'bin-1', { fill: 95 }));
    await rules.remove('bin-full');
    expect(states()).toEqual(['open:bin-1', 'repeat:bin-1', 'cleared:bin-1', 'open:bin-1', 'cleared:bin-1']);
  });

  it('a site filter selects devices by their registry site', async () => {
    await rules.update('bin-full', { site: 'Vesterbro' });
    engine.onReading(reading('waste', 'bin-1', { fill: 85 }));
    engine.onReading(reading('waste', 'bin-2', { fill: 85 }));
    expect(states()).toEqual(['open:bin-2']);
  });

  it('repeatEveryMinutes 0 never repeats', async () => {
    await rules.update('bin-full', { repeatEveryMinutes: 0 });
    engine.onReading(reading('waste', 'bin-1', { fill: 85 }));
    clock += 24 * 60 * MIN;
    expect(engine.sendRepeats().repeated).toBe(0);
  });
});

describe('fire risk and congestion thresholds', () => {
  beforeEach(() =>
    start([
      { id: 'fire', name: 'Fire risk', type: 'threshold', kind: 'waste', metric: 'temperature', op: '>=', value: 60, severity: 'critical' },
      { id: 'congestion', name: 'Congestion', type: 'threshold', kind: 'traffic', metric: 'speed', op: '<', value: 10, severity: 'info' },
    ]),
  );

  it('each rule sees only its kind and metric', () => {
    engine.onReading(reading('waste', 'bin-1', { fill: 10, temperature: 64 }));
    engine.onReading(reading('traffic', 'car-1', { period: 60, speed: 7 }));
    engine.onReading(reading('traffic', 'car-1', { period: 60, speed: 35 }));
    expect(delivered.map((a) => `${a.rule}:${a.state}`)).toEqual(['fire:open', 'congestion:open', 'congestion:cleared']);
    expect(delivered[0]).toMatchObject({ severity: 'critical', message: 'bin-1: temperature 64 °C ≥ 60 °C' });
  });
});

describe('EAQI alerts', () => {
  beforeEach(() => start([{ id: 'air-poor', name: 'Poor air', type: 'eaqi', level: 4, repeatEveryMinutes: 30 }]));

  it('open at band ≥ poor, repeat, clear when the worst band drops', () => {
    engine.onReading(reading('air', 'air-1', { pm25: 8, no2: 30 }));
    engine.onReading(reading('air', 'air-1', { pm25: 55, no2: 30 }));
    expect(delivered.at(-1)).toMatchObject({ state: 'open', value: 5, kind: 'air' });
    clock += 30 * MIN;
    engine.sendRepeats();
    expect(delivered.at(-1)).toMatchObject({ state: 'repeat', repeats: 1 });
    engine.onReading(reading('air', 'air-1', { temperature: 20 } as LiveReading['values']));
    expect(delivered).toHaveLength(2);
    engine.onReading(reading('air', 'air-1', { pm25: 12, no2: 30 }));
    expect(states()).toEqual(['open:air-1', 'repeat:air-1', 'cleared:air-1']);
  });
});

describe('offline alerts', () => {
  beforeEach(() => start([{ id: 'offline', name: 'Offline', type: 'offline', intervals: 3, repeatEveryMinutes: 10 }]));

  it('open after N × interval of silence, repeat, clear at the next reading', async () => {
    // Watching starts now: every device gets 3 × 60 s from here.
    engine.onReading(reading('waste', 'bin-1', { fill: 10 }));
    clock += 3 * MIN;
    expect(await engine.checkTimeBased()).toEqual({ opened: 0, cleared: 0 });
    clock += 1_000;
    expect((await engine.checkTimeBased()).opened).toBe(4);
    expect(await engine.checkTimeBased()).toEqual({ opened: 0, cleared: 0 });
    const bin = delivered.find((a) => a.deviceId === 'bin-1')!;
    expect(bin).toMatchObject({ state: 'open', ruleType: 'offline', value: 181 });
    expect(bin.message).toContain('not heard from for 181 s');

    clock += 10 * MIN;
    await engine.checkTimeBased();
    expect(engine.sendRepeats().repeated).toBe(4);
    expect(delivered.find((a) => a.deviceId === 'bin-1' && a.state === 'repeat')).toMatchObject({ value: 781 });

    engine.onReading(reading('waste', 'bin-1', { fill: 10 }));
    expect(delivered.at(-1)).toMatchObject({ state: 'cleared', deviceId: 'bin-1', id: bin.id });
    expect(engine.active().map((a) => a.deviceId).sort()).toEqual(['air-1', 'bin-2', 'car-1']);
  });

  it('uses each device’s declared interval', async () => {
    devices = [device('slow', 'air', { intervalSeconds: 600 }), device('fast', 'air', { intervalSeconds: 10 })];
    clock += 31_000;
    await engine.checkTimeBased();
    expect(states()).toEqual(['open:fast']);
    clock += 30 * MIN;
    await engine.checkTimeBased();
    expect(states()).toEqual(['open:fast', 'open:slow']);
  });

  it('a disabled or removed device’s alert clears; disabled devices never open one', async () => {
    clock += 4 * MIN;
    await engine.checkTimeBased();
    expect(delivered).toHaveLength(4);
    devices = devices.filter((d) => d.id !== 'car-1').map((d) => (d.id === 'air-1' ? { ...d, enabled: false } : d));
    const result = await engine.checkTimeBased();
    expect(result.cleared).toBe(2);
    expect(delivered.slice(4).map((a) => `${a.state}:${a.deviceId}`).sort()).toEqual(['cleared:air-1', 'cleared:car-1']);
  });

  it('a kind filter watches only that kind', async () => {
    await rules.update('offline', { kind: 'waste' });
    clock += 4 * MIN;
    await engine.checkTimeBased();
    expect(states().sort()).toEqual(['open:bin-1', 'open:bin-2']);
  });
});

describe('reject-rate alerts', () => {
  beforeEach(() => start([{ id: 'rejects', name: 'Bad payloads', type: 'reject_rate', percent: 50, windowMinutes: 5, minMessages: 4, repeatEveryMinutes: 5 }]));

  it('open above X % over Y minutes, repeat, clear as the window ages out', async () => {
    engine.onReading(reading('air', 'air-1', { pm25: 3 }));
    engine.onRejection(rejection('air', 'air-1'));
    engine.onRejection(rejection('air', 'air-1'));
    expect(delivered).toHaveLength(0);
    engine.onRejection(rejection('air', 'air-1'));
    expect(delivered[0]).toMatchObject({ state: 'open', ruleType: 'reject_rate', value: 75, deviceId: 'air-1' });
    expect(delivered[0]!.message).toContain('75 % of messages rejected in the last 5 min (3 of 4');

    clock += 5 * MIN;
    engine.sendRepeats();
    expect(delivered.at(-1)).toMatchObject({ state: 'repeat' });

    // Nothing more arrives: the messages leave the window and the tick clears the alert.
    clock += 20_000;
    await engine.checkTimeBased();
    expect(states()).toEqual(['open:air-1', 'repeat:air-1', 'cleared:air-1']);
  });

  it('good readings bring the rate down and clear it live', () => {
    for (let i = 0; i < 4; i++) engine.onRejection(rejection('traffic', 'car-1'));
    expect(states()).toEqual(['open:car-1']);
    for (let i = 0; i < 4; i++) engine.onReading(reading('traffic', 'car-1', { period: 60 }));
    expect(states()).toEqual(['open:car-1', 'cleared:car-1']);
  });

  it('ignores rejections no device can be named for', () => {
    for (let i = 0; i < 10; i++) engine.onRejection({ ...rejection('air', 'x'), deviceId: undefined });
    expect(delivered).toHaveLength(0);
  });
});

describe('restart', () => {
  it('an engine built on the same history neither reopens nor forgets active alerts', async () => {
    await start([{ id: 'bin-full', name: 'Bin full', type: 'threshold', kind: 'waste', metric: 'fill', op: '>=', value: 80 }]);
    engine.onReading(reading('waste', 'bin-1', { fill: 85 }));
    engine.close();
    const again = createAlertEngine({ rules, history, now: () => clock, deliver: (alert) => delivered.push(alert) });
    again.onReading(reading('waste', 'bin-1', { fill: 88 }));
    expect(states()).toEqual(['open:bin-1']);
    again.onReading(reading('waste', 'bin-1', { fill: 10 }));
    expect(states()).toEqual(['open:bin-1', 'cleared:bin-1']);
    again.close();
  });
});
