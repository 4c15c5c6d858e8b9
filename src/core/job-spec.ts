/**
 * The job file of `segflow job run <file>`: a list of steps over the Public API catalogue
 * (docs/segment-public-api.md, "Operation catalogue") and the Tracking API, validated with zod before anything is
 * started. YAML or JSON (YAML is a superset of JSON).
 *
 * Example:
 *
 *   name: retire the old web sources
 *   continueOnError: false
 *   steps:
 *     - name: label them
 *       op: add-labels
 *       targets: { name: "web-legacy-*" }        # or { labels: ["env:legacy"] } or [src_1, src_2]
 *       labels: ["status:retired"]
 *       createMissingLabels: true
 *     - op: update-source
 *       targets: [src_1]
 *       set: { enabled: false }
 *     - op: delete-source
 *       targets: [src_1]
 *       force: true                              # the source still has connected destinations
 *
 * Targets are resolved to source ids at preview time; the approved plan pins them (a selector never widens after
 * approval). Write keys are secrets and never appear in a job file: `remove-write-key` names the key by the
 * fingerprint `segflow source get` shows, or by its position in the source's list.
 *
 * Every error names the step (number, name and op) and the field, e.g.
 *   step 2 of 3 ("disable web", update-source), field "set.enabled": Invalid input: expected boolean, received string
 *
 * Workflow code may import this file's *types* only (`import type`): zod and yaml stay out of the sandbox.
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import type { JobLabel, JobSpec, JobStep, JobTargets } from '../contracts/job-spec';
export type { JobLabel, JobSpec, JobStep, JobTargets };
import { SEGMENT_LIMITS } from '../shared/limits';
import { MAX_GLOB_CHARS } from './glob';
import { plainText } from '../shared/safe-text';
import { validateMessage, type ValidatedMessage } from './message-schema';

const textEncoder = new TextEncoder();
const utf8Bytes = (value: unknown): number => textEncoder.encode(JSON.stringify(value)).length;

export const READ_OPS = [
  'list-sources',
  'get-source',
  'list-warehouses',
  'schema-settings',
  'get-destination',
  'delivery-metrics',
  'api-calls-usage',
] as const;
export const WRITE_OPS = ['add-labels', 'update-source', 'create-write-key', 'send'] as const;
export const DESTRUCTIVE_OPS = ['remove-write-key', 'delete-source'] as const;
export const JOB_OPS = [...READ_OPS, ...WRITE_OPS, ...DESTRUCTIVE_OPS] as const;
export type JobOp = (typeof JOB_OPS)[number];

/** At most this many messages in one `send` step: jobs are for small sets, imports are for volume. */
export const MAX_SEND_MESSAGES = 100;
export const MAX_STEPS = 100;

/**
 * Length limits on every string of a job file: each reaches the plan (Temporal history) and the approval view, and
 * a job file is hostile until proven otherwise (README "Security model"). Segment's own ids are ~30 characters.
 */
export const JOB_TEXT_LIMITS = {
  id: 64,
  name: 100,
  jobName: 200,
  description: 2000,
  labelPart: 100,
  namePattern: MAX_GLOB_CHARS,
  settingKey: 200,
  settingsBytes: 16 * 1024,
} as const;

const nonBlank = z.string().trim().min(1, 'must not be empty');
const bounded = (max: number) => nonBlank.max(max, `must be at most ${max} characters`);
/** Segment ids are letters, digits, `_` and `-`; nothing else can be a real id, and nothing else reaches a URL path. */
const segmentId = bounded(JOB_TEXT_LIMITS.id).regex(/^[A-Za-z0-9_-]+$/, 'an id is letters, digits, "_" or "-"');
const sourceId = segmentId;

/** A label as `key:value` text or as `{key, value, description?}`. */
const labelSchema = z
  .union(
    [
      z
        .string()
        .max(2 * JOB_TEXT_LIMITS.labelPart + 1, `a label is at most ${2 * JOB_TEXT_LIMITS.labelPart + 1} characters`)
        .regex(/^[^:\s][^:]*:.+$/, 'a label is written "key:value"'),
      z.strictObject({
        key: bounded(JOB_TEXT_LIMITS.labelPart),
        value: bounded(JOB_TEXT_LIMITS.labelPart),
        description: z.string().max(JOB_TEXT_LIMITS.description).optional(),
      }),
    ],
    { error: 'a label is "key:value" or {key, value, description?}' },
  )
  .transform((label) => {
    if (typeof label !== 'string') return label;
    const at = label.indexOf(':');
    return { key: label.slice(0, at).trim(), value: label.slice(at + 1).trim() };
  });

