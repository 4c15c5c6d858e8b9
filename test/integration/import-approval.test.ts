/**
 * `import --require-approval`: validate and plan first, show the totals, send nothing until a human approves the
 * exact plan (by hash); reject or silence ends the job with nothing sent.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { readFileSync, utimesSync, statSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followJob, getJobStatus, startImport } from '../../src/client';
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

async function startGated(name: string, approvalTimeoutMs = 60_000) {
  const content = ndjsonEvents(500, name) + JSON.stringify({ type: 'track', userId: 'x', timestamp: '2020-01-01T00:00:00Z' }) + '\n';
  const file = h.writeInput(`${name}.ndjson`, content);
  const started = await startImport(h.sc, { file, requireApproval: true, approvalTimeoutMs, targetChunkBytes: 20_000 });
  await waitFor(async () => (await getJobStatus(h.sc, started.jobId)).state === 'awaiting_approval', 30_000, 'awaiting approval');
  return { started, handle: h.sc.client.workflow.getHandle(started.jobId) };
}

describe('import --require-approval', () => {
  it('shows the validated totals, refuses a wrong hash, and sends only after the right approval', async () => {
    h.double.reset();
    const { started, handle } = await startGated('gated');
    const waiting = await getJobStatus(h.sc, started.jobId);
    expect(waiting.rows).toMatchObject({ read: 501, rejected: 1 });
    expect(waiting.events).toMatchObject({ sent: 0, wouldSend: 500 });
    expect(h.double.stats().requests).toBe(0);

    const request = await handle.query(approvalRequestQuery);
    expect(request.state).toBe('awaiting');
    expect(request.summary).toMatch(/send 500 events to source default/);
    expect(request.details).toMatch(/track 500/);

    await expect(handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: 'f'.repeat(64), by: 'mallory' }] })).rejects.toThrow(
      WorkflowUpdateFailedError,
    );
    expect((await handle.query(approvalRequestQuery)).refusedAttempts).toHaveLength(1);
    expect(h.double.stats().requests).toBe(0);

    await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: request.planHash!, by: 'alice', comment: 'looks right' }] });
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('completed');
    expect(final.events).toMatchObject({ sent: 500 });
    expect(final.rows).toMatchObject({ read: 501, rejected: 1 });
    expect(final.approval).toMatchObject({ by: 'alice', planHash: request.planHash });
    expect(h.double.uniqueMessageIds().size).toBe(500);
  });

  it('an approval of one run never approves another run of the same job with the same file', async () => {
    h.double.reset();
    const file = h.writeInput('rerun.ndjson', ndjsonEvents(50, 'rerun'));
    const first = await startImport(h.sc, { file, requireApproval: true, approvalTimeoutMs: 60_000, jobId: 'import-rerun-approval' });
    await waitFor(async () => (await getJobStatus(h.sc, first.jobId)).state === 'awaiting_approval', 30_000, 'awaiting approval');
    const handle = h.sc.client.workflow.getHandle(first.jobId);
    const old = await handle.query(approvalRequestQuery);
    await handle.signal(rejectSignal, { by: 'bob', reason: 'later' });
    await followJob(h.sc, first.jobId, () => undefined, 200);

    // The CLI refuses to reuse a job id; a client (or a reset) can still start the same workflow id again.
    const second = { jobId: first.jobId };
    await h.sc.client.workflow.start('importJob', {
      taskQueue: h.sc.settings.taskQueue,
      workflowId: first.jobId,
      args: [{ jobId: first.jobId, options: first.options }],
    });
    await waitFor(async () => (await getJobStatus(h.sc, second.jobId)).state === 'awaiting_approval', 30_000, 'awaiting approval again');
    const fresh = await h.sc.client.workflow.getHandle(second.jobId).query(approvalRequestQuery);
    expect(fresh.planHash).not.toBe(old.planHash);
    await expect(
      h.sc.client.workflow
        .getHandle(second.jobId)
        .executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: old.planHash!, by: 'alice' }] }),
    ).rejects.toThrow(WorkflowUpdateFailedError);
    await h.sc.client.workflow.getHandle(second.jobId).signal(rejectSignal, { by: 'bob', reason: 'done' });
    expect((await followJob(h.sc, second.jobId, () => undefined, 200)).state).toBe('rejected');
    expect(h.double.stats().requests).toBe(0);
  });

  it('ends as rejected with nothing sent', async () => {
    h.double.reset();
    const { started, handle } = await startGated('rejected');
    await handle.signal(rejectSignal, { by: 'bob', reason: 'wrong source' });
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('rejected');
    expect(String(final.error)).toMatch(/bob: wrong source/);
    expect(h.double.stats().requests).toBe(0);
  });

  it('expires with nothing sent when nobody answers in time', async () => {
    h.double.reset();
    const { started } = await startGated('expiring', 2_000);
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('expired');
    expect(h.double.stats().requests).toBe(0);
  });

  it('sends exactly what was validated: a chunk edited in place after validation (same size, same mtime) fails the job naming its lines', async () => {
    h.double.reset();
    const file = h.writeInput('edited.ndjson', ndjsonEvents(600, 'edited'));
    const started = await startImport(h.sc, { file, requireApproval: true, approvalTimeoutMs: 60_000, targetChunkBytes: 20_000, concurrency: 1 });
    await waitFor(async () => (await getJobStatus(h.sc, started.jobId)).state === 'awaiting_approval', 30_000, 'awaiting approval');
    const handle = h.sc.client.workflow.getHandle(started.jobId);
    const request = await handle.query(approvalRequestQuery);

    // Rewrite one user id near the end with another of the same length, keeping the file's size and mtime.
    const before = statSync(file);
    const text = readFileSync(file, 'utf8');
    const edited = text.replace('"edited-590"', '"evil!!-590"');
    expect(edited.length).toBe(text.length);
    writeFileSync(file, edited);
    utimesSync(file, before.atime, before.mtime);

    await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: request.planHash!, by: 'alice' }] });
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('failed');
    expect(String(final.error)).toMatch(/lines \d+.\d+.*changed since (it was|they were) validated/);
    const sentIds = [...h.double.uniqueMessageIds()];
    expect(h.double.messages.some((m) => m.message.userId === 'evil!!-590')).toBe(false);
    expect(sentIds.length).toBeLessThan(600);
  });
});
