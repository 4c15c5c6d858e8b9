/**
 * A Temporal dev server of a test's own (not the run's shared one), which the test may kill and start again on the
 * same database and port, with a segflow worker, a Segment double and a segflow client on it: the set-up of the
 * server-restart tests.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import type { SegflowClient } from '../../src/client';
import { freePort, startDevServer, type DevServer } from '../../src/dev/dev-server';
import { createWorker } from '../../src/worker';
import { SegmentDouble } from './segment-double';
import { ndjsonEvents } from './wait';

export interface RestartableServer {
  /** A directory of the test's own (the server's database, inputs, reports), removed by `stop`. */
  dir: string;
  double: SegmentDouble;
  sc: SegflowClient;
  /** Writes `count` NDJSON events (named after `name`) into `dir`; returns the path. */
  writeInput(name: string, count: number): string;
  /** Kills the server outright, keeps it down a moment, then starts it again on the same database and port. */
  restart(): Promise<void>;
  /** Stops the worker, the clients, the double and the server, and removes `dir`. */
  stop(): Promise<void>;
}

export async function startRestartableServer(options: { taskQueue: string; dirPrefix: string }): Promise<RestartableServer> {
  const cleanups: Array<() => Promise<unknown>> = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    const dir = mkdtempSync(join(tmpdir(), options.dirPrefix));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const dbFilename = join(dir, 'temporal.sqlite');
    const cliPath = inject('temporalCli') || undefined;
    const start = () => startDevServer({ cliPath, port, uiPort: false, dbFilename, stdio: 'ignore' });
    let server: DevServer = await start();
    cleanups.push(() => server.stop());

    const double = await SegmentDouble.start({ writeKeys: ['wk'] });
    cleanups.push(() => double.stop());
    const nativeConnection = await NativeConnection.connect({ address: server.address });
    const worker = await createWorker({
      connection: nativeConnection,
      namespace: 'default',
      taskQueue: options.taskQueue,
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
      settings: { address: server.address, namespace: 'default', taskQueue: options.taskQueue, uiUrl: 'http://127.0.0.1' },
      close: async () => undefined,
    };
    return {
      dir,
      double,
      sc,
      writeInput(name, count) {
        const file = join(dir, `${name}.ndjson`);
        writeFileSync(file, ndjsonEvents(count, name));
        return file;
      },
      async restart() {
        await server.kill();
        await new Promise((r) => setTimeout(r, 2000));
        server = await start();
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
