/**
 * The workspace job's contract: input, status, result, its `status` query, and the activities it calls
 * (src/activities/workspace-activities.ts implements them). The workflow is src/workflows/workspace-job.ts.
 * Also the plan a human approves and what became of each item (PlanItem, WorkspacePlan, ItemOutcome, ...): the
 * planner (src/core/workspace-plan/planner.ts) makes them, the workflow carries them, the activities apply them.
 */
import { defineQuery } from '@temporalio/workflow';
import type { JobSpec } from './job-spec';
import type { Decision } from './approval';
import type { SegmentMessage } from './segment-message';
import type { WorkspaceJobState } from './job-state';

export interface WorkspaceJobInput {
  jobId: string;
  spec: JobSpec;
  /** How long to wait for approve/reject before the job expires (default: src/contracts/defaults.ts). */
  approvalTimeoutMs?: number;
  /** Whether the SegflowKind/State search attributes exist on the namespace (checked by the client). */
  searchAttributes?: boolean;
}

export interface ItemStatus {
  itemId: string;
  target: string;
  impact: Impact;
  status: 'pending' | OutcomeStatus;
  message?: string;
  data?: unknown;
}

export interface StepStatus {
  step: number;
  name: string;
  op: string;
  items: ItemStatus[];
}

export interface WorkspaceJobStatus {
  jobId: string;
  kind: 'workspace';
  state: WorkspaceJobState;
  jobName: string | null;
  planHash?: string;
  summary?: string;
  plan?: WorkspacePlan;
  approval?: Decision;
  steps: StepStatus[];
  error?: string;
  startedAt: string;
  updatedAt: string;
}

export interface WorkspaceJobResult {
  jobId: string;
  kind: 'workspace';
  state: Exclude<WorkspaceJobState, 'running' | 'awaiting_approval' | 'cancelled'>;
  planHash?: string;
  summary?: string;
  approval?: Decision;
  outcomes: ItemOutcome[];
  steps: StepStatus[];
  error?: string;
}

/** The workspace kind's answer to the `status` query (src/contracts/job-status.ts). */
export const workspaceJobStatusQuery = defineQuery<WorkspaceJobStatus>('status');

// ---------------------------------------------------------------------------------------------
// Activities: ids and fingerprints only; the API token and write keys stay in the worker
// ---------------------------------------------------------------------------------------------

export interface WorkspacePreviewInput {
  jobId: string;
  /** The workflow run asking: part of the plan, so the plan hash (and any approval of it) is bound to this run. */
  runId: string;
  spec: JobSpec;
}

export interface WorkspacePreview {
  plan: WorkspacePlan;
  planHash: string;
  summary: string;
  /** Markdown view of the plan for the approval gate: the whole plan, or its complete summary when too long. */
  markdown: string;
}

export interface ApplyItemInput {
  jobId: string;
  planHash: string;
  item: PlanItem;
}

export interface WorkspaceActivities {
  /** Read-only: fetches the state of every target and computes the plan and its hash. */
  workspacePreview(input: WorkspacePreviewInput): Promise<WorkspacePreview>;
  /** Executes one plan item (a read, or a write after re-checking the live state). */
  workspaceApplyItem(input: ApplyItemInput): Promise<ItemOutcome>;
}

// ---------------------------------------------------------------------------------------------
// The plan a human approves, and what became of each item: ids, fingerprints and counts, never secrets
// ---------------------------------------------------------------------------------------------

/** A label as a job file names it (`key:value`, src/core/job-spec.ts parses it) and as the Public API stores it. */
export interface PlanLabel {
  key: string;
  value: string;
  description?: string;
}

export type Impact = 'read' | 'write' | 'destructive';

/** A source as the preview saw it. Write keys appear only as fingerprints. Settings are kept out of the plan. */
export interface SourceSnapshot {
  id: string;
  name: string | null;
  slug: string;
  enabled: boolean;
  labels: PlanLabel[];
  writeKeyFingerprints: string[];
  destinations: Array<{ id: string; name: string | null; enabled: boolean }>;
  warehouses: Array<{ id: string; name: string | null; enabled: boolean }>;
  /** API calls in the current usage month so far (Segment counts cumulatively per day); null if unavailable. */
  apiCalls: { period: string; total: string; lastDay: string | null } | null;
}

