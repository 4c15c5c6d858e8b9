/**
 * `segflow dev`: everything on one machine, in one command — a Temporal dev server with its Web UI, a segflow
 * worker, and (unless real Segment settings are configured) a local Segment stand-in that records what it
 * receives. Optionally runs one import and exits; otherwise stays up until Ctrl-C and shuts down cleanly.
 */
import { NativeConnection } from '@temporalio/worker';
import { tmpdir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { connectClient, followJob, startImport, type JobStatus } from '../client';
import { createWorker, installRuntimeLogger } from '../worker';
import { freePort, startDevServer, type DevServer } from './dev-server';
import { describeStandInRequest, startSegmentStandIn } from './segment-stand-in';

const STAND_IN_WRITE_KEY = 'segflow-dev-write-key';

export interface DevOptions {
  importFile?: string;
  exitAfterImport: boolean;
  dbFile?: string;
  port?: number;
  onStatus?: (status: JobStatus) => void;
  log: (line: string) => void;
}

export async function runDev(options: DevOptions): Promise<JobStatus | undefined> {
  const { log } = options;
  const cleanups: Array<() => Promise<void>> = [];
  const shutdown = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    cleanups.length = 0;
  };
  let interrupted: () => void = () => undefined;
  const interruptedPromise = new Promise<void>((r) => (interrupted = r));
  const onSignal = () => {
    log('\nShutting down...');
    interrupted();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const preferred = options.port ?? 7233;
    const port = (await isFree(preferred)) ? preferred : await freePort();
    const uiPort = (await isFree(port + 1000)) ? port + 1000 : await freePort();
    const server: DevServer = await startDevServer({ port, uiPort, dbFilename: options.dbFile, stdio: 'ignore' });
    cleanups.push(() => server.stop());

    const env: NodeJS.ProcessEnv = { ...process.env, TEMPORAL_ADDRESS: server.address, SEGFLOW_UI_URL: server.uiUrl };
    if (!process.env.SEGMENT_WRITE_KEY || !process.env.SEGMENT_TRACKING_URL) {
      const standIn = await startSegmentStandIn({
        writeKey: STAND_IN_WRITE_KEY,
        onRequest: (request) => log(`[segment stand-in] ${describeStandInRequest(request)}`),
      });
      cleanups.push(async () => {
        await standIn.stop();
        const { requests, accepted, duplicates, refused } = standIn.stats();
        log(`[segment stand-in] stopped: ${accepted} events accepted, ${duplicates} duplicates dropped, ${refused} of ${requests} requests refused`);
      });
      env.SEGMENT_TRACKING_URL = standIn.url;
      env.SEGMENT_WRITE_KEY = STAND_IN_WRITE_KEY;
      log(`Segment stand-in (records what it receives): ${standIn.url}`);
    } else {
      log(`Sending to real Segment at ${process.env.SEGMENT_TRACKING_URL}`);
    }
    env.SEGFLOW_REPORT_DIR ??= resolve('segflow-reports');
    // The embedded worker may read the file `--import` names (src/io/input-policy.ts: its default roots are the
    // working directory and the temp directory, and `segflow dev --import` may name a file anywhere).
    if (options.importFile && !env.SEGFLOW_INPUT_ROOTS && !/^[a-z][a-z0-9+.-]*:\/\//i.test(options.importFile)) {
      env.SEGFLOW_INPUT_ROOTS = [process.cwd(), tmpdir(), dirname(resolve(options.importFile))].join(',');
    }

    installRuntimeLogger(env);
    const connection = await NativeConnection.connect({ address: server.address });
    cleanups.push(() => connection.close());
    const worker = await createWorker({ connection, namespace: 'default', taskQueue: env.SEGFLOW_TASK_QUEUE ?? 'segflow', env });
    const running = worker.run();
    cleanups.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });

    log(`Temporal dev server: ${server.address}`);
    log(`Temporal Web UI:     ${server.uiUrl}`);
    log(`In another terminal: export TEMPORAL_ADDRESS=${server.address} SEGFLOW_UI_URL=${server.uiUrl}`);

    let final: JobStatus | undefined;
    if (options.importFile) {
      Object.assign(process.env, { TEMPORAL_ADDRESS: server.address, SEGFLOW_UI_URL: server.uiUrl });
      const sc = await connectClient(env);
      cleanups.push(() => sc.close());
      const started = await startImport(sc, { file: options.importFile, force: true });
      log(`Started import ${started.jobId}\n${started.link}`);
      final = await Promise.race([followJob(sc, started.jobId, (s) => options.onStatus?.(s), 500), interruptedPromise.then(() => undefined)]);
      if (options.exitAfterImport || !final) return final;
    }
    log('Ready. Press Ctrl-C to stop.');
    await interruptedPromise;
    return final;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await shutdown();
  }
}

async function isFree(port: number): Promise<boolean> {
  const { createServer } = await import('node:net');
  return new Promise((r) => {
    const probe = createServer();
    probe.once('error', () => r(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => r(true)));
  });
}
