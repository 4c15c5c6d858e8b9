/**
 * `npm run bench`: how fast segflow moves a large historical file into Segment, and at what memory cost,
 * compared with the fastest thing that could do the same job (a bare undici loop). See bench/README.md.
 *
 *   npm run bench -- [--events 1000000] [--format ndjson|csv] [--concurrency 4] [--cpu-prof]
 *
 * Figures are printed, never asserted: the exit code is non-zero only when the import failed or events were
 * lost (sent != generated, or the Segment double did not see every messageId exactly once).
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { connectClient, getJobStatus, IMPORT_DEFAULTS, startImport, type SegflowClient } from '../src/client';
import { BatchBuilder, renderBatchBody, type BatchLimits } from '../src/core/batch-builder';
import { startDevServer, type DevServer } from '../src/dev/dev-server';
import { splitCsvFields } from '../src/io/chunk-planner';
import { workflowsPath } from '../src/worker';
import type { ImportStatus } from '../src/workflows/import-contract';
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
}

export function parseBenchArgs(argv: string[]): BenchOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      events: { type: 'string', default: '1000000' },
      format: { type: 'string', default: 'ndjson' },
      concurrency: { type: 'string', default: String(IMPORT_DEFAULTS.concurrency) },
      'cpu-prof': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const events = Number(values.events.replace(/_/g, ''));
  const concurrency = Number(values.concurrency);
  if (!Number.isInteger(events) || events < 1) throw new Error(`--events must be a positive integer, got ${values.events}`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`--concurrency must be a positive integer, got ${values.concurrency}`);
  if (values.format !== 'ndjson' && values.format !== 'csv') throw new Error(`--format must be ndjson or csv, got ${values.format}`);
  return { events, format: values.format, concurrency, cpuProfile: values['cpu-prof'] };
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one is registered so Ctrl-C, an error or a normal end stops them all
// ---------------------------------------------------------------------------------------------

const children = new Set<ChildProcess>();

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
}

async function stopAllChildren(): Promise<void> {
  await Promise.all([...children].map((child) => stopChild(child, 5_000)));
}

// Last resort on any exit path (uncaught error, process.exit): nothing may outlive the benchmark.
process.on('exit', () => {
  for (const child of children) if (!exited(child)) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\nbench: ${signal}, stopping child processes...\n`);
    stopAllChildren().finally(() => process.exit(130));
  });
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
  child.once('exit', () => children.delete(child));
  return child;
}

/** Keeps the last lines a child wrote (for error messages) and calls `onLine` for each. */
function collectLines(stream: NodeJS.ReadableStream, keep: string[], onLine?: (line: string) => void, max = 50): void {
  let partial = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    const lines = (partial + text).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) {
      keep.push(line);
      if (keep.length > max) keep.shift();
      onLine?.(line);
    }
  });
}

