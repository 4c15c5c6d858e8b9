/**
 * A worker *process* killed with SIGKILL in the middle of an import: a new worker picks the job up, every valid
 * row is delivered, none missing, and the re-sent events stay within the README's bound: at most one batch per
 * chunk in flight per crash (the durable per-chunk checkpoint, src/io/chunk-checkpoint.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inject } from 'vitest';
import { followJob, getJobStatus, startImport } from '../../src/client';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { ndjsonEvents, waitFor } from '../support/wait';

const root = resolve(__dirname, '../..');
let h: ImportHarness;
const children: ChildProcess[] = [];

beforeAll(async () => {
  h = await startImportHarness();
  // This file's workers are separate processes: stop the in-process one so it takes no work.
  await h.worker.stop();
});

afterAll(async () => {
  for (const child of children) killTree(child);
  await h?.double.stop();
});

function startWorkerProcess(): ChildProcess & { polling: Promise<number> } {
  const child = spawn(join(root, 'node_modules/.bin/tsx'), [join(root, 'src/cli.ts'), 'worker'], {
    cwd: root,
    detached: true, // its own process group, so SIGKILL reaches tsx's node child too
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      ...h.workerEnv,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_NAMESPACE: 'default',
      SEGFLOW_TASK_QUEUE: h.taskQueue,
      SEGFLOW_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
    },
  });
  children.push(child);
  // The worker says on stderr when it polls: the moment it has "come back".
  const polling = new Promise<number>((resolvePolling) => {
    let said = '';
    child.stderr!.on('data', (piece: Buffer) => {
      said += piece.toString();
      if (said.includes('polling task queue')) resolvePolling(Date.now());
    });
  });
  return Object.assign(child, { polling });
}

function killTree(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

it('completes with every row delivered after the worker process is SIGKILLed mid-send, re-sending at most one batch per chunk', async () => {
  const total = 20_000;
  const concurrency = 2;
  const batchSize = 200;
  const file = h.writeInput('crash.ndjson', ndjsonEvents(total, 'crash'));
  const first = startWorkerProcess();
  const firstExit = new Promise<NodeJS.Signals | null>((done) => first.on('exit', (_code, signal) => done(signal)));
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
  killTree(first);
  expect(await firstExit).toBe('SIGKILL');
  // Every event that reached the double, duplicates included.
  const arrivals = () => h.double.uniqueMessageIds().size + h.double.duplicateCount();
  const deliveredAtKill = arrivals();
  expect(deliveredAtKill).toBeLessThan(total);

  const second = startWorkerProcess();
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
  console.log(`worker-crash: ${resent} event(s) re-sent after one SIGKILL (bound ${concurrency * batchSize}); sending resumed ${resumedAfterMs} ms after the new worker polled`);
  expect(resent).toBeLessThanOrEqual(1 * concurrency * batchSize);
  expect(resumedAfterMs).toBeLessThan(15_000);
  // The status query also answers from the new worker.
  expect((await getJobStatus(h.sc, started.jobId)).state).toBe('completed');
}, 240_000);
