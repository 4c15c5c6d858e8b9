/**
 * The human approval gate, shared by workspace jobs and `segflow import --require-approval`.
 * Workflow-sandbox code: imports only @temporalio/workflow.
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
 */
import { ApplicationFailure, condition, defineQuery, defineSignal, defineUpdate, setCurrentDetails, setHandler, workflowInfo } from '@temporalio/workflow';
import { markdownText } from './safe-text';

export interface ApproveInput {
  planHash: string;
  by: string;
  comment?: string;
  /** Must list the id of every high-impact (destructive) item of the plan, and nothing else. */
  confirmHighImpact?: string[];
}

export interface RejectInput {
  by: string;
  reason: string;
}

export type DecideInput = ({ decision: 'approve' } & ApproveInput) | ({ decision: 'reject' } & RejectInput);

export interface DecideResult {
  state: 'approved' | 'rejected';
  planHash: string;
  by: string;
  at: string;
}

export type ApprovalState = 'awaiting' | 'approved' | 'rejected' | 'expired' | 'none';

export interface ApprovalRequest {
  planHash: string;
  /** One line, e.g. "1 destructive, 2 writes on 2 sources". */
  summary: string;
  /** Ids of destructive items; an approval must confirm each of them by id. */
  highImpact: string[];
  /** Markdown view of the plan (Temporal UI current details, `segflow approve`). */
  details?: string;
}

export type Decision =
  | { outcome: 'approved'; planHash: string; by: string; comment?: string; confirmedHighImpact: string[]; at: string; via: 'signal' | 'update' }
  | { outcome: 'rejected'; planHash: string; by: string; reason: string; at: string; via: 'signal' | 'update' }
  | { outcome: 'expired'; planHash: string; at: string; timeoutMs: number };

export interface RefusedAttempt {
  at: string;
  via: 'signal' | 'update';
  kind: 'approve' | 'reject';
  by?: string;
  planHash?: string;
  reason: string;
}

export interface ApprovalRequestView {
  state: ApprovalState;
  planHash: string | null;
  summary: string | null;
  details: string | null;
  highImpact: string[];
  requestedAt: string | null;
  expiresAt: string | null;
  refusedAttempts: RefusedAttempt[];
  decision: Decision | null;
}

export const approveSignal = defineSignal<[ApproveInput]>('approve');
export const rejectSignal = defineSignal<[RejectInput]>('reject');
export const decideUpdate = defineUpdate<DecideResult, [DecideInput]>('decide');
export const approvalRequestQuery = defineQuery<ApprovalRequestView>('approvalRequest');

export const APPROVAL_REFUSED = 'ApprovalRefused';

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

export interface ApprovalGate {
  /** Waits for approve/reject, or expires after `timeoutMs`. Can be called again for a new plan. */
  awaitDecision(request: ApprovalRequest, timeoutMs: number): Promise<Decision>;
  view(): ApprovalRequestView;
}

