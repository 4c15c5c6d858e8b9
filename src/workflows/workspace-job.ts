/**
 * A workspace batch job: preview -> plan + hash -> human approval (when anything writes) -> one activity per plan
 * item, in plan order -> a result listing every item's outcome.
 *
 * Deterministic sandbox code: imports @temporalio/workflow, the approval gate, and *types* only.
 *
 * - Reject ends the job as 'rejected', timeout as 'expired': no item ran, nothing changed.
 * - A plan refused by a guard rail ends the job as 'failed' before approval is asked; nothing changed.
 * - An item that fails non-retryably stops the job (remaining items 'not-run') unless the step or the job says
 *   continueOnError. A stopped job fails the workflow (ApplicationFailure type WorkspaceJobFailed, whose details
 *   hold the full result); completed, rejected and expired jobs return the result.
 * - Crash-safe: completed items are in history and never re-run; the item in flight is retried, and its activity
 *   re-checks live state first (already applied -> 'already-applied').
 * - The token and write keys never enter this workflow: inputs, plan and outcomes hold ids and fingerprints only.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { FailureType, WORKSPACE_NON_RETRYABLE } from '../contracts/failures';
import { DEFAULT_APPROVAL_TIMEOUT_MS } from '../contracts/defaults';
import type { WorkspaceJobState } from '../contracts/job-state';
import {
  workspaceJobStatusQuery,
  type ApplyItemInput,
  type ItemOutcome,
  type ItemStatus,
  type PlanItem,
  type WorkspaceActivities,
  type WorkspaceJobInput,
  type WorkspaceJobResult,
  type WorkspaceJobStatus,
} from '../contracts/workspace-job';
import { SEGFLOW_KIND, SEGFLOW_STATE } from '../contracts/search-attributes';
import { checkInput, jobIdMismatch, workspaceJobInputSchema } from '../contracts/job-input';
import { createApprovalGate } from './approval';
import { markdownText } from '../shared/safe-text';
import { recordJobState } from './metrics';

const previewOptions: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '60s',
    maximumAttempts: 10,
    nonRetryableErrorTypes: WORKSPACE_NON_RETRYABLE,
  },
};

/** 429s carry their own nextRetryDelay; 20 attempts bound a Segment outage to roughly a quarter of an hour per item. */
const applyOptions: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  // The apply activity heartbeats every second: a crashed worker is noticed in seconds, not after 2 minutes.
  heartbeatTimeout: '10 seconds',
  // A cancelled job waits for the item in flight to finish, so its recorded outcome is what really happened
  // (TRY_CANCEL, the protocol's default, would record "not run" while a DELETE still completes;
  // docs/temporal-notes.md, "Stopping, retrying and waiting").
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: {
    initialInterval: '1s',
    backoffCoefficient: 2,
    maximumInterval: '60s',
    maximumAttempts: 20,
    nonRetryableErrorTypes: WORKSPACE_NON_RETRYABLE,
  },
};

const { workspacePreview } = proxyActivities<WorkspaceActivities>(previewOptions);
const { workspaceApplyItem } = proxyActivities<WorkspaceActivities>(applyOptions);

function failureMessage(error: unknown): string {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  if (cause instanceof ApplicationFailure) return `${cause.type ?? 'Error'}: ${cause.message}`;
  return cause instanceof Error ? cause.message : String(cause);
}

/** Live markdown for the Temporal UI while items run (the plan itself was shown while awaiting approval). */
function renderProgress(status: WorkspaceJobStatus, done: number, total: number): string {
  // Ids, names and messages (errors quote the workspace) go through the one sanitiser, as in the approval view.
  const lines = [
    `## Running: ${done}/${total} items done`,
    '',
    `Plan ${(status.planHash ?? '').slice(0, 12)} — ${markdownText(status.summary ?? '', 300)}`,
  ];
  if (status.approval?.outcome === 'approved') lines.push('', `Approved by ${markdownText(status.approval.by, 300)} at ${status.approval.at}`);
  lines.push('', '| item | target | status | message |', '|---|---|---|---|');
  for (const step of status.steps) {
    for (const item of step.items) {
      lines.push(
        `| ${markdownText(item.itemId, 200)} | ${markdownText(item.target, 200)} | ${item.status} | ${markdownText(item.message ?? '', 200)} |`,
      );
    }
  }
  return lines.join('\n');
}

