import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createActivities } from '../../src/worker';
import {
  approversFromEnv,
  generateApproverKeys,
  loadPrivateKey,
  parseApprovers,
  quorumFromEnv,
  signStatement,
  verifyStatement,
} from '../../src/core/approvers';
import type { ApprovalRequest, ApprovalStatement } from '../../src/contracts/approval';
import { statementProblem } from '../../src/workflows/approval';

const alice = generateApproverKeys();
const bob = generateApproverKeys();
const approvers = parseApprovers(`# who may approve\nalice: ${alice.publicKey}\nbob: ${bob.publicKey}\n`);
const HASH = 'a'.repeat(64);
const statement: ApprovalStatement = {
  v: 1,
  jobId: 'workspace-job-1',
  runId: 'run-1',
  planHash: HASH,
  decision: 'approve',
  confirmHighImpact: ['delete-source:src_1'],
  comment: 'OPS-42',
  at: '2026-01-01T10:00:00.000Z',
  approver: 'alice',
};

describe('signed approvals: keys, signatures, configuration', () => {
  it('a statement signed by alice verifies as alice, and only as alice', () => {
    const { signature } = signStatement(statement, loadPrivateKey(alice.privateKeyPem, 'alice.pem'));
    expect(verifyStatement(statement, signature, approvers)).toMatchObject({ ok: true, approver: 'alice', fingerprint: alice.fingerprint });
    // The same signature claimed by bob, or any field changed, fails.
    expect(verifyStatement({ ...statement, approver: 'bob' }, signature, approvers)).toMatchObject({ ok: false });
    for (const change of [
      { planHash: 'b'.repeat(64) },
      { runId: 'run-2' },
      { confirmHighImpact: [] },
      { decision: 'reject' as const },
      { comment: 'other' },
    ]) {
      expect(verifyStatement({ ...statement, ...change }, signature, approvers).ok).toBe(false);
    }
  });

  it('a signature by a key that is not listed is refused with the reason', () => {
    const mallory = generateApproverKeys();
    const { signature } = signStatement(statement, loadPrivateKey(mallory.privateKeyPem, 'mallory.pem'));
    expect(verifyStatement(statement, signature, approvers)).toEqual({
      ok: false,
      reason: `the signature does not verify against the key of alice (${alice.fingerprint})`,
    });
    expect(verifyStatement({ ...statement, approver: 'mallory' }, signature, approvers)).toEqual({
      ok: false,
      reason: '"mallory" is not a configured approver',
    });
    expect(verifyStatement(statement, 'not base64 at all', approvers).ok).toBe(false);
  });

  it('SEGFLOW_APPROVERS is a file or the list itself (lines or JSON); bad entries are refused clearly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'approvers-'));
    const file = join(dir, 'approvers.txt');
    writeFileSync(file, `alice: ${alice.publicKey}\n`);
    expect(approversFromEnv({ SEGFLOW_APPROVERS: file }).map((a) => a.name)).toEqual(['alice']);
    expect(approversFromEnv({ SEGFLOW_APPROVERS: JSON.stringify({ bob: bob.publicKey }) }).map((a) => a.name)).toEqual(['bob']);
    expect(approversFromEnv({ SEGFLOW_APPROVERS: `alice: ${alice.publicKey}; bob: ${bob.publicKey}` })).toHaveLength(2);
    expect(approversFromEnv({})).toEqual([]);
    expect(() => approversFromEnv({ SEGFLOW_APPROVERS: join(dir, 'missing.txt') })).toThrow(/cannot be read/);
    expect(() => parseApprovers(`alice: ${alice.publicKey}\nalice: ${bob.publicKey}`)).toThrow(/twice/);
    expect(() => parseApprovers('alice: Zm9v')).toThrow(/not a valid key/);
    expect(() => parseApprovers(`al ice: ${alice.publicKey}`)).toThrow(/not a valid approver name/);
  });

  it('one public key under two names is refused when loaded, naming both names and the line', () => {
    const text = `alice: ${alice.publicKey}\nbob: ${bob.publicKey}\n# ops account\nalice.ops: ${alice.publicKey}\n`;
    expect(() => parseApprovers(text)).toThrow(
      `SEGFLOW_APPROVERS line 4: "alice.ops" has the same public key as "alice" (${alice.fingerprint}); give each approver their own key (segflow approver keygen --name alice.ops)`,
    );
    expect(() => parseApprovers(JSON.stringify({ alice: alice.publicKey, 'alice.ops': alice.publicKey }))).toThrow(
      /member "alice.ops": "alice.ops" has the same public key as "alice"/,
    );
  });

  it('a worker with an approver list giving one key two names, or an unreadable quorum, refuses to start', () => {
    const shared = `alice: ${alice.publicKey}\nalice.ops: ${alice.publicKey}\n`;
    expect(() => createActivities({ SEGFLOW_APPROVERS: shared })).toThrow(/line 2: "alice.ops" has the same public key as "alice"/);
    expect(() => createActivities({ SEGFLOW_APPROVAL_QUORUM_HIGH: 'two' })).toThrow(/whole number/);
    expect(() => createActivities({ SEGFLOW_APPROVERS: `alice: ${alice.publicKey}\n` })).not.toThrow();
  });

  it('quorum per impact level, 1 by default', () => {
    expect(quorumFromEnv({})).toEqual({ high: 1, normal: 1 });
    expect(quorumFromEnv({ SEGFLOW_APPROVAL_QUORUM_HIGH: '2' })).toEqual({ high: 2, normal: 1 });
    expect(() => quorumFromEnv({ SEGFLOW_APPROVAL_QUORUM_HIGH: 'two' })).toThrow(/whole number/);
  });
});

describe('statementProblem: a signed statement must be for this job, run, plan and window', () => {
  const request: ApprovalRequest = { planHash: HASH, summary: '1 destructive', highImpact: ['delete-source:src_1'] };
  const expected = { jobId: 'workspace-job-1', runId: 'run-1', request, requestedAt: '2026-01-01T09:00:00.000Z', now: '2026-01-01T10:01:00.000Z' };
  it.each<[string, Partial<ApprovalStatement>, RegExp | undefined]>([
    ['the right statement', {}, undefined],
    ['another run of the same job', { runId: 'run-0' }, /another run/],
    ['another job', { jobId: 'workspace-job-2' }, /job workspace-job-2/],
    ['another plan', { planHash: 'b'.repeat(64) }, /not the plan awaiting approval/],
    ['signed long before the request', { at: '2025-12-31T10:00:00.000Z' }, /outside the approval window/],
    ['a destructive item not confirmed', { confirmHighImpact: [] }, /missing: delete-source:src_1/],
    ['a rejection used as an approval', { decision: 'reject' }, /decision to reject, not to approve/],
  ])('%s', (_name, change, problem) => {
    const result = statementProblem({ ...statement, ...change }, 'approve', expected);
    if (problem) expect(result).toMatch(problem);
    else expect(result).toBeUndefined();
  });
});
