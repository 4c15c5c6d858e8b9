/**
 * The workspace job's contract: input, status, result, its `status` query, and the activities it calls
 * (src/activities/workspace-activities.ts implements them). The workflow is src/workflows/workspace-job.ts.
 *
 * The plan types still live in src/core/workspace-plan.ts and are imported here as types only (erased at build,
 * so nothing of that Node-side module reaches the workflow sandbox).
 */
import { defineQuery } from '@temporalio/workflow';
import type { JobSpec } from '../core/job-spec';
import type { Impact, ItemOutcome, OutcomeStatus, PlanItem, WorkspacePlan } from '../core/workspace-plan/plan-types';
import type { Decision } from './approval';
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