export interface PlanChange {
  field: string;
  from: unknown;
  to: unknown;
}

export type PlanTarget =
  | { kind: 'source'; id: string; name: string | null }
  | { kind: 'destination'; id: string }
  | { kind: 'workspace'; id: string }
  | { kind: 'tracking'; id: string };

export type PlanAction =
  | { op: 'list-sources' }
  | { op: 'get-source'; sourceId: string }
  | { op: 'list-warehouses'; sourceId: string }
  | { op: 'schema-settings'; sourceId: string }
  | { op: 'get-destination'; destinationId: string }
  | { op: 'delivery-metrics'; destinationId: string; sourceId: string; startTime?: string; endTime?: string; granularity?: 'MINUTE' | 'HOUR' | 'DAY' }
  /** `sourceId` only in plans from before `scope` existed (read as sourceIds: [sourceId]). */
  | { op: 'api-calls-usage'; period: string; scope?: 'sources' | 'workspace'; sourceIds?: string[]; sourceId?: string }
  | { op: 'create-label'; label: PlanLabel }
  | { op: 'add-labels'; sourceId: string; labels: PlanLabel[] }
  | { op: 'update-source'; sourceId: string; set: { name?: string; enabled?: boolean; slug?: string; settings?: Record<string, unknown> } }
  | { op: 'create-write-key'; sourceId: string; keyCountBefore: number }
  /** `keysBefore`: the source's key fingerprints as approved, right before this removal (new keys as placeholders). */
  | { op: 'remove-write-key'; sourceId: string; fingerprint: string; force: boolean; keysBefore: string[] }
  /** `approved`: the state the approver saw the source in, re-checked before the delete even under force. */
  | { op: 'delete-source'; sourceId: string; force: boolean; approved: { enabled: boolean; destinationIds: string[]; warehouseIds: string[] } }
  | { op: 'send'; source: string; messages: SegmentMessage[] };

export type PlanOp = PlanAction['op'];

export type PlanItem = PlanAction & {
  /** Unique in the plan; destructive items are confirmed by this id (`delete-source:src_1`). */
  id: string;
  /** 1-based step number. */
  step: number;
  stepName: string;
  impact: Impact;
  /** The desired state already holds at preview time: the item is reported, never executed. */
  unchanged: boolean;
  continueOnError: boolean;
  target: PlanTarget;
  changes: PlanChange[];
  /** Guard rails the step's `force: true` lifted for this item (shown to the approver wherever it applies). */
  forced?: GuardRule[];
};

export type GuardRule =
  | 'unknown-source'
  | 'missing-label'
  | 'unknown-write-key'
  | 'new-write-key'
  | 'last-write-key'
  | 'delete-enabled'
  | 'delete-connected'
  | 'destructive-selector'
  | 'plan-too-large';

export interface PlanRefusal {
  step: number;
  stepName: string;
  target?: string;
  rule: GuardRule;
  message: string;
}

export interface PlanSummary {
  steps: number;
  items: number;
  reads: number;
  writes: number;
  destructive: number;
  unchanged: number;
  targets: number;
}

export interface WorkspacePlan {
  jobId: string;
  /**
   * The workflow run that asked for approval. It is part of the hashed plan, so an approval of one run can never
   * approve another run of the same job id, even with an unchanged workspace.
   */
  runId: string;
  jobName: string | null;
  items: PlanItem[];
  /** Every targeted source as the preview saw it. */
  targets: SourceSnapshot[];
  refusals: PlanRefusal[];
  warnings: string[];
  summary: PlanSummary;
  /** Ids of the destructive items that will run: an approval must list every one of them. */
  highImpact: string[];
  /** True when at least one item writes. */
  requiresApproval: boolean;
}

export type OutcomeStatus = 'applied' | 'already-applied' | 'unchanged' | 'read' | 'failed' | 'not-run';

/** What happened to one plan item (the job result lists one per item). */
export interface ItemOutcome {
  itemId: string;
  step: number;
  op: PlanOp;
  target: string;
  status: OutcomeStatus;
  message?: string;
  /** Read results, kept small (they go into history). */
  data?: unknown;
}

/** Placeholder for keys a job creates (in `keysBefore` and while planning): their fingerprint is unknown until they exist. */
export const NEW_WRITE_KEY = '(new key)';
