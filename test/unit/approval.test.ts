import { describe, expect, it } from 'vitest';
import type { ApprovalRequest } from '../../src/contracts/approval';
import { approvalProblem, rejectionProblem, repeatedApproval } from '../../src/workflows/approval';

const HASH = 'a'.repeat(64);
const request: ApprovalRequest = {
  planHash: HASH,
  summary: '1 destructive',
  highImpact: ['delete-source:src_1', 'remove-write-key:src_2:0123456789ab'],
};
const both = [...request.highImpact];

describe('approvalProblem', () => {
  it.each<[string, Parameters<typeof approvalProblem>[1], string | undefined]>([
    ['a complete approval', { planHash: HASH, by: 'alice', confirmHighImpact: both }, undefined],
    ['confirmations in any order', { planHash: HASH, by: 'alice', confirmHighImpact: [...both].reverse() }, undefined],
    ['no approver', { planHash: HASH, by: ' ', confirmHighImpact: both }, 'an approval must say who approves ("by")'],
    ['no hash', { by: 'alice', confirmHighImpact: both }, 'an approval must carry the plan hash ("planHash")'],
    [
      'another plan',
      { planHash: 'b'.repeat(64), by: 'alice', confirmHighImpact: both },
      `plan hash bbbbbbbbbbbb is not the plan awaiting approval (aaaaaaaaaaaa…); read the current plan again and approve that one`,
    ],
    [
      'a reflex approval without confirmations',
      { planHash: HASH, by: 'alice' },
      `destructive items must be confirmed by id (confirmHighImpact); missing: ${both.join(', ')}`,
    ],
    [
      'one confirmation missing',
      { planHash: HASH, by: 'alice', confirmHighImpact: ['delete-source:src_1'] },
      'destructive items must be confirmed by id (confirmHighImpact); missing: remove-write-key:src_2:0123456789ab',
    ],
    [
      'an id from another plan',
      { planHash: HASH, by: 'alice', confirmHighImpact: [...both, 'delete-source:src_9'] },
      'confirmHighImpact names ids that are not high-impact items of this plan: delete-source:src_9',
    ],
    [
      'confirmations that are not strings',
      { planHash: HASH, by: 'alice', confirmHighImpact: [1, 2] as unknown as string[] },
      `destructive items must be confirmed by id (confirmHighImpact); missing: ${both.join(', ')}`,
    ],
  ])('%s', (_name, input, expected) => {
    expect(approvalProblem(request, input)).toBe(expected);
  });

  it('a plan without destructive items needs no confirmation', () => {
    expect(approvalProblem({ ...request, highImpact: [] }, { planHash: HASH, by: 'alice' })).toBeUndefined();
  });
});

describe('rejectionProblem', () => {
  it.each<[Parameters<typeof rejectionProblem>[0], string | undefined]>([
    [{ by: 'bob', reason: 'not now' }, undefined],
    [{ by: 'bob', reason: '' }, 'a rejection must give a reason ("reason")'],
    [{ reason: 'x' }, 'a rejection must say who rejects ("by")'],
  ])('%j', (input, expected) => {
    expect(rejectionProblem(input)).toBe(expected);
  });
});

describe('repeatedApproval: a quorum counts keys, not names', () => {
  const alice = { approver: 'alice', publicKey: 'MCowBQYDK2VwAyEAalice', fingerprint: 'aaaaaaaaaaaa' };
  it('a quorum of 2 is not met by one key under two names', () => {
    expect(repeatedApproval([alice], { ...alice, approver: 'alice.ops' }, 2)).toBe(
      'the key of alice.ops (aaaaaaaaaaaa) has already approved this plan as alice; the quorum needs 2 different keys',
    );
  });
  it('the same name again is refused; another name with another key counts', () => {
    expect(repeatedApproval([alice], alice, 2)).toBe('alice has already approved this plan; the quorum needs 2 different approvers');
    expect(repeatedApproval([alice], { approver: 'bob', publicKey: 'MCowBQYDK2VwAyEAbob', fingerprint: 'bbbbbbbbbbbb' }, 2)).toBeUndefined();
  });
});
