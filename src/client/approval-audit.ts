/**
 * The audit of a job's approval, read from its history (every run of it): the plan, each approve/reject attempt
 * with the worker's verdict, and the final decision. Payloads are decoded with this shell's data converter (so
 * SEGFLOW_CODEC_KEY is needed when payloads are encrypted), and every signature found is verified again: against
 * this shell's SEGFLOW_APPROVERS when set (the auditor's own list of trusted keys), else against the key the
 * worker recorded, which proves integrity but not who owns that key (README "Approvals"; the model is
 * src/core/approvers.ts).
 *
 * A valid signature is not enough: a statement counts only where it is bound to the run it appears in (its job id,
 * its run and the plan hash that run asked approval for), because history can be forged around a genuine
 * statement copied from another job or run. The reading of history (auditJob) is apart from the judging
 * (judgeAudit, pure), which tests drive with real signatures.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import type { ApprovalCheck, ApprovalProof, ApprovalStatement, Decision, SignedDecision } from '../contracts/approval';
import type { WorkspacePlan } from '../contracts/workspace-job';
import { approversFromEnv, parseApprovers, quorumFromEnv, verifyStatement, type ApprovalQuorum, type Approver } from '../core/approvers';
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
  /** This audit's own verification of the signature and of its binding to this run. */
  verification: string | null;
  verified: boolean | null;
}

export type KeysFrom = 'SEGFLOW_APPROVERS of this shell' | 'keys recorded by the worker' | 'none';

export interface AuditReport {
  jobId: string;
  runs: string[];
  planHash: string | null;
  plan: string | null;
  attempts: AuditAttempt[];
  decision: Decision | null;
  /** Signatures of the final decision, re-verified here (signature and binding). */
  proofs: Array<{ approver: string; fingerprint: string; at: string; verified: boolean; how: string }>;
  keysFrom: KeysFrom;
  /** An approval's quorum as this audit counts it: distinct keys whose bound statements verify. */
  quorum: { needed: number; verifiedKeys: number } | null;
  /** Why the audit fails (exit 1), in one sentence; null when nothing is wrong. */
  problem: string | null;
}

/** What history holds, as read by auditJob: the input of judgeAudit. */
export interface CollectedHistory {
  jobId: string;
  /** Oldest first; `continuedFrom` is the run this one continued as new from (null for a run started afresh). */
  runs: Array<{ runId: string; continuedFrom: string | null }>;
  /** Each plan a run asked approval for, in order; `highImpact` when it had destructive items. */
  requests: Array<{ runId: string; planHash: string; highImpact: boolean }>;
  attempts: Array<{
    attempt: AuditAttempt;
    signedDecision?: SignedDecision;
    /** The plan that run was awaiting approval for when the attempt came (its latest request before it). */
    awaiting: string | null;
  }>;
  decision: Decision | null;
  /** The run whose result (or continue-as-new input) holds the decision. */
  decisionRunId: string | null;
  /** The quorum the worker answered with (verifyApproval), when it checked signatures. */
  workerQuorum: ApprovalQuorum | null;
  /** Keys the worker verified with, by name (integrity only: used when this shell lists no approvers). */
  recorded: Map<string, Approver>;
}

const short = (hash: unknown) => plainText(String(hash).slice(0, 12), 12);

/**
 * Why a signed statement is not bound to the run it appears in, or undefined when it is: it must name this job,
 * the run whose history holds it, the plan hash that run asked approval for, and the decision it was used for.
 * Pure; exported for tests.
 */
