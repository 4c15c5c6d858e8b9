/**
 * `npm run bench`: what a segflow worker costs to move a large historical file into Segment (events/s, CPU seconds,
 * peak and idle memory, Temporal actions), beside the fastest thing that could do the same job (a bare undici loop)
 * and the library a user would pick instead (`@segment/analytics-node`, its defaults), all on the same kind of
 * Segment double in the same run. See bench/README.md.
 *
 *   npm run bench -- [--events 1000000] [--format ndjson|csv] [--concurrency 4] [--workers 1] [--cpu-prof]
 *                    [--worker-node-option=--max-old-space-size=160 ...] [--no-gz] [--no-library]
 *
 * Then the same events from a gzip-compressed copy (`<file>.gz`), which segflow stages to a plain file first
 * (docs/compressed-and-many-files.md): events/s including staging, and the worker's peak RSS.
 *
 * Figures are printed, never asserted: the exit code is non-zero only when an import failed or events were
 * lost (sent != generated, or the Segment double did not see every messageId exactly once).
 *
 * Parts: bench/common.ts (paths, formatting), bench/processes.ts (child processes, the Segment double),
 * bench/proc-stats.ts (/proc sampling), bench/bare-loop.ts, bench/analytics-node-run.ts, bench/segflow-run.ts,
 * bench/temporal-actions.ts, bench/profile.ts, bench/generate.ts (the input file).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { IMPORT_DEFAULTS } from '../src/client';
import type { BatchLimits } from '../src/core/batch-builder';
import { findTemporalCli, freePort, startDevServer, type DevServer } from '../src/dev/dev-server';
import { runAnalyticsNode, type LibraryRun } from './analytics-node-run';
import { runBareLoop } from './bare-loop';
import { CACHE_DIR, fmtInt, fmtMb, MB, rate, table, type SendRun } from './common';
import { ensureEventsFile, type BenchFormat } from './generate';
import { printProfiles } from './profile';
import { children, installCleanupHandlers, startSegmentDouble, stopAllChildren, type DoubleStats } from './processes';
import { ensureGzip, runSegflow, type SegflowRun } from './segflow-run';
import { sum } from './temporal-actions';

/** The targets of issue 10, as ratios to the bare loop and absolute memory (1 MB = 1,000,000 bytes). */
const TARGET_CPU_PER_EVENT_RATIO = 1.5;
const TARGET_RATE_RATIO = 0.8;
const TARGET_PEAK_RSS_MB = 256;
const TARGET_RSS_GROWTH = 0.1;

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
  /** Also import the gzip copy (default on). */
  gz: boolean;
  /** Also run @segment/analytics-node (default on; NDJSON only). */
  library: boolean;
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
      'no-gz': { type: 'boolean', default: false },
      'no-library': { type: 'boolean', default: false },
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
  return {
    events,
    format: values.format,
    concurrency,
    cpuProfile: values['cpu-prof'],
    workerNodeOptions: values['worker-node-option'],
    workers,
    gz: !values['no-gz'],
    library: !values['no-library'] && values.format === 'ndjson',
  };
}

// ---------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------

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

interface Runs {
  segflow: SegflowRun;
  segflowDouble: DoubleStats;
  bare: SendRun;
  bareDouble: DoubleStats;
  library?: LibraryRun;
  libraryDouble?: DoubleStats;
}

const perEventMicros = (run: SendRun) => (1e6 * run.senderCpu) / run.events;
const verdict = (pass: boolean) => (pass ? 'PASS' : 'MISS');
const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;

