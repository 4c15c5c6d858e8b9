/**
 * segflow as a new user runs it: `npm run build`, then `segflow worker` with no flags (bin/segflow.js, which uses
 * dist/workflow-bundle.js), against a headless Temporal dev server; the import is started and awaited from the bench.
 * Memory and CPU are those of the worker's whole process tree, so anything the worker starts is counted with it (its
 * memory settings need no launcher process: src/ops/worker-memory.ts).
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { connectClient, getJobStatus, startImport, type SegflowClient } from '../src/client';
import type { DevServer } from '../src/dev/dev-server';
import type { ImportStatus } from '../src/contracts/import-job';
import { CACHE_DIR, fmtInt, innermostMessage, ROOT, TASK_QUEUE, WRITE_KEY, type SendRun } from './common';
import type { BenchFormat } from './generate';
import { processTree, startCpuMeter, TreeRssSampler, treeMemory } from './proc-stats';
import { children, ChildOutput, stopChild, stopFirst } from './processes';
import { countHistoryActions, diffCounts, readServerCounts, type HistoryCounts } from './temporal-actions';

export interface SegflowRunOptions {
  events: number;
  format: BenchFormat;
  concurrency: number;
  cpuProfile: boolean;
  workerNodeOptions: string[];
  workers: number;
}

export interface SegflowRun extends SendRun {
  status: ImportStatus | undefined;
  error?: string;
  temporalCpu: number;
  idleRss: number;
  maxSampledRss: number;
  peakRss: number;
  /** RSS growth from the run's first quarter to its second half (bench/proc-stats.ts rssGrowth). */
  rssGrowth: number;
  /** Processes in the (largest) worker's tree when it was measured: 1, or 2 with a re-executed worker. */
  workerProcesses: number;
  profileDir?: string;
  history?: HistoryCounts;
  serverActions?: Record<string, number>;
  serverRequests?: Record<string, number>;
  /** Status queries the bench itself sent for its progress lines (counted by the server, not the import's). */
  progressQueries: number;
}

let built = false;

/** `npm run build` once per bench: the compiled CLI and dist/workflow-bundle.js, as a deployment ships them. */
function buildOnce(): void {
  if (built) return;
  try {
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe' });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: Buffer; stderr?: Buffer };
    throw new Error(`npm run build failed:\n${String(stdout ?? '')}${String(stderr ?? '')}`, { cause: error });
  }
  built = true;
}

/** How long an idle worker settles (start-up garbage collected, pollers up) before its idle RSS is read. */
const IDLE_SETTLE_MS = 5_000;

async function startWorker(temporalAddress: string, doubleUrl: string, reportDir: string, extraNodeArgs: string[]) {
  buildOnce();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    SEGFLOW_TASK_QUEUE: TASK_QUEUE,
    SEGMENT_TRACKING_URL: doubleUrl,
    SEGMENT_WRITE_KEY: WRITE_KEY,
    SEGFLOW_REPORT_DIR: reportDir,
  };
  // The defaults a user gets: no node options inherited from whatever started the bench.
  delete env.NODE_OPTIONS;
  delete env.SEGFLOW_WORKFLOW_BUNDLE;
  const child = spawn(process.execPath, [...extraNodeArgs, join(ROOT, 'bin/segflow.js'), 'worker'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => {
    children.delete(child);
    stopFirst.delete(child);
  });
  stopFirst.add(child);
  const output = new ChildOutput('segflow worker', child);
  await output.waitFor((line) => line.includes('polling task queue'), 120_000);
  // From here on the worker logs only warnings and errors (SEGFLOW_LOG_LEVEL=WARN): show them, they explain a slow run.
  output.onLine = (line) => process.stderr.write(`  worker: ${line}\n`);
  return child;
}

