/**
 * Shared set-up for import integration tests: a Segment double, a real worker pointed at it, and a segflow
 * client on the run's Temporal dev server.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { followJob, startImport, type ImportRequest, type JobStatus, type SegflowClient } from '../../src/client';
import { SegmentDouble, type SegmentDoubleOptions } from './segment-double';
import { getTestEnv, startTestWorker, uniqueTaskQueue, type RunningTestWorker } from './temporal';

export const WRITE_KEY = 'wk-test-0123456789';

export interface ImportHarness {
  double: SegmentDouble;
  worker: RunningTestWorker;
  sc: SegflowClient;
  taskQueue: string;
  workDir: string;
  workerEnv: NodeJS.ProcessEnv;
  writeInput(name: string, content: string): string;
  runImport(request: ImportRequest): Promise<JobStatus>;
  stop(): Promise<void>;
}

export async function startImportHarness(opts: { double?: SegmentDoubleOptions; extraEnv?: NodeJS.ProcessEnv } = {}): Promise<ImportHarness> {
  const env = await getTestEnv();
  const double = await SegmentDouble.start({ writeKeys: [WRITE_KEY], ...opts.double });
  const taskQueue = uniqueTaskQueue('import');
  const workDir = mkdtempSync(join(tmpdir(), 'segflow-test-'));
  const workerEnv: NodeJS.ProcessEnv = {
    SEGMENT_TRACKING_URL: double.url,
    SEGMENT_WRITE_KEY: WRITE_KEY,
    SEGFLOW_REPORT_DIR: join(workDir, 'reports'),
    ...opts.extraEnv,
  };
  const worker = await startTestWorker({ taskQueue, env: workerEnv });
  const sc: SegflowClient = {
    client: env.client,
    settings: { address: inject('temporalAddress'), namespace: 'default', taskQueue, uiUrl: inject('temporalUiUrl') },
    close: async () => undefined,
  };
  return {
    double,
    worker,
    sc,
    taskQueue,
    workDir,
    workerEnv,
    writeInput(name, content) {
      const path = join(workDir, name);
      writeFileSync(path, content);
      return path;
    },
    async runImport(request) {
      const started = await startImport(sc, { heartbeatTimeoutMs: 5000, ...request });
      return followJob(sc, started.jobId, () => undefined, 200);
    },
    async stop() {
      await worker.stop();
      await double.stop();
    },
  };
}
