/**
 * The audit of a job's approval, read from its history (every run of it): the plan, each approve/reject attempt
 * with the worker's verdict, and the final decision. Payloads are decoded with this shell's data converter (so
 * SEGFLOW_CODEC_KEY is needed when payloads are encrypted), and every signature found is verified again: against
 * this shell's SEGFLOW_APPROVERS when set (the auditor's own list of trusted keys), else against the key the
 * worker recorded, which proves integrity but not who owns that key (README "Approvals"; the model is
 * src/core/approvers.ts).
 */
import type { WorkflowHandle } from '@temporalio/client';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import type { ApprovalCheck, ApprovalStatement, Decision, SignedDecision } from '../contracts/approval';
import type { WorkspacePlan } from '../contracts/workspace-job';
import { approversFromEnv, parseApprovers, verifyStatement, type Approver } from '../core/approvers';
import { renderPlanText } from '../core/workspace-plan/render';
import { plainText } from '../shared/safe-text';
import type { SegflowClient } from './connection';

export interface AuditAttempt {
  at: string;
  runId: string;
  via: 'signal' | 'update';
  kind: 'approve' | 'reject';
  /** The name given (free text) or signed. */
  by: string | null;
  planHash: string | null;
  signed: boolean;
  /** The worker's verdict recorded in history (verifyApproval), when there is one. */
  workerVerdict: string | null;
  /** This audit's own verification of the signature. */
  verification: string | null;
  verified: boolean | null;
}

