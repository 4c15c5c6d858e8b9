/**
 * A worker *process* killed with SIGKILL in the middle of an import: a new worker picks the job up, every valid
 * row is delivered, none missing, and the re-sent events stay within the README's bound: at most one batch per
 * chunk in flight per crash (the durable per-chunk checkpoint, src/io/chunk-checkpoint.ts).
 */
import { expect, it } from 'vitest';
import { followJob, getJobStatus, startImport } from '../../src/client';
import { ndjsonEvents, waitFor } from '../support/wait';
import { useProcessHarness } from '../support/worker-process';

// This file's workers are separate processes (the harness's in-process one takes no work).
const p = useProcessHarness();

it('completes with every row delivered after the worker process is SIGKILLed mid-send, re-sending at most one batch per chunk', async () => {
  const h = p.h;
  const total = 20_000;
  const concurrency = 2;
  const batchSize = 200;
  const file = h.writeInput('crash.ndjson', ndjsonEvents(total, 'crash'));
  const first = p.startWorker();
  const started = await startImport(h.sc, {
    file,
    concurrency,
    targetChunkBytes: 400_000,
    maxEventsPerBatch: batchSize,
    // The default heartbeat timeout: "sending resumes within 15 s of a worker coming back" is about it.
    // Slow enough that the kill lands mid-send.
    rateLimit: { perSecond: 2500, unit: 'events' },
  });
  await waitFor(() => h.double.uniqueMessageIds().size > 3000, 60_000, 'first events delivered');
  first.kill();
  expect((await first.exit).signal).toBe('SIGKILL');
  // Every event that reached the double, duplicates included.
  const arrivals = () => h.double.uniqueMessageIds().size + h.double.duplicateCount();
  const deliveredAtKill = arrivals();
  expect(deliveredAtKill).toBeLessThan(total);

  const second = p.startWorker();
  const backAt = await second.polling;
  await waitFor(() => arrivals() > deliveredAtKill, 60_000, 'sending resumed');
  const resumedAfterMs = Date.now() - backAt;
  const final = await followJob(h.sc, started.jobId, () => undefined, 500);
  expect(final.state).toBe('completed');
  expect(final.rows).toMatchObject({ read: total, rejected: 0 });
  expect(final.events).toMatchObject({ sent: total });
  const ids = h.double.uniqueMessageIds();
  expect(ids.size).toBe(total);

  // The kill was mid-send: some chunk activity ran again as a retry (attempt > 1) after its worker died.
  const history = await h.sc.client.workflow.getHandle(started.jobId).fetchHistory();
  const attempts = (history.events ?? []).map((event) => event.activityTaskStartedEventAttributes?.attempt ?? 0);
  expect(Math.max(...attempts)).toBeGreaterThan(1);

  // Re-sent events: at most crashes x chunks in flight x batch size.
  const resent = h.double.duplicateCount();
  console.log(
    `worker-crash: ${resent} event(s) re-sent after one SIGKILL (bound ${concurrency * batchSize}); sending resumed ${resumedAfterMs} ms after the new worker polled`,
  );
  expect(resent).toBeLessThanOrEqual(1 * concurrency * batchSize);
  expect(resumedAfterMs).toBeLessThan(15_000);
  // The status query also answers from the new worker.
  expect((await getJobStatus(h.sc, started.jobId)).state).toBe('completed');
}, 240_000);
