/** One verdict per goal of a trial: met or not, and by how much (pure). */
import type { TrialGoals, TrialVerdict } from '../../contracts/index.ts';

/** The median spacing of readings may exceed the declared interval by this share and still meet it. */
export const INTERVAL_TOLERANCE = 0.1;

export interface VerdictFigures {
  completenessPct: number;
  rejectRatePct: number | undefined;
  latencyP95Ms: number | undefined;
  medianIntervalSeconds: number | undefined;
}

const fmt = (value: number, digits = 1) => (Math.round(value * 10 ** digits) / 10 ** digits).toString();

export function judgeGoals(goals: TrialGoals, figures: VerdictFigures): TrialVerdict[] {
  const verdicts: TrialVerdict[] = [];
  {
    const actual = figures.completenessPct;
    const margin = actual - goals.completenessPct;
    const met = margin >= 0;
    verdicts.push({
      goal: 'completenessPct',
      target: goals.completenessPct,
      actual,
      unit: '%',
      met,
      margin,
      text: `Completeness ${fmt(actual)} % against a target of at least ${fmt(goals.completenessPct)} %: ${met ? 'met' : 'NOT MET'}, by ${fmt(Math.abs(margin))} points`,
    });
  }
  {
    const actual = figures.rejectRatePct;
    const margin = actual === undefined ? null : goals.maxRejectRatePct - actual;
    const met = margin !== null && margin >= 0;
    verdicts.push({
      goal: 'maxRejectRatePct',
      target: goals.maxRejectRatePct,
      actual: actual ?? null,
      unit: '%',
      met,
      margin,
      text:
        actual === undefined
          ? `Reject rate: no messages in the period, so not met (at most ${fmt(goals.maxRejectRatePct)} % allowed)`
          : `Reject rate ${fmt(actual, 2)} % against at most ${fmt(goals.maxRejectRatePct)} %: ${met ? 'met' : 'NOT MET'}, by ${fmt(Math.abs(margin!), 2)} points`,
    });
  }
  if (goals.maxLatencyP95Ms !== undefined) {
    const actual = figures.latencyP95Ms;
    const margin = actual === undefined ? null : goals.maxLatencyP95Ms - actual;
    const met = margin !== null && margin >= 0;
    verdicts.push({
      goal: 'maxLatencyP95Ms',
      target: goals.maxLatencyP95Ms,
      actual: actual ?? null,
      unit: 'ms',
      met,
      margin,
      text:
        actual === undefined
          ? `Latency p95: no receipt times in the period, so not met (at most ${goals.maxLatencyP95Ms} ms allowed)`
          : `Latency p95 ${fmt(actual, 0)} ms against at most ${goals.maxLatencyP95Ms} ms: ${met ? 'met' : 'NOT MET'}, by ${fmt(Math.abs(margin!), 0)} ms`,
    });
  }
  {
    const actual = figures.medianIntervalSeconds;
    const limit = goals.intervalSeconds * (1 + INTERVAL_TOLERANCE);
    const margin = actual === undefined ? null : goals.intervalSeconds - actual;
    const met = actual !== undefined && actual <= limit;
    verdicts.push({
      goal: 'intervalSeconds',
      target: goals.intervalSeconds,
      actual: actual ?? null,
      unit: 's',
      met,
      margin,
      text:
        actual === undefined
          ? `Interval: fewer than two readings, so not met (every ${goals.intervalSeconds} s declared)`
          : `Median interval ${fmt(actual, 1)} s against the declared ${goals.intervalSeconds} s (+${INTERVAL_TOLERANCE * 100} % tolerance): ${met ? 'met' : 'NOT MET'}, ${margin! >= 0 ? `${fmt(margin!, 1)} s shorter` : `${fmt(-margin!, 1)} s longer`}`,
    });
  }
  return verdicts;
}
