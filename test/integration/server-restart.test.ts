/**
 * The Temporal server itself goes down mid-import (killed) and comes back on the same database: the worker
 * reconnects and the job completes with every row delivered.
 */
import { afterAll, expect, it } from 'vitest';
import { followJob, startImport } from '../../src/client';
import { startRestartableServer, type RestartableServer } from '../support/restartable-server';
import { waitFor } from '../support/wait';

let t: RestartableServer | undefined;
afterAll(async () => {
  await t?.stop();
});

it('finishes an import after the Temporal server is killed and restarted', async () => {
  t = await startRestartableServer({ taskQueue: 'restart', dirPrefix: 'segflow-restart-' });
  const { double, sc } = t;

  const total = 12_000;
  const file = t.writeInput('restart', total);
  const started = await startImport(sc, {
    file,
    concurrency: 2,
    targetChunkBytes: 200_000,
    maxEventsPerBatch: 200,
    heartbeatTimeoutMs: 5000,
    rateLimit: { perSecond: 2000, unit: 'events' },
  });
  await waitFor(() => double.uniqueMessageIds().size > 2000, 60_000, 'first events delivered');

  // The import must be unfinished when the server dies, or the test proves nothing about a restart.
  expect((await sc.client.workflow.getHandle(started.jobId).describe()).status.name).toBe('RUNNING');
  const deliveredAtKill = double.uniqueMessageIds().size;
  expect(deliveredAtKill).toBeLessThan(total);
  // Killed outright, down a moment, then started again on the same database and port.
  await t.restart();

  const final = await followJob(sc, started.jobId, () => undefined, 500);
  expect(final.state).toBe('completed');
  expect(final.events).toMatchObject({ sent: total });
  expect(double.uniqueMessageIds().size).toBe(total);
}, 180_000);