export interface AuditReport {
  jobId: string;
  runs: string[];
  planHash: string | null;
  plan: string | null;
  attempts: AuditAttempt[];
  decision: Decision | null;
  /** Signatures of the final decision, re-verified here. */
  proofs: Array<{ approver: string; fingerprint: string; at: string; verified: boolean; how: string }>;
  keysFrom: 'SEGFLOW_APPROVERS of this shell' | 'keys recorded by the worker' | 'none';
}

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const eventTime = (event: HistoryEvent): string => {
  const t = event.eventTime;
  if (!t) return '';
  return new Date(Number(t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString();
};

/** Every run of the job, oldest first (an import continues as new; its approval sits in one of them). */
async function runsOf(sc: SegflowClient, handle: WorkflowHandle): Promise<string[]> {
  const runs: Array<{ runId: string; start: number }> = [];
  try {
    for await (const info of sc.client.workflow.list({ query: `WorkflowId = '${handle.workflowId.replace(/'/g, "\\'")}'` })) {
      runs.push({ runId: info.runId, start: info.startTime.getTime() });
    }
  } catch {
    // No visibility (some clusters restrict it): the latest run only.
  }
  if (runs.length === 0) return [(await handle.describe()).runId];
  return runs.sort((a, b) => a.start - b.start).map((run) => run.runId);
}

function verifyWith(approvers: Approver[], statement: ApprovalStatement, signature: string): { verified: boolean; how: string } {
  const check = verifyStatement(statement, signature, approvers);
  return check.ok
    ? { verified: true, how: `signature valid: ${check.approver}, key ${check.fingerprint}` }
    : { verified: false, how: `SIGNATURE INVALID: ${check.reason}` };
}

export async function auditJob(sc: SegflowClient, handle: WorkflowHandle, env: NodeJS.ProcessEnv = process.env): Promise<AuditReport> {
  const converter = (sc.client.options as unknown as { loadedDataConverter: Parameters<typeof decodeArrayFromPayloads>[0] }).loadedDataConverter;
  const decode = async (payloads?: temporal.api.common.v1.IPayloads | null): Promise<unknown[]> =>
    decodeArrayFromPayloads(converter, payloads?.payloads ?? []);
  const local = approversFromEnv(env);
  const recorded = new Map<string, Approver>();

  const report: AuditReport = {
    jobId: handle.workflowId,
    runs: [],
    planHash: null,
    plan: null,
    attempts: [],
    decision: null,
    proofs: [],
    keysFrom: local.length ? 'SEGFLOW_APPROVERS of this shell' : 'none',
  };
  report.runs = await runsOf(sc, handle);
  const signedSeen: Array<{ statement: ApprovalStatement; signature: string }> = [];

  for (const runId of report.runs) {
    const history = await sc.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
    const activityTypes = new Map<string, string>();
    const activityInputs = new Map<string, temporal.api.common.v1.IPayloads | null | undefined>();
    const pendingVerdicts: string[] = [];
    for (const event of history.events ?? []) {
      const id = String(event.eventId ?? '');
      const scheduled = event.activityTaskScheduledEventAttributes;
      if (scheduled) {
        activityTypes.set(id, scheduled.activityType?.name ?? '');
        activityInputs.set(id, scheduled.input);
      }
      const completed = event.activityTaskCompletedEventAttributes;
      if (completed) {
        const scheduledId = String(completed.scheduledEventId ?? '');
        const type = activityTypes.get(scheduledId);
        const [result] = await decode(completed.result);
        if (type === 'workspacePreview') {
          const preview = result as { plan: WorkspacePlan; planHash: string };
          report.planHash = preview.planHash;
          report.plan = renderPlanText(preview.plan, preview.planHash);
        } else if (type === 'hashImportPlan') {
          const [plan] = await decode(activityInputs.get(scheduledId));
          report.planHash = result as string;
          report.plan = [
            `Import plan ${String(result)}`,
            ...JSON.stringify(plan, null, 2)
              .split('\n')
              .map((line) => plainText(line)),
          ].join('\n');
        } else if (type === 'verifyApproval') {
          const check = result as ApprovalCheck;
          if (check.configured && check.ok) {
            recorded.set(check.approver, parseApprovers(`${check.approver}: ${check.publicKey}`)[0]!);
            pendingVerdicts.push(`verified by the worker: ${check.approver}, key ${check.fingerprint}`);
          } else pendingVerdicts.push(check.configured ? `refused by the worker: ${check.reason}` : 'no approvers configured on the worker');
        }
      }
      const signal = event.workflowExecutionSignaledEventAttributes;
      const update = event.workflowExecutionUpdateAcceptedEventAttributes;
      let kind: 'approve' | 'reject' | undefined;
      let input: Record<string, unknown> | undefined;
      let via: 'signal' | 'update' = 'signal';
      if (signal && (signal.signalName === 'approve' || signal.signalName === 'reject')) {
        kind = signal.signalName;
        input = ((await decode(signal.input))[0] ?? {}) as Record<string, unknown>;
      } else if (update && update.acceptedRequest?.input?.name === 'decide') {
        input = ((await decode(update.acceptedRequest.input.args))[0] ?? {}) as Record<string, unknown>;
        kind = input.decision === 'reject' ? 'reject' : 'approve';
        via = 'update';
      }
      if (kind && input) {
        const signed = input.signed as SignedDecision | undefined;
        if (signed?.statement) signedSeen.push(signed);
        report.attempts.push({
          at: eventTime(event),
          runId,
          via,
          kind,
          by: signed?.statement ? signed.statement.approver : typeof input.by === 'string' ? input.by : null,
          planHash: signed?.statement ? signed.statement.planHash : typeof input.planHash === 'string' ? input.planHash : null,
          signed: Boolean(signed?.statement),
          workerVerdict: null,
          verification: null,
          verified: null,
        });
      }
      const done = event.workflowExecutionCompletedEventAttributes;
      const failed = event.workflowExecutionFailedEventAttributes;
      const continued = event.workflowExecutionContinuedAsNewEventAttributes;
      let outcome: unknown;
      if (done) [outcome] = await decode(done.result);
      else if (failed?.failure?.applicationFailureInfo?.details) [outcome] = await decode(failed.failure.applicationFailureInfo.details);
      else if (continued) [outcome] = await decode(continued.input);
      const decided = decisionOf(outcome);
      if (decided) report.decision = decided;
    }
    // Verdicts are recorded in the order attempts were checked: pair them with this run's attempts in order.
    const runAttempts = report.attempts.filter((a) => a.runId === runId);
    if (pendingVerdicts.length === runAttempts.length) runAttempts.forEach((a, i) => (a.workerVerdict = pendingVerdicts[i]!));
  }
  if (!local.length && recorded.size) report.keysFrom = 'keys recorded by the worker';
  const keys = local.length ? local : [...recorded.values()];

  for (const attempt of report.attempts) {
    if (!attempt.signed) continue;
    const signed = signedSeen.find((s) => s.statement.approver === attempt.by && s.statement.planHash === attempt.planHash);
    if (!signed) continue;
    const result = keys.length
      ? verifyWith(keys, signed.statement, signed.signature)
      : { verified: false, how: 'no keys to verify with (set SEGFLOW_APPROVERS)' };
    attempt.verification = result.how;
    attempt.verified = result.verified;
  }
  if (report.decision && report.decision.outcome !== 'expired') {
    const decision = report.decision;
    // An import carries its approval across continue-as-new without the proofs: take them from the signed attempts.
    const proofs =
      decision.proofs ??
      signedSeen
        .filter(
          (s) =>
            s.statement.planHash === decision.planHash &&
            s.statement.decision === (decision.outcome === 'approved' ? 'approve' : 'reject') &&
            decision.by.split(', ').includes(s.statement.approver),
        )
        .map((s) => ({
          approver: s.statement.approver,
          fingerprint: recorded.get(s.statement.approver)?.fingerprint ?? '?',
          statement: s.statement,
          signature: s.signature,
        }));
    for (const proof of proofs) {
      const result = keys.length
        ? verifyWith(keys, proof.statement, proof.signature)
        : { verified: false, how: 'no keys to verify with (set SEGFLOW_APPROVERS)' };
      report.proofs.push({ approver: proof.approver, fingerprint: proof.fingerprint, at: proof.statement.at, ...result });
    }
  }
  return report;
}

/** The decision in a workspace result (`approval`), an import's status or carried state (`approval` record). */
function decisionOf(value: unknown): Decision | undefined {
  const record = value as { approval?: Record<string, unknown>; carried?: { approval?: Record<string, unknown> } } | undefined;
  const approval = record?.approval ?? record?.carried?.approval;
  if (!approval || typeof approval !== 'object') return undefined;
  if ('outcome' in approval) return approval as unknown as Decision;
  if (typeof approval.planHash !== 'string' || typeof approval.by !== 'string') return undefined;
  return {
    outcome: 'approved',
    planHash: approval.planHash,
    by: approval.by,
    ...(typeof approval.comment === 'string' ? { comment: approval.comment } : {}),
    confirmedHighImpact: [],
    at: String(approval.at ?? ''),
    via: 'update',
  };
}