/** Call at the top of the workflow function, before the first await: it registers the message handlers. */
export function createApprovalGate(): ApprovalGate {
  let state: ApprovalState = 'none';
  let request: ApprovalRequest | undefined;
  let requestedAt: string | null = null;
  let expiresAt: string | null = null;
  let decision: Decision | undefined;
  const refused: RefusedAttempt[] = [];
  const now = () => new Date().toISOString();

  const view = (): ApprovalRequestView => ({
    state,
    planHash: request?.planHash ?? null,
    summary: request?.summary ?? null,
    details: request ? renderDetails() : null,
    highImpact: request?.highImpact ?? [],
    requestedAt,
    expiresAt,
    refusedAttempts: [...refused],
    decision: decision ?? null,
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
    if (state === 'awaiting') {
      lines.push(`## Awaiting approval (until ${expiresAt ?? '?'})`);
      lines.push('', `Plan hash: ${request.planHash}`, '', markdownText(request.summary, 500));
      const ids = request.highImpact.map((item) => markdownText(item, 200)).join(' ');
      const confirm = !ids ? '' : ids.length <= MAX_CONFIRM_LIST_CHARS ? ` --confirm ${ids}` : ' --confirm (every id listed under the destructive items)';
      lines.push('', `Approve: segflow approve ${id}${confirm} · Reject: segflow reject ${id} --reason (why)`);
    } else if (decision?.outcome === 'approved') {
      lines.push(`## Approved by ${markdownText(decision.by, 200)} at ${decision.at}${decision.comment ? `: ${markdownText(decision.comment, 500)}` : ''}`);
    } else if (decision?.outcome === 'rejected') {
      lines.push(`## Rejected by ${markdownText(decision.by, 200)} at ${decision.at}: ${markdownText(decision.reason, 500)}`);
    } else if (decision?.outcome === 'expired') {
      lines.push(`## Expired at ${decision.at}: no decision within ${Math.round(decision.timeoutMs / 1000)} s`);
    }
    if (refused.length) {
      const last = refused[refused.length - 1]!;
      lines.push('', `Refused attempts: ${refused.length} (last by ${markdownText(last.by ?? '?', 200)} at ${last.at}: ${markdownText(last.reason, 500)})`);
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

  function tryApprove(input: Partial<ApproveInput>, via: 'signal' | 'update'): string | undefined {
    const problem = notAwaiting() ?? approvalProblem(request!, input);
    if (problem) return problem;
    decision = {
      outcome: 'approved',
      planHash: request!.planHash,
      by: input.by!,
      ...(isNonBlank(input.comment) ? { comment: input.comment } : {}),
      confirmedHighImpact: [...request!.highImpact],
      at: now(),
      via,
    };
    state = 'approved';
    publish();
    return undefined;
  }

  function tryReject(input: Partial<RejectInput>, via: 'signal' | 'update'): string | undefined {
    const problem = notAwaiting() ?? rejectionProblem(input);
    if (problem) return problem;
    decision = { outcome: 'rejected', planHash: request!.planHash, by: input.by!, reason: input.reason!, at: now(), via };
    state = 'rejected';
    publish();
    return undefined;
  }

  const asObject = (value: unknown): Record<string, unknown> => (value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {});
  const attemptFields = (input: Record<string, unknown>) => ({
    ...(typeof input.by === 'string' ? { by: input.by } : {}),
    ...(typeof input.planHash === 'string' ? { planHash: input.planHash } : {}),
  });

  setHandler(
    approveSignal,
    (raw: ApproveInput) => {
      const input = asObject(raw);
      const problem = tryApprove(input as Partial<ApproveInput>, 'signal');
      if (problem) refuse({ via: 'signal', kind: 'approve', ...attemptFields(input), reason: problem });
    },
    { description: 'Approve the plan awaiting approval: {planHash, by, comment?, confirmHighImpact?: ids of every destructive item}' },
  );

  setHandler(
    rejectSignal,
    (raw: RejectInput) => {
      const input = asObject(raw);
      const problem = tryReject(input as Partial<RejectInput>, 'signal');
      if (problem) refuse({ via: 'signal', kind: 'reject', ...attemptFields(input), reason: problem });
    },
    { description: 'Reject the plan awaiting approval; nothing is changed: {by, reason}' },
  );

  setHandler(
    decideUpdate,
    (input: DecideInput): DecideResult => {
      const problem = input.decision === 'approve' ? tryApprove(input, 'update') : tryReject(input, 'update');
      if (problem) {
        refuse({ via: 'update', kind: input.decision, ...attemptFields(input as unknown as Record<string, unknown>), reason: problem });
        throw ApplicationFailure.nonRetryable(`approval refused: ${problem}`, APPROVAL_REFUSED);
      }
      return { state: state as 'approved' | 'rejected', planHash: request!.planHash, by: input.by, at: (decision as { at: string }).at };
    },
    {
      description: 'Approve or reject synchronously: {decision: "approve", planHash, by, comment?, confirmHighImpact?} | {decision: "reject", by, reason}',
      validator: (input: DecideInput) => {
        const obj = asObject(input);
        if (obj.decision !== 'approve' && obj.decision !== 'reject') throw new Error('decision must be "approve" or "reject"');
        if (!isNonBlank(obj.by)) throw new Error('"by" (who decides) is required');
        if (obj.decision === 'approve' && !isNonBlank(obj.planHash)) throw new Error('"planHash" is required to approve');
        if (obj.decision === 'reject' && !isNonBlank(obj.reason)) throw new Error('"reason" is required to reject');
        if (obj.confirmHighImpact !== undefined && !(Array.isArray(obj.confirmHighImpact) && obj.confirmHighImpact.every((id) => typeof id === 'string'))) {
          throw new Error('"confirmHighImpact" must be a list of ids');
        }
        const idle = notAwaiting();
        if (idle) throw new Error(idle);
      },
    },
  );

  setHandler(approvalRequestQuery, view, { description: 'What awaits approval: state, planHash, summary, markdown details, highImpact ids, refused attempts, decision' });

  return {
    async awaitDecision(next: ApprovalRequest, timeoutMs: number): Promise<Decision> {
      request = next;
      decision = undefined;
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
