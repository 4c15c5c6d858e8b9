/**
 * A workspace job file after validation: what `segflow job run` starts a workspace job with (its input's `spec`) and
 * what the preview activity plans from. Written out here, not inferred from the zod schema
 * (src/contracts/job-spec-schema.ts), so it reads as a contract; src/core/job-spec.ts checks at compile time that the
 * schema's output is exactly this type.
 */
import type { SegmentMessage } from './segment-message';

/** A label, written `key:value` or `{key, value, description?}` in the job file. */
export interface JobLabel {
  key: string;
  value: string;
  description?: string;
}

/** Which sources a step acts on: explicit ids, or a selector (every label present AND the glob matching name or slug). */
export interface JobTargets {
  sourceIds?: string[];
  labels?: JobLabel[];
  name?: string;
}

/** A message of a `send` step: checked by the importer's rules, its messageId optional (the job derives one). */
export type JobMessage = Omit<SegmentMessage, 'messageId'> & { messageId?: string };

interface StepFields {
  /** Always set after validation (a default name when the file gives none). */
  name: string;
  /** Overrides the job's `continueOnError` for this step. */
  continueOnError?: boolean;
}
type Step<Op extends string, Fields = unknown> = { op: Op } & Fields & StepFields;

export type JobStep =
  | Step<'list-sources'>
  | Step<'get-source', { targets: JobTargets }>
  | Step<'list-warehouses', { targets: JobTargets }>
  | Step<'schema-settings', { targets: JobTargets }>
  | Step<'get-destination', { destinationId: string }>
  | Step<
      'delivery-metrics',
      { destinationId: string; sourceId: string; startTime?: string; endTime?: string; granularity?: 'MINUTE' | 'HOUR' | 'DAY' }
    >
  | Step<'api-calls-usage', { period: string; scope: 'sources' | 'workspace'; sourceIds?: string[]; sourceId?: string }>
  | Step<'add-labels', { targets: JobTargets; labels: JobLabel[]; createMissingLabels: boolean }>
  | Step<'update-source', { targets: JobTargets; set: { name?: string; enabled?: boolean; slug?: string; settings?: Record<string, unknown> } }>
  | Step<'create-write-key', { targets: JobTargets }>
  | Step<'remove-write-key', { targets: JobTargets; writeKey: { fingerprint: string } | { index: number }; force: boolean }>
  | Step<'delete-source', { targets: JobTargets; force: boolean }>
  | Step<'send', { source: string; messages: JobMessage[] }>;

export interface JobSpec {
  version?: 1;
  name?: string;
  description?: string;
  /** Keep going after a step fails non-retryably (each outcome is still reported). */
  continueOnError: boolean;
  steps: JobStep[];
}