function report(options: BenchOptions, fileBytes: number, runs: Runs): string {
  const { segflow, segflowDouble, bare, bareDouble, library, libraryDouble } = runs;
  // Other work on the machine takes cores from the runs unevenly, which makes the ratios meaningless.
  const noisy = (run: SendRun) => run.othersCpu / (run.ms / 1000) > 0.1;
  const busy = noisy(segflow) || noisy(bare) || (library !== undefined && noisy(library));
  const perWorker = options.workers > 1 ? ` (largest of ${options.workers} workers)` : '';
  const cpuCell = (seconds: number, ms: number) => `${seconds.toFixed(1)} s (${((100 * seconds) / (ms / 1000)).toFixed(0)} % of one core)`;
  const columns = ['', 'segflow (Temporal)', 'bare undici loop', ...(library ? ['@segment/analytics-node'] : [])];
  const row = (label: string, s: string, b: string, l?: string) => [label, s, b, ...(library ? [l ?? '-'] : [])];
  const largest = (stats: DoubleStats) => `${fmtInt(stats.maxEventsInBatch)} events / ${fmtInt(stats.maxBatchBytes)} B`;
  const results = table([
    columns,
    row('events sent', fmtInt(segflow.events), fmtInt(bare.events), library && fmtInt(library.events)),
    row('batches (requests)', fmtInt(segflow.batches), fmtInt(bare.batches), libraryDouble && fmtInt(libraryDouble.batchRequests)),
    row('largest batch', largest(segflowDouble), largest(bareDouble), libraryDouble && largest(libraryDouble)),
    row('wall time', `${(segflow.ms / 1000).toFixed(1)} s`, `${(bare.ms / 1000).toFixed(1)} s`, library && `${(library.ms / 1000).toFixed(1)} s`),
    row('events/s', fmtInt(rate(segflow)), fmtInt(rate(bare)), library && fmtInt(rate(library))),
    row(
      options.workers > 1 ? `CPU, sender processes (${options.workers} workers)` : 'CPU, sender process',
      cpuCell(segflow.senderCpu, segflow.ms),
      cpuCell(bare.senderCpu, bare.ms),
      library && cpuCell(library.senderCpu, library.ms),
    ),
    row(
      'CPU per event, sender',
      `${perEventMicros(segflow).toFixed(2)} us`,
      `${perEventMicros(bare).toFixed(2)} us`,
      library && `${perEventMicros(library).toFixed(2)} us`,
    ),
    row(
      'CPU, Segment double',
      cpuCell(segflow.doubleCpu, segflow.ms),
      cpuCell(bare.doubleCpu, bare.ms),
      library && cpuCell(library.doubleCpu, library.ms),
    ),
    row('CPU, Temporal server', cpuCell(segflow.temporalCpu, segflow.ms), '-', '-'),
    row(
      'CPU, everything else (noise)',
      cpuCell(segflow.othersCpu, segflow.ms),
      cpuCell(bare.othersCpu, bare.ms),
      library && cpuCell(library.othersCpu, library.ms),
    ),
    row(`sender RSS idle / max sampled${perWorker}`, `${fmtMb(segflow.idleRss)} / ${fmtMb(segflow.maxSampledRss)}`, '-', '-'),
    row(`sender peak RSS (VmHWM)${perWorker}`, fmtMb(segflow.peakRss), '-', library && fmtMb(library.peakRss)),
    row(
      'RSS, 2nd half vs 1st quarter of the run',
      Number.isNaN(segflow.rssGrowth) ? 'run too short' : `${segflow.rssGrowth >= 0 ? '+' : ''}${pct(segflow.rssGrowth)}`,
      '-',
      '-',
    ),
  ]);
  const ratios = table([
    ['ratio', 'segflow / bare loop', ...(library ? ['segflow / analytics-node', 'analytics-node / bare loop'] : [])],
    ['events/s', ratio(rate(segflow), rate(bare)), ...(library ? [ratio(rate(segflow), rate(library)), ratio(rate(library), rate(bare))] : [])],
    [
      'CPU per event',
      ratio(perEventMicros(segflow), perEventMicros(bare)),
      ...(library ? [ratio(perEventMicros(segflow), perEventMicros(library)), ratio(perEventMicros(library), perEventMicros(bare))] : []),
    ],
    ...(library ? [['peak RSS', '-', ratio(segflow.peakRss, library.peakRss), '-']] : []),
  ]);
  const cpuRatio = perEventMicros(segflow) / perEventMicros(bare);
  const rateRatio = rate(segflow) / rate(bare);
  const targets = table([
    ['target (issue 10)', 'measured', 'goal', 'result'],
    [
      'worker CPU per event / bare loop',
      `${cpuRatio.toFixed(2)}x`,
      `<= ${TARGET_CPU_PER_EVENT_RATIO}x`,
      verdict(cpuRatio <= TARGET_CPU_PER_EVENT_RATIO),
    ],
    ['events/s / bare loop', `${rateRatio.toFixed(2)}x`, `>= ${TARGET_RATE_RATIO}x`, verdict(rateRatio >= TARGET_RATE_RATIO)],
    ['worker peak RSS', fmtMb(segflow.peakRss), `<= ${TARGET_PEAK_RSS_MB} MB`, verdict(segflow.peakRss <= TARGET_PEAK_RSS_MB * MB)],
    [
      'worker RSS growth during the run',
      Number.isNaN(segflow.rssGrowth) ? 'run too short' : pct(segflow.rssGrowth),
      `<= +${100 * TARGET_RSS_GROWTH} %`,
      Number.isNaN(segflow.rssGrowth) ? '-' : verdict(segflow.rssGrowth <= TARGET_RSS_GROWTH),
    ],
  ]);
  return [
    '',
    `segflow import benchmark: ${fmtInt(options.events)} events, ${options.format}, ${fmtMb(fileBytes)}, ` +
      `concurrency ${options.concurrency}, ${options.workers} worker process${options.workers > 1 ? 'es' : ''} ` +
      `(${segflow.workerProcesses} process${segflow.workerProcesses > 1 ? 'es' : ''} in its tree, all counted), ${cpus().length} CPUs, Node ${process.version}` +
      (options.workerNodeOptions.length > 0 ? `, worker node options: ${options.workerNodeOptions.join(' ')}` : ''),
    ...(busy
      ? ['', 'NOTE: other processes used more than 10% of a core during a run: the figures are not reliable, run again on a quiet machine.']
      : []),
    '',
    results,
    '',
    ratios,
    '',
    actionsReport(segflow),
    '',
    targets,
    '',
  ].join('\n');
}

