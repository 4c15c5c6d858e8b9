/**
 * The human approval gate, shared by workspace jobs and `segflow import --require-approval`.
 * Workflow-sandbox code: imports only @temporalio/workflow. One file of ~410 lines because the gate is one closure
 * (its handlers share the pending request, refused attempts and quorum); message definitions are in
 * src/contracts/approval.ts.
 *
 * Messages (names and payloads are a public contract; the README shows them):
 * - signal `approve`  {planHash: string, by: string, comment?: string, confirmHighImpact?: string[]}
 * - signal `reject`   {by: string, reason: string}
 * - update `decide`   {decision: 'approve', planHash, by, comment?, confirmHighImpact?} | {decision: 'reject', by, reason}
 *                     -> {state: 'approved'|'rejected', planHash, by, at}
 *   Its validator rejects malformed payloads and calls made while nothing awaits approval (not recorded: nothing to
 *   record them against). A well-formed approval that does not fit the plan (other hash, missing confirmation of a
 *   destructive item) is accepted, recorded as a refused attempt, and fails with ApplicationFailure type
 *   `ApprovalRefused`, so the caller gets the reason synchronously and the refusal stays in history.
 * - query  `approvalRequest` -> ApprovalRequestView (state, planHash, summary, markdown details, highImpact ids,
 *   refused attempts, decision)
 *
 * Why an approval must carry the plan hash: it proves the approver saw *this* plan; a plan recomputed later (state
 * changed, file edited) has another hash and needs a new approval. Why destructive ids must be listed in
 * `confirmHighImpact`: a reflex "yes" (or a script replaying an old approve command) cannot delete anything.
 *
 * A signal handler that throws fails the whole workflow, so signal handlers here never throw: a bad signal is
 * recorded as a refused attempt and ignored.
 *
 * Signed approvals (README "Approvals"). Every message may carry `signed: {statement, signature}`, an Ed25519
 * signature over {jobId, runId, planHash, decision, confirmHighImpact, comment | reason, at, approver}. When the
 * workers list approvers (SEGFLOW_APPROVERS), only decisions whose signature verifies against the key of the named
 * approver count, `by` is that name, and unsigned or badly signed attempts are refused and recorded with the reason.
 * Verification runs in the `verifyApproval` activity (activities/approval-activities.ts says why); its answer is in
 * history. The Temporal behaviour this relies on (async handlers, validators, `patched`) is in
 * docs/temporal-approval-gate.md. A quorum (SEGFLOW_APPROVAL_QUORUM_HIGH / SEGFLOW_APPROVAL_QUORUM) asks for that many different
 * approvers before the plan counts as approved; any one verified rejection rejects it. Without approvers, decisions
 * work as before: anyone who can signal the workflow decides, under the name they give.
 */
