/**
 * The Temporal server itself goes down mid-import (killed) and comes back on the same database: the worker
 * reconnects and the job completes with every row delivered.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, inject, it } from 'vitest';
import { followJob, startImport, type SegflowClient } from '../../src/client';
import { freePort, startDevServer, type DevServer } from '../../src/dev/dev-server';
import { createWorker } from '../../src/worker';
import { SegmentDouble } from '../support/segment-double';
import { ndjsonEvents, waitFor } from '../support/wait';
import { writeFileSync } from 'node:fs';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

it('finishes an import after the Temporal server is killed and restarted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'segflow-restart-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const dbFilename = join(dir, 'temporal.sqlite');
  const cliPath = inject('temporalCli') || undefined;
  let server: DevServer = await startDevServer({ cliPath, port, uiPort: false, dbFilename, stdio: 'ignore' });
  cleanups.push(() => server.stop());

  const double = await SegmentDouble.start({ writeKeys: ['wk'] });
  cleanups.push(() => double.stop());
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const worker = await createWorker({
    connection: nativeConnection,
    namespace: 'default',
    taskQueue: 'restart',
    env: { SEGMENT_TRACKING_URL: double.url, SEGMENT_WRITE_KEY: 'wk', SEGFLOW_REPORT_DIR: join(dir, 'reports') },
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
  const running = worker.run();
  cleanups.push(async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => undefined);
    await nativeConnection.close();
  });

  const connection = await Connection.connect({ address: server.address });
  cleanups.push(() => connection.close());
  const sc: SegflowClient = {
    client: new Client({ connection, namespace: 'default' }),
    settings: { address: server.address, namespace: 'default', taskQueue: 'restart', uiUrl: 'http://127.0.0.1' },
    close: async () => undefined,
  };

  const total = 12_000;
  const file = join(dir, 'restart.ndjson');
  writeFileSync(file, ndjsonEvents(total, 'restart'));
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
  // Kill the server outright, keep it down a moment, then start it again on the same database and port.
  await server.kill();
  expect(deliveredAtKill).toBeLessThan(total);
  await new Promise((r) => setTimeout(r, 2000));
  server = await startDevServer({ cliPath, port, uiPort: false, dbFilename, stdio: 'ignore' });

  const final = await followJob(sc, started.jobId, () => undefined, 500);
  expect(final.state).toBe('completed');
  expect(final.events).toMatchObject({ sent: total });
  expect(double.uniqueMessageIds().size).toBe(total);
}, 180_000);
