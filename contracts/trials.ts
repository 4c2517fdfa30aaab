/**
 * Trials (campaigns): a company brings devices to the lab for a period with declared goals,
 * and the device report tells it — and the city — how each device really performed.
 * The single source of truth for trial records, the admin API's bodies and the report.
 */
import { z } from 'zod';
import { DeviceIdSchema, ReadingKindSchema } from './readings.ts';
import { LabIdSchema } from './labs.ts';
import { RejectionReasonSchema } from './rejections.ts';

/** Trial id: 1–64 of [A-Za-z0-9_.-] (like a device id). */
export const TrialIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'trial id must be 1–64 of A–Z a–z 0–9 _ . -')
  .describe('Trial id: 1–64 of [A-Za-z0-9_.-]');

export const TRIAL_STATUSES = ['open', 'closed'] as const;
export const TrialStatusSchema = z.enum(TRIAL_STATUSES);
export type TrialStatus = z.infer<typeof TrialStatusSchema>;

/** What the devices of a trial promise; every report ends with a verdict per goal. */
export const TrialGoalsSchema = z.strictObject({
  intervalSeconds: z.number().int().min(1).max(86_400).describe('s: the interval every device declares it reports at'),
  completenessPct: z.number().min(0).max(100).default(95).describe('%: readings received of those expected, at least'),
  maxRejectRatePct: z.number().min(0).max(100).default(5).describe('%: rejected messages of all messages, at most'),
  maxLatencyP95Ms: z.number().int().min(1).max(86_400_000).optional().describe('ms: 95th percentile of device timestamp → receipt, at most'),
});
export type TrialGoals = z.infer<typeof TrialGoalsSchema>;

/** A change of some goals (no defaults here: a goal not named keeps its value). */
export const TrialGoalsPatchSchema = z.strictObject({
  intervalSeconds: TrialGoalsSchema.shape.intervalSeconds.optional(),
  completenessPct: z.number().min(0).max(100).optional(),
  maxRejectRatePct: z.number().min(0).max(100).optional(),
  maxLatencyP95Ms: z.number().int().min(1).max(86_400_000).nullable().optional().describe('null removes the latency goal'),
});

const OwnerSchema = z.string().min(1).max(100).regex(/^[^\u0000-\u001f\u007f]+$/, 'printable text only').describe('company or team running the trial');
const DeviceListSchema = z
  .array(DeviceIdSchema)
  .min(1)
  .max(200)
  .refine((ids) => new Set(ids).size === ids.length, 'each device may appear only once')
  .describe('devices under test');

export const TrialSchema = z.object({
  id: TrialIdSchema,
  name: z.string().min(1).max(200),
  owner: OwnerSchema,
  deviceIds: z.array(DeviceIdSchema),
  start: z.iso.datetime(),
  end: z.iso.datetime().optional().describe('absent while the trial runs with no planned end'),
  status: TrialStatusSchema,
  goals: TrialGoalsSchema,
  referenceDeviceId: DeviceIdSchema.optional().describe("air trials: the lab's reference station the devices are compared with"),
  lab: LabIdSchema.optional().describe('the lab the trial runs in; absent (made before labs) = the default lab'),
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
});
export type Trial = z.infer<typeof TrialSchema>;

export const CreateTrialRequestSchema = z.strictObject({
  id: TrialIdSchema.optional().describe('default: generated'),
  name: z.string().min(1).max(200),
  owner: OwnerSchema,
  deviceIds: DeviceListSchema,
  start: z.iso.datetime({ offset: true }).describe('ISO 8601 with a zone'),
  end: z.iso.datetime({ offset: true }).optional(),
  goals: TrialGoalsSchema,
  referenceDeviceId: DeviceIdSchema.optional(),
  lab: LabIdSchema.optional().describe("default: the caller's lab (a lab-scoped key), else the default lab; its devices must be the lab's"),
});
export type CreateTrialRequest = z.input<typeof CreateTrialRequestSchema>;

