/**
 * The workspace job file's schema (its types are src/contracts/job-spec.ts), pure zod so the workflow sandbox can check
 * a workspace job's input too: anyone who can start a workflow can hand it a spec that never went through the CLI.
 * src/core/job-spec.ts builds the CLI's and the preview activity's schema from it with the importer's full message
 * rules (src/core/message-schema.ts, Node-side); the workflow checks each `send` message's shape only, and the preview
 * activity still applies the full rules before anything is planned.
 */
import { z } from 'zod';
import { SEGMENT_LIMITS } from '../shared/limits';
import { CALL_TYPES } from './segment-message';
import { SOURCE_NAME_PATTERN } from './names';
import type { JobMessage } from './job-spec';

/** Longest name pattern (a glob over source names and slugs, src/core/glob.ts), matched during the preview. */
export const MAX_GLOB_CHARS = 200;

/** One `send` message checked: the normalised message, or the offending field and why. */
export type SendMessageCheck = (raw: unknown) => { ok: true; message: JobMessage } | { ok: false; field: string; reason: string };

/** The workflow's check of a `send` message: an object with a known call type (the preview applies every rule). */
export const sendMessageShape: SendMessageCheck = (raw) => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, field: '', reason: 'a message is an object' };
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== 'string' || !(CALL_TYPES as readonly string[]).includes(type)) {
    return { ok: false, field: 'type', reason: `must be one of ${CALL_TYPES.join(', ')}` };
  }
  return { ok: true, message: raw as JobMessage };
};

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
export const labelSchema = z
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
export const targetsSchema = z.preprocess(
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

/** The step and job schemas, with `send` messages checked by `checkMessage`. */
export function createJobSpecSchemas(checkMessage: SendMessageCheck) {
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
      source: z.string().regex(SOURCE_NAME_PATTERN, 'a source name is letters, digits, "_" or "-"').default('default'),
      messages: z
        .array(z.unknown())
        .min(1)
        .max(MAX_SEND_MESSAGES)
        .transform((messages, ctx): JobMessage[] => {
          const valid: JobMessage[] = [];
          messages.forEach((raw, index) => {
            const result = checkMessage(raw);
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
  return { stepSchema, jobSpecSchema };
}

/** The workspace job's spec as the workflow checks it (send messages by shape; see sendMessageShape). */
export const sandboxJobSpecSchema = createJobSpecSchemas(sendMessageShape).jobSpecSchema;
