/**
 * The sizes of each profile. Every profile runs every stage and reports every figure; they
 * differ only in durations and counts:
 * - `full`: the measurement of record (< 15 min): ≥ 60 s end to end, 10,000 idle devices,
 *   ≥ 10 million points under the queries;
 * - `quick`: the same shape in < 3 min, with shorter runs and a smaller query store;
 * - `smoke`: seconds per stage and tiny counts, for the harness test in CI.
 */
export type ProfileName = 'smoke' | 'quick' | 'full';

export interface Profile {
  name: ProfileName;
  e2e: {
    /** QoS 1, services as separate processes: the headline figure. */
    qos1Seconds: number;
    qos0Seconds: number;
    /** QoS 1 with everything in one process (`npm run lab`'s topology). */
    labSeconds: number;
    devices: number;
    window: number;
    /** The search for the sustainable QoS 1 rate (see stages/e2e.ts). */
    searchStartPerS: number;
    searchStepSeconds: number;
    searchMaxSteps: number;
    /** Search the one-process topology's own rate (else: offer it what the split one sustained). */
    labSearch: boolean;
  };
  /**
   * `--cluster`: the QoS 1 end-to-end measurement in cluster mode (Redis), 1 and 2 nodes of
   * each service. `ratePerS` pins the offered rate (no search).
   */
  cluster: {
    seconds: number;
    devices: number;
    window: number;
    searchStartPerS: number;
    searchStepSeconds: number;
    searchMaxSteps: number;
    ratePerS?: number;
  };
  ceilings: {
    influxSeconds: number;
    influxWarmupSeconds: number;
    batchLines: number;
    writers: number;
    pubsubSeconds: number;
    pubsubWarmupSeconds: number;
    publishers: number;
    window: number;
    /** Each broker variant runs this many times, interleaved; the median is reported. */
    rounds: number;
  };
  latency: {
    ratePerS: number;
    clients: number;
    devices: number;
    seconds: number;
    warmupSeconds: number;
  };
  memory: {
    devices: number;
    settleSeconds: number;
  };
  queries: {
    devices: number;
    intervalSeconds: number;
    days: number;
    aggregateIterations: number;
    exportIterations: number;
    /** Rows one export returns (the export window is sized to it). */
    exportRows: number;
    quiesceTimeoutSeconds: number;
  };
}

export const PROFILES: Record<ProfileName, Profile> = {
  full: {
    name: 'full',
    e2e: { qos1Seconds: 60, qos0Seconds: 30, labSeconds: 30, devices: 120, window: 10, searchStartPerS: 8_000, searchStepSeconds: 3, searchMaxSteps: 12, labSearch: true },
    cluster: { seconds: 30, devices: 120, window: 10, searchStartPerS: 4_000, searchStepSeconds: 3, searchMaxSteps: 10 },
    ceilings: { influxSeconds: 20, influxWarmupSeconds: 3, batchLines: 5_000, writers: 2, pubsubSeconds: 15, pubsubWarmupSeconds: 3, publishers: 50, window: 10, rounds: 2 },
    latency: { ratePerS: 1_000, clients: 100, devices: 100, seconds: 30, warmupSeconds: 3 },
    memory: { devices: 10_000, settleSeconds: 3 },
    // 1,000 devices × 7 days at one reading a minute = 10,080,000 points.
    queries: { devices: 1_000, intervalSeconds: 60, days: 7, aggregateIterations: 60, exportIterations: 12, exportRows: 100_000, quiesceTimeoutSeconds: 90 },
  },
  quick: {
    name: 'quick',
    e2e: { qos1Seconds: 10, qos0Seconds: 5, labSeconds: 5, devices: 120, window: 10, searchStartPerS: 10_000, searchStepSeconds: 1.5, searchMaxSteps: 10, labSearch: false },
    cluster: { seconds: 10, devices: 120, window: 10, searchStartPerS: 4_000, searchStepSeconds: 1.5, searchMaxSteps: 7 },
    ceilings: { influxSeconds: 6, influxWarmupSeconds: 1.5, batchLines: 5_000, writers: 2, pubsubSeconds: 6, pubsubWarmupSeconds: 1.5, publishers: 50, window: 10, rounds: 1 },
    latency: { ratePerS: 1_000, clients: 100, devices: 100, seconds: 8, warmupSeconds: 2 },
    memory: { devices: 10_000, settleSeconds: 2 },
    // 150 devices × 7 days = 1,512,000 points: fewer than the 10 million of the full profile.
    queries: { devices: 150, intervalSeconds: 60, days: 7, aggregateIterations: 30, exportIterations: 6, exportRows: 100_000, quiesceTimeoutSeconds: 20 },
  },
  smoke: {
    name: 'smoke',
    e2e: { qos1Seconds: 2, qos0Seconds: 1, labSeconds: 1, devices: 6, window: 4, searchStartPerS: 1_000, searchStepSeconds: 0.5, searchMaxSteps: 2, labSearch: true },
    cluster: { seconds: 2, devices: 6, window: 4, searchStartPerS: 1_000, searchStepSeconds: 0.5, searchMaxSteps: 2, ratePerS: 500 },
    ceilings: { influxSeconds: 1, influxWarmupSeconds: 0, batchLines: 1_000, writers: 2, pubsubSeconds: 1, pubsubWarmupSeconds: 0, publishers: 4, window: 4, rounds: 1 },
    latency: { ratePerS: 100, clients: 3, devices: 3, seconds: 2, warmupSeconds: 0.5 },
    memory: { devices: 100, settleSeconds: 0.5 },
    queries: { devices: 5, intervalSeconds: 300, days: 2, aggregateIterations: 3, exportIterations: 2, exportRows: 500, quiesceTimeoutSeconds: 2 },
  },
};

/** Points the query stage seeds under a profile. */
export function seedPoints(profile: Profile): number {
  return profile.queries.devices * Math.floor((profile.queries.days * 86_400) / profile.queries.intervalSeconds);
}