/**
 * Which sources a step acts on: explicit ids, or a selector (every listed label present AND the glob matching the
 * name or slug). A bare id or a list of ids is shorthand for `{sourceIds: [...]}`.
 */
const targetsSchema = z.preprocess(
  (raw) => (typeof raw === 'string' ? { sourceIds: [raw] } : Array.isArray(raw) ? { sourceIds: raw } : raw),
  z
    .strictObject({
      sourceIds: z.array(sourceId).min(1).max(1000).optional(),
      labels: z.array(labelSchema).min(1).max(50).optional(),
      // Matched against every source's name and slug during the preview, before anyone approves: bounded.
      name: bounded(JOB_TEXT_LIMITS.namePattern).optional(),
    })
    .superRefine((targets, ctx) => {
      const hasSelector = targets.labels !== undefined || targets.name !== undefined;
      if (targets.sourceIds !== undefined && hasSelector) {
        ctx.addIssue({ code: 'custom', message: 'use either sourceIds or a selector (labels / name), not both' });
      } else if (targets.sourceIds === undefined && !hasSelector) {
        ctx.addIssue({ code: 'custom', message: 'name the sources: sourceIds, labels or name' });
      }
    }),
);

const common = {
  name: bounded(JOB_TEXT_LIMITS.name).optional(),
  /** Overrides the job's `continueOnError` for this step. */
  continueOnError: z.boolean().optional(),
};

const isoDateTime = z
  .string()
  .max(40, 'must be an ISO-8601 date-time')
  .refine((text) => /^\d{4}-\d{2}-\d{2}T/.test(text) && !Number.isNaN(Date.parse(text)), 'must be an ISO-8601 date-time');

