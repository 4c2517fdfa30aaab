/**
 * Alerts: the rules an admin creates (as data, through `/api/v1/alert-rules`) and the alerts
 * they raise (pushed on the socket.io `alert` event, POSTed to the webhook, listed at
 * `/api/v1/alerts`). One schema per wire: the API, the dashboard and tests type them here.
 *
 * An alert exists per rule × device. It opens once when the rule's condition starts to hold,
 * repeats every `repeatEveryMinutes` while it still holds, and clears when the condition ends;
 * every transition is one `alert` event with the same alert `id`.
 */
import { z } from 'zod';
import { DeviceIdSchema, ReadingKindSchema, type ReadingKind } from './readings.ts';
import { LabIdSchema } from './labs.ts';
import { numericMetricsOf } from './kinds-table.ts';

export const ALERT_SEVERITIES = ['info', 'warning', 'critical'] as const;
export const AlertSeveritySchema = z.enum(ALERT_SEVERITIES);
export type AlertSeverity = z.infer<typeof AlertSeveritySchema>;

/** Comparison of a threshold rule: `value op threshold`, e.g. fill >= 80. */
export const THRESHOLD_OPS = ['>=', '>', '<=', '<'] as const;
export const ThresholdOpSchema = z.enum(THRESHOLD_OPS);
export type ThresholdOp = z.infer<typeof ThresholdOpSchema>;

export const ALERT_RULE_TYPES = ['threshold', 'eaqi', 'offline', 'reject_rate'] as const;
export const AlertRuleTypeSchema = z.enum(ALERT_RULE_TYPES);
export type AlertRuleType = z.infer<typeof AlertRuleTypeSchema>;

/** Fields a threshold rule may watch: the kind's numeric measurements plus battery and rssi. */
export function thresholdMetricsOf(kind: ReadingKind): string[] {
  // A threshold on a boolean field (waste's lidOpen) means nothing.
  return [...numericMetricsOf(kind), 'battery', 'rssi'];
}

/** Rule ids: given by the admin (`bin-full`) or generated (`rule-…`). */
export const AlertRuleIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'lower-case letters, digits, - and _, at most 63, starting with a letter or digit');

const RuleCommonShape = {
  id: AlertRuleIdSchema.optional().describe('stable id; generated when omitted').meta({ example: 'bin-full' }),
  name: z.string().min(1).max(200).describe('what people see, e.g. "Bin full"'),
  severity: AlertSeveritySchema.default('warning'),
  enabled: z.boolean().default(true),
  repeatEveryMinutes: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 60)
    .default(60)
    .describe('min: an active alert is sent again this often (by the alert-repeats job); 0 = never'),
  deviceId: DeviceIdSchema.optional().describe('only this device'),
  site: z.string().min(1).max(100).optional().describe("only devices registered at this site (the registry's site)"),
  lab: LabIdSchema.optional().describe("the lab whose devices the rule watches; default the caller's lab (a lab-scoped key), else the default lab"),
};

export const ThresholdRuleShape = {
  ...RuleCommonShape,
  type: z.literal('threshold'),
  kind: ReadingKindSchema,
  metric: z.string().min(1).max(40).describe("a numeric field of the kind (contract name and units), or battery / rssi"),
  op: ThresholdOpSchema,
  value: z.number().describe('the threshold, in the metric’s contract units'),
  hysteresis: z
    .number()
    .min(0)
    .default(0)
    .describe('metric units: an open alert clears only once the value is this far back past the threshold (fill ≥ 80 with 5 clears below 75), so noise around the threshold does not flap'),
};

export const EaqiRuleShape = {
  ...RuleCommonShape,
  type: z.literal('eaqi'),
  level: z
    .number()
    .int()
    .min(1)
    .max(6)
    .describe('EAQI band 1–6 (4 = poor): alert while the worst pollutant band of the latest air reading is at least this'),
};

export const OfflineRuleShape = {
  ...RuleCommonShape,
  type: z.literal('offline'),
  intervals: z.number().min(1).max(10_000).default(3).describe('not heard from for this many × the device’s declared intervalSeconds'),
  kind: ReadingKindSchema.optional().describe('only devices of this kind'),
};

export const RejectRateRuleShape = {
  ...RuleCommonShape,
  type: z.literal('reject_rate'),
  percent: z.number().min(0).max(100).describe('%: alert while rejected / (rejected + accepted) is above this'),
  windowMinutes: z.number().int().min(1).max(240).describe('min: the sliding window the rate is computed over'),
  minMessages: z.number().int().min(1).max(1_000_000).default(5).describe('messages the window needs before a rate counts'),
  kind: ReadingKindSchema.optional().describe('only devices of this kind'),
};

function checkThresholdMetric(rule: { kind: ReadingKind; metric: string }, ctx: z.core.$RefinementCtx<unknown>): void {
  const allowed = thresholdMetricsOf(rule.kind);
  if (!allowed.includes(rule.metric)) {
    ctx.addIssue({ code: 'custom', path: ['metric'], message: `"${rule.metric}" is not a numeric ${rule.kind} metric; one of ${allowed.join(', ')}` });
  }
}

