/**
 * `segflow worker` as a separate process on the run's dev server, for tests that kill, stop or scrape a worker: the
 * worker-crash, gzip-crash, worker-sigterm, observability and replay integration tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, inject } from 'vitest';
import { startImportHarness, type ImportHarness } from './import-harness';

const root = resolve(__dirname, '../..');

export interface WorkerProcessOptions {
  /** The worker's settings (an import harness's `workerEnv`), on top of this process's environment. */
  workerEnv: NodeJS.ProcessEnv;
  taskQueue: string;
  /** More settings for this worker only (metrics address, log format, ...). */
  env?: NodeJS.ProcessEnv;
  /**
   * Run the CLI in node itself with tsx as a loader, so a signal sent to the pid reaches the worker directly (SIGTERM
   * tests). By default tsx's own launcher runs it as a child; killTree reaches both through the process group.
   */
  tsxLoader?: boolean;
}

export interface WorkerProcess {
  child: ChildProcess;
  /** When the worker said it polls its task queue (Date.now()): the moment it has "come back". */
  polling: Promise<number>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Everything the worker wrote on stderr so far (its log). */
  log(): string;
  /** SIGKILL to the worker's whole process group. */
  kill(): void;
}

/** Starts workers and kills every one still running at `killAll` (a file's afterAll). */
export class WorkerProcesses {
  private readonly started: WorkerProcess[] = [];

  start(options: WorkerProcessOptions): WorkerProcess {
    const worker = startWorkerProcess(options);
    this.started.push(worker);
    return worker;
  }

  killAll(): void {
    for (const worker of this.started.splice(0)) worker.kill();
  }
}

/**
 * An import harness (test/support/import-harness.ts) whose workers are separate processes: its in-process worker is
 * stopped at once so it takes no work. `startWorker` starts one on the harness's task queue and settings; `stop`
 * kills every one still running and stops the Segment double.
 */
export interface ProcessHarness {
  h: ImportHarness;
  startWorker(options?: Pick<WorkerProcessOptions, 'env' | 'tsxLoader'>): WorkerProcess;
  stop(): Promise<void>;
}

export async function startProcessHarness(options: Parameters<typeof startImportHarness>[0] = {}): Promise<ProcessHarness> {
  const h = await startImportHarness(options);
  await h.worker.stop();
  const workers = new WorkerProcesses();
  return {
    h,
    startWorker: (more = {}) => workers.start({ workerEnv: h.workerEnv, taskQueue: h.taskQueue, ...more }),
    async stop() {
      workers.killAll();
      await h.double.stop();
    },
  };
}

/** A file-wide process harness: started in the file's beforeAll, stopped in its afterAll; `h` is set from then on. */
export function useProcessHarness(options: Parameters<typeof startImportHarness>[0] = {}): ProcessHarness {
  let harness: ProcessHarness | undefined;
  beforeAll(async () => {
    harness = await startProcessHarness(options);
  });
  afterAll(async () => {
    await harness?.stop();
  });
  return {
    get h() {
      if (!harness) throw new Error('the process harness starts in beforeAll');
      return harness.h;
    },
    startWorker: (more) => harness!.startWorker(more),
    stop: async () => harness?.stop(),
  };
}

export function startWorkerProcess(options: WorkerProcessOptions): WorkerProcess {
  const cli = join(root, 'src/cli.ts');
  const [command, args] = options.tsxLoader
    ? [process.execPath, ['--import', 'tsx', cli, 'worker']]
    : [join(root, 'node_modules/.bin/tsx'), [cli, 'worker']];
  const child = spawn(command, args, {
    cwd: root,
    detached: true, // its own process group, so SIGKILL reaches tsx's node child too
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env,
      ...options.workerEnv,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_NAMESPACE: 'default',
      SEGFLOW_TASK_QUEUE: options.taskQueue,
      SEGFLOW_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
      ...options.env,
    },
  });
  let said = '';
  const polling = new Promise<number>((resolvePolling) => {
    child.stderr!.on('data', (piece: Buffer) => {
      said += piece.toString('utf8');
      if (said.includes('polling task queue')) resolvePolling(Date.now());
    });
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.on('exit', (code, signal) => done({ code, signal })),
  );
  return { child, polling, exit, log: () => said, kill: () => killTree(child) };
}

export function killTree(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}
