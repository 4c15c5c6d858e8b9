/**
 * A workspace job's status for people: plan hash, approval, and one row per item; and following a job to its end.
 */
import type { SegflowClient } from '../../client';
import { plainText } from '../../shared/safe-text';
import type { WorkspaceJobStatus } from '../../contracts/workspace-job';
import { formatTable } from '../common';
import { followToEnd } from '../follow';
import { note } from '../terminal';

export function formatWorkspaceStatus(status: WorkspaceJobStatus): string {
  // Names, reasons and errors may quote hostile text from a job file or the workspace: sanitised like the plan.
  const t = (value: unknown) => plainText(value);
  const lines = [`Job ${t(status.jobId)}: ${status.state}${status.summary ? ` — ${t(status.summary)}` : ''}`];
  if (status.planHash) lines.push(`Plan hash ${t(status.planHash)}`);
  if (status.approval) {
    const a = status.approval;
    lines.push(
      a.outcome === 'approved'
        ? `Approved by ${t(a.by)} at ${a.at}`
        : a.outcome === 'rejected'
          ? `Rejected by ${t(a.by)}: ${t(a.reason)}`
          : `Approval expired at ${a.at}`,
    );
  }
  if (status.error) lines.push(`Error: ${t(status.error)}`);
  const rows = status.steps.flatMap((step) =>
    step.items.length
      ? step.items.map((item) => [String(step.step), item.itemId, item.impact, item.status, (item.message ?? '').slice(0, 80)])
      : [[String(step.step), `(${step.op}: no items)`, '', '', '']],
  );
  if (rows.length) lines.push('', formatTable(rows, ['STEP', 'ITEM', 'IMPACT', 'STATUS', 'MESSAGE']).trimEnd());
  return lines.join('\n') + '\n';
}

/** Follows a workspace job to its end: one note per state change, then its status (or the final JSON). */
export function followWorkspaceJob(sc: SegflowClient, jobId: string, json: boolean): Promise<number> {
  let last = '';
  return followToEnd(sc, jobId, json, {
    update: (status) => {
      if (!json && status.state !== last) note(`${jobId}: ${status.state}`);
      last = status.state;
    },
    text: (final) => formatWorkspaceStatus(final as unknown as WorkspaceJobStatus),
  });
}