export function bindingProblem(
  statement: Partial<ApprovalStatement> | undefined,
  expected: { jobId: string; runId: string; planHash: string | null; kind: 'approve' | 'reject' },
): string | undefined {
  if (!statement || typeof statement !== 'object') return 'not bound to this run: no statement';
  if (statement.jobId !== expected.jobId)
    return `not bound to this run: signed for job ${plainText(String(statement.jobId), 100)}, not ${plainText(expected.jobId, 200)}`;
  if (statement.runId !== expected.runId)
    return `not bound to this run: signed for run ${plainText(String(statement.runId), 100)}, not ${expected.runId}, the run whose history holds it`;
  if (expected.planHash === null) return 'not bound to this run: this run asked no approval';
  if (statement.planHash !== expected.planHash)
    return `not bound to this run: signed for plan ${short(statement.planHash)}, not plan ${short(expected.planHash)} this run asked approval for`;
  if (statement.decision !== expected.kind)
    return `not bound to this run: signed as a decision to ${plainText(String(statement.decision), 20)}, used to ${expected.kind}`;
  return undefined;
}

/** A signature verified against `keys`, then its binding: valid only when both hold. Pure; exported for tests. */
export function judgeStatement(
  signed: SignedDecision,
  expected: Parameters<typeof bindingProblem>[1],
  keys: Approver[],
): { verified: boolean; how: string; fingerprint?: string } {
  if (!keys.length) return { verified: false, how: 'no keys to verify with (set SEGFLOW_APPROVERS)' };
  const check = verifyStatement(signed.statement, signed.signature, keys);
  if (!check.ok) return { verified: false, how: `SIGNATURE INVALID: ${check.reason}` };
  const unbound = bindingProblem(signed.statement, expected);
  if (unbound) return { verified: false, how: unbound.replace(/^not bound to this run/, 'NOT BOUND TO THIS RUN') };
  return { verified: true, how: `signature valid: ${check.approver}, key ${check.fingerprint}`, fingerprint: check.fingerprint };
}

/** `runId` and the runs it continued from (a continue-as-new chain carries an approval forward, nothing else). */
function chainOf(runs: CollectedHistory['runs'], runId: string): Set<string> {
  const byId = new Map(runs.map((run) => [run.runId, run.continuedFrom]));
  const chain = new Set<string>();
  for (let at: string | null | undefined = runId; at && !chain.has(at); at = byId.get(at)) chain.add(at);
  return chain;
}

/**
 * The audit's verdicts from collected history: each signed attempt judged (signature and binding), the decision's
 * proofs judged against the run that asked for its plan, within the chain that reached the decision, and the
 * quorum counted in distinct keys. With this shell's SEGFLOW_APPROVERS set, an approval without a verified quorum
 * fails the audit. Pure; exported for tests.
 */
