/**
 * A signed approval binds every field of its statement (src/contracts/approval.ts ApprovalStatement,
 * src/core/approvers.ts statementBytes), and the gate (src/workflows/approval.ts) takes a statement only for this
 * job, run and whole plan hash, signed inside the approval window give or take five minutes of clock skew.
 */
import { describe, expect, it } from 'vitest';
import type { ApprovalRequest, ApprovalStatement } from '../../src/contracts/approval';
import { createApprovalActivities } from '../../src/activities/approval-activities';
import { generateApproverKeys, loadPrivateKey, parseApprovers, signStatement, verifyStatement } from '../../src/core/approvers';
import { approvalProblem, statementProblem } from '../../src/workflows/approval';

const alice = generateApproverKeys();
const bob = generateApproverKeys();
const approversText = `alice: ${alice.publicKey}\nbob: ${bob.publicKey}`;
const approvers = parseApprovers(approversText);
const aliceKey = loadPrivateKey(alice.privateKeyPem, 'alice.pem');

const HASH = '0123456789ab'.padEnd(64, 'c');
const approval: ApprovalStatement = {
  v: 1,
  jobId: 'job-1',
  runId: 'run-1',
  planHash: HASH,
  decision: 'approve',
  confirmHighImpact: ['delete-source:src_1', 'remove-write-key:src_2:0123456789ab'],
  comment: 'looks right',
  at: '2026-03-01T12:00:00.000Z',
  approver: 'alice',
};
const rejection: ApprovalStatement = {
  v: 1,
  jobId: 'job-1',
  runId: 'run-1',
  planHash: HASH,
  decision: 'reject',
  confirmHighImpact: [],
  reason: 'wrong source',
  at: '2026-03-01T12:00:00.000Z',
  approver: 'alice',
};

/** One change of each field (and the optional fields added or dropped), each applied alone. */
const TAMPERINGS: Array<[string, (s: ApprovalStatement) => ApprovalStatement]> = [
  ['v', (s) => ({ ...s, v: 2 as unknown as 1 })],
  ['jobId', (s) => ({ ...s, jobId: 'job-2' })],
  ['runId', (s) => ({ ...s, runId: 'run-2' })],
  ['planHash, last character', (s) => ({ ...s, planHash: `${s.planHash.slice(0, 63)}d` })],
  ['planHash, first character', (s) => ({ ...s, planHash: `d${s.planHash.slice(1)}` })],
  ['decision', (s) => ({ ...s, decision: s.decision === 'approve' ? 'reject' : 'approve' })],
  [
    'confirmHighImpact, one id dropped (an empty list: made a list of one)',
    (s) => ({ ...s, confirmHighImpact: s.confirmHighImpact.length > 0 ? s.confirmHighImpact.slice(1) : ['delete-source:src_1'] }),
  ],
  ['confirmHighImpact, one id added', (s) => ({ ...s, confirmHighImpact: [...s.confirmHighImpact, 'delete-source:src_9'] })],
  ['comment changed', (s) => ({ ...s, comment: `${s.comment ?? ''}!` })],
  ['comment dropped or added', (s) => (s.comment === undefined ? { ...s, comment: 'x' } : { ...s, comment: undefined })],
  ['reason changed', (s) => ({ ...s, reason: `${s.reason ?? ''}!` })],
  ['reason dropped or added', (s) => (s.reason === undefined ? { ...s, reason: 'x' } : { ...s, reason: undefined })],
  ['at, one millisecond later', (s) => ({ ...s, at: new Date(Date.parse(s.at) + 1).toISOString() })],
  ['at, a day earlier', (s) => ({ ...s, at: new Date(Date.parse(s.at) - 86_400_000).toISOString() })],
  ['approver', (s) => ({ ...s, approver: 'bob' })],
];

