/**
 * Edges of the approval code that mutation testing found unchecked (docs/mutation-testing.md): how SEGFLOW_APPROVERS
 * and the quorum variables are read (src/core/approvers.ts), what the worker's check answers
 * (src/activities/approval-activities.ts), and the gate's pure checks (src/workflows/approval.ts).
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ApprovalRequest, ApprovalStatement } from '../../src/contracts/approval';
import { createApprovalActivities } from '../../src/activities/approval-activities';
import {
  approversFromEnv,
  generateApproverKeys,
  loadPrivateKey,
  parseApprovers,
  quorumFromEnv,
  signStatement,
  verifyStatement,
} from '../../src/core/approvers';
import { approvalProblem, statementProblem } from '../../src/workflows/approval';

const alice = generateApproverKeys();
const bob = generateApproverKeys();
const ecKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const ecPublicKey = ecKeys.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

describe('parseApprovers', () => {
  it('reads spaced lines, blank lines, comments, one-character names and the JSON form alike', () => {
    const fromLines = parseApprovers(`\n  # the team\n a :  ${alice.publicKey}  \n\n bob:${bob.publicKey}\n`);
    expect(fromLines.map((approver) => [approver.name, approver.publicKey])).toEqual([
      ['a', alice.publicKey],
      ['bob', bob.publicKey],
    ]);
    expect(parseApprovers(`a: ${alice.publicKey}`)[0]!.name).toBe('a');
    const fromJson = parseApprovers(`\n ${JSON.stringify({ a: ` ${alice.publicKey} `, bob: bob.publicKey })}`);
    expect(fromJson.map((approver) => approver.fingerprint)).toEqual(fromLines.map((approver) => approver.fingerprint));
  });

  it('reads a key written as PEM', () => {
    const pem = `-----BEGIN PUBLIC KEY-----\n${alice.publicKey}\n-----END PUBLIC KEY-----`;
    expect(parseApprovers(JSON.stringify({ alice: pem }))[0]!.publicKey).toBe(alice.publicKey);
  });

  // Titles name the case, never the keys: a key is new on every run, and Stryker finds tests by their titles.
  it.each<[string, string, string]>([
    ['cut-off JSON', '{"alice": ', 'SEGFLOW_APPROVERS is not valid JSON'],
    ['a JSON key that is not a string', '{"alice": 5}', 'SEGFLOW_APPROVERS: the key of "alice" must be a string'],
    ['a line without a colon', `alice: ${alice.publicKey}\nbob ${bob.publicKey}`, 'SEGFLOW_APPROVERS line 2: write "name: <public key>"'],
    ['a line without a name', `: ${alice.publicKey}`, 'SEGFLOW_APPROVERS line 1: write "name: <public key>"'],
    ['an EC key', `ec: ${ecPublicKey}`, 'SEGFLOW_APPROVERS: the key of "ec" is ec, not Ed25519'],
  ])('refuses %s', (_case, text, message) => {
    expect(() => parseApprovers(text)).toThrow(message);
  });

  it('quotes at most 64 characters of a bad name', () => {
    const name = `${'n'.repeat(64)}!${'m'.repeat(100)}`;
    expect(() => parseApprovers(`${name}: ${alice.publicKey}`)).toThrow(`SEGFLOW_APPROVERS: "${name.slice(0, 64)}" is not a valid approver name`);
    expect(() => parseApprovers(JSON.stringify({ [name]: alice.publicKey }))).toThrow(`"${name.slice(0, 64)}" is not`);
  });
});

describe('approversFromEnv and quorumFromEnv', () => {
  it('read blank values as unset', () => {
    expect(approversFromEnv({ SEGFLOW_APPROVERS: '   ' })).toEqual([]);
    expect(quorumFromEnv({ SEGFLOW_APPROVAL_QUORUM: ' ', SEGFLOW_APPROVAL_QUORUM_HIGH: '' })).toEqual({ high: 1, normal: 1 });
  });

  it('take quorums from 1 to 10 and name the variable of any other', () => {
    expect(quorumFromEnv({ SEGFLOW_APPROVAL_QUORUM: '1', SEGFLOW_APPROVAL_QUORUM_HIGH: '10' })).toEqual({ high: 10, normal: 1 });
    expect(() => quorumFromEnv({ SEGFLOW_APPROVAL_QUORUM: '0' })).toThrow('SEGFLOW_APPROVAL_QUORUM must be a whole number from 1 to 10, got "0"');
    expect(() => quorumFromEnv({ SEGFLOW_APPROVAL_QUORUM_HIGH: '11' })).toThrow(
      'SEGFLOW_APPROVAL_QUORUM_HIGH must be a whole number from 1 to 10, got "11"',
    );
  });
});

describe('loadPrivateKey', () => {
  it('names the file of something that is not a private key, or not an Ed25519 one', () => {
    expect(() => loadPrivateKey('not a key', 'alice.pem')).toThrow('alice.pem is not a private key (make one with `segflow approver keygen`)');
    const ecPem = ecKeys.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    expect(() => loadPrivateKey(ecPem, 'ec.pem')).toThrow('ec.pem is a ec key, not Ed25519');
  });
});

describe('verifyStatement with malformed statements', () => {
  const approvers = parseApprovers(`alice: ${alice.publicKey}`);
  const statement: ApprovalStatement = {
    v: 1,
    jobId: 'j',
    runId: 'r',
    planHash: 'h',
    decision: 'approve',
    confirmHighImpact: [],
    at: '2026-01-01T00:00:00.000Z',
    approver: 'alice',
  };
  const { signature } = signStatement(statement, loadPrivateKey(alice.privateKeyPem, 'alice.pem'));

  it('refuses, without throwing, a missing statement, a non-string approver and one JSON cannot encode', () => {
    expect(verifyStatement(undefined as unknown as ApprovalStatement, signature, approvers)).toEqual({
      ok: false,
      reason: '"" is not a configured approver',
    });
    expect(verifyStatement({ ...statement, approver: 5 as unknown as string }, signature, approvers)).toMatchObject({ ok: false });
    expect(verifyStatement({ ...statement, comment: 1n as unknown as string }, signature, approvers)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('does not verify against the key of alice'),
    });
  });

  it('quotes at most 64 characters of an unknown approver', () => {
    const name = 'x'.repeat(100);
    expect(verifyStatement({ ...statement, approver: name }, signature, approvers)).toEqual({
      ok: false,
      reason: `"${'x'.repeat(64)}" is not a configured approver`,
    });
  });
});

describe('the worker check (verifyApproval)', () => {
  it('without approvers, says so; with them, wants a signature; with a broken list, fails for good', async () => {
    expect(await createApprovalActivities({ env: {} }).verifyApproval({})).toEqual({ configured: false });
    expect(await createApprovalActivities({ env: { SEGFLOW_APPROVERS: `alice: ${alice.publicKey}` } }).verifyApproval({})).toEqual({
      configured: true,
      quorum: { high: 1, normal: 1 },
      ok: false,
      reason: 'approvers are configured: the decision must be signed (segflow approve --key <your key>.pem)',
    });
    await expect(createApprovalActivities({ env: { SEGFLOW_APPROVERS: '{"alice": ' } }).verifyApproval({})).rejects.toMatchObject({
      type: 'ApproversConfigError',
      nonRetryable: true,
      message: 'SEGFLOW_APPROVERS is not valid JSON',
    });
  });
});

describe("the gate's pure checks", () => {
  const HASH = 'a'.repeat(64);
  const request: ApprovalRequest = { planHash: HASH, summary: '1 destructive', highImpact: ['delete-source:src_1'] };
  const expected = { jobId: 'job-1', runId: 'run-1', request, requestedAt: '2026-01-01T00:00:00.000Z', now: '2026-01-01T00:10:00.000Z' };
  const statement: ApprovalStatement = {
    v: 1,
    jobId: 'job-1',
    runId: 'run-1',
    planHash: HASH,
    decision: 'approve',
    confirmHighImpact: ['delete-source:src_1'],
    at: '2026-01-01T00:05:00.000Z',
    approver: 'alice',
  };

  it('ignores confirmations that are not strings beside the right ones, and lists every unknown id', () => {
    const confirmHighImpact = ['delete-source:src_1', 5] as unknown as string[];
    expect(approvalProblem(request, { planHash: HASH, by: 'alice', confirmHighImpact })).toBeUndefined();
    expect(approvalProblem(request, { planHash: HASH, by: 'alice', confirmHighImpact: ['delete-source:src_1', 'x', 'y'] })).toBe(
      'confirmHighImpact names ids that are not high-impact items of this plan: x, y',
    );
  });

  it('words each problem of a statement', () => {
    expect(statementProblem(undefined, 'approve', expected)).toBe('the signed statement is missing');
    expect(statementProblem('signed' as unknown as ApprovalStatement, 'approve', expected)).toBe('the signed statement is missing');
    expect(statementProblem({ ...statement, v: 2 as unknown as 1 }, 'approve', expected)).toBe('the signed statement has an unknown version');
    expect(statementProblem({ ...statement, at: 'soon' }, 'approve', expected)).toBe('the signed statement has no valid time ("at")');
    expect(statementProblem({ ...statement, jobId: 'j'.repeat(300) }, 'approve', expected)).toBe(
      `the signature is for job ${'j'.repeat(100)}, not this one`,
    );
  });
});
