/**
 * What a job's input may hold, checked by the workflow before it does anything, by every activity at its entry, and
 * by the CLI before it starts a job: anyone who can start a workflow in the namespace can bypass the CLI and hand a
 * worker any input (README "Security model"), so the worker trusts nothing it was not able to check here.
 *
 * Each limit is stated once, here; the client's messages name the flag, the worker's name the field path.
 * Pure zod: safe in the workflow sandbox (test/unit/sandbox-boundary.test.ts).
 */
import { z } from 'zod';
import { SEGMENT_LIMITS } from '../shared/limits';
import { isValidRate } from '../shared/pacer';
import { JOB_ID_PATTERN, SOURCE_NAME_PATTERN } from './names';
import { sandboxJobSpecSchema } from './job-spec-schema';

/** Limits on an import's options, each in one place (the CLI's checks and the worker's schema both read them). */
export const IMPORT_LIMITS = {
  /** More would crowd Temporal with pending activities. */
  maxConcurrency: 200,
  /** A chunk heartbeats every third of its heartbeat timeout, at most every second; below this it cannot keep up. */
  minHeartbeatTimeoutMs: 2000,
  maxReportDirChars: 500,
  /** Paths and URLs as the workers see them; a longer one is not a real input. */
  maxLocationChars: 8192,
  maxIdNamespaceChars: 500,
  maxIgnoreColumns: 100,
  /** Chunks per run before continue-as-new: bounded so one run's history stays small. */
  maxChunksPerRun: 10_000,
  /** A chunk is one activity's byte range, read (and re-read on a retry) in one attempt: a GiB is already far past useful. */
  maxTargetChunkBytes: 1024 * 1024 * 1024,
} as const;

export { SOURCE_NAME_PATTERN };
/** A column name for `--ignore-column`. */
export const COLUMN_NAME_PATTERN = /^[A-Za-z0-9_.:-]{1,100}$/;

export const INPUT_FORMATS = ['csv', 'ndjson'] as const;
export const INPUT_SET_KINDS = ['file', 'directory', 'glob', 'manifest'] as const;

