/**
 * `npm run bench`: how fast segflow moves a large historical file into Segment, and at what memory cost,
 * compared with the fastest thing that could do the same job (a bare undici loop). See bench/README.md.
 *
 *   npm run bench -- [--events 1000000] [--format ndjson|csv] [--concurrency 4] [--workers 1] [--cpu-prof]
 *                    [--worker-node-option=--max-old-space-size=160 ...]
 *
 * Then the same events from a gzip-compressed copy (`<file>.gz`), which segflow stages to a plain file first
 * (docs/compressed-and-many-files.md): events/s including staging, and the worker's peak RSS.
 *
 * Figures are printed, never asserted: the exit code is non-zero only when the import failed or events were
 * lost (sent != generated, or the Segment double did not see every messageId exactly once).
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { connectClient, getJobStatus, IMPORT_DEFAULTS, startImport, type SegflowClient } from '../src/client';
import { BatchBuilder, renderBatchBody, type BatchLimits } from '../src/core/batch-builder';
import { startDevServer, type DevServer, quietBundlerLogger, findTemporalCli } from '../src/dev/dev-server';
import { splitCsvFields } from '../src/io/chunk-planner';
import { workflowsPath } from '../src/worker';
import type { ImportStatus } from '../src/contracts/import-job';
import { ensureEventsFile, type BenchFormat } from './generate';

const ROOT = resolve(__dirname, '..');
const CACHE_DIR = join(ROOT, '.cache', 'bench');
const WRITE_KEY = 'bench-key';
const TASK_QUEUE = 'segflow-bench';
const SAMPLE_INTERVAL_MS = 200;
/** 1 MB = 1,000,000 bytes: the stricter reading of the "< 300 MB" target. */
const MB = 1_000_000;
const TARGET_RATIO = 0.5;
const TARGET_PEAK_RSS_MB = 300;

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

export interface BenchOptions {
  events: number;
  format: BenchFormat;
  concurrency: number;
  cpuProfile: boolean;
  /** Extra node flags for the worker process, e.g. --max-old-space-size=160 (to try memory settings). */
  workerNodeOptions: string[];
  /** Worker processes on the task queue (scale-out); the RSS target applies to each. */
  workers: number;
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      events: { type: 'string', default: '1000000' },
      format: { type: 'string', default: 'ndjson' },
      concurrency: { type: 'string', default: String(IMPORT_DEFAULTS.concurrency) },
      'cpu-prof': { type: 'boolean', default: false },
      'worker-node-option': { type: 'string', multiple: true, default: [] },
      workers: { type: 'string', default: '1' },
    },
    strict: true,
  });
  const events = Number(values.events.replace(/_/g, ''));
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(events) || events < 1) throw new Error(`--events must be a positive integer, got ${values.events}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`--concurrency must be a positive integer, got ${values.concurrency}`);
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`--workers must be a positive integer, got ${values.workers}`);
  if (values.format !== 'ndjson' && values.format !== 'csv') throw new Error(`--format must be ndjson or csv, got ${values.format}`);
  return { events, format: values.format, concurrency, cpuProfile: values['cpu-prof'], workerNodeOptions: values['worker-node-option'], workers };
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one is registered so Ctrl-C, an error or a normal end stops them all
// ---------------------------------------------------------------------------------------------

/** Running children; the worker is stopped first, while the Temporal server it reports to is still up. */
const children = new Set<ChildProcess>();
const stopFirst = new Set<ChildProcess>();

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Stops one child: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<void> {
  if (!exited(child)) {
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await done;
    clearTimeout(timer);
  }
  children.delete(child);
  stopFirst.delete(child);
}

async function stopAllChildren(): Promise<void> {
  await Promise.all([...stopFirst].map((child) => stopChild(child, 10_000)));
  await Promise.all([...children].map((child) => stopChild(child, 5_000)));
}

function installCleanupHandlers(scratch: string): void {
  // Last resort on any exit path (uncaught error, process.exit): nothing may outlive the benchmark.
  process.on('exit', () => {
    for (const child of children) if (!exited(child)) child.kill('SIGKILL');
    rmSync(scratch, { recursive: true, force: true });
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, stopping child processes...\n`);
      void stopAllChildren().finally(() => process.exit(130));
    });
  }
}