export function judgeAudit(
  history: CollectedHistory,
  trusted: { approvers: Approver[]; quorum?: ApprovalQuorum },
): Pick<AuditReport, 'attempts' | 'proofs' | 'keysFrom' | 'quorum' | 'problem'> {
  const keysFrom: KeysFrom = trusted.approvers.length
    ? 'SEGFLOW_APPROVERS of this shell'
    : history.recorded.size
      ? 'keys recorded by the worker'
      : 'none';
  const keys = trusted.approvers.length ? trusted.approvers : [...history.recorded.values()];
  const attempts = history.attempts.map(({ attempt, signedDecision, awaiting }) => {
    if (!signedDecision) return attempt;
    const judged = judgeStatement(signedDecision, { jobId: history.jobId, runId: attempt.runId, planHash: awaiting, kind: attempt.kind }, keys);
    return { ...attempt, verification: judged.how, verified: judged.verified };
  });

  const proofs: AuditReport['proofs'] = [];
  const decision = history.decision;
  let quorum: AuditReport['quorum'] = null;
  let problem: string | null = null;
  if (decision && decision.outcome !== 'expired') {
    const chain = chainOf(history.runs, history.decisionRunId ?? '');
    const kind = decision.outcome === 'approved' ? 'approve' : 'reject';
    const askedIn = (runId: string) => history.requests.some((r) => r.runId === runId && r.planHash === decision.planHash && chain.has(runId));
    // An import carries its approval across continue-as-new without the proofs: take them from the signed attempts
    // bound to a run of this chain that asked for the decided plan. Others (another job's, refused ones) are
    // attempts, shown with their verdict above, not proofs of this decision.
    const candidates: ApprovalProof[] =
      decision.proofs ??
      history.attempts
        .filter(
          ({ attempt, signedDecision, awaiting }) =>
            signedDecision &&
            attempt.kind === kind &&
            !attempt.workerVerdict?.startsWith('refused') &&
            decision.by.split(', ').includes(signedDecision.statement.approver) &&
            askedIn(attempt.runId) &&
            !bindingProblem(signedDecision.statement, { jobId: history.jobId, runId: attempt.runId, planHash: awaiting, kind }) &&
            signedDecision.statement.planHash === decision.planHash,
        )
        .map(({ signedDecision }) => ({
          approver: signedDecision!.statement.approver,
          fingerprint: history.recorded.get(signedDecision!.statement.approver)?.fingerprint ?? '?',
          publicKey: '',
          statement: signedDecision!.statement,
          signature: signedDecision!.signature,
        }));
    const verifiedKeys = new Set<string>();
    const seen = new Set<string>();
    for (const proof of candidates) {
      // A retried signal repeats its statement: one proof per signature.
      if (seen.has(proof.signature)) continue;
      seen.add(proof.signature);
      const runId = typeof proof.statement?.runId === 'string' ? proof.statement.runId : '';
      // Bound to the decision: this job, and a run of the chain that reached the decision which asked for its plan.
      const judged = askedIn(runId)
        ? judgeStatement(proof, { jobId: history.jobId, runId, planHash: decision.planHash, kind }, keys)
        : {
            verified: false,
            how: `NOT BOUND TO THIS RUN: signed for run ${plainText(runId, 100)}, which did not ask approval for plan ${short(decision.planHash)} in the chain that reached this decision`,
          };
      if (judged.verified && 'fingerprint' in judged && judged.fingerprint) verifiedKeys.add(judged.fingerprint);
      proofs.push({
        approver: proof.approver,
        fingerprint: proof.fingerprint,
        at: proof.statement?.at ?? '',
        verified: judged.verified,
        how: judged.how,
      });
    }
    if (decision.outcome === 'approved') {
      const highImpact = decision.confirmedHighImpact.length > 0 || history.requests.some((r) => r.planHash === decision.planHash && r.highImpact);
      const pick = (q: ApprovalQuorum | null | undefined) => (q ? (highImpact ? q.high : q.normal) : 1);
      quorum = { needed: Math.max(pick(history.workerQuorum), pick(trusted.quorum), 1), verifiedKeys: verifiedKeys.size };
      if (keysFrom === 'SEGFLOW_APPROVERS of this shell' && verifiedKeys.size < quorum.needed)
        problem = `The job proceeded on an approval by ${plainText(decision.by, 200)} that lacks a verified quorum: ${verifiedKeys.size} of ${quorum.needed} required keys signed a statement bound to this run.`;
    }
    if (!problem && proofs.some((p) => !p.verified))
      problem = `A signature of the decision does not verify against ${keysFrom === 'none' ? 'any key' : `the ${keysFrom}`} or is not bound to this run.`;
  }
  return { attempts, proofs, keysFrom, quorum, problem };
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

/** Reads every run's history into what judgeAudit judges. */
async function collectHistory(
  sc: SegflowClient,
  handle: WorkflowHandle,
  runIds: string[],
): Promise<CollectedHistory & { planHash: string | null; plan: string | null }> {
  const converter = (sc.client.options as unknown as { loadedDataConverter: Parameters<typeof decodeArrayFromPayloads>[0] }).loadedDataConverter;
  const decode = async (payloads?: temporal.api.common.v1.IPayloads | null): Promise<unknown[]> =>
    decodeArrayFromPayloads(converter, payloads?.payloads ?? []);
  const collected: CollectedHistory & { planHash: string | null; plan: string | null } = {
    jobId: handle.workflowId,
    runs: [],
    requests: [],
    attempts: [],
    decision: null,
    decisionRunId: null,
    workerQuorum: null,
    recorded: new Map(),
    planHash: null,
    plan: null,
  };

  for (const runId of runIds) {
    const history = await sc.client.workflow.getHandle(handle.workflowId, runId).fetchHistory();
    const activityTypes = new Map<string, string>();
    const activityInputs = new Map<string, temporal.api.common.v1.IPayloads | null | undefined>();
    const pendingVerdicts: string[] = [];
    const runAttempts: AuditAttempt[] = [];
    let awaiting: string | null = null;
    for (const event of history.events ?? []) {
      const id = String(event.eventId ?? '');
      const started = event.workflowExecutionStartedEventAttributes;
      if (started) collected.runs.push({ runId, continuedFrom: started.continuedExecutionRunId || null });
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
          collected.planHash = awaiting = preview.planHash;
          collected.requests.push({ runId, planHash: preview.planHash, highImpact: (preview.plan.highImpact ?? []).length > 0 });
          collected.plan = renderPlanText(preview.plan, preview.planHash);
        } else if (type === 'hashImportPlan') {
          const [plan] = await decode(activityInputs.get(scheduledId));
          collected.planHash = awaiting = result as string;
          collected.requests.push({ runId, planHash: result as string, highImpact: false });
          collected.plan = [
            `Import plan ${String(result)}`,
            ...JSON.stringify(plan, null, 2)
              .split('\n')
              .map((line) => plainText(line)),
          ].join('\n');
        } else if (type === 'verifyApproval') {
          const check = result as ApprovalCheck;
          if (check.configured) collected.workerQuorum = check.quorum;
          if (check.configured && check.ok) {
            collected.recorded.set(check.approver, parseApprovers(`${check.approver}: ${check.publicKey}`)[0]!);
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
        const raw = input.signed as Partial<SignedDecision> | undefined;
        const signed =
          raw && typeof raw === 'object' && raw.statement && typeof raw.statement === 'object'
            ? { statement: raw.statement, signature: String(raw.signature) }
            : undefined;
        const attempt: AuditAttempt = {
          at: eventTime(event),
          runId,
          via,
          kind,
          by: signed ? String(signed.statement.approver) : typeof input.by === 'string' ? input.by : null,
          planHash: signed ? String(signed.statement.planHash) : typeof input.planHash === 'string' ? input.planHash : null,
          signed: Boolean(signed),
          workerVerdict: null,
          verification: null,
          verified: null,
        };
        runAttempts.push(attempt);
        collected.attempts.push({ attempt, ...(signed ? { signedDecision: signed } : {}), awaiting });
      }
      const done = event.workflowExecutionCompletedEventAttributes;
      const failed = event.workflowExecutionFailedEventAttributes;
      const continued = event.workflowExecutionContinuedAsNewEventAttributes;
      let outcome: unknown;
      if (done) [outcome] = await decode(done.result);
      else if (failed?.failure?.applicationFailureInfo?.details) [outcome] = await decode(failed.failure.applicationFailureInfo.details);
      else if (continued) [outcome] = await decode(continued.input);
      const decided = decisionOf(outcome);
      if (decided) {
        collected.decision = decided;
        collected.decisionRunId = runId;
      }
    }
    if (!collected.runs.some((run) => run.runId === runId)) collected.runs.push({ runId, continuedFrom: null });
    // Verdicts are recorded in the order attempts were checked: pair them with this run's attempts in order.
    if (pendingVerdicts.length === runAttempts.length) runAttempts.forEach((a, i) => (a.workerVerdict = pendingVerdicts[i]!));
  }
  return collected;
}

export async function auditJob(sc: SegflowClient, handle: WorkflowHandle, env: NodeJS.ProcessEnv = process.env): Promise<AuditReport> {
  const approvers = approversFromEnv(env);
  const quorum = approvers.length ? quorumFromEnv(env) : undefined;
  const runs = await runsOf(sc, handle);
  const history = await collectHistory(sc, handle, runs);
  const judged = judgeAudit(history, { approvers, ...(quorum ? { quorum } : {}) });
  return { jobId: handle.workflowId, runs, planHash: history.planHash, plan: history.plan, decision: history.decision, ...judged };
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