const positiveInt = (max?: number) => {
  const int = z.number({ error: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1');
  return max === undefined ? int : int.max(max, `must be at most ${max}`);
};
const count = z.number({ error: 'must be a number' }).int('must be a whole number').min(0, 'must not be negative');

export const jobIdSchema = z
  .string({ error: 'must be text' })
  .regex(JOB_ID_PATTERN, 'must be letters, digits, ".", "_" or "-" (at most 200, starting with a letter or digit)');
export const inputFormatSchema = z.enum(INPUT_FORMATS, { error: `must be one of ${INPUT_FORMATS.join(', ')}` });
export const sourceNameSchema = z.string({ error: 'must be text' }).regex(SOURCE_NAME_PATTERN, 'must be 1-64 letters, digits, "_" or "-"');

/** Why a --report-dir is refused, or undefined: a relative sub-directory of SEGFLOW_REPORT_DIR, without "..". */
export function reportDirProblem(dir: string): string | undefined {
  if (dir.length > IMPORT_LIMITS.maxReportDirChars) return `must be at most ${IMPORT_LIMITS.maxReportDirChars} characters`;
  // A leading slash or backslash, or a drive letter, is absolute on some worker.
  if (/^[\\/]/.test(dir) || /^[A-Za-z]:/.test(dir)) return 'must be a relative path (a sub-directory of SEGFLOW_REPORT_DIR)';
  if (dir.split(/[\\/]/).includes('..')) return 'must not contain ".."';
  if (dir.includes('\0')) return 'must not contain a NUL character';
  return undefined;
}
export const reportDirSchema = z.string({ error: 'must be text' }).superRefine((dir, ctx) => {
  const problem = reportDirProblem(dir);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const rateLimitSchema = z.object({
  perSecond: z.number({ error: 'must be a number' }).refine(isValidRate, 'must be a positive number'),
  unit: z.enum(['events', 'requests'], { error: 'must be events or requests' }),
});

const location = z
  .string({ error: 'must be text' })
  .min(1, 'must not be empty')
  .max(IMPORT_LIMITS.maxLocationChars, `must be at most ${IMPORT_LIMITS.maxLocationChars} characters`)
  .refine((text) => !text.includes('\0'), 'must not contain a NUL character');

export const importOptionsSchema = z.object({
  file: location,
  format: inputFormatSchema,
  source: sourceNameSchema,
  idNamespace: z
    .string({ error: 'must be text' })
    .min(1, 'must not be empty')
    .max(IMPORT_LIMITS.maxIdNamespaceChars, `must be at most ${IMPORT_LIMITS.maxIdNamespaceChars} characters`),
  dryRun: z.boolean({ error: 'must be true or false' }),
  requireApproval: z.boolean({ error: 'must be true or false' }),
  allowMissingTimestamp: z.boolean({ error: 'must be true or false' }),
  concurrency: positiveInt(IMPORT_LIMITS.maxConcurrency),
  maxEventsPerBatch: positiveInt(SEGMENT_LIMITS.maxEventsPerBatch),
  maxBatchBytes: positiveInt(SEGMENT_LIMITS.maxBatchBytes),
  targetChunkBytes: positiveInt(IMPORT_LIMITS.maxTargetChunkBytes),
  maxRecordsPerChunk: positiveInt(),
  maxRejects: count.optional(),
  maxRejectRate: z.number({ error: 'must be a number' }).min(0, 'must be between 0 and 1').max(1, 'must be between 0 and 1').optional(),
  rateLimit: rateLimitSchema.optional(),
  reportDir: reportDirSchema.optional(),
  chunksPerRun: positiveInt(IMPORT_LIMITS.maxChunksPerRun),
  approvalTimeoutMs: positiveInt(),
  heartbeatTimeoutMs: positiveInt().min(IMPORT_LIMITS.minHeartbeatTimeoutMs, `must be at least ${IMPORT_LIMITS.minHeartbeatTimeoutMs} ms`),
  inputSet: z
    .object({
      kind: z.enum(INPUT_SET_KINDS, { error: `must be one of ${INPUT_SET_KINDS.join(', ')}` }),
      digest: z.string({ error: 'must be text' }).regex(/^[0-9a-f]{64}$/, 'must be a sha-256 digest (64 lower-case hex characters)'),
      files: positiveInt(),
    })
    .optional(),
  ignoreColumns: z
    .array(z.string({ error: 'must be text' }).regex(COLUMN_NAME_PATTERN, 'must be a column name (1-100 letters, digits, _ . : -)'))
    .max(IMPORT_LIMITS.maxIgnoreColumns, `must list at most ${IMPORT_LIMITS.maxIgnoreColumns} columns`)
    .optional(),
  searchAttributes: z.boolean({ error: 'must be true or false' }),
});

const cursorSchema = z.object({ byte: count, line: positiveInt(), record: count });
const chunkSchema = z.object({
  index: count,
  startByte: count,
  endByte: count,
  firstLine: positiveInt(),
  firstRecord: count,
  records: count,
  lines: count,
});

/**
 * Carried state is written by the previous run of the same job (continue-as-new), never by a client: the workflow
 * refuses it on a first run. Checked for shape only; every run recorded so far must pass (test/fixtures/histories).
 */
export const carriedImportStateSchema = z.object({
  phase: z.enum(['validate', 'send'], { error: 'must be validate or send' }),
  fileSize: count,
  fileVersion: z.string().optional(),
  csvColumns: z.array(z.string()).optional(),
  dataStart: cursorSchema,
  cursor: cursorSchema.nullable(),
  nextChunkIndex: count,
  pending: z.array(chunkSchema),
  totals: z.object({}).loose(),
  validation: z.object({}).loose().optional(),
  chunkDigests: z.record(z.string(), z.string()).optional(),
  paused: z.boolean(),
  startedAt: z.string(),
  runs: count,
  approval: z.object({ planHash: z.string(), by: z.string(), comment: z.string().optional(), at: z.string() }).optional(),
  // Runs before the staged paths were derived on the worker carried `file` and `map` too: accepted, never read.
  staged: z.object({ files: count, file: z.string().optional(), map: z.string().optional() }).optional(),
  delivery: z.object({ confirmed: z.boolean() }).loose().optional(),
});

export const importJobInputSchema = z.object({
  jobId: jobIdSchema,
  options: importOptionsSchema,
  carried: carriedImportStateSchema.optional(),
});

/** A workspace job's input: the spec by the job file's schema (src/contracts/job-spec-schema.ts). */
export const workspaceJobInputSchema = z.object({
  jobId: jobIdSchema,
  spec: sandboxJobSpecSchema,
  approvalTimeoutMs: positiveInt().optional(),
  searchAttributes: z.boolean({ error: 'must be true or false' }).optional(),
});

/** The first problem of a failed parse of `input` as one sentence: the field path and the rule it breaks. */
export function inputProblem(what: string, error: z.ZodError, input: unknown): string {
  const issue = error.issues[0];
  if (issue === undefined) return `Invalid ${what}.`;
  const path = fieldPath(issue.path);
  if (issue.code === 'unrecognized_keys') return `Invalid ${what}: ${path ? `${path} has` : 'has'} unknown field ${issue.keys.join(', ')}.`;
  const missing = (issue.code === 'invalid_type' || issue.code === 'invalid_value') && valueAt(input, issue.path) === undefined;
  const rule = missing ? 'is required' : ruleOf(issue);
  return `Invalid ${what}: ${path ? `${path}: ` : 'the input '}${rule.replace(/\.$/, '')}.`;
}

/** The rule an issue breaks, said as the rest of the sentence ("must be ..."); zod's own messages reworded. */
function ruleOf(issue: z.core.$ZodIssue): string {
  // Every message this file and the job file schema write is already a rule; zod's defaults start "Invalid".
  if (!/^Invalid /.test(issue.message)) return issue.message;
  if (issue.code === 'invalid_type')
    return `must be ${issue.expected === 'object' || issue.expected === 'array' ? `an ${issue.expected}` : issue.expected}`;
  const expected = /Expected (.+)$/.exec(issue.message)?.[1];
  if (expected !== undefined) return `must be one of ${expected.replace(/'/g, '').split(' | ').join(', ')}`;
  return 'is not valid';
}

function valueAt(input: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** `options.ignoreColumns[2]`, `spec.steps[0].targets`: how a reader finds the field in the input. */
export function fieldPath(path: ReadonlyArray<PropertyKey>): string {
  return path.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : text ? `${text}.${String(key)}` : String(key)), '');
}

/** Parses with `schema`; the first problem as one sentence, or undefined when the input is valid. */
export function checkInput(schema: z.ZodType, what: string, input: unknown): string | undefined {
  const parsed = schema.safeParse(input);
  return parsed.success ? undefined : inputProblem(what, parsed.error, input);
}

// ---------------------------------------------------------------------------------------------
// Activity inputs: each activity checks its own, as if no workflow stood in front of it
// ---------------------------------------------------------------------------------------------

/** A plan hash (src/core/plan-hash.ts): sha-256 hex. */
const planHashSchema = z.string({ error: 'must be text' }).regex(/^[0-9a-f]{64}$/, 'must be a plan hash (64 lower-case hex characters)');

const inputRefFields = {
  file: location,
  format: inputFormatSchema,
  jobId: jobIdSchema.optional(),
  reportDir: reportDirSchema.optional(),
  staged: z.literal(true, { error: 'must be true when set' }).optional(),
};
const stagedNeedsJobId = <T extends { staged?: true; jobId?: string }>(ref: T) => !ref.staged || ref.jobId !== undefined;
const stagedNeedsJobIdIssue = { message: 'is required for a staged input', path: ['jobId'] };

export const inspectInputSchema = z
  .object({ ...inputRefFields, ignoreColumns: importOptionsSchema.shape.ignoreColumns })
  .refine(stagedNeedsJobId, stagedNeedsJobIdIssue);
export const planChunksInputSchema = z
  .object({
    ...inputRefFields,
    from: cursorSchema,
    firstIndex: count,
    maxChunks: positiveInt(),
    targetChunkBytes: positiveInt(IMPORT_LIMITS.maxTargetChunkBytes),
    maxRecordsPerChunk: positiveInt(),
    expectedFileSize: count,
  })
  .refine(stagedNeedsJobId, stagedNeedsJobIdIssue);
export const processChunkInputSchema = z.object({
  ...inputRefFields,
  jobId: jobIdSchema,
  source: sourceNameSchema,
  chunk: chunkSchema,
  mode: z.enum(['send', 'validate'], { error: 'must be send or validate' }),
  ignoreColumns: importOptionsSchema.shape.ignoreColumns,
  approvedPlanHash: planHashSchema.optional(),
  // Runs recorded before staged paths were derived name the map: it means "staged", the path is never read.
  fileMap: z.string().optional(),
});
export const finalizeReportInputSchema = z.object({
  jobId: jobIdSchema,
  reportDir: reportDirSchema.optional(),
  format: inputFormatSchema.optional(),
  csvColumns: z.array(z.string()).optional(),
  namedFiles: z.boolean().optional(),
  staged: z.literal(true, { error: 'must be true when set' }).optional(),
  // As fileMap above: older runs name the staged map, which only means "staged".
  stagedMap: z.string().optional(),
});
export const confirmWriteKeyInputSchema = z.object({ source: sourceNameSchema });
export const stageInputInputSchema = z.object({
  jobId: jobIdSchema,
  reportDir: reportDirSchema.optional(),
  kind: importOptionsSchema.shape.inputSet.unwrap().shape.kind,
  location,
  format: inputFormatSchema,
  digest: importOptionsSchema.shape.inputSet.unwrap().shape.digest,
});

/** What the workflow knows of its own run that a client cannot choose: its id, and whether it continues another run. */
export interface RunFacts {
  workflowId: string;
  continuedFromExecutionRunId?: string;
}

/**
 * The import workflow's first check, one sentence or undefined: the input's schema, the job id that names the
 * workflow (else one workflow writes into another job's report directory), and carried state only from continue-as-new
 * (else a client could hand a first run an approval or a staged path).
 */
export function importInputProblem(input: unknown, run: RunFacts): string | undefined {
  const problem = checkInput(importJobInputSchema, 'import input', input);
  if (problem !== undefined) return problem;
  const { jobId, carried } = input as { jobId: string; carried?: unknown };
  if (jobId !== run.workflowId) return jobIdMismatch('import input');
  if (carried !== undefined && !run.continuedFromExecutionRunId) {
    return 'Invalid import input: carried is set only by the job itself when it continues as new; start the job without it.';
  }
  return undefined;
}

export function jobIdMismatch(what: string): string {
  return `Invalid ${what}: jobId must equal the workflow id; start the workflow with the job id as its workflow id.`;
}
