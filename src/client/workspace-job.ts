/**
 * The client side of workspace jobs: starting one from a validated job spec, finding a job by the id a person
 * typed, and waiting for its preview.
 */
import { WorkflowNotFoundError, type WorkflowHandle } from '@temporalio/client';
import type { JobSpec } from '../core/job-spec';
import { markdownText, plainText } from '../shared/safe-text';
import { DEFAULT_APPROVAL_TIMEOUT_MS } from '../contracts/defaults';
import { workspaceJobStatusQuery, type WorkspaceJobStatus } from '../contracts/workspace-job';
import { workspaceJob } from '../workflows/workspace-job';
import { hasSegflowSearchAttributes, type SegflowClient } from './connection';
import { jobIdCandidates } from './job-ids';
import { UsageError } from './usage-error';

export async function startWorkspaceJob(
  sc: SegflowClient,
  spec: JobSpec,
  jobId: string,
  approvalTimeoutMs?: number,
): Promise<WorkflowHandle<typeof workspaceJob>> {
  const searchAttributes = await hasSegflowSearchAttributes(sc);
  return sc.client.workflow.start(workspaceJob, {
    taskQueue: sc.settings.taskQueue,
    workflowId: jobId,
    args: [{ jobId, spec, approvalTimeoutMs: approvalTimeoutMs ?? DEFAULT_APPROVAL_TIMEOUT_MS, searchAttributes }],
    staticSummary:
      `workspace job${spec.name ? `: ${plainText(spec.name, 200)}` : ''} (${spec.steps.length} step${spec.steps.length > 1 ? 's' : ''})`.slice(
        0,
        300,
      ),
    // At most 100 steps of at most ~250 characters each: well under the UI's limit, never cut.
    staticDetails: spec.steps.map((step, index) => `${index + 1}. ${step.op} — ${markdownText(step.name, 120)}`).join('\n'),
  });
}

/** The workflow id as typed, or with the `workspace-` prefix jobs get by default (src/client/job-ids.ts). */
export async function resolveJob(sc: SegflowClient, id: string): Promise<WorkflowHandle> {
  for (const candidate of jobIdCandidates(id)) {
    const handle = sc.client.workflow.getHandle(candidate);
    try {
      await handle.describe();
      return handle;
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
  }
  throw new UsageError(`No segflow job with id ${id}; list jobs with \`segflow list\`.`);
}

/** The job's status once its preview is ready (or it stopped running without one). */
export async function waitForPreview(handle: WorkflowHandle<typeof workspaceJob>): Promise<WorkspaceJobStatus> {
  return waitFor('the preview', async () => {
    const status = await handle.query(workspaceJobStatusQuery);
    return status.plan || status.state !== 'running' ? status : undefined;
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new UsageError(`Timed out waiting for ${what}; is a segflow worker running on this task queue?`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