describe('a signature binds every field of the statement', () => {
  for (const statement of [approval, rejection]) {
    const { signature } = signStatement(statement, aliceKey);

    it(`the untouched ${statement.decision} statement verifies`, () => {
      expect(verifyStatement(statement, signature, approvers)).toMatchObject({ ok: true, approver: 'alice', fingerprint: alice.fingerprint });
    });

    it.each(TAMPERINGS)(`${statement.decision}: changing %s breaks the signature`, (_field, tamper) => {
      const tampered = tamper(statement);
      expect(tampered).not.toEqual(statement);
      expect(verifyStatement(tampered, signature, approvers).ok).toBe(false);
    });
  }

  it('so does changing the signature: a flipped bit, another key, nothing', () => {
    const { signature } = signStatement(approval, aliceKey);
    const bytes = Buffer.from(signature, 'base64');
    bytes[10]! ^= 0x01;
    const bobs = signStatement(approval, loadPrivateKey(bob.privateKeyPem, 'bob.pem')).signature;
    for (const forged of [bytes.toString('base64'), bobs, '']) expect(verifyStatement(approval, forged, approvers).ok).toBe(false);
  });

  it('the worker activity refuses a statement whose at was changed after signing, and accepts the original', async () => {
    const { verifyApproval } = createApprovalActivities({ env: { SEGFLOW_APPROVERS: approversText } });
    const { signature } = signStatement(approval, aliceKey);
    expect(await verifyApproval({ signed: { statement: approval, signature } })).toMatchObject({ configured: true, ok: true, approver: 'alice' });
    const later = { ...approval, at: '2026-03-01T12:04:00.000Z' };
    expect(await verifyApproval({ signed: { statement: later, signature } })).toMatchObject({ configured: true, ok: false });
  });
});

describe('the gate takes a statement for this job, run, whole plan hash and time only', () => {
  const request: ApprovalRequest = { planHash: HASH, summary: '2 destructive', highImpact: [...approval.confirmHighImpact] };
  const requestedAt = '2026-03-01T11:00:00.000Z';
  const now = '2026-03-01T12:00:00.000Z';
  const expected = { jobId: 'job-1', runId: 'run-1', request, requestedAt, now };
  /** A plan hash that shares the first 12 characters (what messages show) and differs after them. */
  const lookalike = `${HASH.slice(0, 12)}${'d'.repeat(52)}`;

  it('fits when everything matches', () => {
    expect(statementProblem(approval, 'approve', expected)).toBeUndefined();
    expect(statementProblem(rejection, 'reject', expected)).toBeUndefined();
  });

  it.each<[string, Partial<ApprovalStatement>]>([
    ['another version', { v: 2 as unknown as 1 }],
    ['another decision', { decision: 'reject' }],
    ['another job', { jobId: 'job-2' }],
    ['another run', { runId: 'run-2' }],
    ['a plan hash that differs only after its 12th character', { planHash: lookalike }],
    ['no time', { at: 'yesterday' }],
  ])('refuses %s, in an approval and in a rejection', (_name, change) => {
    expect(statementProblem({ ...approval, ...change }, 'approve', expected)).toEqual(expect.any(String));
    const forRejection = change.decision === 'reject' ? { decision: 'approve' as const } : change;
    expect(statementProblem({ ...rejection, ...forRejection }, 'reject', expected)).toEqual(expect.any(String));
  });

  it('an approval naming a plan hash that differs only after its 12th character is refused', () => {
    expect(approvalProblem(request, { planHash: lookalike, by: 'alice', confirmHighImpact: request.highImpact })).toEqual(expect.any(String));
    expect(approvalProblem(request, { planHash: HASH, by: 'alice', confirmHighImpact: request.highImpact })).toBeUndefined();
  });

  it.each([
    ['5 minutes before the request', '2026-03-01T10:55:00.000Z', true],
    ['5 minutes and 1 ms before the request', '2026-03-01T10:54:59.999Z', false],
    ['5 minutes after now', '2026-03-01T12:05:00.000Z', true],
    ['5 minutes and 1 ms after now (dated in the future)', '2026-03-01T12:05:00.001Z', false],
    ['a day after now', '2026-03-02T12:00:00.000Z', false],
  ])('a statement signed %s (at %s) is accepted: %s', (_when, at, accepted) => {
    const problem = statementProblem({ ...approval, at }, 'approve', expected);
    if (accepted) expect(problem).toBeUndefined();
    else expect(problem).toMatch(/outside the approval window/);
  });
});
