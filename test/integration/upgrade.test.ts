/**
 * Upgrading the worker in the middle of an import (docs/upgrades.md): an import starts on release 1 (the
 * current workflows), its worker is stopped mid-run and replaced by release 2 (the current workflows plus a
 * change behind patched(), test/support/upgrade/), and the job finishes on release 2 with exact counts. The same
 * change without patched() fails the replay of the interrupted run: the check an upgrade must pass.
 */
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { followJob, startImport } from '../../src/client';
import { quietBundlerLogger } from '../../src/dev/dev-server';
import { createWorker } from '../../src/worker';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { ndjsonEvents, waitFor } from '../support/wait';

const PATCH_ID = 'recheck-input-each-run';
let h: ImportHarness;
let releaseTwo: string;
let releaseTwoUnpatched: string;
const cleanups: Array<() => Promise<void>> = [];
let releaseOneStopped = false;

beforeAll(async () => {
  h = await startImportHarness(); // its worker runs release 1: the workflow bundle of the current sources
  const bundle = async (file: string) =>
    (await bundleWorkflowCode({ workflowsPath: join(__dirname, '../support/upgrade', file), logger: quietBundlerLogger })).code;
  releaseTwo = await bundle('workflows-v2-patched.ts');
  releaseTwoUnpatched = await bundle('workflows-v2-unpatched.ts');
}, 240_000);

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  if (!releaseOneStopped) await h?.worker.stop();
  await h?.double.stop();
});

async function runsOf(jobId: string): Promise<Array<{ runId: string; events: string[] }>> {
  const runs: string[] = [];
  for await (const info of h.sc.client.workflow.list({ query: `WorkflowId = '${jobId}'` })) runs.push(info.runId);
  runs.reverse(); // oldest first
  const out = [];
  for (const runId of runs) {
    const history = await h.sc.client.workflow.getHandle(jobId, runId).fetchHistory();
    // patched() records a marker whose details hold the patch id (a base64 JSON payload).
    const markers = (history.events ?? []).filter((e) => e.markerRecordedEventAttributes);
    const patchIds = markers
      .flatMap((e) => Object.values(e.markerRecordedEventAttributes!.details ?? {}).flatMap((p) => p.payloads ?? []))
      .map((p) => Buffer.from(p.data ?? new Uint8Array()).toString('utf8'));
    out.push({ runId, events: patchIds.some((id) => id.includes(PATCH_ID)) ? ['patched'] : [] });
  }
  return out;
}

it('an import started on release 1 finishes on release 2 with exact counts', async () => {
  const total = 9000;
  const file = h.writeInput('upgrade.ndjson', ndjsonEvents(total, 'upgrade'));
  const started = await startImport(h.sc, {
    file,
    concurrency: 2,
    targetChunkBytes: 100_000,
    maxEventsPerBatch: 100,
    chunksPerRun: 3,
    heartbeatTimeoutMs: 5000,
    // Slow enough that the upgrade lands in the middle of a run.
    rateLimit: { perSecond: 1500, unit: 'events' },
  });
  await waitFor(() => h.double.uniqueMessageIds().size > 1500, 90_000, 'release 1 delivering');
  await h.worker.stop();
  releaseOneStopped = true;
  const deliveredAtUpgrade = h.double.uniqueMessageIds().size;
  expect(deliveredAtUpgrade).toBeLessThan(total);

  // The run in progress, as release 1 left it, must replay on release 2; without patched() it would not.
  const handle = h.sc.client.workflow.getHandle(started.jobId);
  const interrupted = await handle.describe();
  expect(interrupted.status.name).toBe('RUNNING');
  const history = await handle.fetchHistory();
  await Worker.runReplayHistory({ workflowBundle: { code: releaseTwo } }, history, started.jobId);
  await expect(Worker.runReplayHistory({ workflowBundle: { code: releaseTwoUnpatched } }, history, started.jobId)).rejects.toBeInstanceOf(
    DeterminismViolationError,
  );

  // The upgrade: release 2 takes over the task queue.
  const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const worker = await createWorker({
    connection,
    namespace: 'default',
    taskQueue: h.taskQueue,
    env: h.workerEnv,
    workflowBundle: { code: releaseTwo },
    shutdownGraceTime: '2s',
  });
  const running = worker.run();
  cleanups.push(async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection.close();
  });

  const final = await followJob(h.sc, started.jobId, () => undefined, 300);
  expect(final.state).toBe('completed');
  expect(final.rows).toMatchObject({ read: total, rejected: 0 });
  expect(final.events).toMatchObject({ sent: total });
  expect(h.double.uniqueMessageIds().size).toBe(total);

  // Release 1's interrupted run finished as release 1 behaved; every run started after it took release 2's step.
  const runs = await runsOf(started.jobId);
  const upgradedAt = runs.findIndex((r) => r.runId === interrupted.runId);
  expect(upgradedAt).toBeGreaterThanOrEqual(0);
  expect(runs.length, 'a run starts after the upgrade').toBeGreaterThan(upgradedAt + 1);
  expect(runs.slice(0, upgradedAt + 1).map((r) => r.events)).toEqual(runs.slice(0, upgradedAt + 1).map(() => []));
  expect(runs.slice(upgradedAt + 1).map((r) => r.events)).toEqual(runs.slice(upgradedAt + 1).map(() => ['patched']));
});