export async function runSegflow(
  file: string,
  options: SegflowRunOptions,
  server: DevServer & { metricsUrl?: string },
  doubleUrl: string,
  doublePid: number,
  scratch: string,
): Promise<SegflowRun> {
  const profileDir = options.cpuProfile ? join(CACHE_DIR, 'profiles', new Date().toISOString().replace(/[:.]/g, '-')) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  const nodeArgs = [...options.workerNodeOptions, ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])];
  const workers = await Promise.all(
    Array.from({ length: options.workers }, () => startWorker(server.address, doubleUrl, join(scratch, 'reports'), nodeArgs)),
  );
  await new Promise((done) => setTimeout(done, IDLE_SETTLE_MS));
  const trees = workers.map((worker) => processTree(worker.pid!));
  const idleRss = Math.max(...trees.map((pids) => treeMemory(pids).rss));
  const samplers = trees.map((pids) => new TreeRssSampler(pids));
  const sc = await connectClient({ TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: 'default', SEGFLOW_TASK_QUEUE: TASK_QUEUE });
  let progress: NodeJS.Timeout | undefined;
  let progressQueries = 0;
  try {
    const serverBefore = server.metricsUrl ? await readServerCounts(server.metricsUrl) : undefined;
    const stopMeter = startCpuMeter({
      ...Object.fromEntries(trees.flatMap((pids, i) => pids.map((pid, j) => [`worker${i}.${j}`, pid]))),
      double: doublePid,
      temporal: server.process!.pid!,
    });
    for (const sampler of samplers) sampler.start();
    const started = performance.now();
    // An explicit id skips hashing the whole file for the default id, which is not import work.
    const { jobId } = await startImport(sc, { file, format: options.format, concurrency: options.concurrency, jobId: `bench-${randomUUID()}` });
    progress = setInterval(() => {
      progressQueries += 1;
      void reportProgress(sc, jobId, options.events, started);
    }, 5_000);
    let status: ImportStatus | undefined;
    let error: string | undefined;
    try {
      status = (await sc.client.workflow.getHandle(jobId).result()) as ImportStatus;
    } catch (failure) {
      error = innermostMessage(failure);
    }
    const ms = performance.now() - started;
    clearInterval(progress);
    const memory = samplers.map((sampler) => sampler.stop());
    const cpu = stopMeter();
    // Heartbeats still in flight reach the server within a second of the result.
    await new Promise((done) => setTimeout(done, 1_000));
    const serverAfter = server.metricsUrl ? await readServerCounts(server.metricsUrl) : undefined;
    const workerCpu = Object.entries(cpu.used)
      .filter(([name]) => name.startsWith('worker'))
      .reduce((total, [, seconds]) => total + seconds, 0);
    const run: SegflowRun = {
      status,
      error,
      events: status?.events.sent ?? 0,
      batches: status?.batches.sent ?? 0,
      ms,
      senderCpu: workerCpu,
      doubleCpu: cpu.used.double ?? NaN,
      temporalCpu: cpu.used.temporal ?? NaN,
      // The bench process only polls for progress here; count it with the noise.
      othersCpu: cpu.others + cpu.self,
      idleRss,
      maxSampledRss: Math.max(...memory.map((m) => m.maxSampled)),
      peakRss: Math.max(...memory.map((m) => m.hwm)),
      rssGrowth: Math.max(...memory.map((m) => m.growth)),
      workerProcesses: Math.max(...trees.map((pids) => pids.length)),
      profileDir,
      progressQueries,
      history: error === undefined ? await countHistoryActions(sc.client, jobId) : undefined,
      ...(serverBefore && serverAfter
        ? {
            serverActions: diffCounts(serverBefore.actions, serverAfter.actions),
            serverRequests: diffCounts(serverBefore.requests, serverAfter.requests),
          }
        : {}),
    };
    // A graceful stop, so --cpu-prof gets to write its profile.
    await Promise.all(workers.map((worker) => stopChild(worker, 30_000)));
    return run;
  } finally {
    clearInterval(progress);
    await sc.close();
  }
}

/** A gzip copy of the generated input, made once and cached beside it. */
export async function ensureGzip(path: string): Promise<{ path: string; bytes: number }> {
  const gz = `${path}.gz`;
  if (!existsSync(gz)) {
    await pipeline(createReadStream(path), createGzip(), createWriteStream(`${gz}.tmp`));
    renameSync(`${gz}.tmp`, gz);
  }
  return { path: gz, bytes: statSync(gz).size };
}

async function reportProgress(sc: SegflowClient, jobId: string, total: number, started: number): Promise<void> {
  try {
    const status = await getJobStatus(sc, jobId);
    const sent = (status.events as { sent?: number } | undefined)?.sent ?? 0;
    const seconds = (performance.now() - started) / 1000;
    process.stderr.write(`  segflow: ${status.state}, ${fmtInt(sent)} / ${fmtInt(total)} events sent after ${seconds.toFixed(0)} s\n`);
  } catch (error) {
    // Progress is cosmetic: say why it is missing, and carry on.
    process.stderr.write(`  segflow: no progress (${innermostMessage(error)})\n`);
  }
}
