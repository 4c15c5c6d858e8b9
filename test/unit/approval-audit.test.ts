/**
 * `segflow audit` judges what history holds (src/client/approval-audit.ts judgeAudit): a signed statement counts only
 * when its signature verifies and it is bound to the run it appears in (job id, run, the plan hash that run asked
 * approval for), a decision only through statements of the chain that reached it, and a quorum in distinct keys.
 * Signatures here are real Ed25519 signatures (src/core/approvers.ts).
 */
import { describe, expect, it } from 'vitest';
import type { ApprovalStatement, Decision, SignedDecision } from '../../src/contracts/approval';
import { generateApproverKeys, loadPrivateKey, parseApprovers, signStatement, type Approver } from '../../src/core/approvers';
import { judgeAudit, type AuditAttempt, type CollectedHistory } from '../../src/client/approval-audit';

const aliceKeys = generateApproverKeys();
const bobKeys = generateApproverKeys();
const trusted = parseApprovers(`alice: ${aliceKeys.publicKey}\nbob: ${bobKeys.publicKey}`);
const privateKeys: Record<string, ReturnType<typeof loadPrivateKey>> = {
  alice: loadPrivateKey(aliceKeys.privateKeyPem, 'alice.pem'),
  'alice.ops': loadPrivateKey(aliceKeys.privateKeyPem, 'alice.pem'),
  bob: loadPrivateKey(bobKeys.privateKeyPem, 'bob.pem'),
};
const PLAN = 'a'.repeat(64);
const OTHER_PLAN = 'b'.repeat(64);

function sign(change: Partial<ApprovalStatement> = {}): SignedDecision {
  const statement: ApprovalStatement = {
    v: 1,
    jobId: 'job-1',
    runId: 'run-1',
    planHash: PLAN,
    decision: 'approve',
    confirmHighImpact: [],
    at: '2026-01-01T10:00:00.000Z',
    approver: 'alice',
    ...change,
  };
  return { statement, signature: signStatement(statement, privateKeys[statement.approver]!).signature };
}

function attemptOf(signed: SignedDecision | undefined, runId = 'run-1', by = 'alice'): CollectedHistory['attempts'][number] {
  const attempt: AuditAttempt = {
    at: '2026-01-01T10:00:01.000Z',
    runId,
    via: 'update',
    kind: 'approve',
    by: signed ? signed.statement.approver : by,
    planHash: signed ? signed.statement.planHash : PLAN,
    signed: Boolean(signed),
    workerVerdict: null,
    verification: null,
    verified: null,
  };
  return { attempt, ...(signed ? { signedDecision: signed } : {}), awaiting: PLAN };
}

const approved = (by: string, extra: Partial<Extract<Decision, { outcome: 'approved' }>> = {}): Decision => ({
  outcome: 'approved',
  planHash: PLAN,
  by,
  confirmedHighImpact: [],
  at: '2026-01-01T10:00:02.000Z',
  via: 'update',
  ...extra,
});

/** An import approved in run-1, continued as new into run-2, whose result holds the carried approval. */
function history(attempts: CollectedHistory['attempts'], change: Partial<CollectedHistory> = {}): CollectedHistory {
  return {
    jobId: 'job-1',
    runs: [
      { runId: 'run-1', continuedFrom: null },
      { runId: 'run-2', continuedFrom: 'run-1' },
    ],
    requests: [{ runId: 'run-1', planHash: PLAN, highImpact: false }],
    attempts,
    decision: approved(attempts.map((a) => a.attempt.by).join(', ')),
    decisionRunId: 'run-2',
    workerQuorum: { high: 1, normal: 1 },
    recorded: new Map(),
    ...change,
  };
}