import {
  ApplicationFailure,
  condition,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import {
  approvalRequestQuery,
  approveSignal,
  decideUpdate,
  rejectSignal,
  type ApprovalActivities,
  type ApprovalCheck,
  type ApprovalProof,
  type ApprovalRequest,
  type ApprovalRequestView,
  type ApprovalState,
  type ApprovalStatement,
  type ApproveInput,
  type Decision,
  type DecideInput,
  type DecideResult,
  type RefusedAttempt,
  type RejectInput,
} from '../contracts/approval';
import { APPROVAL_NON_RETRYABLE, FailureType } from '../contracts/failures';
import { markdownText } from '../shared/safe-text';

/** Refused attempts kept in state (and in the query answer); older ones stay visible in history only. */
const MAX_REFUSED_ATTEMPTS = 50;
/** The UI shows current details as markdown; keep it well under the 20 KB the server allows for static details. */
export const MAX_DETAILS_CHARS = 18_000;
/** Approve commands list the ids to confirm up to this length; beyond it they point at the list in the plan. */
const MAX_CONFIRM_LIST_CHARS = 600;

const isNonBlank = (value: unknown): value is string => typeof value === 'string' && value.trim() !== '';
const short = (hash: string) => hash.slice(0, 12);

/** Why an approval does not fit the request, or undefined when it does. Pure; exported for tests. */
export function approvalProblem(request: ApprovalRequest, input: Partial<ApproveInput>): string | undefined {
  if (!isNonBlank(input.by)) return 'an approval must say who approves ("by")';
  if (!isNonBlank(input.planHash)) return 'an approval must carry the plan hash ("planHash")';
  if (input.planHash !== request.planHash) {
    return `plan hash ${short(input.planHash)} is not the plan awaiting approval (${short(request.planHash)}…); read the current plan again and approve that one`;
  }
  const confirmed = Array.isArray(input.confirmHighImpact) ? input.confirmHighImpact.filter((id): id is string => typeof id === 'string') : [];
  const missing = request.highImpact.filter((id) => !confirmed.includes(id));
  if (missing.length) return `destructive items must be confirmed by id (confirmHighImpact); missing: ${missing.join(', ')}`;
  const unknown = confirmed.filter((id) => !request.highImpact.includes(id));
  if (unknown.length) return `confirmHighImpact names ids that are not high-impact items of this plan: ${unknown.join(', ')}`;
  return undefined;
}

export function rejectionProblem(input: Partial<RejectInput>): string | undefined {
  if (!isNonBlank(input.by)) return 'a rejection must say who rejects ("by")';
  if (!isNonBlank(input.reason)) return 'a rejection must give a reason ("reason")';
  return undefined;
}

/** How far a signature's `at` may lie outside the approval window (clock skew between laptops and workers). */
const SIGNED_AT_SKEW_MS = 5 * 60 * 1000;

/**
 * Why a signed statement does not fit this request, or undefined when it does. Pure (the signature itself is
 * checked by the activity); exported for tests.
 */
export function statementProblem(
  statement: Partial<ApprovalStatement> | undefined,
  kind: 'approve' | 'reject',
  expected: { jobId: string; runId: string; request: ApprovalRequest; requestedAt: string; now: string },
): string | undefined {
  if (!statement || typeof statement !== 'object') return 'the signed statement is missing';
  if (statement.v !== 1) return 'the signed statement has an unknown version';
  if (statement.decision !== kind) return `the signature is for a decision to ${String(statement.decision)}, not to ${kind}`;
  if (statement.jobId !== expected.jobId) return `the signature is for job ${String(statement.jobId).slice(0, 100)}, not this one`;
  if (statement.runId !== expected.runId) return 'the signature is for another run of this job; sign the plan this run awaits';
  if (statement.planHash !== expected.request.planHash) {
    return `the signature is for plan ${short(String(statement.planHash))}, not the plan awaiting approval (${short(expected.request.planHash)}…)`;
  }
  const at = Date.parse(String(statement.at));
  if (!Number.isFinite(at)) return 'the signed statement has no valid time ("at")';
  if (at < Date.parse(expected.requestedAt) - SIGNED_AT_SKEW_MS || at > Date.parse(expected.now) + SIGNED_AT_SKEW_MS) {
    return `the signature's time ${String(statement.at)} is outside the approval window`;
  }
  if (kind === 'approve')
    return approvalProblem(expected.request, {
      planHash: statement.planHash,
      by: statement.approver,
      confirmHighImpact: statement.confirmHighImpact,
    });
  return rejectionProblem({ by: statement.approver, reason: statement.reason });
}

/**
 * Why a verified approval does not add to the quorum, or undefined when it does. A quorum counts keys, not names:
 * workers with different SEGFLOW_APPROVERS lists could know one key under two names. Pure; exported for tests.
 */
export function repeatedApproval(
  proofs: ReadonlyArray<Pick<ApprovalProof, 'approver' | 'publicKey' | 'fingerprint'>>,
  next: Pick<ApprovalProof, 'approver' | 'publicKey' | 'fingerprint'>,
  needed: number,
): string | undefined {
  const sameName = proofs.find((p) => p.approver === next.approver);
  if (sameName) return `${next.approver} has already approved this plan; the quorum needs ${needed} different approvers`;
  const sameKey = proofs.find((p) => p.publicKey === next.publicKey);
  if (sameKey)
    return `the key of ${next.approver} (${next.fingerprint}) has already approved this plan as ${sameKey.approver}; the quorum needs ${needed} different keys`;
  return undefined;
}

const verifyOptions: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1s', maximumAttempts: 5, nonRetryableErrorTypes: APPROVAL_NON_RETRYABLE },
};