function waitForLine(child: ChildProcess, name: string, tail: string[], match: (line: string) => boolean, streams: NodeJS.ReadableStream[], timeoutMs: number): Promise<string> {
  return new Promise((resolveLine, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} not ready after ${timeoutMs} ms:\n${tail.join('\n')}`)), timeoutMs);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (code ${code}) before it was ready:\n${tail.join('\n')}`));
    };
    child.once('exit', onExit);
    for (const stream of streams) {
      collectLines(stream, tail, (line) => {
        if (match(line)) {
          clearTimeout(timer);
          child.off('exit', onExit);
          resolveLine(line);
        }
      });
    }
  });
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
  const tail: string[] = [];
  let statsLine: string | undefined;
  // One stderr line per request: read continuously, or the pipe fills and the double stalls.
  collectLines(child.stderr!, tail, (line) => {
    if (line.includes('stopping; stats ')) statsLine = line;
  });
  const ready = await waitForLine(child, 'Segment double', tail, (line) => line.startsWith('{'), [child.stdout!], 30_000);
  const { url } = JSON.parse(ready) as { url: string };
  return {
    url,
    pid: child.pid!,
    async stop() {
      await stopChild(child);
      const json = statsLine?.slice(statsLine.indexOf('stats ') + 'stats '.length);
      if (!json) throw new Error(`Segment double printed no final stats line:\n${tail.join('\n')}`);
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

  const cpuBefore = process.cpuUsage();
  const doubleCpuBefore = cpuSeconds(doublePid);
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
  const cpu = process.cpuUsage(cpuBefore);
  await agent.close();
  return { events, batches, ms, senderCpu: (cpu.user + cpu.system) / 1e6, doubleCpu: cpuSeconds(doublePid) - doubleCpuBefore };
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

async function startWorker(temporalAddress: string, doubleUrl: string, bundlePath: string, reportDir: string, profileDir?: string) {
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
  const nodeArgs = profileDir ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [];
  const child = spawnTypeScript('src/cli.ts', ['worker'], { env, nodeArgs });
  const tail: string[] = [];
  collectLines(child.stdout!, tail);
  await waitForLine(child, 'segflow worker', tail, (line) => line.includes('polling task queue'), [child.stderr!], 120_000);
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
  const bundle = await bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: quietLogger });
  const bundlePath = join(CACHE_DIR, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  const profileDir = options.cpuProfile ? join(CACHE_DIR, 'profiles', new Date().toISOString().replace(/[:.]/g, '-')) : undefined;
  if (profileDir) mkdirSync(profileDir, { recursive: true });

  const worker = await startWorker(server.address, doubleUrl, bundlePath, join(scratch, 'reports'), profileDir);
  const workerPid = worker.pid!;
  const idleRss = memoryOf(workerPid)?.rss ?? NaN;
  const sampler = new RssSampler(workerPid);
  const sc = await connectClient({ TEMPORAL_ADDRESS: server.address, TEMPORAL_NAMESPACE: 'default', SEGFLOW_TASK_QUEUE: TASK_QUEUE });
  let progress: NodeJS.Timeout | undefined;
  try {
    const cpuBefore = { worker: cpuSeconds(workerPid), double: cpuSeconds(doublePid), temporal: cpuSeconds(server.process.pid!) };
    sampler.start();
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
    const memory = sampler.stop();
    const run: SegflowRun = {
      status,
      error,
      events: status?.events.sent ?? 0,
      batches: status?.batches.sent ?? 0,
      ms,
      senderCpu: cpuSeconds(workerPid) - cpuBefore.worker,
      doubleCpu: cpuSeconds(doublePid) - cpuBefore.double,
      temporalCpu: cpuSeconds(server.process.pid!) - cpuBefore.temporal,
      idleRss,
      maxSampledRss: memory.maxSampled,
      peakRss: memory.hwm,
      profileDir,
    };
    // A graceful stop, so --cpu-prof gets to write its profile.
    await stopChild(worker, 30_000);
    return run;
  } finally {
    clearInterval(progress);
    await sc.close();
  }
}

async function reportProgress(sc: SegflowClient, jobId: string, total: number, started: number): Promise<void> {
  try {
    const status = await getJobStatus(sc, jobId);
    const sent = (status.events as { sent?: number } | undefined)?.sent ?? 0;
    const seconds = (performance.now() - started) / 1000;
    process.stderr.write(`  segflow: ${status.state}, ${fmtInt(sent)} / ${fmtInt(total)} events sent after ${seconds.toFixed(0)} s\n`);
  } catch {
    // Progress is cosmetic; a query that fails while a workflow task runs is simply skipped.
  }
}

const quietLogger = {
  log() {},
  trace() {},
  debug() {},
  info() {},
  warn(message: string) {
    process.stderr.write(`${message}\n`);
  },
  error(message: string) {
    process.stderr.write(`${message}\n`);
  },
};

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

/** Which part of the pipeline a function belongs to, judged by its file. */
export function profileCategory(url: string, functionName: string): string {
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(program)' || functionName === '(root)') return 'native / program';
  const rules: Array<[RegExp, string]> = [
    [/src\/core\/message-schema|node_modules\/zod/, 'validation (zod, timestamps)'],
    [/src\/core\/message-id/, 'messageId (UUIDv5)'],
    [/src\/core\/row-to-message|src\/core\/csv-mapping/, 'row conversion'],
    [/src\/core\/batch-builder/, 'batch building'],
    [/src\/io\//, 'file reading / record scanning'],
    [/src\/segment\/|node_modules\/undici/, 'HTTP (undici)'],
    [/src\/activities\//, 'activity loop'],
    [/node_modules\/@temporalio|node_modules\/protobufjs|node_modules\/long/, 'Temporal SDK'],
    [/node_modules\/tsx|node_modules\/esbuild/, 'tsx loader'],
    [/^node:|^internal\//, 'Node internals (streams, fs, net, timers)'],
  ];
  for (const [pattern, name] of rules) if (pattern.test(url)) return name;
  if (url === '') {
    // V8 builtins carry no url; JSON.parse/stringify are the interesting ones.
    if (/JSON|stringify|parse/i.test(functionName)) return `JSON (${functionName})`;
    return `builtins (${functionName || 'anonymous'})`;
  }
  return 'other';
}

function summarizeProfile(path: string): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfMicros = new Map<number, number>();
  profile.samples.forEach((id, i) => selfMicros.set(id, (selfMicros.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const categories = new Map<string, number>();
  const functions = new Map<string, number>();
  let total = 0;
  for (const [id, micros] of selfMicros) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    total += micros;
    const category = profileCategory(frame.url, frame.functionName);
    categories.set(category, (categories.get(category) ?? 0) + micros);
    const file = frame.url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '');
    const key = `${frame.functionName || '(anonymous)'} ${file}${file ? `:${frame.lineNumber + 1}` : ''}`;
    functions.set(key, (functions.get(key) ?? 0) + micros);
  }
  const rows = (map: Map<string, number>, limit: number) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, micros]) => `  ${(micros / 1e6).toFixed(2).padStart(7)} s ${((100 * micros) / total).toFixed(1).padStart(5)} %  ${name}`)
      .join('\n');
  return [
    `Worker main-thread CPU profile (${(total / 1e6).toFixed(1)} s sampled), self time by category:`,
    rows(categories, 20),
    'Top functions by self time:',
    rows(functions, 25),
  ].join('\n');
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
  const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
  const cpuCell = (seconds: number, ms: number) => `${seconds.toFixed(1)} s (${((100 * seconds) / (ms / 1000)).toFixed(0)} % of one core)`;
  const results = table([
    ['', 'segflow (Temporal)', 'bare undici loop'],
    ['events sent', fmtInt(segflow.events), fmtInt(bare.events)],
    ['batches (requests)', fmtInt(segflow.batches), fmtInt(bare.batches)],
    ['largest batch', `${fmtInt(segflowDouble.maxEventsInBatch)} events / ${fmtInt(segflowDouble.maxBatchBytes)} B`, `${fmtInt(bareDouble.maxEventsInBatch)} events / ${fmtInt(bareDouble.maxBatchBytes)} B`],
    ['wall time', `${(segflow.ms / 1000).toFixed(1)} s`, `${(bare.ms / 1000).toFixed(1)} s`],
    ['events/s', fmtInt(rate(segflow)), fmtInt(rate(bare))],
    ['CPU, sender process', cpuCell(segflow.senderCpu, segflow.ms), cpuCell(bare.senderCpu, bare.ms)],
    ['CPU, Segment double', cpuCell(segflow.doubleCpu, segflow.ms), cpuCell(bare.doubleCpu, bare.ms)],
    ['CPU, Temporal server', cpuCell(segflow.temporalCpu, segflow.ms), '-'],
    ['worker RSS idle / max sampled', `${fmtMb(segflow.idleRss)} / ${fmtMb(segflow.maxSampledRss)}`, '-'],
    ['worker peak RSS (VmHWM)', fmtMb(segflow.peakRss), '-'],
  ]);
  const targets = table([
    ['target', 'measured', 'goal', 'result'],
    ['segflow rate / bare-loop rate', `${(100 * ratio).toFixed(1)} %`, `>= ${100 * TARGET_RATIO} %`, verdict(ratio >= TARGET_RATIO)],
    ['worker peak RSS', fmtMb(segflow.peakRss), `< ${TARGET_PEAK_RSS_MB} MB`, verdict(segflow.peakRss < TARGET_PEAK_RSS_MB * MB)],
  ]);
  return [
    '',
    `segflow import benchmark: ${fmtInt(options.events)} events, ${options.format}, ${fmtMb(fileBytes)}, ` +
      `concurrency ${options.concurrency}, ${cpus().length} CPUs, Node ${process.version}`,
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

  let server: DevServer | undefined;
  try {
    // The ceiling first, while no Temporal server competes for the two cores.
    log(`bare undici loop: ${options.concurrency} requests in flight...`);
    const bareDouble = await startSegmentDouble();
    const bare = await runBareLoop(input.path, options.format, bareDouble.url, bareDouble.pid, options.concurrency, limits);
    const bareStats = await bareDouble.stop();
    log(`bare loop: ${fmtInt(bare.events)} events in ${(bare.ms / 1000).toFixed(1)} s`);

    log('starting a Temporal dev server, a Segment double and a segflow worker...');
    server = await startDevServer({ uiPort: false, stdio: 'ignore' });
    children.add(server.process);
    const segflowDouble = await startSegmentDouble();
    log(`segflow import: concurrency ${options.concurrency}...`);
    const segflow = await runSegflow(input.path, options, server, segflowDouble.url, segflowDouble.pid, scratch);
    const segflowStats = await segflowDouble.stop();

    if (segflow.error !== undefined || segflow.status?.state !== 'completed') {
      process.stdout.write(`\nsegflow import FAILED: ${segflow.error ?? `ended in state ${segflow.status?.state}`}\n`);
      return 1;
    }
    process.stdout.write(report(options, input.bytes, segflow, segflowStats, bare, bareStats));

    if (segflow.profileDir) {
      const profiles = readdirSync(segflow.profileDir).filter((name) => name.endsWith('.cpuprofile'));
      for (const name of profiles) process.stdout.write(`\n${summarizeProfile(join(segflow.profileDir, name))}\n(profile: ${join(segflow.profileDir, name)})\n`);
      if (profiles.length === 0) process.stdout.write(`\nno CPU profile was written to ${segflow.profileDir}\n`);
    }

    const segflowCheck = checkDelivery(options.events, segflow.events, segflowStats);
    const bareCheck = checkDelivery(options.events, bare.events, bareStats);
    const rejected = segflow.status.rows.rejected;
    if (rejected > 0) segflowCheck.problems.push(`${rejected} rows rejected (the generated file should have none)`);
    process.stdout.write(
      `delivery: segflow ${segflowCheck.problems.length === 0 ? 'OK' : `LOST EVENTS: ${segflowCheck.problems.join('; ')}`}` +
        ` (duplicates seen by the double: ${segflowStats.duplicates}); ` +
        `bare loop ${bareCheck.ok ? 'OK' : `LOST EVENTS: ${bareCheck.problems.join('; ')}`}\n`,
    );
    return segflowCheck.problems.length === 0 && bareCheck.ok ? 0 : 1;
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
