/**
 * The approval gate's contract, shared by workspace jobs and `segflow import --require-approval`: the messages a
 * job awaiting approval accepts (names and payloads are public; the README shows them), the view it answers with,
 * and the signature check the workflow asks an activity for. The gate itself is src/workflows/approval.ts.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';

/** What an approver signs (core/approvers.ts signs and verifies its canonical JSON). */
export interface ApprovalStatement {
  v: 1;
  /** The workflow id and run the decision is for: a signature never carries over to another run. */
  jobId: string;
  runId: string;
  planHash: string;
  decision: 'approve' | 'reject';
  /** Sorted ids of the destructive items confirmed (empty for a rejection). */
  confirmHighImpact: string[];
  comment?: string;
  reason?: string;
  /** When it was signed (ISO-8601); must fall inside the approval window. */
  at: string;
  /** The approver's name in SEGFLOW_APPROVERS, whose key must verify the signature. */
  approver: string;
}

export interface SignedDecision {
  statement: ApprovalStatement;
  /** base64 Ed25519 signature. */
  signature: string;
}

export interface ApproveInput {
  planHash: string;
  /** Free text without approvers; with approvers the signing key's name replaces it. */
  by?: string;
  comment?: string;
  /** Must list the id of every high-impact (destructive) item of the plan, and nothing else. */
  confirmHighImpact?: string[];
  signed?: SignedDecision;
}

export interface RejectInput {
  by?: string;
  reason: string;
  signed?: SignedDecision;
}

export type DecideInput = ({ decision: 'approve' } & ApproveInput) | ({ decision: 'reject' } & RejectInput);

export interface DecideResult {
  /** 'awaiting': this approval counted, the quorum needs more (see `approvals` and `needed`). */
  state: 'approved' | 'rejected' | 'awaiting';
  planHash: string;
  by: string;
  at: string;
  approvals?: string[];
  needed?: number;
}

export type ApprovalState = 'awaiting' | 'approved' | 'rejected' | 'expired' | 'none';

export interface ApprovalRequest {
  planHash: string;
  /** One line, e.g. "1 destructive, 2 writes on 2 sources". */
  summary: string;
  /** Ids of destructive items; an approval must confirm each of them by id. */
  highImpact: string[];
  /** Markdown view of the plan for the Temporal UI: complete, never cut (the CLI renders the structured plan). */
  details?: string;
}

/** A verified signature, as kept in the decision (and in history): enough to re-verify it offline. */
export interface ApprovalProof {
  approver: string;
  /** Fingerprint and key (SPKI, base64) the worker verified with. */
  fingerprint: string;
  publicKey: string;
  statement: ApprovalStatement;
  signature: string;
}

export type Decision =
  | {
      outcome: 'approved';
      planHash: string;
      by: string;
      comment?: string;
      confirmedHighImpact: string[];
      at: string;
      via: 'signal' | 'update';
      proofs?: ApprovalProof[];
    }
  | { outcome: 'rejected'; planHash: string; by: string; reason: string; at: string; via: 'signal' | 'update'; proofs?: ApprovalProof[] }
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
  /** The run a signed decision must name. */
  runId?: string;
  planHash: string | null;
  summary: string | null;
  details: string | null;
  highImpact: string[];
  requestedAt: string | null;
  expiresAt: string | null;
  refusedAttempts: RefusedAttempt[];
  decision: Decision | null;
  /** Verified approvals so far and how many the quorum needs (only with approvers configured). */
  approvals?: Array<{ approver: string; fingerprint: string; at: string }>;
  needed?: number;
}

export interface ApprovalCheckInput {
  signed?: SignedDecision;
}

export type ApprovalCheck =
  | { configured: false }
  | { configured: true; quorum: { high: number; normal: number }; ok: false; reason: string }
  | { configured: true; quorum: { high: number; normal: number }; ok: true; approver: string; fingerprint: string; publicKey: string };

export const approveSignal = defineSignal<[ApproveInput]>('approve');
export const rejectSignal = defineSignal<[RejectInput]>('reject');
export const decideUpdate = defineUpdate<DecideResult, [DecideInput]>('decide');
export const approvalRequestQuery = defineQuery<ApprovalRequestView>('approvalRequest');

/** Implemented by src/activities/approval-activities.ts: Ed25519 needs node:crypto, which the sandbox lacks. */
export interface ApprovalActivities {
  /** Whether approvers are configured on this worker and, if so, whether the signature verifies. */
  verifyApproval(input: ApprovalCheckInput): Promise<ApprovalCheck>;
}