/**
 * Runs a TypeScript entry point in a child `node --import tsx`. Not `node_modules/.bin/tsx` (a wrapper that
 * spawns the real node process, so its pid would be the wrong one to measure and signals would take a detour),
 * and not npx (whose child survives a kill of npx).
 */
function spawnTypeScript(script: string, args: string[], options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {}): ChildProcess {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', script, ...args], {
    cwd: ROOT,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => {
    children.delete(child);
    stopFirst.delete(child);
  });
  return child;
}

/**
 * A child's output, line by line: keeps the last lines (for error messages), lets the bench wait for a
 * "ready" line, and can echo lines once the child is up. Pipes are always drained, or a chatty child blocks.
 */
class ChildOutput {
  readonly tail: string[] = [];
  /** Called for every line from then on (e.g. to echo worker warnings). */
  onLine: ((line: string) => void) | undefined;
  private readonly waiters = new Set<(line: string) => void>();

  constructor(private readonly name: string, private readonly child: ChildProcess) {
    for (const stream of [child.stdout, child.stderr]) {
      if (!stream) continue;
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (text: string) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.line(line);
      });
    }
  }

  private line(line: string): void {
    this.tail.push(line);
    if (this.tail.length > 50) this.tail.shift();
    for (const waiter of this.waiters) waiter(line);
    this.onLine?.(line);
  }

  waitFor(match: (line: string) => boolean, timeoutMs: number): Promise<string> {
    return new Promise((resolveLine, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.child.off('exit', onExit);
        this.waiters.delete(waiter);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.name} not ready after ${timeoutMs} ms:\n${this.tail.join('\n')}`));
      }, timeoutMs);
      const onExit = (code: number | null) => {
        done();
        reject(new Error(`${this.name} exited (code ${code}) before it was ready:\n${this.tail.join('\n')}`));
      };
      const waiter = (line: string) => {
        if (!match(line)) return;
        done();
        resolveLine(line);
      };
      this.child.once('exit', onExit);
      this.waiters.add(waiter);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The Segment double, in its own process so its CPU and memory are not the worker's
// ---------------------------------------------------------------------------------------------

/** The counters test/support/segment-double.ts keeps (SegmentDoubleStats); only those the bench checks. */
interface DoubleStats {
  batchRequests: number;
  accepted: number;
  duplicates: number;
  dropped: number;
  rejected400: number;
  missingMessageIds: number;
  maxBatchBytes: number;
  maxEventsInBatch: number;
}

interface RunningDouble {
  url: string;
  pid: number;
  /** Stops it and returns its final counters (the stats line it prints on SIGTERM). */
  stop(): Promise<DoubleStats>;
}

async function startSegmentDouble(): Promise<RunningDouble> {
  const child = spawnTypeScript('test/support/segment-double-cli.ts', ['--write-key', WRITE_KEY]);
  const output = new ChildOutput('Segment double', child);
  let statsLine: string | undefined;
  output.onLine = (line) => {
    if (line.includes('stopping; stats ')) statsLine = line;
  };
  const ready = await output.waitFor((line) => line.startsWith('{"url"'), 30_000);
  const { url } = JSON.parse(ready) as { url: string };
  return {
    url,
    pid: child.pid!,
    async stop() {
      await stopChild(child);
      const json = statsLine?.slice(statsLine.indexOf('stats ') + 'stats '.length);
      if (!json) throw new Error(`Segment double printed no final stats line:\n${output.tail.join('\n')}`);
      return JSON.parse(json) as DoubleStats;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// /proc sampling: memory of the worker, CPU of every process involved
// ---------------------------------------------------------------------------------------------

const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** VmRSS / VmHWM of a process in bytes (the kernel reports kB = KiB). */
export function parseProcStatusMemory(status: string): { rss: number; hwm: number } {
  const field = (name: string) => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match ? Number(match[1]) * 1024 : 0;
  };
  return { rss: field('VmRSS'), hwm: field('VmHWM') };
}

/** User + system CPU seconds from /proc/<pid>/stat (fields 14 and 15, counted after the `(comm)` field). */
export function parseProcStatCpuSeconds(stat: string, ticksPerSecond = CLOCK_TICKS): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

function cpuSeconds(pid: number): number {
  try {
    return parseProcStatCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return NaN;
  }
}

function memoryOf(pid: number): { rss: number; hwm: number } | undefined {
  try {
    return parseProcStatusMemory(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds all processes of the machine spent since boot (user + nice + system, from the first line of
 * /proc/stat). Interrupt time is left out: the loopback traffic of the run itself is handled there.
 */
export function parseProcStatBusySeconds(procStat: string, ticksPerSecond = CLOCK_TICKS): number {
  const [, user, nice, system] = (procStat.split('\n')[0] ?? '').trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0)) / ticksPerSecond;
}

/**
 * CPU seconds used during one run by each process of interest, by the bench itself, and by everything else on
 * the machine: on a shared 2-core machine "everything else" decides whether the figures can be trusted.
 */
function startCpuMeter(pids: Record<string, number>) {
  const machine = () => parseProcStatBusySeconds(readFileSync('/proc/stat', 'utf8'));
  const before = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid)]));
  const machineBefore = machine();
  const selfBefore = process.cpuUsage();
  return () => {
    const used = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuSeconds(pid) - (before[name] ?? 0)]));
    const self = process.cpuUsage(selfBefore);
    const selfSeconds = (self.user + self.system) / 1e6;
    const ours = Object.values(used).reduce((sum, seconds) => sum + seconds, selfSeconds);
    return { used, self: selfSeconds, others: Math.max(0, machine() - machineBefore - ours) };
  };
}

/** Samples a process's resident memory every 200 ms; the kernel's VmHWM catches peaks between samples. */
class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  maxSampled = 0;
  samples = 0;

  constructor(private readonly pid: number) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), SAMPLE_INTERVAL_MS);
  }

  private sample(): void {
    const memory = memoryOf(this.pid);
    if (!memory) return;
    this.samples += 1;
    this.maxSampled = Math.max(this.maxSampled, memory.rss);
  }

  /** Stops sampling and returns the kernel's high-water mark (must be called while the process is alive). */
  stop(): { maxSampled: number; hwm: number } {
    this.sample();
    clearInterval(this.timer);
    return { maxSampled: this.maxSampled, hwm: memoryOf(this.pid)?.hwm ?? NaN };
  }
}

// ---------------------------------------------------------------------------------------------
// The ceiling: a bare undici loop posting the same batches
// ---------------------------------------------------------------------------------------------

async function* fileLines(file: string): AsyncGenerator<string> {
  let partial = '';
  for await (const chunk of createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const lines = (partial + (chunk as string)).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.length > 0) yield line;
  }
  if (partial.length > 0) yield partial;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
  node[path[path.length - 1]!] = value;
}

/**
 * The minimum any sender must do per row: NDJSON lines are JSON.parse'd; CSV lines are split into fields
 * (with segflow's own splitter, the fastest one here; the generated file has no quoted newlines) and mapped
 * onto an object by the generator's header (JSON columns parsed, dotted columns nested).
 */
async function* bareRows(file: string, format: BenchFormat): AsyncGenerator<Record<string, unknown>> {
  let header: string[] | undefined;
  for await (const line of fileLines(file)) {
    if (format === 'ndjson') {
      yield JSON.parse(line) as Record<string, unknown>;
      continue;
    }
    const split = splitCsvFields(line);
    if (split.error !== undefined) throw new Error(`bare loop: bad CSV line: ${split.error}`);
    if (!header) {
      header = split.values;
      continue;
    }
    const row: Record<string, unknown> = {};
    header.forEach((column, i) => {
      const cell = split.values[i];
      if (!cell) return;
      if (column === 'properties' || column === 'traits') row[column] = JSON.parse(cell);
      else if (column.includes('.')) setPath(row, column.split('.'), cell);
      else row[column] = cell;
    });
    yield row;
  }
}

interface SendRun {
  events: number;
  batches: number;
  ms: number;
  /** CPU seconds of the process that read, serialized and posted (the bench process for the bare loop). */
  senderCpu: number;
  doubleCpu: number;
  /** CPU seconds used by processes that are not part of the run: noise from whatever else the machine does. */
  othersCpu: number;
}

/**
 * Reads the file, builds batches with the same BatchBuilder limits as segflow, and keeps `concurrency` requests in
 * flight (segflow runs `concurrency` chunks, each with one request at a time). No Temporal, no validation,
 * no retries, no reject report. A missing messageId gets a random UUID, as every Segment library does, which
 * also keeps each event the same size as segflow's (a 36-character UUID) and so the batches the same.
 */
async function runBareLoop(file: string, format: BenchFormat, url: string, doublePid: number, concurrency: number, limits: BatchLimits): Promise<SendRun> {
  const agent = new Agent({ connections: 32, keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000 });
  const authorization = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
  const batchUrl = `${url}/v1/batch`;
  const inFlight = new Set<Promise<void>>();
  const builder = new BatchBuilder(limits);
  let events = 0;
  let batches = 0;

  const post = async (body: string, count: number): Promise<void> => {
    const response = await request(batchUrl, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', authorization, 'user-agent': 'segflow-bench/bare' },
      body,
    });
    const text = await response.body.text();
    if (response.statusCode !== 200) throw new Error(`bare loop: /v1/batch answered ${response.statusCode}: ${text.slice(0, 200)}`);
    events += count;
    batches += 1;
  };
  const flush = async (): Promise<void> => {
    const batch = builder.takeEvents();
    if (batch.length === 0) return;
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    const sending = post(renderBatchBody(batch, new Date().toISOString()), batch.length);
    const tracked = sending.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };

  const stopMeter = startCpuMeter({ double: doublePid });
  const started = performance.now();
  for await (const row of bareRows(file, format)) {
    if (typeof row.messageId !== 'string') row.messageId = randomUUID();
    const serialized = JSON.stringify(row);
    const bytes = Buffer.byteLength(serialized);
    if (!builder.tryAdd(serialized, bytes)) {
      await flush();
      if (!builder.tryAdd(serialized, bytes)) throw new Error('bare loop: an event does not fit an empty batch');
    }
  }
  await flush();
  await Promise.all(inFlight);
  const ms = performance.now() - started;
  const cpu = stopMeter();
  await agent.close();
  return { events, batches, ms, senderCpu: cpu.self, doubleCpu: cpu.used.double ?? NaN, othersCpu: cpu.others };
}

// ---------------------------------------------------------------------------------------------
// segflow: dev server, worker process, import started and awaited from here
// ---------------------------------------------------------------------------------------------

interface SegflowRun extends SendRun {
  status: ImportStatus | undefined;
  error?: string;
  temporalCpu: number;
  idleRss: number;
  maxSampledRss: number;
  peakRss: number;
  profileDir?: string;
}

async function startWorker(temporalAddress: string, doubleUrl: string, bundlePath: string, reportDir: string, extraNodeArgs: string[]) {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    SEGFLOW_TASK_QUEUE: TASK_QUEUE,
    SEGMENT_TRACKING_URL: doubleUrl,
    SEGMENT_WRITE_KEY: WRITE_KEY,
    SEGFLOW_REPORT_DIR: reportDir,
    // Built once by the bench, as a deployed worker would ship it: bundling at start (webpack) would put
    // a start-up spike into the peak RSS that has nothing to do with importing.
    SEGFLOW_WORKFLOW_BUNDLE: bundlePath,
  };
  // The compiled worker (`npm run build`), as `segflow worker` and the container image run it: no TypeScript
  // loader in the measured process.
  execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
  const child = spawn(process.execPath, [...extraNodeArgs, join(ROOT, 'dist/cli.js'), 'worker'], {
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

async function runSegflow(
  file: string,
  options: BenchOptions,
  server: DevServer,
  doubleUrl: string,
  doublePid: number,
  scratch: string,
): Promise<SegflowRun> {
  const bundle = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quietBundlerLogger });
  const bundlePath = join(CACHE_DIR, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  const profileDir = options.cpuProfile ? join(CACHE_DIR, 'profiles', new Date().toISOString().replace(/[:.]/g, '-')) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  const nodeArgs = [...options.workerNodeOptions, ...(profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [])];
  const workers = await Promise.all(
    Array.from({ length: options.workers }, () => startWorker(server.address, doubleUrl, bundlePath, join(scratch, 'reports'), nodeArgs)),
  );
  const workerPids = workers.map((worker) => worker.pid!);
  const idleRss = Math.max(...workerPids.map((pid) => memoryOf(pid)?.rss ?? NaN));
  const samplers = workerPids.map((pid) => new RssSampler(pid));
  const sc = await connectClient({ TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: 'default', SEGFLOW_TASK_QUEUE: TASK_QUEUE });
  let progress: NodeJS.Timeout | undefined;
  try {
    const stopMeter = startCpuMeter({
      ...Object.fromEntries(workerPids.map((pid, i) => [`worker${i}`, pid])),
      double: doublePid,
      temporal: server.process!.pid!,
    });
    for (const sampler of samplers) sampler.start();
    const started = performance.now();
    // An explicit id skips hashing the whole file for the default id, which is not import work.
    const { jobId } = await startImport(sc, { file, format: options.format, concurrency: options.concurrency, jobId: `bench-${randomUUID()}` });
    progress = setInterval(() => void reportProgress(sc, jobId, options.events, started), 5_000);
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
    const run: SegflowRun = {
      status,
      error,
      events: status?.events.sent ?? 0,
      batches: status?.batches.sent ?? 0,
      ms,
      senderCpu: workerPids.reduce((sum, _, i) => sum + (cpu.used[`worker${i}`] ?? NaN), 0),
      doubleCpu: cpu.used.double ?? NaN,
      temporalCpu: cpu.used.temporal ?? NaN,
      // The bench process only polls for progress here; count it with the noise.
      othersCpu: cpu.others + cpu.self,
      idleRss,
      maxSampledRss: Math.max(...memory.map((m) => m.maxSampled)),
      peakRss: Math.max(...memory.map((m) => m.hwm)),
      profileDir,
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
async function ensureGzip(path: string): Promise<{ path: string; bytes: number }> {
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


function innermostMessage(error: unknown): string {
  let current = error as { message?: string; cause?: unknown };
  while (current.cause) current = current.cause as typeof current;
  return current.message ?? String(error);
}

// ---------------------------------------------------------------------------------------------
// CPU profile summary (--cpu-prof): where the worker's main thread spent its time
// ---------------------------------------------------------------------------------------------

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Pipeline steps, recognised by the file of a stack frame. V8 builtins (JSON.parse, JSON.stringify, Buffer
 * methods) and Node internals have no project file, so a sample is charged to the nearest frame up its stack
 * that matches: JSON.parse called by RowConverter.convert counts as row conversion, a socket write under
 * undici as HTTP.
 */
const PROFILE_STEPS: Array<[RegExp, string]> = [
  [/node:internal\/crypto|src\/core\/message-id/, 'messageId (SHA-1 UUIDv5)'],
  [/src\/core\/message-schema|node_modules\/zod\//, 'validation (zod, timestamps)'],
  [/src\/core\/row-to-message|src\/core\/csv-mapping/, 'row conversion (JSON.parse/stringify, copies)'],
  [/src\/core\/batch-builder/, 'batch building and body rendering'],
  [/src\/io\/|node:internal\/fs\/|^node:fs$/, 'file reading and record scanning'],
  [/src\/segment\/|node_modules\/undici\/|^node:net$|node:internal\/stream_base_commons/, 'HTTP (undici, sockets)'],
  [/node_modules\/@temporalio\/|protobufjs/, 'Temporal SDK (polling, heartbeats, completions)'],
  [/src\/activities\//, 'activity loop (processChunk itself)'],
  [/node_modules\/tsx\/|esbuild/, 'tsx loader (running from sources)'],
];

export function profileStep(url: string): string | undefined {
  for (const [pattern, step] of PROFILE_STEPS) if (pattern.test(url)) return step;
  return undefined;
}

function stepOfSample(node: ProfileNode, parentOf: Map<number, ProfileNode>): string {
  const name = node.callFrame.functionName;
  if (name === '(garbage collector)') return 'garbage collection';
  if (name === '(idle)') return 'idle (waiting for I/O)';
  if (name === '(program)') return 'V8 / native, outside JavaScript';
  // Planning reads the whole file with the same scanner as the chunks do: tell the two passes apart.
  for (let frame: ProfileNode | undefined = node; frame; frame = parentOf.get(frame.id)) {
    if (frame.callFrame.functionName === 'planChunks' && /\/src\//.test(frame.callFrame.url)) return 'planning (a first pass over the file for chunk boundaries)';
  }
  for (let frame: ProfileNode | undefined = node; frame; frame = parentOf.get(frame.id)) {
    const step = profileStep(frame.callFrame.url);
    if (step) return step;
  }
  return 'Node runtime (event loop, streams, timers, promises)';
}

/** Self time per pipeline step and per function of one V8 CPU profile. */
export function summarizeProfile(profile: CpuProfile): { totalMicros: number; steps: Map<string, number>; functions: Map<string, number> } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node);
  const selfMicros = new Map<number, number>();
  profile.samples.forEach((id, i) => selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const steps = new Map<string, number>();
  const functions = new Map<string, number>();
  let totalMicros = 0;
  for (const [id, micros] of selfMicros) {
    const node = byId.get(id);
    if (!node) continue;
    totalMicros += micros;
    const step = stepOfSample(node, parentOf);
    steps.set(step, (steps.get(step) ?? 0) + micros);
    const file = node.callFrame.url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '');
    const key = `${node.callFrame.functionName || '(anonymous)'}${file ? ` ${file}` : ''}`;
    functions.set(key, (functions.get(key) ?? 0) + micros);
  }
  return { totalMicros, steps, functions };
}

/** V8 names profiles CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile; thread 0 is the main thread. */
function profileThreadId(fileName: string): number {
  return Number(fileName.split('.')[4] ?? NaN);
}

export function printProfiles(dir: string): string {
  const files = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'));
  if (files.length === 0) return `no CPU profile was written to ${dir}`;
  const out: string[] = [];
  const rows = (map: Map<string, number>, total: number, limit: number) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, micros]) => `  ${(micros / 1e6).toFixed(2).padStart(6)} s ${((100 * micros) / total).toFixed(1).padStart(5)} %  ${name}`);
  for (const file of files.sort((a, b) => profileThreadId(a) - profileThreadId(b))) {
    const summary = summarizeProfile(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile);
    const idle = summary.steps.get('idle (waiting for I/O)') ?? 0;
    const busy = ((summary.totalMicros - idle) / 1e6).toFixed(1);
    if (profileThreadId(file) !== 0) {
      // The other threads are the workflow thread (Temporal runs workflow code there) and tsx's loader thread.
      out.push(`worker thread ${profileThreadId(file)}: ${busy} s busy of ${(summary.totalMicros / 1e6).toFixed(1)} s (${file})`);
      continue;
    }
    out.push(
      `Worker main thread (activities run here): ${busy} s busy of ${(summary.totalMicros / 1e6).toFixed(1)} s profiled, ` +
        'whole worker life including start-up. Self time by pipeline step:',
      ...rows(summary.steps, summary.totalMicros, 20),
      'Top functions by self time (V8 builtins such as JSON.parse are inside their caller):',
      ...rows(summary.functions, summary.totalMicros, 15),
      `(profile: ${join(dir, file)}; open it in Chrome DevTools or VS Code for the call tree)`,
    );
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
const rate = (run: SendRun) => run.events / (run.ms / 1000);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length)));
  return rows.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('   ').trimEnd()).join('\n');
}

interface DeliveryCheck {
  ok: boolean;
  problems: string[];
}

/** Every generated event sent once, and seen by the double under a distinct messageId. */
export function checkDelivery(expected: number, sent: number, stats: DoubleStats): DeliveryCheck {
  const problems: string[] = [];
  if (sent !== expected) problems.push(`sent ${sent} of ${expected} events`);
  const uniqueClientIds = stats.accepted - stats.missingMessageIds;
  if (uniqueClientIds !== expected) problems.push(`the double accepted ${uniqueClientIds} distinct messageIds, expected ${expected}`);
  if (stats.missingMessageIds > 0) problems.push(`${stats.missingMessageIds} events arrived without a messageId`);
  if (stats.dropped > 0) problems.push(`the double dropped ${stats.dropped} events as malformed`);
  if (stats.rejected400 > 0) problems.push(`${stats.rejected400} requests were answered 400`);
  return { ok: problems.length === 0, problems };
}

function report(options: BenchOptions, fileBytes: number, segflow: SegflowRun, segflowDouble: DoubleStats, bare: SendRun, bareDouble: DoubleStats): string {
  const ratio = rate(segflow) / rate(bare);
  // Other work on the machine takes cores from the two runs unevenly, which makes the ratio meaningless.
  const busy = segflow.othersCpu / (segflow.ms / 1000) > 0.1 || bare.othersCpu / (bare.ms / 1000) > 0.1;
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  const perWorker = options.workers > 1 ? ` (largest of ${options.workers} workers)` : '';
  const cpuCell = (seconds: number, ms: number) => `${seconds.toFixed(1)} s (${((100 * seconds) / (ms / 1000)).toFixed(0)} % of one core)`;
  const results = table([
    ['', 'segflow (Temporal)', 'bare undici loop'],
    ['events sent', fmtInt(segflow.events), fmtInt(bare.events)],
    ['batches (requests)', fmtInt(segflow.batches), fmtInt(bare.batches)],
    ['largest batch', `${fmtInt(segflowDouble.maxEventsInBatch)} events / ${fmtInt(segflowDouble.maxBatchBytes)} B`, `${fmtInt(bareDouble.maxEventsInBatch)} events / ${fmtInt(bareDouble.maxBatchBytes)} B`],
    ['wall time', `${(segflow.ms / 1000).toFixed(1)} s`, `${(bare.ms / 1000).toFixed(1)} s`],
    ['events/s', fmtInt(rate(segflow)), fmtInt(rate(bare))],
    [options.workers > 1 ? `CPU, sender processes (${options.workers} workers)` : 'CPU, sender process', cpuCell(segflow.senderCpu, segflow.ms), cpuCell(bare.senderCpu, bare.ms)],
    ['CPU, Segment double', cpuCell(segflow.doubleCpu, segflow.ms), cpuCell(bare.doubleCpu, bare.ms)],
    ['CPU, Temporal server', cpuCell(segflow.temporalCpu, segflow.ms), '-'],
    ['CPU, everything else (noise)', cpuCell(segflow.othersCpu, segflow.ms), cpuCell(bare.othersCpu, bare.ms)],
    [`worker RSS idle / max sampled${perWorker}`, `${fmtMb(segflow.idleRss)} / ${fmtMb(segflow.maxSampledRss)}`, '-'],
    [`worker peak RSS (VmHWM)${perWorker}`, fmtMb(segflow.peakRss), '-'],
  ]);
  const targets = table([
    ['target', 'measured', 'goal', 'result'],
    ['segflow rate / bare-loop rate', `${(100 * ratio).toFixed(1)} %`, `>= ${100 * TARGET_RATIO} %`, verdict(ratio >= TARGET_RATIO)],
    ['worker peak RSS', fmtMb(segflow.peakRss), `< ${TARGET_PEAK_RSS_MB} MB`, verdict(segflow.peakRss < TARGET_PEAK_RSS_MB * MB)],
  ]);
  return [
    '',
    `segflow import benchmark: ${fmtInt(options.events)} events, ${options.format}, ${fmtMb(fileBytes)}, ` +
      `concurrency ${options.concurrency}, ${options.workers} worker process${options.workers > 1 ? 'es' : ''}, ${cpus().length} CPUs, Node ${process.version}` +
      (options.workerNodeOptions.length > 0 ? `, worker node options: ${options.workerNodeOptions.join(' ')}` : ''),
    ...(busy ? ['', 'NOTE: other processes used more than 10% of a core during a run: the figures are not reliable, run again on a quiet machine.'] : []),
    '',
    results,
    '',
    targets,
    '',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const options = parseBenchArgs(process.argv.slice(2));
  const limits: BatchLimits = { maxEventsPerBatch: IMPORT_DEFAULTS.maxEventsPerBatch, maxBatchBytes: IMPORT_DEFAULTS.maxBatchBytes };
  const log = (message: string) => process.stderr.write(`bench: ${message}\n`);

  log(`input: ${fmtInt(options.events)} ${options.format} events (cached under ${CACHE_DIR})`);
  const input = await ensureEventsFile(CACHE_DIR, options.events, options.format);
  log(`${input.generated ? 'generated' : 'reusing'} ${input.path} (${fmtMb(input.bytes)})`);
  const scratch = mkdtempSync(join(tmpdir(), 'segflow-bench-'));
  installCleanupHandlers(scratch);

  let server: DevServer | undefined;
  try {
    // The ceiling first, while no Temporal server competes for the two cores.
    log(`bare undici loop: ${options.concurrency} requests in flight...`);
    const bareDouble = await startSegmentDouble();
    const bare = await runBareLoop(input.path, options.format, bareDouble.url, bareDouble.pid, options.concurrency, limits);
    const bareStats = await bareDouble.stop();
    log(`bare loop: ${fmtInt(bare.events)} events in ${(bare.ms / 1000).toFixed(1)} s`);

    log('starting a Temporal dev server, a Segment double and a segflow worker...');
    // The installed CLI, not the SDK's download: the bench measures the server process's CPU by its pid.
    server = await startDevServer({ cliPath: findTemporalCli(), uiPort: false, stdio: 'ignore' });
    if (server.process) children.add(server.process);
    const segflowDouble = await startSegmentDouble();
    log(`segflow import: concurrency ${options.concurrency}...`);
    const segflow = await runSegflow(input.path, options, server, segflowDouble.url, segflowDouble.pid, scratch);
    const segflowStats = await segflowDouble.stop();

    if (segflow.error !== undefined || segflow.status?.state !== 'completed') {
      process.stdout.write(`\nsegflow import FAILED: ${segflow.error ?? `ended in state ${segflow.status?.state}`}\n`);
      return 1;
    }
    process.stdout.write(report(options, input.bytes, segflow, segflowStats, bare, bareStats));

    if (segflow.profileDir) process.stdout.write(`${printProfiles(segflow.profileDir)}\n\n`);

    const gzInput = await ensureGzip(input.path);
    log(`segflow import of ${gzInput.path} (${fmtMb(gzInput.bytes)}): staged, then imported...`);
    const gzDouble = await startSegmentDouble();
    const gz = await runSegflow(gzInput.path, { ...options, cpuProfile: false }, server, gzDouble.url, gzDouble.pid, scratch);
    const gzStats = await gzDouble.stop();
    const gzCheck = checkDelivery(options.events, gz.events, gzStats);
    if (gz.error !== undefined || gz.status?.state !== 'completed') gzCheck.problems.push(`import failed: ${gz.error ?? gz.status?.state}`);
    process.stdout.write(
      `\n.gz input (${fmtMb(gzInput.bytes)} compressed, staged to a plain file first)\n\n` +
        table([
          ['', 'segflow, .gz input', 'segflow, plain input'],
          ['events sent', fmtInt(gz.events), fmtInt(segflow.events)],
          ['wall time (incl. staging)', `${(gz.ms / 1000).toFixed(1)} s`, `${(segflow.ms / 1000).toFixed(1)} s`],
          ['events/s', fmtInt(rate(gz)), fmtInt(rate(segflow))],
          ['worker peak RSS (VmHWM)', fmtMb(gz.peakRss), fmtMb(segflow.peakRss)],
        ]) +
        `\ndelivery (.gz): ${gzCheck.problems.length === 0 ? 'OK' : `LOST EVENTS: ${gzCheck.problems.join('; ')}`}\n\n`,
    );

    const segflowCheck = checkDelivery(options.events, segflow.events, segflowStats);
    const bareCheck = checkDelivery(options.events, bare.events, bareStats);
    const rejected = segflow.status.rows.rejected;
    if (rejected > 0) segflowCheck.problems.push(`${rejected} rows rejected (the generated file should have none)`);
    process.stdout.write(
      `delivery: segflow ${segflowCheck.problems.length === 0 ? 'OK' : `LOST EVENTS: ${segflowCheck.problems.join('; ')}`}` +
        ` (duplicates seen by the double: ${segflowStats.duplicates}); ` +
        `bare loop ${bareCheck.ok ? 'OK' : `LOST EVENTS: ${bareCheck.problems.join('; ')}`}\n`,
    );
    return segflowCheck.problems.length === 0 && bareCheck.ok && gzCheck.problems.length === 0 ? 0 : 1;
  } finally {
    await stopAllChildren();
    await server?.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    async (error: unknown) => {
      process.stderr.write(`bench: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
      await stopAllChildren();
      process.exit(1);
    },
  );
}
