/**
 * The flow every workspace write shares, from a job file (`job run`) or a one-step command (`source update`, ...):
 * start the job, show its preview, then approve and/or follow it when asked (--approve, --wait).
 */
import type { Command } from 'commander';
import type { WorkflowHandle } from '@temporalio/client';
import { startWorkspaceJob, UsageError, waitForPreview, withClient, workspaceJobId, type SegflowClient } from '../../client';
import { workflowUiLink } from '../../config';
import { formatIssue, validateJobSpec, type JobSpec } from '../../core/job-spec';
import { approvalRequestQuery } from '../../contracts/approval';
import { plainText } from '../../shared/safe-text';
import type { workspaceJob } from '../../workflows/workspace-job';
import { EXIT, isJson, printJson } from '../common';
import { defaultBy, note, out, showLong } from '../terminal';
import { approvalView, approveFlow, type ApproveOptions } from './approve-flow';
import { parseDuration } from './args';
import { followWorkspaceJob } from './job-status-view';

export interface JobFlowOptions extends ApproveOptions {
  wait?: boolean;
  approve?: boolean;
  id?: string;
  approvalTimeout?: number;
}

/**
 * Starts a workspace job (id: --id, else derived from `idBase` and the time) and carries on as asked. `link`: the
 * Web UI link is printed with the start note (a job file's run shows it; a one-step command shows it with its plan).
 */
export function startAndShow(spec: JobSpec, idBase: string, opts: JobFlowOptions, command: Command, link: boolean): Promise<number> {
  return withClient(async (sc) => {
    const handle = await startWorkspaceJob(sc, spec, opts.id ?? workspaceJobId(idBase), opts.approvalTimeout);
    if (!isJson(command))
      note(link ? `Started job ${handle.workflowId}\n${workflowUiLink(sc.settings, handle.workflowId)}` : `Started job ${handle.workflowId}`);
    return afterStart(sc, handle, opts, isJson(command));
  });
}

/** After a job starts: show its plan (or why it was refused), then approve and/or follow it if asked. */
async function afterStart(sc: SegflowClient, handle: WorkflowHandle<typeof workspaceJob>, opts: JobFlowOptions, json: boolean): Promise<number> {
  const jobId = handle.workflowId;
  const link = workflowUiLink(sc.settings, jobId);
  const status = await waitForPreview(handle);
  if (status.state === 'awaiting_approval') {
    if (opts.approve) return approveFlow(sc, handle, opts, json, opts.wait ?? true);
    if (json)
      printJson({ jobId, link, state: status.state, planHash: status.planHash, summary: status.summary, highImpact: status.plan?.highImpact ?? [] });
    else {
      const request = await handle.query(approvalRequestQuery);
      out(`Job ${plainText(jobId)} awaits approval\n${plainText(link)}\n`);
      showLong(await approvalView(handle, request));
      const confirm = request.highImpact.length ? ` --confirm ${request.highImpact.map((id) => plainText(id)).join(' ')}` : '';
      out(`\nApprove: segflow approve ${plainText(jobId)}${confirm}\nReject:  segflow reject ${plainText(jobId)} --reason "..."`);
    }
    if (!opts.wait) return EXIT.ok;
  }
  return followWorkspaceJob(sc, jobId, json);
}

/** Each workspace write from the CLI is a one-step job: same preview, guard rails and approval as a job file. */
export async function runOneStepJob(step: Record<string, unknown>, opts: JobFlowOptions, command: Command): Promise<number> {
  const result = validateJobSpec({ name: `${String(step.op)} (segflow ${command.parent?.name() ?? ''} ${command.name()})`.trim(), steps: [step] });
  if (!result.ok) throw new UsageError(result.issues.map((issue) => formatIssue(issue)).join('; '));
  const ids = (step.targets as string[] | undefined)?.join('-') ?? '';
  return startAndShow(result.spec, `${String(step.op)}-${ids}`, opts, command, false);
}

export function addJobFlowOptions(command: Command): Command {
  return command
    .option('--approve', 'approve right away (shows the plan and asks; destructive items need their ids)')
    .option('--wait', 'follow the job until it ends')
    .option('--by <name>', 'who approves (with --approve)', defaultBy())
    .option('--comment <text>', 'approval comment (with --approve)')
    .option('--yes', 'approve without the yes/no prompt (destructive items still need --confirm)')
    .option('--confirm <ids...>', 'ids of the destructive items you approve')
    .option('--key <file>', 'sign the approval with this private key (with --approve)')
    .option('--approver <name>', 'approver name of the key (default: the key file name)')
    .option('--id <jobId>', 'job id (default: derived from the operation and the time)')
    .option('--approval-timeout <duration>', 'how long the job waits for approval (e.g. 30m, 24h)', parseDuration);
}
