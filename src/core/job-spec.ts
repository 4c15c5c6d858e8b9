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
 * The schema itself is src/contracts/job-spec-schema.ts (the workflow checks its input with it); this file adds the
 * importer's message rules, YAML and the error sentences. Workflow code may import this file's *types* only.
 */
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import type { JobLabel, JobSpec, JobStep, JobTargets } from '../contracts/job-spec';
export type { JobLabel, JobSpec, JobStep, JobTargets };
import { createJobSpecSchemas, JOB_OPS, labelSchema, targetsSchema, type JobOp } from '../contracts/job-spec-schema';
export {
  DESTRUCTIVE_OPS,
  JOB_OPS,
  JOB_TEXT_LIMITS,
  MAX_SEND_MESSAGES,
  MAX_STEPS,
  READ_OPS,
  WRITE_OPS,
  type JobOp,
} from '../contracts/job-spec-schema';
import { plainText } from '../shared/safe-text';
import { validateMessage } from './message-schema';

/** The CLI's and the preview activity's schema: every `send` message by the importer's rules. */
const schemas = createJobSpecSchemas((raw) => validateMessage(raw, { allowMissingTimestamp: true }));
const { jobSpecSchema } = schemas;

// The validated job's types live in src/contracts/job-spec.ts (a workflow input carries the spec, and the contracts
// cannot import this Node-side schema). These checks fail to compile when the schema's output and those types differ.
type ParsedStep = z.output<(typeof schemas)['stepSchema']> & { name: string };
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
