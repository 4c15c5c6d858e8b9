/**
 * A worker *process* killed with SIGKILL in the middle of an import: a new worker picks the job up and every
 * valid row is delivered, none missing.
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

function startWorkerProcess(): ChildProcess {
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
  return child;
}

function killTree(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

it('completes with every row delivered after the worker process is SIGKILLed mid-import', async () => {
  const total = 20_000;
  const file = h.writeInput('crash.ndjson', ndjsonEvents(total, 'crash'));
  const first = startWorkerProcess();
  const started = await startImport(h.sc, {
    file,
    concurrency: 2,
    targetChunkBytes: 400_000,
    maxEventsPerBatch: 200,
    heartbeatTimeoutMs: 3000,
    // Slow enough that the kill lands mid-import.
    rateLimit: { perSecond: 2500, unit: 'events' },
  });
  await waitFor(() => h.double.uniqueMessageIds().size > 3000, 60_000, 'first events delivered');
  killTree(first);
  const deliveredAtKill = h.double.uniqueMessageIds().size;
  expect(deliveredAtKill).toBeLessThan(total);

  startWorkerProcess();
  const final = await followJob(h.sc, started.jobId, () => undefined, 500);
  expect(final.state).toBe('completed');
  expect(final.rows).toMatchObject({ read: total, rejected: 0 });
  expect(final.events).toMatchObject({ sent: total });
  const ids = h.double.uniqueMessageIds();
  expect(ids.size).toBe(total);
  // The status query also answers from the new worker.
  expect((await getJobStatus(h.sc, started.jobId)).state).toBe('completed');
}, 180_000);
