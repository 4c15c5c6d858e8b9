/**
 * Following a job to its end from the client side: polling its status, and saying why when it stops answering.
 */
import { temporal } from '@temporalio/proto';
import type { SegflowClient } from './connection';
import { TERMINAL_STATES } from '../contracts/job-state';
import { getJobStatus, type JobStatus } from './job-status';
import { UsageError } from './usage-error';
import { terminalText } from '../shared/safe-text';

/** How long `followJob` lets status queries fail before it looks for the reason. */
export const DIAGNOSE_AFTER_MS = 10_000;

/**
 * Polls until the job ends, calling `onUpdate` with each status; returns the final one. When the status query keeps
 * failing it says why (`onProblem`): no worker polls the task queue (keeps waiting: starting one helps), or the
 * workflow task itself fails, e.g. a non-determinism error after a deploy (stops: waiting cannot help).
 */
export async function followJob(
  sc: SegflowClient,
  jobId: string,
  onUpdate: (status: JobStatus) => void,
  intervalMs = 1000,
  onProblem: (problem: string) => void = (problem) => process.stderr.write(`segflow: ${terminalText(problem)}\n`),
  diagnoseAfterMs = DIAGNOSE_AFTER_MS,
): Promise<JobStatus> {
  let failingSince: number | undefined;
  let lastProblem: string | undefined;
  for (;;) {
    let status: JobStatus;
    try {
      // A query no worker picks up can hang for a minute; bound it so the diagnosis below comes in time.
      status = await sc.client.withDeadline(Date.now() + Math.max(diagnoseAfterMs, 5000), () => getJobStatus(sc, jobId));
      failingSince = undefined;
      lastProblem = undefined;
    } catch (error) {
      if (error instanceof UsageError) throw error;
      // A query needs a worker; while one restarts, keep waiting rather than giving up on the job.
      failingSince ??= Date.now();
      if (Date.now() - failingSince >= diagnoseAfterMs) {
        const diagnosis = await diagnoseUnansweredJob(sc, jobId, error);
        if (diagnosis.hopeless) throw new UsageError(diagnosis.problem);
        if (diagnosis.problem !== lastProblem) onProblem(diagnosis.problem);
        lastProblem = diagnosis.problem;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
      continue;
    }
    onUpdate(status);
    if (TERMINAL_STATES.has(status.state)) return status;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Why a running job does not answer its status query. A workflow task that keeps failing (its history shows the error)
 * will not heal by waiting; no poller on the task queue will, once a worker starts.
 */
export async function diagnoseUnansweredJob(sc: SegflowClient, jobId: string, queryError: unknown): Promise<{ problem: string; hopeless: boolean }> {
  const handle = sc.client.workflow.getHandle(jobId);
  try {
    const description = await handle.describe();
    const taskQueue = description.taskQueue;
    const pendingTask = description.raw.pendingWorkflowTask;
    if (pendingTask && (pendingTask.attempt ?? 0) > 1) {
      const history = await handle.fetchHistory();
      const failed = [...(history.events ?? [])].reverse().find((event) => event.workflowTaskFailedEventAttributes);
      const failure = failed?.workflowTaskFailedEventAttributes?.failure;
      const message = failure?.message ?? 'no message';
      return {
        problem: `job ${jobId}: its workflow task keeps failing (attempt ${pendingTask.attempt}): ${message.split('\n')[0]!.slice(0, 500)}. Waiting will not help: fix the worker (a non-determinism error means the deployed workflow code does not match the job's history) and watch it again.`,
        hopeless: true,
      };
    }
    const queue = await sc.client.workflowService.describeTaskQueue({
      namespace: sc.settings.namespace,
      taskQueue: { name: taskQueue, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    if ((queue.pollers ?? []).length === 0) {
      return {
        problem: `job ${jobId} is waiting for a worker: nothing polls task queue "${taskQueue}" on ${sc.settings.address} (start \`segflow worker\` with SEGFLOW_TASK_QUEUE=${taskQueue}); still waiting.`,
        hopeless: false,
      };
    }
  } catch {
    // Describing failed too: report the query's own error below.
  }
  return {
    problem: `job ${jobId} does not answer its status query (${(queryError as Error).message ?? String(queryError)}); still waiting.`,
    hopeless: false,
  };
}
