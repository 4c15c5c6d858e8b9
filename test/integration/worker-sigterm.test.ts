/**
 * A worker *process* sent SIGTERM (what an orchestrator does on a rolling deploy) while its chunks are sending:
 * the Temporal Runtime's shutdown signals stop the worker gracefully (no new work, in-flight chunks get the grace
 * time, then stop at a heartbeat), the process exits on its own, and a new worker finishes the job with every row
 * delivered and at most one batch per chunk in flight re-sent (src/io/chunk-checkpoint.ts).
 */
import { expect, it } from 'vitest';
import { followJob, startImport } from '../../src/client';
import { ndjsonEvents, waitFor } from '../support/wait';
import { useProcessHarness } from '../support/worker-process';

// This file's workers are separate processes (the harness's in-process one takes no work).
const p = useProcessHarness();
// Node itself runs the CLI (tsx as a loader, not as a parent process), so SIGTERM reaches the worker directly.

it('finishes the job after the worker process gets SIGTERM mid-send: graceful exit, every row, re-sends bounded', async () => {
  const h = p.h;
  const total = 20_000;
  const concurrency = 2;
  const batchSize = 200;
  const file = h.writeInput('sigterm.ndjson', ndjsonEvents(total, 'sigterm'));
  const first = p.startWorker({ tsxLoader: true });
  const started = await startImport(h.sc, {
    file,
    concurrency,
    // Two big chunks at 1,000 events/s: each needs far longer than the worker's 10 s shutdown grace time, so the
    // SIGTERM lands while both are sending and the grace time ends with them unfinished.
    targetChunkBytes: 1_500_000,
    maxEventsPerBatch: batchSize,
    heartbeatTimeoutMs: 5000,
    rateLimit: { perSecond: 1000, unit: 'events' },
  });
  await waitFor(() => h.double.uniqueMessageIds().size > 2000, 120_000, 'first events delivered');
  const handle = h.sc.client.workflow.getHandle(started.jobId);
  expect((await handle.describe()).status.name).toBe('RUNNING');
  process.kill(first.child.pid!, 'SIGTERM');

  // Graceful: the process ends by itself (the Runtime's shutdown signals), not killed by the signal's default action.
  const exit = await exitWithin(first.exit, 90_000);
  expect(exit.signal).toBeNull();
  expect(exit.code).toBe(0);
  const arrivals = () => h.double.uniqueMessageIds().size + h.double.duplicateCount();
  const deliveredAtExit = arrivals();
  // Mid-send: the job was not finished when the worker left.
  expect(deliveredAtExit).toBeLessThan(total);
  expect((await handle.describe()).status.name).toBe('RUNNING');

  p.startWorker({ tsxLoader: true });
  const final = await followJob(h.sc, started.jobId, () => undefined, 500);
  expect(final.state).toBe('completed');
  expect(final.rows).toMatchObject({ read: total, rejected: 0 });
  expect(final.events).toMatchObject({ sent: total });
  expect(h.double.uniqueMessageIds().size).toBe(total);

  // A chunk the stopped worker left unfinished ran again as a retry on the new worker.
  const history = await handle.fetchHistory();
  const attempts = (history.events ?? []).map((event) => event.activityTaskStartedEventAttributes?.attempt ?? 0);
  expect(Math.max(...attempts)).toBeGreaterThan(1);
  const resent = h.double.duplicateCount();
  console.log(`worker-sigterm: ${resent} event(s) re-sent after one SIGTERM (bound ${concurrency * batchSize})`);
  expect(resent).toBeLessThanOrEqual(concurrency * batchSize);
}, 300_000);

function exitWithin<T>(exit: Promise<T>, ms: number): Promise<T> {
  return Promise.race([exit, new Promise<T>((_, fail) => setTimeout(() => fail(new Error(`worker did not exit within ${ms} ms of SIGTERM`)), ms))]);
}