const stepSchema = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('list-sources'), ...common }),
  z.strictObject({ op: z.literal('get-source'), targets: targetsSchema, ...common }),
  z.strictObject({ op: z.literal('list-warehouses'), targets: targetsSchema, ...common }),
  z.strictObject({ op: z.literal('schema-settings'), targets: targetsSchema, ...common }),
  z.strictObject({ op: z.literal('get-destination'), destinationId: segmentId, ...common }),
  z.strictObject({
    op: z.literal('delivery-metrics'),
    destinationId: segmentId,
    // Required by the API (422 without it).
    sourceId,
    startTime: isoDateTime.optional(),
    endTime: isoDateTime.optional(),
    granularity: z.enum(['MINUTE', 'HOUR', 'DAY']).optional(),
    ...common,
  }),
  z
    .strictObject({
      op: z.literal('api-calls-usage'),
      period: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])-01$/, 'must be the first day of a month, e.g. 2024-05-01'),
      /** Per source by default (every source, or the listed ones); the workspace total only when asked for. */
      scope: z.enum(['sources', 'workspace']).default('sources'),
      sourceIds: z.array(sourceId).min(1).max(1000).optional(),
      /** One source: shorthand for `sourceIds: [id]`. */
      sourceId: sourceId.optional(),
      ...common,
    })
    .superRefine((step, ctx) => {
      if (step.scope === 'workspace' && (step.sourceIds || step.sourceId)) {
        ctx.addIssue({
          code: 'custom',
          path: ['scope'],
          message: 'scope "workspace" counts the whole workspace; drop sourceIds, or use scope "sources"',
        });
      }
    }),
  z.strictObject({
    op: z.literal('add-labels'),
    targets: targetsSchema,
    labels: z.array(labelSchema).min(1).max(50),
    /**
     * Labels must exist in the workspace before a source can carry them (docs/segment-public-api.md, "Labels");
     * create missing ones only if asked.
     */
    createMissingLabels: z.boolean().default(false),
    ...common,
  }),
  z.strictObject({
    op: z.literal('update-source'),
    targets: targetsSchema,
    set: z
      .strictObject({
        name: bounded(JOB_TEXT_LIMITS.name).optional(),
        enabled: z.boolean().optional(),
        slug: z
          .string()
          .max(JOB_TEXT_LIMITS.name, `must be at most ${JOB_TEXT_LIMITS.name} characters`)
          .regex(/^[a-z0-9_-]+$/, 'a slug is lower-case letters, digits, "_" or "-"')
          .optional(),
        /** Merged key by key into the source's current settings. */
        settings: z
          .record(z.string().max(JOB_TEXT_LIMITS.settingKey, `a setting name is at most ${JOB_TEXT_LIMITS.settingKey} characters`), z.unknown())
          .refine(
            (settings) => utf8Bytes(settings) <= JOB_TEXT_LIMITS.settingsBytes,
            `settings are at most ${JOB_TEXT_LIMITS.settingsBytes} bytes of JSON`,
          )
          .optional(),
      })
      .refine((set) => Object.values(set).some((value) => value !== undefined), 'set at least one of name, enabled, slug, settings'),
    ...common,
  }),
  z.strictObject({ op: z.literal('create-write-key'), targets: targetsSchema, ...common }),
  z.strictObject({
    op: z.literal('remove-write-key'),
    targets: targetsSchema,
    writeKey: z.union(
      [
        z.strictObject({
          fingerprint: z.string().regex(/^[0-9a-f]{8,64}$/, 'a fingerprint is 8+ lower-case hex characters (see `segflow source get`)'),
        }),
        z.strictObject({ index: z.number().int().min(0) }),
      ],
      { error: 'name the key as {fingerprint: "<hex>"} or {index: <n>}' },
    ),
    force: z.boolean().default(false),
    ...common,
  }),
  z.strictObject({ op: z.literal('delete-source'), targets: targetsSchema, force: z.boolean().default(false), ...common }),
  z.strictObject({
    op: z.literal('send'),
    /** Source *name*: the worker maps it to a write key from its environment (SEGMENT_WRITE_KEY[_NAME]). */
    source: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/, 'a source name is letters, digits, "_" or "-"')
      .default('default'),
    messages: z
      .array(z.unknown())
      .min(1)
      .max(MAX_SEND_MESSAGES)
      .transform((messages, ctx): ValidatedMessage[] => {
        const valid: ValidatedMessage[] = [];
        messages.forEach((raw, index) => {
          // The importer's rules; a timestamp is optional here because these are live calls.
          const result = validateMessage(raw, { allowMissingTimestamp: true });
          if (!result.ok) return ctx.addIssue({ code: 'custom', path: [index, result.field], message: result.reason });
          const bytes = utf8Bytes(result.message);
          if (bytes > SEGMENT_LIMITS.maxEventBytes) {
            return ctx.addIssue({ code: 'custom', path: [index], message: `message is ${bytes} bytes; Segment refuses events over 32 KB` });
          }
          valid.push(result.message);
        });
        // The step is sent as one /v1/batch request, which Segment caps at 500 KB.
        const total = valid.reduce((sum, message) => sum + utf8Bytes(message) + 1, 0);
        if (total > SEGMENT_LIMITS.maxBatchBytes) {
          ctx.addIssue({
            code: 'custom',
            message: `messages add up to ${total} bytes; one send step must stay under ${SEGMENT_LIMITS.maxBatchBytes} (split it)`,
          });
        }
        return valid;
      }),
    ...common,
  }),
]);

const jobSpecSchema = z.strictObject({
  version: z.literal(1).optional(),
  name: bounded(JOB_TEXT_LIMITS.jobName).optional(),
  description: z.string().max(JOB_TEXT_LIMITS.description, `must be at most ${JOB_TEXT_LIMITS.description} characters`).optional(),
  /** Keep going after a step fails non-retryably (each outcome is still reported). */
  continueOnError: z.boolean().default(false),
  steps: z.array(stepSchema).min(1, 'a job needs at least one step').max(MAX_STEPS),
});

// The validated job's types live in src/contracts/job-spec.ts (a workflow input carries the spec, and the contracts
// cannot import this Node-side schema). These checks fail to compile when the schema's output and those types differ.
type ParsedStep = z.output<typeof stepSchema> & { name: string };
type ParsedSpec = Omit<z.output<typeof jobSpecSchema>, 'steps'> & { steps: ParsedStep[] };
type SameType<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _specIsTheContract: SameType<ParsedSpec, JobSpec> = true;
const _stepIsTheContract: SameType<ParsedStep, JobStep> = true;
const _labelIsTheContract: SameType<z.output<typeof labelSchema>, JobLabel> = true;
const _targetsAreTheContract: SameType<z.output<typeof targetsSchema>, JobTargets> = true;
export type StepOf<Op extends JobOp> = Extract<JobStep, { op: Op }>;