export async function workspaceJob(input: WorkspaceJobInput): Promise<WorkspaceJobResult> {
  // Before anything else: anyone who can start a workflow chooses this input, CLI or not (README "Security model").
  // A run recorded before this check, whose input a newer rule refuses, replays as it ran (no marker, no failure).
  const problem = checkInput(workspaceJobInputSchema, 'workspace job input', input);
  if (problem !== undefined && patched('validate-job-input')) throw ApplicationFailure.nonRetryable(problem, FailureType.InvalidJobInput);
  // Recorded runs whose workflow id differed from the job id (test/fixtures/histories) replay without the check.
  if (input.jobId !== workflowInfo().workflowId && patched('job-id-is-workflow-id')) {
    throw ApplicationFailure.nonRetryable(jobIdMismatch('workspace job input'), FailureType.InvalidJobInput);
  }
  // Handlers first, before any await (docs/temporal-notes.md, "Message handlers"): an early approve or status query
  // must find them.
  const gate = createApprovalGate();
  const startedAt = new Date().toISOString();
  const status: WorkspaceJobStatus = {
    jobId: input.jobId,
    kind: 'workspace',
    state: 'running',
    jobName: input.spec.name ?? null,
    steps: input.spec.steps.map((step, index) => ({ step: index + 1, name: step.name, op: step.op, items: [] })),
    startedAt,
    updatedAt: startedAt,
  };
  setHandler(workspaceJobStatusQuery, () => status);
  const outcomes: ItemOutcome[] = [];

  const setState = (state: WorkspaceJobState) => {
    recordJobState('workspace', status.state, state);
    status.state = state;
    status.updatedAt = new Date().toISOString();
    if (input.searchAttributes) upsertSearchAttributes([{ key: SEGFLOW_STATE, value: state }]);
  };
  if (input.searchAttributes)
    upsertSearchAttributes([
      { key: SEGFLOW_KIND, value: 'workspace' },
      { key: SEGFLOW_STATE, value: 'running' },
    ]);

  const itemStatus = (item: PlanItem): ItemStatus => status.steps[item.step - 1]!.items.find((entry) => entry.itemId === item.id)!;
  const record = (item: PlanItem, outcome: ItemOutcome) => {
    outcomes.push(outcome);
    Object.assign(itemStatus(item), { status: outcome.status, message: outcome.message, data: outcome.data });
    status.updatedAt = new Date().toISOString();
    if (status.state === 'running') setCurrentDetails(renderProgress(status, outcomes.length, items.length));
  };
  const markRest = (items: PlanItem[], why: string) => {
    for (const item of items) {
      if (itemStatus(item).status !== 'pending') continue;
      record(item, { itemId: item.id, step: item.step, op: item.op, target: item.target.id, status: 'not-run', message: why });
    }
  };
  const result = (state: WorkspaceJobResult['state'], error?: string): WorkspaceJobResult => ({
    jobId: input.jobId,
    kind: 'workspace',
    state,
    planHash: status.planHash,
    summary: status.summary,
    approval: status.approval,
    outcomes,
    steps: status.steps,
    ...(error ? { error } : {}),
  });
  const fail = (message: string): never => {
    status.error = message;
    setState('failed');
    throw ApplicationFailure.create({ message, type: FailureType.WorkspaceJobFailed, nonRetryable: true, details: [result('failed', message)] });
  };

  let items: PlanItem[] = [];
  try {
    const preview = await workspacePreview({ jobId: input.jobId, runId: workflowInfo().runId, spec: input.spec });
    const { plan } = preview;
    items = plan.items;
    Object.assign(status, { plan, planHash: preview.planHash, summary: preview.summary });
    for (const item of plan.items) {
      status.steps[item.step - 1]!.items.push({ itemId: item.id, target: item.target.id, impact: item.impact, status: 'pending' });
    }
    setCurrentDetails(preview.markdown);

    if (plan.refusals.length > 0) {
      markRest(items, 'plan refused by guard rails');
      fail(`guard rails refused the plan: ${plan.refusals.map((r) => `step ${r.step} ${r.rule}: ${r.message}`).join('; ')}`);
    }

    if (plan.requiresApproval) {
      setState('awaiting_approval');
      const decision = await gate.awaitDecision(
        { planHash: preview.planHash, summary: preview.summary, highImpact: plan.highImpact, details: preview.markdown },
        input.approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS,
      );
      status.approval = decision;
      if (decision.outcome !== 'approved') {
        markRest(items, decision.outcome === 'rejected' ? `rejected by ${decision.by}: ${decision.reason}` : 'approval expired');
        setState(decision.outcome);
        return result(decision.outcome);
      }
      setState('running');
    }

    let stoppedBy: string | undefined;
    for (const item of items) {
      if (stoppedBy) break;
      if (item.unchanged) {
        record(item, {
          itemId: item.id,
          step: item.step,
          op: item.op,
          target: item.target.id,
          status: 'unchanged',
          message: 'already as asked at preview time',
        });
        continue;
      }
      const args: ApplyItemInput = { jobId: input.jobId, planHash: preview.planHash, item };
      try {
        record(item, await workspaceApplyItem.executeWithOptions({ ...applyOptions, summary: item.id }, [args]));
      } catch (error) {
        if (isCancellation(error)) throw error;
        const message = failureMessage(error);
        record(item, { itemId: item.id, step: item.step, op: item.op, target: item.target.id, status: 'failed', message });
        if (!item.continueOnError) stoppedBy = `${item.id} failed: ${message}`;
      }
    }
    if (stoppedBy) {
      markRest(items, 'not run: an earlier item failed');
      fail(stoppedBy);
    }
    setState('completed');
    return result('completed');
  } catch (error) {
    if (isCancellation(error)) {
      markRest(items, 'job cancelled');
      setState('cancelled');
      throw error;
    }
    if (status.state === 'failed') throw error;
    // A preview failure (bad token, invalid spec, Segment down past the retries).
    markRest(items, 'not run: the job failed');
    return fail(failureMessage(error));
  }
}
