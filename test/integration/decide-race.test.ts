/**
 * `decide` racing continue-as-new (issue 14): approvals sent while the runs of an approved import hand over (one
 * chunk per run, so a handover every few seconds) are neither lost nor applied twice. Every repeat of the approval
 * answers with the one decision already made (same approver, same time), nothing is recorded as refused, a late
 * rejection is refused without stopping the job, and every event is delivered exactly once.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { followJob, getJobStatus, startImport } from '../../src/client';
import { approvalRequestQuery, decideUpdate } from '../../src/contracts/approval';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { ndjsonEvents, waitFor } from '../support/wait';

let h: ImportHarness;

beforeAll(async () => {
  h = await startImportHarness();
});

afterAll(async () => {
  await h?.stop();
});

it('approvals sent while runs hand over are neither lost nor applied twice', async () => {
  const total = 1500;
  const file = h.writeInput('decide-race.ndjson', ndjsonEvents(total, 'decide-race'));
  const started = await startImport(h.sc, {
    file,
    requireApproval: true,
    targetChunkBytes: 5_000,
    chunksPerRun: 1,
    concurrency: 1,
    heartbeatTimeoutMs: 5000,
    rateLimit: { perSecond: 500, unit: 'events' },
  });
  const handle = h.sc.client.workflow.getHandle(started.jobId);
  await waitFor(async () => (await getJobStatus(h.sc, started.jobId)).state === 'awaiting_approval', 120_000, 'awaiting approval');
  const { planHash } = await handle.query(approvalRequestQuery);
  const approve = () => handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: planHash!, by: 'alice' }] });

  const first = await approve();
  expect(first).toMatchObject({ state: 'approved', planHash, by: 'alice' });
  const runsAtApproval = (await getJobStatus(h.sc, started.jobId)).runs as number;

  // Repeats keep arriving while runs continue-as-new, until several handovers have happened under them.
  const answers: Array<Awaited<ReturnType<typeof approve>>> = [];
  let rejectRefused = 0;
  let rounds = 0;
  while (rounds < 200) {
    rounds++;
    answers.push(...(await Promise.all([approve(), approve()])));
    await handle.signal('approve', { planHash: planHash!, by: 'alice' });
    if (rounds % 5 === 1) {
      // A rejection after the approval is refused (the validator: nothing awaits a decision) and changes nothing.
      // From the first round on: on a fast machine the runs may hand over four times before a fifth round.
      await expect(handle.executeUpdate(decideUpdate, { args: [{ decision: 'reject', by: 'mallory', reason: 'too late' }] })).rejects.toBeInstanceOf(
        WorkflowUpdateFailedError,
      );
      rejectRefused++;
    }
    const status = await getJobStatus(h.sc, started.jobId);
    if (status.state !== 'running' || (status.runs as number) >= runsAtApproval + 4) break;
  }
  expect((await getJobStatus(h.sc, started.jobId)).runs as number).toBeGreaterThanOrEqual(runsAtApproval + 1);
  expect(rejectRefused).toBeGreaterThan(0);
  // Not lost, not applied twice: every answer is the first decision, unchanged.
  for (const answer of answers) expect(answer).toEqual(first);

  const final = await followJob(h.sc, started.jobId, () => undefined, 200);
  expect(final.state).toBe('completed');
  expect(final.runs as number).toBeGreaterThan(runsAtApproval);
  expect(final.approval).toMatchObject({ by: 'alice', planHash });
  const view = await handle.query(approvalRequestQuery);
  expect(view.state).toBe('approved');
  expect(view.decision).toMatchObject({ outcome: 'approved', by: 'alice', planHash, at: first.at });
  expect(view.refusedAttempts).toEqual([]);
  expect(h.double.uniqueMessageIds().size).toBe(total);
  expect(h.double.duplicateCount()).toBe(0);
}, 300_000);
