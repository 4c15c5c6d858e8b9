/**
 * .gz inputs (NDJSON and CSV) with a worker process SIGKILLed mid-file: a new worker finishes the job and every
 * valid row is delivered, none missing. The chunks read the staged plain copy (src/io/staging.ts), so they resume
 * after their last acknowledged batch as for a plain file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { followJob, startImport } from '../../src/client';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { ndjsonEvents, waitFor } from '../support/wait';

const root = resolve(__dirname, '../..');
let h: ImportHarness;
const children: ChildProcess[] = [];

beforeAll(async () => {
  h = await startImportHarness();
  // Workers here are separate processes: stop the in-process one so it takes no work.
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

function csvEvents(count: number, prefix: string): string {
  const rows = ['type,userId,event,timestamp,properties.n:number'];
  for (let i = 0; i < count; i++) rows.push(`track,${prefix}-${i},Imported,${new Date(Date.UTC(2020, 0, 1) + i * 1000).toISOString()},${i}`);
  return rows.join('\n') + '\n';
}

for (const [format, make] of [['ndjson', ndjsonEvents], ['csv', csvEvents]] as const) {
  it(`completes a .gz ${format} import with every row delivered after the worker is SIGKILLed mid-file`, async () => {
    h.double.reset();
    const total = 15_000;
    const file = join(h.workDir, `crash.${format}.gz`);
    writeFileSync(file, gzipSync(make(total, `gz-${format}`)));
    const first = startWorkerProcess();
    const started = await startImport(h.sc, {
      file,
      concurrency: 2,
      targetChunkBytes: 200_000,
      maxEventsPerBatch: 200,
      heartbeatTimeoutMs: 3000,
      // Slow enough that the kill lands mid-file.
      rateLimit: { perSecond: 2500, unit: 'events' },
    });
    await waitFor(() => h.double.uniqueMessageIds().size > 2000, 90_000, 'first events delivered');
    killTree(first);
    expect(h.double.uniqueMessageIds().size).toBeLessThan(total);

    const second = startWorkerProcess();
    const final = await followJob(h.sc, started.jobId, () => undefined, 500);
    killTree(second);
    expect(final.state, String(final.error)).toBe('completed');
    expect(final.rows).toMatchObject({ read: total, rejected: 0 });
    expect(final.events).toMatchObject({ sent: total });
    expect(h.double.uniqueMessageIds().size).toBe(total);
  }, 240_000);
}