describe('judgeAudit: statements bound to their run', () => {
  it('a statement signed for this job, run and plan verifies, across continue-as-new, and the audit passes', () => {
    const judged = judgeAudit(history([attemptOf(sign())]), { approvers: trusted });
    expect(judged.attempts[0]).toMatchObject({ verified: true, verification: `signature valid: alice, key ${aliceKeys.fingerprint}` });
    expect(judged.proofs).toEqual([expect.objectContaining({ approver: 'alice', verified: true })]);
    expect(judged.quorum).toEqual({ needed: 1, verifiedKeys: 1 });
    expect(judged.problem).toBeNull();
  });

  it.each<[string, Partial<ApprovalStatement>, RegExp]>([
    ['another job', { jobId: 'job-0' }, /^NOT BOUND TO THIS RUN: signed for job job-0, not job-1$/],
    ['another run', { runId: 'run-0' }, /^NOT BOUND TO THIS RUN: signed for run run-0, not run-1, the run whose history holds it$/],
    [
      'another plan',
      { planHash: OTHER_PLAN },
      /^NOT BOUND TO THIS RUN: signed for plan bbbbbbbbbbbb, not plan aaaaaaaaaaaa this run asked approval for$/,
    ],
    ['a rejection', { decision: 'reject', reason: 'no' }, /^NOT BOUND TO THIS RUN: signed as a decision to reject, used to approve$/],
  ])('a validly signed statement for %s is refused as not bound, and the approval it backs fails the audit', (_what, change, how) => {
    const judged = judgeAudit(history([attemptOf(sign(change))]), { approvers: trusted });
    expect(judged.attempts[0]!.verified).toBe(false);
    expect(judged.attempts[0]!.verification).toMatch(how);
    expect(judged.attempts[0]!.verification).not.toContain('signature valid');
    expect(judged.proofs).toEqual([]);
    expect(judged.quorum).toEqual({ needed: 1, verifiedKeys: 0 });
    expect(judged.problem).toBe(
      'The job proceeded on an approval by alice that lacks a verified quorum: 0 of 1 required keys signed a statement bound to this run.',
    );
  });

  it('a statement changed after signing is SIGNATURE INVALID', () => {
    const signed = sign();
    const judged = judgeAudit(history([attemptOf({ ...signed, statement: { ...signed.statement, comment: 'added' } })]), { approvers: trusted });
    expect(judged.attempts[0]!.verification).toMatch(/^SIGNATURE INVALID: the signature does not verify against the key of alice/);
    expect(judged.proofs).toEqual([expect.objectContaining({ verified: false, how: expect.stringMatching(/^SIGNATURE INVALID/) })]);
    expect(judged.problem).toMatch(/lacks a verified quorum: 0 of 1/);
  });

  it('a forged chain: a run started afresh carrying an approval, backed by a genuine statement of an earlier run of the same id, fails', () => {
    const genuine = sign();
    const forged = history([attemptOf(genuine)], {
      runs: [
        { runId: 'run-1', continuedFrom: null },
        { runId: 'run-9', continuedFrom: null },
      ],
      decisionRunId: 'run-9',
    });
    const judged = judgeAudit(forged, { approvers: trusted });
    expect(judged.attempts[0]!.verified).toBe(true);
    expect(judged.proofs).toEqual([]);
    expect(judged.quorum).toEqual({ needed: 1, verifiedKeys: 0 });
    expect(judged.problem).toMatch(/^The job proceeded on an approval by alice that lacks a verified quorum: 0 of 1/);
  });

  it('a forged workspace decision whose proof is a genuine statement of an earlier run of the same id fails', () => {
    const genuine = sign();
    const proof = { approver: 'alice', fingerprint: aliceKeys.fingerprint, publicKey: aliceKeys.publicKey, ...genuine };
    const forged = history([], {
      runs: [
        { runId: 'run-1', continuedFrom: null },
        { runId: 'run-9', continuedFrom: null },
      ],
      decisionRunId: 'run-9',
      decision: approved('alice', { proofs: [proof] }),
    });
    const judged = judgeAudit(forged, { approvers: trusted });
    expect(judged.proofs).toEqual([
      expect.objectContaining({
        verified: false,
        how: 'NOT BOUND TO THIS RUN: signed for run run-1, which did not ask approval for plan aaaaaaaaaaaa in the chain that reached this decision',
      }),
    ]);
    expect(judged.problem).toMatch(/^The job proceeded on an approval by alice that lacks a verified quorum: 0 of 1/);
  });

  it("a workspace decision's own proofs are judged the same way: another job's proof fails the audit", () => {
    const other = sign({ jobId: 'job-0' });
    const proof = { approver: 'alice', fingerprint: aliceKeys.fingerprint, publicKey: aliceKeys.publicKey, ...other };
    const judged = judgeAudit(
      history([], { runs: [{ runId: 'run-1', continuedFrom: null }], decisionRunId: 'run-1', decision: approved('alice', { proofs: [proof] }) }),
      { approvers: trusted },
    );
    expect(judged.proofs).toEqual([expect.objectContaining({ verified: false, how: 'NOT BOUND TO THIS RUN: signed for job job-0, not job-1' })]);
    expect(judged.problem).toMatch(/lacks a verified quorum: 0 of 1/);
  });
});

describe('judgeAudit: a quorum is counted in keys, and required only when this shell lists approvers', () => {
  it('a quorum of 2 is not met by one key under two names', () => {
    // Two workers could know alice's key under two names; the auditor's list might too.
    const aliceOps: Approver = { ...trusted[0]!, name: 'alice.ops' };
    const judged = judgeAudit(history([attemptOf(sign()), attemptOf(sign({ approver: 'alice.ops' }))], { workerQuorum: { high: 2, normal: 2 } }), {
      approvers: [...trusted, aliceOps],
    });
    expect(judged.proofs.map((p) => p.verified)).toEqual([true, true]);
    expect(judged.quorum).toEqual({ needed: 2, verifiedKeys: 1 });
    expect(judged.problem).toBe(
      'The job proceeded on an approval by alice, alice.ops that lacks a verified quorum: 1 of 2 required keys signed a statement bound to this run.',
    );
    const two = judgeAudit(history([attemptOf(sign()), attemptOf(sign({ approver: 'bob' }))], { workerQuorum: { high: 2, normal: 2 } }), {
      approvers: trusted,
    });
    expect(two.quorum).toEqual({ needed: 2, verifiedKeys: 2 });
    expect(two.problem).toBeNull();
  });

  it("this shell's quorum applies when the worker recorded a smaller one", () => {
    const judged = judgeAudit(history([attemptOf(sign())]), { approvers: trusted, quorum: { high: 2, normal: 2 } });
    expect(judged.quorum).toEqual({ needed: 2, verifiedKeys: 1 });
    expect(judged.problem).toMatch(/1 of 2 required keys/);
  });

  it('an unsigned approval fails the audit when this shell lists approvers, and not when it lists none', () => {
    const unsigned = history([attemptOf(undefined, 'run-1', 'alice')], { workerQuorum: null });
    expect(judgeAudit(unsigned, { approvers: trusted }).problem).toMatch(
      /^The job proceeded on an approval by alice that lacks a verified quorum: 0 of 1/,
    );
    expect(judgeAudit(unsigned, { approvers: [] })).toMatchObject({ keysFrom: 'none', problem: null });
  });
});