/** Temporal actions of the import, from its histories and from the server, and per million events. */
function actionsReport(run: SegflowRun): string {
  const perMillion = (n: number) => fmtInt((n * 1e6) / run.events);
  const rows: string[][] = [['Temporal, for this import', 'count', 'per 1M events']];
  if (run.history) {
    rows.push(['workflow runs (continue-as-new chain)', fmtInt(run.history.runs), perMillion(run.history.runs)]);
    rows.push(['workflow tasks', fmtInt(run.history.workflowTasks), perMillion(run.history.workflowTasks)]);
    for (const [label, n] of Object.entries(run.history.billed)) rows.push([`history: ${label}`, fmtInt(n), perMillion(n)]);
    rows.push(['history: activity retries', fmtInt(run.history.activityRetries), perMillion(run.history.activityRetries)]);
    rows.push(['history events in all', fmtInt(run.history.events), perMillion(run.history.events)]);
  }
  if (run.serverRequests) {
    const heartbeats = (run.serverRequests.RecordActivityTaskHeartbeat ?? 0) + (run.serverRequests.RecordActivityTaskHeartbeatById ?? 0);
    rows.push(['server: heartbeats received', fmtInt(heartbeats), perMillion(heartbeats)]);
    const queries = run.serverRequests.QueryWorkflow ?? 0;
    rows.push([`server: queries (${fmtInt(run.progressQueries)} of them the bench's progress lines)`, fmtInt(queries), perMillion(queries)]);
  }
  if (run.serverActions) {
    for (const [type, n] of Object.entries(run.serverActions).sort((a, b) => b[1] - a[1]))
      rows.push([`server action counter: ${type}`, fmtInt(n), perMillion(n)]);
    const total = sum(run.serverActions);
    rows.push(['server action counter, total', fmtInt(total), perMillion(total)]);
  }
  return table(rows);
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

  let server: (DevServer & { metricsUrl?: string }) | undefined;
  try {
    // The ceiling first, while no Temporal server competes for the two cores.
    log(`bare undici loop: ${options.concurrency} requests in flight...`);
    const bareDouble = await startSegmentDouble();
    const bare = await runBareLoop(input.path, options.format, bareDouble.url, bareDouble.pid, options.concurrency, limits);
    const bareStats = await bareDouble.stop();
    log(`bare loop: ${fmtInt(bare.events)} events in ${(bare.ms / 1000).toFixed(1)} s`);

    let library: LibraryRun | undefined;
    let libraryStats: DoubleStats | undefined;
    if (options.library) {
      log('@segment/analytics-node, its defaults...');
      const libraryDouble = await startSegmentDouble();
      library = await runAnalyticsNode(input.path, libraryDouble.url, libraryDouble.pid);
      libraryStats = await libraryDouble.stop();
      log(`analytics-node: ${fmtInt(library.events)} events in ${(library.ms / 1000).toFixed(1)} s`);
    }

    log('starting a Temporal dev server, a Segment double and a segflow worker...');
    // The installed CLI, not the SDK's download: the bench measures the server process's CPU by its pid.
    const metricsPort = await freePort();
    server = {
      ...(await startDevServer({ cliPath: findTemporalCli(), uiPort: false, stdio: 'ignore', metricsPort })),
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    };
    if (server.process) children.add(server.process);
    const segflowDouble = await startSegmentDouble();
    log(`segflow import: concurrency ${options.concurrency}...`);
    const segflow = await runSegflow(input.path, options, server, segflowDouble.url, segflowDouble.pid, scratch);
    const segflowStats = await segflowDouble.stop();

    if (segflow.error !== undefined || segflow.status?.state !== 'completed') {
      process.stdout.write(`\nsegflow import FAILED: ${segflow.error ?? `ended in state ${segflow.status?.state}`}\n`);
      return 1;
    }
    process.stdout.write(
      report(options, input.bytes, {
        segflow,
        segflowDouble: segflowStats,
        bare,
        bareDouble: bareStats,
        ...(library && libraryStats ? { library, libraryDouble: libraryStats } : {}),
      }),
    );

    if (segflow.profileDir) process.stdout.write(`${printProfiles(segflow.profileDir)}\n\n`);

    let gzOk = true;
    if (options.gz) {
      const gzInput = await ensureGzip(input.path);
      log(`segflow import of ${gzInput.path} (${fmtMb(gzInput.bytes)}): staged, then imported...`);
      const gzDouble = await startSegmentDouble();
      const gz = await runSegflow(gzInput.path, { ...options, cpuProfile: false }, server, gzDouble.url, gzDouble.pid, scratch);
      const gzStats = await gzDouble.stop();
      const gzCheck = checkDelivery(options.events, gz.events, gzStats);
      if (gz.error !== undefined || gz.status?.state !== 'completed') gzCheck.problems.push(`import failed: ${gz.error ?? gz.status?.state}`);
      gzOk = gzCheck.problems.length === 0;
      process.stdout.write(
        `\n.gz input (${fmtMb(gzInput.bytes)} compressed, staged to a plain file first)\n\n` +
          table([
            ['', 'segflow, .gz input', 'segflow, plain input'],
            ['events sent', fmtInt(gz.events), fmtInt(segflow.events)],
            ['wall time (incl. staging)', `${(gz.ms / 1000).toFixed(1)} s`, `${(segflow.ms / 1000).toFixed(1)} s`],
            ['events/s', fmtInt(rate(gz)), fmtInt(rate(segflow))],
            ['worker peak RSS (VmHWM)', fmtMb(gz.peakRss), fmtMb(segflow.peakRss)],
          ]) +
          `\ndelivery (.gz): ${gzOk ? 'OK' : `LOST EVENTS: ${gzCheck.problems.join('; ')}`}\n\n`,
      );
    }

    const segflowCheck = checkDelivery(options.events, segflow.events, segflowStats);
    const bareCheck = checkDelivery(options.events, bare.events, bareStats);
    const libraryCheck = library && libraryStats ? checkDelivery(options.events, library.events, libraryStats) : undefined;
    const rejected = segflow.status.rows.rejected;
    if (rejected > 0) segflowCheck.problems.push(`${rejected} rows rejected (the generated file should have none)`);
    process.stdout.write(
      `delivery: segflow ${segflowCheck.problems.length === 0 ? 'OK' : `LOST EVENTS: ${segflowCheck.problems.join('; ')}`}` +
        ` (duplicates seen by the double: ${segflowStats.duplicates}); ` +
        `bare loop ${bareCheck.ok ? 'OK' : `LOST EVENTS: ${bareCheck.problems.join('; ')}`}` +
        (libraryCheck ? `; analytics-node ${libraryCheck.ok ? 'OK' : `LOST EVENTS: ${libraryCheck.problems.join('; ')}`}` : '') +
        '\n',
    );
    // analytics-node's losses are its own finding, printed above; only segflow's and the yardstick's fail the bench.
    return segflowCheck.problems.length === 0 && bareCheck.ok && gzOk ? 0 : 1;
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
      process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      await stopAllChildren();
      process.exit(1);
    },
  );
}
