/**
 * Test access to the run's real Temporal dev server (started by global-setup.ts) and to real segflow workers.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { inject } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createWorker } from '../../src/worker';

let envPromise: Promise<TestWorkflowEnvironment> | undefined;
let runtimeInstalled = false;

function quietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed by an earlier file in this process.
  }
}

export function getTestEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  envPromise ??= TestWorkflowEnvironment.createFromExistingServer({ address: inject('temporalAddress'), namespace: 'default' });
  return envPromise;
}

export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export interface RunningTestWorker {
  stop(): Promise<void>;
}

/** A real segflow worker (all workflows and activities) whose activities read settings and secrets from `env`. */
export async function startTestWorker(opts: {
  taskQueue: string;
  env: NodeJS.ProcessEnv;
  maxConcurrentActivityTaskExecutions?: number;
}): Promise<RunningTestWorker> {
  quietRuntime();
  const connection = await NativeConnection.connect({ address: inject('temporalAddress') });
  const worker = await createWorker({
    connection,
    namespace: 'default',
    taskQueue: opts.taskQueue,
    env: opts.env,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions,
    shutdownGraceTime: '2s',
  });
  const running = worker.run();
  return {
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    },
  };
}
