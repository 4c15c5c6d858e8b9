/**
 * Determinism: the histories of real runs replay against the current workflow bundle without a
 * non-determinism error (Temporal would otherwise wedge running jobs after a deploy).
 */
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { followJob, getJobStatus, startImport } from '../../src/client';
import { approvalRequestQuery, decideUpdate } from '../../src/workflows/approval';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { ndjsonEvents, waitFor } from '../support/wait';

let h: ImportHarness;

beforeAll(async () => {
  h = await startImportHarness();
});

afterAll(async () => {
  await h?.stop();
});

it('replays an import that paused, waited for approval and continued as new', async () => {
  const file = h.writeInput('replay.ndjson', ndjsonEvents(1500, 'replay') + '{"type":"track"}\n');
  const started = await startImport(h.sc, { file, requireApproval: true, targetChunkBytes: 10_000, chunksPerRun: 4, concurrency: 2 });
  const handle = h.sc.client.workflow.getHandle(started.jobId);
  await waitFor(async () => (await getJobStatus(h.sc, started.jobId)).state === 'awaiting_approval');
  const { planHash } = await handle.query(approvalRequestQuery);
  await handle.signal('pause', {});
  await handle.executeUpdate(decideUpdate, { args: [{ decision: 'approve', planHash: planHash!, by: 'replay-test' }] });
  await waitFor(async () => (await getJobStatus(h.sc, started.jobId)).state === 'paused');
  await handle.signal('resume', {});
  const final = await followJob(h.sc, started.jobId, () => undefined, 200);
  expect(final.state).toBe('completed');
  expect(final.runs as number).toBeGreaterThan(1);

  // Every run of the chain, oldest first.
  const runs: string[] = [];
  for await (const info of h.sc.client.workflow.list({ query: `WorkflowId = '${started.jobId}'` })) runs.push(info.runId);
  expect(runs.length).toBe(final.runs);
  for (const runId of runs) {
    const history = await h.sc.client.workflow.getHandle(started.jobId, runId).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: { codePath: inject('workflowBundlePath') } }, history, started.jobId);
  }
});