/** POST /api/v1/alert-rules: one of the four rule types, told apart by `type`. */
export const CreateAlertRuleRequestSchema = z.discriminatedUnion('type', [
  z.strictObject(ThresholdRuleShape).superRefine(checkThresholdMetric),
  z.strictObject(EaqiRuleShape),
  z.strictObject(OfflineRuleShape),
  z.strictObject(RejectRateRuleShape),
]);
export type CreateAlertRuleRequest = z.input<typeof CreateAlertRuleRequestSchema>;

const StoredFieldsShape = {
  id: AlertRuleIdSchema,
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
};

/** A stored rule, as the API returns it. */
export const AlertRuleSchema = z.discriminatedUnion('type', [
  z.strictObject({ ...ThresholdRuleShape, ...StoredFieldsShape }).superRefine(checkThresholdMetric),
  z.strictObject({ ...EaqiRuleShape, ...StoredFieldsShape }),
  z.strictObject({ ...OfflineRuleShape, ...StoredFieldsShape }),
  z.strictObject({ ...RejectRateRuleShape, ...StoredFieldsShape }),
]);
export type AlertRule = z.infer<typeof AlertRuleSchema>;

/**
 * PATCH /api/v1/alert-rules/:id: any field but `id` and `type`; the merged rule is validated
 * again as a whole, so a field that does not belong to the rule's type is a 400 naming it.
 * `deviceId` / `site` set to null remove the filter.
 */
export const UpdateAlertRuleRequestSchema = z.strictObject({
  name: RuleCommonShape.name.optional(),
  severity: AlertSeveritySchema.optional(),
  enabled: z.boolean().optional(),
  repeatEveryMinutes: z.number().int().min(0).max(7 * 24 * 60).optional(),
  deviceId: DeviceIdSchema.nullable().optional(),
  site: z.string().min(1).max(100).nullable().optional(),
  kind: ReadingKindSchema.nullable().optional(),
  metric: ThresholdRuleShape.metric.optional(),
  op: ThresholdOpSchema.optional(),
  value: z.number().optional(),
  hysteresis: z.number().min(0).optional(),
  level: EaqiRuleShape.level.optional(),
  intervals: z.number().min(1).max(10_000).optional(),
  percent: RejectRateRuleShape.percent.optional(),
  windowMinutes: RejectRateRuleShape.windowMinutes.optional(),
  minMessages: z.number().int().min(1).max(1_000_000).optional(),
});
export type UpdateAlertRuleRequest = z.infer<typeof UpdateAlertRuleRequestSchema>;

export const AlertRuleListResponseSchema = z.object({ rules: z.array(AlertRuleSchema) });
export type AlertRuleListResponse = z.infer<typeof AlertRuleListResponseSchema>;

/** One alert (rule × device) as of its latest transition: the live `alert` event and a row of GET /alerts. */
export const AlertSchema = z.object({
  id: z.string().describe('the alert; the same for its open, repeat and cleared events'),
  rule: z.string().describe('id of the rule that raised it'),
  ruleName: z.string(),
  ruleType: AlertRuleTypeSchema,
  severity: AlertSeveritySchema,
  state: z.enum(['open', 'repeat', 'cleared']).describe('the latest transition; open and repeat mean active'),
  deviceId: DeviceIdSchema.optional(),
  kind: ReadingKindSchema.optional(),
  site: z.string().optional(),
  message: z.string().describe('human explanation, e.g. "waste-07: fill 86 % ≥ 80 %"'),
  value: z
    .number()
    .optional()
    .describe('what decided: the metric value, the EAQI level, the reject rate in %, or the seconds since the device was last heard'),
  at: z.iso.datetime().describe('when this transition happened'),
  openedAt: z.iso.datetime(),
  clearedAt: z.iso.datetime().optional(),
  repeats: z.number().int().min(0).describe('repeat events sent so far'),
});
export type Alert = z.infer<typeof AlertSchema>;

export const ALERT_LIST_STATES = ['active', 'cleared'] as const;

/** GET /api/v1/alerts. */
export const AlertsQuerySchema = z.strictObject({
  state: z.enum(ALERT_LIST_STATES).optional().describe('active (open or repeating) or cleared; default both'),
  device: DeviceIdSchema.optional().describe('only alerts of this device'),
  rule: AlertRuleIdSchema.optional().describe('only alerts of this rule'),
  since: z
    .string()
    .max(40)
    .optional()
    .describe('only alerts active at some point since this time (still active, or cleared since): ISO 8601, epoch ms, now, or relative such as -24h'),
  limit: z.coerce.number().int().min(1).max(1_000).default(100).describe('most alerts returned, newest transition first'),
});
export type AlertsQuery = z.infer<typeof AlertsQuerySchema>;

export const AlertListResponseSchema = z.object({ alerts: z.array(AlertSchema) });
export type AlertListResponse = z.infer<typeof AlertListResponseSchema>;
