/**
 * Signature checks for the approval gate (workflows/approval.ts).
 *
 * Why an activity and not a pure function in the workflow: Ed25519 needs node:crypto, which the workflow sandbox
 * does not offer, and a hand-written Ed25519 in the sandbox would be our own cryptography (the issue rules out a new
 * dependency, and rightly). The approver list is also worker configuration (SEGFLOW_APPROVERS), which workflow code
 * cannot read. The activity's answer is recorded in history, so a replay decides exactly as the original run did,
 * even after the list changes; `segflow audit` re-verifies the signatures themselves from the history.
 */
import { ApplicationFailure } from '@temporalio/common';
import { approversFromEnv, ApproversConfigError, quorumFromEnv, verifyStatement, type ApprovalQuorum } from '../core/approvers';
import { FailureType } from '../contracts/failures';
import type { ApprovalActivities, ApprovalCheck, ApprovalCheckInput } from '../contracts/approval';

export interface ApprovalActivityDeps {
  env: NodeJS.ProcessEnv;
}

export function createApprovalActivities(deps: ApprovalActivityDeps): ApprovalActivities {
  return {
    /** Whether approvers are configured on this worker and, if so, whether the signature verifies. */
    async verifyApproval(input: ApprovalCheckInput): Promise<ApprovalCheck> {
      let quorum: ApprovalQuorum;
      let approvers;
      try {
        approvers = approversFromEnv(deps.env);
        quorum = quorumFromEnv(deps.env);
      } catch (error) {
        // Fail closed: a broken list must not fall back to "anyone can approve".
        if (error instanceof ApproversConfigError) throw ApplicationFailure.nonRetryable(error.message, FailureType.ApproversConfigError);
        throw error;
      }
      if (approvers.length === 0) return { configured: false };
      if (!input.signed)
        return {
          configured: true,
          quorum,
          ok: false,
          reason: 'approvers are configured: the decision must be signed (segflow approve --key <your key>.pem)',
        };
      const check = verifyStatement(input.signed.statement, input.signed.signature, approvers);
      if (!check.ok) return { configured: true, quorum, ok: false, reason: check.reason };
      return { configured: true, quorum, ok: true, approver: check.approver, fingerprint: check.fingerprint, publicKey: check.publicKey };
    },
  };
}