export const UpdateTrialRequestSchema = z.strictObject({
  name: z.string().min(1).max(200).optional(),
  owner: OwnerSchema.optional(),
  deviceIds: DeviceListSchema.optional(),
  start: z.iso.datetime({ offset: true }).optional(),
  end: z.iso.datetime({ offset: true }).nullable().optional().describe('null clears a planned end'),
  goals: TrialGoalsPatchSchema.optional().describe('only the goals given change'),
  referenceDeviceId: DeviceIdSchema.nullable().optional().describe('null removes the reference'),
});
export type UpdateTrialRequest = z.input<typeof UpdateTrialRequestSchema>;

export const CloseTrialRequestSchema = z
  .strictObject({ end: z.iso.datetime({ offset: true }).optional().describe('default: the planned end if it has passed, else now') })
  .default({});
export type CloseTrialRequest = z.input<typeof CloseTrialRequestSchema>;

export const TrialListResponseSchema = z.object({ trials: z.array(TrialSchema) });
export type TrialListResponse = z.infer<typeof TrialListResponseSchema>;

export const TRIAL_REPORT_FORMATS = ['json', 'html'] as const;
export const TrialReportQuerySchema = z.strictObject({
  from: z.string().max(40).optional().describe('start of a sub-range (ISO 8601, epoch ms, or relative such as -7d); default the trial start'),
  to: z.string().max(40).optional().describe('end (exclusive); default the trial end, or now while it runs'),
  format: z.enum(TRIAL_REPORT_FORMATS).default('json').describe('json, or html: a printable page with charts'),
});
export type TrialReportQuery = z.infer<typeof TrialReportQuerySchema>;

/** Pollutants compared with a reference station (air metrics in µg/m³, co in mg/m³). */
export const REFERENCE_POLLUTANTS = ['pm1', 'pm25', 'pm10', 'no2', 'o3', 'so2', 'co'] as const;

const nullableNumber = z.number().nullable();

/** A stretch with readings missing: between two readings, or at an edge of the period. */
export const TrialGapSchema = z.object({
  from: z.iso.datetime().describe('the last reading before the gap (or the period start)'),
  to: z.iso.datetime().describe('the first reading after the gap (or the period end)'),
  durationMs: z.number().describe('ms without a reading'),
  missing: z.number().int().describe('readings missing'),
  afterSeq: z.number().int().optional(),
  beforeSeq: z.number().int().optional(),
  edge: z.enum(['start', 'end']).optional().describe('the gap touches the period start or end'),
});
export type TrialGap = z.infer<typeof TrialGapSchema>;

export const TrialVerdictSchema = z.object({
  goal: z.enum(['completenessPct', 'maxRejectRatePct', 'maxLatencyP95Ms', 'intervalSeconds']),
  target: z.number(),
  actual: nullableNumber.describe('null: not measurable in this period'),
  unit: z.string(),
  met: z.boolean(),
  /** How far from the target, in the goal's unit: positive = better than the target. */
  margin: nullableNumber,
  text: z.string().describe('the verdict as a sentence'),
});
export type TrialVerdict = z.infer<typeof TrialVerdictSchema>;

export const PollutantComparisonSchema = z.object({
  pollutant: z.string(),
  unit: z.string(),
  pairedHours: z.number().int(),
  meanDevice: nullableNumber,
  meanReference: nullableNumber,
  bias: nullableNumber.describe('mean of device − reference over paired hourly means'),
  rmse: nullableNumber,
  r2: nullableNumber.describe('coefficient of determination of the least-squares fit'),
  slope: nullableNumber.describe('device = slope × reference + intercept'),
  intercept: nullableNumber,
  drift: z.object({
    perDay: nullableNumber.describe('slope of the hourly error (device − reference) over time, unit per day'),
    windowDays: z.number().describe('length of the early and late windows (7 d, or half the paired span if shorter)'),
    earlyBias: nullableNumber,
    lateBias: nullableNumber,
  }),
  /** Paired hourly means for the charts: [hour start epoch ms, device, reference] (at most 2,000). */
  pairs: z.array(z.tuple([z.number(), z.number(), z.number()])),
});
export type PollutantComparison = z.infer<typeof PollutantComparisonSchema>;

