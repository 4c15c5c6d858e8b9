/**
 * States that stay true (issue 14): an approval survives continue-as-new and repeating it is a no-op; a rejected
 * import may simply run again; a terminated job is listed as terminated; a job cancelled while it awaits approval
 * sent nothing and keeps its report; pause/resume racing continue-as-new loses nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followJob, getJobStatus, listJobs, startImport, type ImportRequest } from '../../src/client';
import { approvalRequestQuery, decideUpdate, rejectSignal } from '../../src/contracts/approval';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { ndjsonEvents, waitFor } from '../support/wait';

let h: ImportHarness;

beforeAll(async () => {
  h = await startImportHarness();
});

afterAll(async () => {
  await h?.stop();
});

async function awaitingApproval(name: string, extra: Partial<ImportRequest> = {}) {
  const file = h.writeInput(`${name}.ndjson`, ndjsonEvents(1500, name));
  const started = await startImport(h.sc, { file, requireApproval: true, targetChunkBytes: 10_000, heartbeatTimeoutMs: 5000, ...extra });
  await waitFor(async () => (await getJobStatus(h.sc, started.jobId)).state === 'awaiting_approval', 60_000, 'awaiting approval');
  return { file, started, handle: h.sc.client.workflow.getHandle(started.jobId) };
}

describe('approval across continue-as-new', () => {
  it('still shows the approval in a later run, and a repeated identical approval succeeds without changing it', async () => {
    h.double.reset();
    const { started, handle } = await awaitingApproval('carried', { chunksPerRun: 2, concurrency: 1, rateLimit: { perSecond: 500, unit: 'events' } });
    const { planHash } = await handle.query(approvalRequestQuery);
    await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: planHash!, by: 'alice' }] });
    const runsAtApproval = (await getJobStatus(h.sc, started.jobId)).runs as number;
    await waitFor(
      async () => ((await getJobStatus(h.sc, started.jobId)).runs as number) > runsAtApproval,
      60_000,
      'a continue-as-new after approval',
    );

    // Before: the new run's gate said "none", and the same approval again was refused ("nothing is awaiting approval").
    const view = await handle.query(approvalRequestQuery);
    expect(view.state).toBe('approved');
    expect(view.decision).toMatchObject({ outcome: 'approved', by: 'alice', planHash });
    const again = await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: planHash!, by: 'alice' }] });
    expect(again).toMatchObject({ state: 'approved', planHash });
    await handle.signal('approve', { planHash: planHash!, by: 'alice' });
    expect((await handle.query(approvalRequestQuery)).refusedAttempts).toEqual([]);

    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('completed');
    expect(final.approval).toMatchObject({ by: 'alice', planHash });
    expect(h.double.uniqueMessageIds().size).toBe(1500);
  });
});

describe('states everywhere', () => {
  it('lets a rejected import run again without --force', async () => {
    h.double.reset();
    const { file, started, handle } = await awaitingApproval('rejected-rerun');
    await handle.signal(rejectSignal, { by: 'bob', reason: 'not today' });
    expect((await followJob(h.sc, started.jobId, () => undefined, 200)).state).toBe('rejected');
    // Before: "This file was already imported" although nothing was sent.
    const again = await startImport(h.sc, { file, targetChunkBytes: 10_000 });
    expect(again.jobId).toBe(started.jobId);
    expect((await followJob(h.sc, again.jobId, () => undefined, 200)).state).toBe('completed');
    expect(h.double.uniqueMessageIds().size).toBe(1500);
  });

  it('lists a terminated job as terminated, not running', async () => {
    const { started, handle } = await awaitingApproval('terminated');
    await handle.terminate('operator stopped it');
    // Listing reads Temporal's visibility store, which catches up with a close a moment later on a busy server.
    const listed = async () => (await listJobs(h.sc, { kind: 'import', limit: 50 })).find((j) => j.jobId === started.jobId)?.state;
    await waitFor(async () => (await listed()) !== 'awaiting_approval', 10_000, 'the listing to see the close');
    expect(await listed()).toBe('terminated');
    expect((await getJobStatus(h.sc, started.jobId)).state).toBe('terminated');
    const terminated = await listJobs(h.sc, { state: 'terminated', limit: 50 });
    expect(terminated.map((j) => j.jobId)).toContain(started.jobId);
  });

  it('cancels during the approval wait: cancelled, nothing sent, report written', async () => {
    h.double.reset();
    const { started, handle } = await awaitingApproval('cancel-waiting');
    await handle.cancel();
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('cancelled');
    expect(final.rejectReport).toBeDefined();
    expect(h.double.stats().requests).toBe(0);
  });
});

describe('signals racing continue-as-new', () => {
  it('pause and resume sent while runs hand over lose no event and end resumed', async () => {
    h.double.reset();
    const file = h.writeInput('racing.ndjson', ndjsonEvents(1500, 'race'));
    const started = await startImport(h.sc, { file, targetChunkBytes: 5_000, chunksPerRun: 1, concurrency: 1, heartbeatTimeoutMs: 5000 });
    const handle = h.sc.client.workflow.getHandle(started.jobId);
    for (let i = 0; i < 20; i++) {
      await handle.signal(i % 2 === 0 ? 'pause' : 'resume', {});
      await new Promise((r) => setTimeout(r, 50));
    }
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('completed');
    expect(final.runs as number).toBeGreaterThan(3);
    expect(h.double.uniqueMessageIds().size).toBe(1500);
  });
});