export interface JobSpecIssue {
  /** 1-based step number, when the problem is inside a step. */
  step?: number;
  stepName?: string;
  op?: string;
  /** Dotted path inside the step (or the file, for top-level fields). */
  field: string;
  message: string;
}

export class JobSpecError extends Error {
  constructor(
    readonly issues: JobSpecIssue[],
    where = 'job file',
  ) {
    super(`${where} is invalid:\n${issues.map((issue) => `  - ${formatIssue(issue)}`).join('\n')}`);
    this.name = 'JobSpecError';
  }
}

export function formatIssue(issue: JobSpecIssue, totalSteps?: number): string {
  const field = issue.field ? `field "${issue.field}"` : 'the step itself';
  if (issue.step === undefined) return `${issue.field ? `field "${issue.field}"` : 'file'}: ${issue.message}`;
  const of = totalSteps ? ` of ${totalSteps}` : '';
  // The step's name and op come from the file: shown sanitised and cut, since they may be what is wrong.
  const label = [issue.stepName ? `"${plainText(issue.stepName, 60)}"` : undefined, issue.op ? plainText(issue.op, 40) : undefined]
    .filter(Boolean)
    .join(', ');
  return `step ${issue.step}${of}${label ? ` (${label})` : ''}, ${field}: ${issue.message}`;
}

function defaultStepName(op: string, index: number): string {
  return `${op} #${index + 1}`;
}

export type JobSpecResult = { ok: true; spec: JobSpec } | { ok: false; issues: JobSpecIssue[] };

/** Validates an already-parsed document (e.g. a workflow input that did not come through the CLI). */
export function validateJobSpec(raw: unknown): JobSpecResult {
  const parsed = jobSpecSchema.safeParse(raw);
  if (parsed.success) {
    const spec = parsed.data;
    return { ok: true, spec: { ...spec, steps: spec.steps.map((step, index) => ({ ...step, name: step.name ?? defaultStepName(step.op, index) })) } };
  }
  const rawSteps = (raw as { steps?: unknown } | null)?.steps;
  const issues = parsed.error.issues.map((issue): JobSpecIssue => {
    const path = issue.path.map(String);
    const extraKeys = issue.code === 'unrecognized_keys' ? issue.keys : [];
    const message =
      issue.code === 'unrecognized_keys'
        ? `unknown field${extraKeys.length > 1 ? 's' : ''} ${extraKeys.join(', ')}`
        : issue.code === 'invalid_type' && /received undefined$/.test(issue.message)
          ? 'is required'
          : issue.message;
    if (path[0] === 'steps' && path.length >= 2 && Array.isArray(rawSteps)) {
      const index = Number(path[1]);
      const rawStep = rawSteps[index] as { name?: unknown; op?: unknown } | undefined;
      const op = typeof rawStep?.op === 'string' ? rawStep.op : undefined;
      const known = (JOB_OPS as readonly string[]).includes(op ?? '');
      return {
        step: index + 1,
        stepName: typeof rawStep?.name === 'string' ? rawStep.name : undefined,
        op,
        field: [...path.slice(2), ...extraKeys].join('.'),
        message: path[2] === 'op' && !known ? `unknown op "${op ?? ''}"; use one of ${JOB_OPS.join(', ')}` : message,
      };
    }
    return { field: [...path, ...extraKeys].join('.'), message };
  });
  return { ok: false, issues };
}

/** Parses YAML or JSON text (a JSON document is valid YAML) and validates it; throws JobSpecError. */
export function parseJobSpecText(text: string, where = 'job file'): JobSpec {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (error) {
    throw new JobSpecError([{ field: '', message: `not valid YAML/JSON: ${(error as Error).message}` }], where);
  }
  const result = validateJobSpec(raw);
  if (!result.ok) {
    const total = Array.isArray((raw as { steps?: unknown } | null)?.steps) ? (raw as { steps: unknown[] }).steps.length : undefined;
    const error = new JobSpecError(result.issues, where);
    error.message = `${where} is invalid:\n${result.issues.map((issue) => `  - ${formatIssue(issue, total)}`).join('\n')}`;
    throw error;
  }
  return result.spec;
}