export interface ApprovalGate {
  /** Waits for approve/reject, or expires after `timeoutMs`. Can be called again for a new plan. */
  awaitDecision(request: ApprovalRequest, timeoutMs: number): Promise<Decision>;
  view(): ApprovalRequestView;
}

type Kind = 'approve' | 'reject';
type Via = 'signal' | 'update';
/** Who decided, once authenticated: a free-text name (no approvers configured) or a verified signature. */
type Authenticated = { by: string; proof?: ApprovalProof; needed: number } | { problem: string };

/** An approval given in an earlier run of a continue-as-new chain, which the new run must still honour and show. */
export interface RestoredApproval {
  planHash: string;
  by: string;
  comment?: string;
  at: string;
  summary?: string;
}

/** Call at the top of the workflow function, before the first await: it registers the message handlers. */
// `restored`: the approval an earlier run of the chain recorded (carried across continue-as-new).
export function createApprovalGate(restored?: RestoredApproval): ApprovalGate {
  let state: ApprovalState = restored ? 'approved' : 'none';
  let request: ApprovalRequest | undefined = restored ? { planHash: restored.planHash, summary: restored.summary ?? '', highImpact: [] } : undefined;
  let requestedAt: string | null = null;
  let expiresAt: string | null = null;
  let decision: Decision | undefined = restored
    ? {
        outcome: 'approved',
        planHash: restored.planHash,
        by: restored.by,
        ...(restored.comment ? { comment: restored.comment } : {}),
        confirmedHighImpact: [],
        at: restored.at,
        via: 'signal',
      }
    : undefined;
  /** Verified approvals of the current request (a quorum may need several). */
  let proofs: ApprovalProof[] = [];
  let needed: number | undefined;
  const refused: RefusedAttempt[] = [];
  const now = () => new Date().toISOString();
  const { verifyApproval } = proxyActivities<ApprovalActivities>(verifyOptions);

  const view = (): ApprovalRequestView => ({
    state,
    runId: workflowInfo().runId,
    planHash: request?.planHash ?? null,
    summary: request?.summary ?? null,
    details: request ? renderDetails() : null,
    highImpact: request?.highImpact ?? [],
    requestedAt,
    expiresAt,
    refusedAttempts: [...refused],
    decision: decision ?? null,
    ...(needed !== undefined
      ? { approvals: proofs.map((p) => ({ approver: p.approver, fingerprint: p.fingerprint, at: p.statement.at })), needed }
      : {}),
  });

  /**
   * The UI view. Everything a person typed (who, comments, reasons, ids) goes through the one sanitiser. It is never
   * cut: the plan's details are a complete summary sized for this view by the planner; if they still would not fit
   * (a bug), they are replaced by a pointer to the CLI, which shows the whole structured plan, rather than shown cut.
   */
  function renderDetails(): string {
    if (!request) return '';
    const id = markdownText(workflowInfo().workflowId, 300);
    const lines: string[] = [];
    const signers = (list?: ApprovalProof[]) =>
      list?.length ? ` (signed: ${list.map((p) => `${markdownText(p.approver, 64)} key ${p.fingerprint}`).join(', ')})` : '';
    if (state === 'awaiting') {
      lines.push(`## Awaiting approval (until ${expiresAt ?? '?'})`);
      lines.push('', `Plan hash: ${request.planHash}`, '', markdownText(request.summary, 500));
      if (needed !== undefined && needed > 1) lines.push('', `Signed approvals: ${proofs.length} of ${needed}${signers(proofs)}`);
      const ids = request.highImpact.map((item) => markdownText(item, 200)).join(' ');
      const confirm = !ids
        ? ''
        : ids.length <= MAX_CONFIRM_LIST_CHARS
          ? ` --confirm ${ids}`
          : ' --confirm (every id listed under the destructive items)';
      lines.push('', `Approve: segflow approve ${id}${confirm} · Reject: segflow reject ${id} --reason (why)`);
    } else if (decision?.outcome === 'approved') {
      lines.push(
        `## Approved by ${markdownText(decision.by, 300)} at ${decision.at}${decision.comment ? `: ${markdownText(decision.comment, 500)}` : ''}${signers(decision.proofs)}`,
      );
    } else if (decision?.outcome === 'rejected') {
      lines.push(
        `## Rejected by ${markdownText(decision.by, 200)} at ${decision.at}: ${markdownText(decision.reason, 500)}${signers(decision.proofs)}`,
      );
    } else if (decision?.outcome === 'expired') {
      lines.push(`## Expired at ${decision.at}: no decision within ${Math.round(decision.timeoutMs / 1000)} s`);
    }
    if (refused.length) {
      const last = refused[refused.length - 1]!;
      lines.push(
        '',
        `Refused attempts: ${refused.length} (last by ${markdownText(last.by ?? '?', 200)} at ${last.at}: ${markdownText(last.reason, 500)})`,
      );
    }
    const head = lines.join('\n');
    if (!request.details) return head;
    const whole = `${head}\n\n---\n\n${request.details}`;
    if (whole.length <= MAX_DETAILS_CHARS) return whole;
    return `${head}\n\n---\n\nThe plan is too long for this view and is not shown cut: segflow approve ${id} shows all of it.`;
  }

  const publish = () => setCurrentDetails(renderDetails());

  function refuse(attempt: Omit<RefusedAttempt, 'at'>): void {
    refused.push({ ...attempt, at: now() });
    if (refused.length > MAX_REFUSED_ATTEMPTS) refused.shift();
    if (state === 'awaiting') publish();
  }

  const notAwaiting = () => (state === 'awaiting' && request ? undefined : `nothing is awaiting approval (state: ${state})`);

  /** The same approver approving the same plan again (a retried command, a later run of a chain): already done. */
  const isRepeatedApproval = (raw: unknown): boolean => {
    if (state !== 'approved' || decision?.outcome !== 'approved') return false;
    const input = raw !== null && typeof raw === 'object' ? (raw as Partial<ApproveInput>) : {};
    const statement =
      input.signed && typeof input.signed === 'object'
        ? (input.signed.statement as { planHash?: unknown; approver?: unknown } | undefined)
        : undefined;
    const planHash = input.planHash ?? statement?.planHash;
    const by = input.by ?? statement?.approver;
    return planHash === decision.planHash && typeof by === 'string' && decision.by.split(', ').includes(by);
  };

  /**
   * Who is deciding. Runs before the decision's content is applied; the activity answer is in history. Histories
   * from before signed approvals (no `signed-approvals` marker) take the old path: free-text `by`, no activity.
   */
  async function authenticate(kind: Kind, input: Partial<ApproveInput & RejectInput>): Promise<Authenticated> {
    const current = request!;
    const legacy = (): Authenticated => ({ by: input.by ?? '', needed: 1 });
    if (!patched('signed-approvals')) return legacy();
    const signed = input.signed && typeof input.signed === 'object' ? input.signed : undefined;
    if (signed) {
      const { workflowId, runId } = workflowInfo();
      const problem = statementProblem(signed.statement, kind, { jobId: workflowId, runId, request: current, requestedAt: requestedAt!, now: now() });
      if (problem) return { problem };
    }
    let check: ApprovalCheck;
    try {
      check = await verifyApproval({ ...(signed ? { signed: { statement: signed.statement, signature: String(signed.signature) } } : {}) });
    } catch (error) {
      return { problem: `the signature could not be checked: ${(error as Error).message}` };
    }
    if (request !== current || state !== 'awaiting') return { problem: notAwaiting() ?? 'the plan changed while the signature was checked' };
    if (!check.configured) return signed && !isNonBlank(input.by) ? { by: signed.statement.approver, needed: 1 } : legacy();
    if (!check.ok) return { problem: check.reason };
    const proof: ApprovalProof = {
      approver: check.approver,
      fingerprint: check.fingerprint,
      publicKey: check.publicKey,
      statement: signed!.statement,
      signature: signed!.signature,
    };
    return { by: check.approver, proof, needed: current.highImpact.length ? check.quorum.high : check.quorum.normal };
  }

  /** Applies an approval; returns why it was refused, or undefined. */
  async function tryApprove(input: Partial<ApproveInput>, via: Via): Promise<string | undefined> {
    const idle = notAwaiting();
    if (idle) return idle;
    const who = await authenticate('approve', input);
    if ('problem' in who) return who.problem;
    const statement = who.proof?.statement;
    const content = statement
      ? { planHash: statement.planHash, by: who.by, confirmHighImpact: statement.confirmHighImpact }
      : { ...input, by: who.by };
    const problem = notAwaiting() ?? approvalProblem(request!, content);
    if (problem) return problem;
    if (who.proof) {
      const repeated = repeatedApproval(proofs, who.proof, needed ?? who.needed);
      // Histories from before keys were counted replay as they ran: the marker is only written when a key repeats.
      if (repeated && (proofs.some((p) => p.approver === who.by) || patched('quorum-counts-keys'))) return repeated;
      proofs.push(who.proof);
      needed = who.needed;
      if (proofs.length < who.needed) {
        publish();
        return undefined;
      }
    }
    const comment = statement ? statement.comment : input.comment;
    decision = {
      outcome: 'approved',
      planHash: request!.planHash,
      by: who.proof ? proofs.map((p) => p.approver).join(', ') : who.by,
      ...(isNonBlank(comment) ? { comment } : {}),
      confirmedHighImpact: [...request!.highImpact],
      at: now(),
      via,
      ...(who.proof ? { proofs: [...proofs] } : {}),
    };
    state = 'approved';
    publish();
    return undefined;
  }

  async function tryReject(input: Partial<RejectInput>, via: Via): Promise<string | undefined> {
    const idle = notAwaiting();
    if (idle) return idle;
    const who = await authenticate('reject', input);
    if ('problem' in who) return who.problem;
    const reason = who.proof ? who.proof.statement.reason : input.reason;
    const problem = notAwaiting() ?? rejectionProblem({ by: who.by, reason });
    if (problem) return problem;
    decision = {
      outcome: 'rejected',
      planHash: request!.planHash,
      by: who.by,
      reason: reason!,
      at: now(),
      via,
      ...(who.proof ? { proofs: [who.proof] } : {}),
    };
    state = 'rejected';
    publish();
    return undefined;
  }

  const asObject = (value: unknown): Record<string, unknown> =>
    value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  const attemptFields = (input: Record<string, unknown>) => {
    const statement = asObject(asObject(input.signed).statement);
    const by = typeof input.by === 'string' ? input.by : typeof statement.approver === 'string' ? `${statement.approver} (signed)` : undefined;
    return {
      ...(by !== undefined ? { by: by.slice(0, 200) } : {}),
      ...(typeof input.planHash === 'string' ? { planHash: input.planHash.slice(0, 100) } : {}),
    };
  };

  // Old histories decided synchronously in the handler; new runs check signatures first (an activity). Both paths
  // reach the same state machine; `patched` in authenticate keeps the old histories replaying.
  const attempt = async (kind: Kind, via: Via, raw: unknown): Promise<string | undefined> => {
    if (kind === 'approve' && isRepeatedApproval(raw)) return undefined;
    const input = asObject(raw);
    let problem: string | undefined;
    try {
      problem = kind === 'approve' ? await tryApprove(input as Partial<ApproveInput>, via) : await tryReject(input as Partial<RejectInput>, via);
    } catch (error) {
      problem = `could not be applied: ${(error as Error).message}`;
    }
    if (problem) refuse({ via, kind, ...attemptFields(input), reason: problem });
    return problem;
  };

  setHandler(approveSignal, async (raw: ApproveInput) => void (await attempt('approve', 'signal', raw)), {
    description: 'Approve the plan awaiting approval: {planHash, by, comment?, confirmHighImpact?: ids of every destructive item, signed?}',
  });

  setHandler(rejectSignal, async (raw: RejectInput) => void (await attempt('reject', 'signal', raw)), {
    description: 'Reject the plan awaiting approval; nothing is changed: {by, reason, signed?}',
  });

  setHandler(
    decideUpdate,
    async (input: DecideInput): Promise<DecideResult> => {
      const problem = await attempt(input.decision, 'update', input);
      if (problem) throw ApplicationFailure.nonRetryable(`approval refused: ${problem}`, FailureType.ApprovalRefused);
      if (state === 'awaiting') {
        const last = proofs[proofs.length - 1]!;
        return {
          state: 'awaiting',
          planHash: request!.planHash,
          by: last.approver,
          at: last.statement.at,
          approvals: proofs.map((p) => p.approver),
          needed,
        };
      }
      const decided = decision as Extract<Decision, { by: string }>;
      return {
        state: state as 'approved' | 'rejected',
        planHash: request!.planHash,
        by: decided.by,
        at: decided.at,
        ...(decided.proofs ? { approvals: decided.proofs.map((p) => p.approver), needed } : {}),
      };
    },
    {
      description:
        'Approve or reject synchronously: {decision: "approve", planHash, by, comment?, confirmHighImpact?, signed?} | {decision: "reject", by, reason, signed?}',
      validator: (input: DecideInput) => {
        const obj = asObject(input);
        if (obj.decision !== 'approve' && obj.decision !== 'reject') throw new Error('decision must be "approve" or "reject"');
        const signed = obj.signed !== undefined;
        if (signed && (typeof asObject(obj.signed).signature !== 'string' || typeof asObject(obj.signed).statement !== 'object')) {
          throw new Error('"signed" is {statement, signature}');
        }
        if (!signed && !isNonBlank(obj.by)) throw new Error('"by" (who decides) is required');
        if (obj.decision === 'approve' && !isNonBlank(obj.planHash)) throw new Error('"planHash" is required to approve');
        if (obj.decision === 'reject' && !signed && !isNonBlank(obj.reason)) throw new Error('"reason" is required to reject');
        if (
          obj.confirmHighImpact !== undefined &&
          !(Array.isArray(obj.confirmHighImpact) && obj.confirmHighImpact.every((id) => typeof id === 'string'))
        ) {
          throw new Error('"confirmHighImpact" must be a list of ids');
        }
        if (obj.decision === 'approve' && isRepeatedApproval(obj)) return;
        const idle = notAwaiting();
        if (idle) throw new Error(idle);
      },
    },
  );

  setHandler(approvalRequestQuery, view, {
    description: 'What awaits approval: state, planHash, summary, markdown details, highImpact ids, refused attempts, decision',
  });

  return {
    async awaitDecision(next: ApprovalRequest, timeoutMs: number): Promise<Decision> {
      request = next;
      decision = undefined;
      proofs = [];
      needed = undefined;
      state = 'awaiting';
      requestedAt = now();
      expiresAt = new Date(Date.now() + timeoutMs).toISOString();
      publish();
      const decided = await condition(() => decision !== undefined, timeoutMs);
      if (!decided) {
        decision = { outcome: 'expired', planHash: next.planHash, at: now(), timeoutMs };
        state = 'expired';
        publish();
      }
      return decision!;
    },
    view,
  };
}
