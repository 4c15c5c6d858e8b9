/**
 * Approving and rejecting a plan from the terminal: show exactly what awaits approval, have every destructive
 * item confirmed by id (typed, or --confirm), then send `decide` with the hash of what was shown, signed with the
 * approver's key when one is given (README "Approvals").
 */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { UsageError, type SegflowClient } from '../../client';
import { renderPlanText } from '../../core/workspace-plan/render';
import { approvalRequestQuery, decideUpdate, type ApprovalRequestView } from '../../contracts/approval';
import { plainText } from '../../shared/safe-text';
import { workspaceJobStatusQuery, type WorkspaceJobStatus } from '../../contracts/workspace-job';
import { signDecision } from '../approval-commands';
import { EXIT, printJson } from '../common';
import { ask, defaultBy, note, out, showLong } from '../terminal';
import { followWorkspaceJob } from './job-status-view';

export interface ApproveOptions {
  by?: string;
  comment?: string;
  yes?: boolean;
  confirm?: string[];
  /** Private key file: sign the decision (required when the workers list approvers). */
  key?: string;
  /** Approver name for the signature; default: the key file's base name. */
  approver?: string;
}

/** Why a set of confirmations does not cover a plan's destructive items, or undefined when it does. */
export function confirmationProblem(highImpact: string[], confirmed: string[]): string | undefined {
  const missing = highImpact.filter((id) => !confirmed.includes(id));
  if (missing.length) return `these destructive items are not confirmed: ${missing.join(' ')}`;
  const extra = confirmed.filter((id) => !highImpact.includes(id));
  if (extra.length) return `these ids are not destructive items of this plan: ${extra.join(' ')}`;
  return undefined;
}

/**
 * The whole plan awaiting approval, for a terminal. A workspace job's plan is rendered from the structured plan
 * (never from the UI's markdown, which may be a summary), and only when it is the plan the request names. An
 * import's plan is a few fixed lines; they are shown sanitised line by line.
 */
export async function approvalView(handle: WorkflowHandle, request: ApprovalRequestView): Promise<string> {
  const status = (await handle.query(workspaceJobStatusQuery).catch(() => undefined)) as WorkspaceJobStatus | undefined;
  if (status?.kind === 'workspace') {
    if (!status.plan || status.planHash !== request.planHash)
      throw new UsageError('The plan changed while it was being read; run the command again.');
    return renderPlanText(status.plan, status.planHash);
  }
  return [
    `Plan ${request.planHash ?? '—'}`,
    plainText(request.summary ?? ''),
    '',
    ...(request.details ?? '').split('\n').map((line) => plainText(line)),
  ].join('\n');
}

/** Shows what awaits approval and sends `decide` with the hash of exactly what was shown. */
export async function approveFlow(
  sc: SegflowClient,
  handle: WorkflowHandle,
  opts: ApproveOptions,
  json: boolean,
  followAfter = false,
): Promise<number> {
  const request: ApprovalRequestView = await handle.query(approvalRequestQuery);
  if (request.state !== 'awaiting' || !request.planHash)
    throw new UsageError(`Job ${handle.workflowId} has nothing awaiting approval (state: ${request.state}).`);
  if (!json) showLong(await approvalView(handle, request));

  let confirmed = opts.confirm ?? [];
  const interactive = Boolean(process.stdin.isTTY) && !opts.yes;
  if (request.highImpact.length) {
    if (opts.confirm === undefined) {
      if (!interactive) {
        throw new UsageError(
          `This plan has destructive items; approve them by id: --confirm ${request.highImpact.join(' ')} (--yes alone is not enough).`,
        );
      }
      note(`${request.highImpact.length} destructive item(s). Type each id to confirm it (anything else aborts):`);
      confirmed = [];
      for (const id of request.highImpact) {
        const typed = await ask(`  ${id}\n  > `);
        if (typed !== id) {
          note('Not confirmed: nothing approved.');
          return EXIT.failed;
        }
        confirmed.push(typed);
      }
    }
    const problem = confirmationProblem(request.highImpact, confirmed);
    if (problem) throw new UsageError(`Not approved: ${problem}.`);
  }
  if (!opts.yes) {
    if (!process.stdin.isTTY) throw new UsageError('Not a terminal: pass --yes to approve without a prompt.');
    const answer = await ask(`Approve plan ${request.planHash.slice(0, 12)} (${request.summary})? Type "yes": `);
    if (answer !== 'yes') {
      note('Nothing approved.');
      return EXIT.failed;
    }
  }
  const signed = opts.key
    ? await signDecision(
        opts.key,
        {
          jobId: handle.workflowId,
          runId: request.runId ?? '',
          planHash: request.planHash,
          decision: 'approve',
          confirmHighImpact: confirmed,
          ...(opts.comment ? { comment: opts.comment } : {}),
        },
        opts.approver,
      )
    : undefined;
  try {
    const decided = await handle.executeUpdate(decideUpdate, {
      args: [
        {
          decision: 'approve',
          planHash: request.planHash,
          ...(signed ? { signed } : { by: opts.by ?? defaultBy() }),
          comment: opts.comment,
          confirmHighImpact: confirmed,
        },
      ],
    });
    if (json && !followAfter) printJson(decided);
    else if (decided.state === 'awaiting') {
      note(
        `Approval of plan ${decided.planHash.slice(0, 12)} by ${plainText(decided.by)} recorded: ${decided.approvals?.length ?? 1} of ${decided.needed ?? '?'} approvers; the plan runs once enough different approvers have signed.`,
      );
    } else note(`Approved plan ${decided.planHash.slice(0, 12)} as ${plainText(decided.by)}.`);
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError)
      throw new UsageError(`Approval refused: ${(error.cause as Error | undefined)?.message ?? error.message}`);
    throw error;
  }
  return followAfter ? followWorkspaceJob(sc, handle.workflowId, json) : EXIT.ok;
}

export interface RejectOptions {
  reason: string;
  by: string;
  key?: string;
  approver?: string;
}

/** Rejects the plan a job waits on; signed like an approval when a key is given. */
export async function rejectFlow(handle: WorkflowHandle, opts: RejectOptions, json: boolean): Promise<number> {
  let signed;
  if (opts.key) {
    const request = await handle.query(approvalRequestQuery);
    if (request.state !== 'awaiting' || !request.planHash)
      throw new UsageError(`Job ${handle.workflowId} has nothing awaiting approval (state: ${request.state}).`);
    signed = await signDecision(
      opts.key,
      {
        jobId: handle.workflowId,
        runId: request.runId ?? '',
        planHash: request.planHash,
        decision: 'reject',
        confirmHighImpact: [],
        reason: opts.reason,
      },
      opts.approver,
    );
  }
  try {
    const decided = await handle.executeUpdate(decideUpdate, {
      args: [{ decision: 'reject', reason: opts.reason, ...(signed ? { signed } : { by: opts.by }) }],
    });
    if (json) printJson(decided);
    else out(`Rejected ${handle.workflowId} as ${plainText(decided.by)}: nothing was changed.`);
  } catch (error) {
    if (error instanceof WorkflowUpdateFailedError)
      throw new UsageError(`Reject refused: ${(error.cause as Error | undefined)?.message ?? error.message}`);
    throw error;
  }
  return EXIT.ok;
}