export const DeviceReportSchema = z.object({
  deviceId: z.string(),
  kind: ReadingKindSchema.nullable().describe('null: the device is no longer registered'),
  name: z.string().nullable(),
  intervalSeconds: z.number(),
  readings: z.object({
    stored: z.number().int().describe('readings stored in the period (a redelivery with the same timestamp is stored once)'),
    unique: z.number().int().describe('stored readings less repeated sequence numbers'),
    expected: z.number().int().describe('period ÷ declared interval'),
  }),
  completenessPct: z.number(),
  uptimePct: z.number().describe('share of the period covered by [reading time, + interval)'),
  medianIntervalSeconds: nullableNumber,
  gaps: z.object({
    method: z.enum(['seq', 'time']),
    count: z.number().int(),
    missing: z.number().int(),
    longest: TrialGapSchema.nullable(),
    list: z.array(TrialGapSchema).describe('at most 500, longest first kept'),
    truncated: z.boolean(),
  }),
  duplicates: z.object({ count: z.number().int(), seqs: z.array(z.number().int()).describe('the first 50') }),
  outOfOrder: z.object({ count: z.number().int(), method: z.enum(['seq', 'time']) }),
  rejections: z.object({
    total: z.number().int(),
    ratePct: nullableNumber,
    byReason: z.array(
      z.object({
        reason: RejectionReasonSchema,
        count: z.number().int(),
        examples: z.array(z.object({ receivedAt: z.iso.datetime(), message: z.string(), excerpt: z.string() })),
      }),
    ),
  }),
  latency: z.object({ samples: z.number().int(), p50Ms: nullableNumber, p95Ms: nullableNumber, maxMs: nullableNumber }),
  clockSkew: z.object({
    aheadReadings: z.number().int().describe('readings stamped more than 1 s after they were received: the device clock is ahead'),
    maxAheadMs: nullableNumber,
    medianOffsetMs: nullableNumber.describe('median of device timestamp − receipt (negative: latency, or a clock behind)'),
  }),
  battery: z
    .object({
      samples: z.number().int(),
      first: z.number(),
      last: z.number(),
      drainPerDay: nullableNumber.describe('%/day by least squares (since the last battery swap)'),
      projectedDaysLeft: nullableNumber,
      replacedAt: z.iso.datetime().optional(),
    })
    .nullable(),
  signal: z.object({ samples: z.number().int(), medianDbm: z.number(), minDbm: z.number(), maxDbm: z.number() }).nullable(),
  reference: z.object({ deviceId: z.string(), pollutants: z.array(PollutantComparisonSchema) }).nullable(),
  verdicts: z.array(TrialVerdictSchema),
  series: z.object({
    bucketMs: z.number().describe('width of each coverage bucket'),
    coveragePct: z.array(z.number()).describe('per bucket: readings ÷ expected, %'),
    battery: z.array(z.tuple([z.number(), z.number()])).describe('[epoch ms, %], at most 200 points'),
  }),
});
export type DeviceReport = z.infer<typeof DeviceReportSchema>;

export const TrialReportSchema = z.object({
  trial: TrialSchema,
  period: z.object({ from: z.iso.datetime(), to: z.iso.datetime(), days: z.number() }),
  generatedAt: z.iso.datetime(),
  devices: z.array(DeviceReportSchema),
  allGoalsMet: z.boolean(),
  notes: z.array(z.string()),
});
export type TrialReport = z.infer<typeof TrialReportSchema>;
