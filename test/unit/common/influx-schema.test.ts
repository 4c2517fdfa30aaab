import { describe, expect, it } from 'vitest';
import type { LiveReading, Rejection } from '../../../contracts/index.ts';
import { readingToLine, rejectionToLine, rowToReading } from '../../../common/influx-schema.ts';

const reading: LiveReading = {
  kind: 'waste',
  deviceId: 'bin-7',
  ts: '2026-11-22T10:00:00.123Z',
  receivedAt: '2026-11-22T10:00:01.000Z',
  seq: 12,
  battery: 80,
  values: { fill: 55.5, lidOpen: true },
};

describe('line protocol', () => {
  it('writes a reading at its millisecond timestamp in ns, with sorted, escaped registry tags', () => {
    const line = readingToLine(reading, { site: 'Nørrebrogade 12, north side', owner: 'Bin=Co' });
    expect(line).toBe(
      'waste,device=bin-7,owner=Bin\\=Co,site=Nørrebrogade\\ 12\\,\\ north\\ side fill=55.5,lidOpen=true,seq=12,battery=80,received_ms=1795341601000 1795341600123000000',
    );
  });

  it('gives two rejections in the same millisecond different timestamps, and escapes strings', () => {
    const rejection: Rejection = {
      reason: 'PAYLOAD_NOT_JSON',
      message: 'bad "quote" \\ and\nnewline',
      issues: [],
      topic: 'lab/v1/air/a',
      receivedAt: '2026-11-22T10:00:00.000Z',
      excerpt: '{"a":',
      size: 5,
    };
    const a = rejectionToLine(rejection);
    const b = rejectionToLine(rejection);
    expect(a.split(' ').at(-1)).not.toBe(b.split(' ').at(-1));
    expect(a).toContain('message="bad \\"quote\\" \\\\ and\\nnewline"');
    expect(a).toMatch(/^rejected,device=unknown,kind=unknown,reason=PAYLOAD_NOT_JSON /);
  });

  it('reads a query row back into the reading it came from', () => {
    const row = { time: Date.parse(reading.ts), device: 'bin-7', site: 'x', fill: 55.5, lidOpen: true, seq: 12, battery: 80, received_ms: Date.parse(reading.receivedAt!), tilt: null };
    expect(rowToReading('waste', row)).toEqual(reading);
  });
});
