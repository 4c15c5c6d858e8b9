/**
 * The status of any segflow job, running or closed: imports and workspace jobs both answer the `status` query; a
 * job Temporal closed answers from its result, its failure or a replay.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { ChunkRetry } from '../contracts/import-job';
import { jobStatusQuery, type JobStatus as KindStatus } from '../contracts/job-status';
import { rootCause } from '../contracts/failures';
import type { JobState } from '../contracts/job-state';
import { importJob } from '../workflows/import-workflow';
import { workspaceJob } from '../workflows/workspace-job';
import type { SegflowClient } from './connection';
import { UsageError } from './usage-error';

/**
 * Status of any segflow job as the CLI shows it: a running job's own status (src/contracts/job-status.ts), or what
 * is known of a closed one (its result, its failure's snapshot, or only its id, kind and state).
 */
export type JobStatus = { jobId: string; kind: string; state: JobState | string; [key: string]: unknown };

/** The one typed way to ask a job for its status; `kind` says which of the two shapes came back. */
export function queryJobStatus(handle: WorkflowHandle): Promise<KindStatus> {
  return handle.query(jobStatusQuery);
}

export async function getJobStatus(sc: SegflowClient, jobId: string): Promise<JobStatus> {
  const handle: WorkflowHandle = sc.client.workflow.getHandle(jobId);
  let description;
  try {
    description = await handle.describe();
  } catch (error) {
    if ((error as Error).name === 'WorkflowNotFoundError') throw new UsageError(`No segflow job with id ${jobId}; list jobs with \`segflow list\`.`);
    throw error;
  }
  const closed = description.status.name;
  if (closed === 'RUNNING') {
    const status = (await queryJobStatus(handle)) as unknown as JobStatus;
    const retrying = chunkRetries(description.raw.pendingActivities ?? []);
    if (retrying.length > 0 && status.chunks && typeof status.chunks === 'object') status.chunks = { ...(status.chunks as object), retrying };
    return status;
  }
  if (closed === 'COMPLETED') return (await handle.result()) as JobStatus;
  if (closed === 'FAILED') {
    try {
      await handle.result();
    } catch (error) {
      if (error instanceof WorkflowFailedError) {
        const details = (error.cause as { details?: unknown[] } | undefined)?.details;
        const snapshot = details?.[0] as JobStatus | undefined;
        const message = innermostMessage(error);
        if (snapshot && typeof snapshot === 'object') return { ...snapshot, state: 'failed', error: message };
        return { jobId, kind: kindOf(description.type), state: 'failed', error: message };
      }
      throw error;
    }
  }
  // Cancelled, terminated or timed out: a worker can still answer the query by replaying the history.
  const state = stateOfClosed(closed);
  try {
    const snapshot = (await queryJobStatus(handle)) as unknown as JobStatus;
    return { ...snapshot, state };
  } catch {
    return { jobId, kind: kindOf(description.type), state, error: `workflow ${closed.toLowerCase()}` };
  }
}

/** The state of a workflow Temporal closed, whatever its last SegflowState said (a terminated job never updated it). */
export function stateOfClosed(executionStatus: string): string {
  switch (executionStatus) {
    case 'COMPLETED':
      return 'completed';
    case 'CANCELLED':
      return 'cancelled';
    case 'TERMINATED':
      return 'terminated';
    case 'TIMED_OUT':
      return 'timed_out';
    default:
      return 'failed';
  }
}

/** Chunk activities that failed at least once, from the workflow's pending activities (what Temporal is retrying). */
function chunkRetries(
  pending: Array<{
    activityId?: string | null;
    attempt?: number | null;
    lastFailure?: { message?: string | null; cause?: unknown } | null;
    nextAttemptScheduleTime?: { seconds?: unknown } | null;
    activityType?: { name?: string | null } | null;
  }>,
): ChunkRetry[] {
  const retries: ChunkRetry[] = [];
  for (const activity of pending) {
    if (activity.activityType?.name !== 'processChunk' || !activity.attempt || activity.attempt < 2) continue;
    const failure = rootCause(activity.lastFailure) as { message?: string | null } | null | undefined;
    const seconds = Number(activity.nextAttemptScheduleTime?.seconds ?? 0);
    retries.push({
      activityId: String(activity.activityId ?? ''),
      attempt: activity.attempt,
      ...(failure?.message ? { lastFailure: failure.message } : {}),
      ...(seconds > 0 ? { nextAttemptAt: new Date(seconds * 1000).toISOString() } : {}),
    });
  }
  return retries;
}

/** A job's kind from its workflow type, which is the workflow function's name (the worker registers it by that). */
export function kindOf(workflowType: string): string {
  return workflowType === importJob.name ? 'import' : workflowType === workspaceJob.name ? 'workspace' : workflowType;
}

function innermostMessage(error: unknown): string {
  return (rootCause(error) as { message?: string }).message ?? String(error);
}
