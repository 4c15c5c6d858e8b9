/**
 * The benchmark's child processes: every one is registered, so Ctrl-C, an error or a normal end stops them all; and
 * the Segment double, in its own process so its CPU and memory are not the sender's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { ROOT, WRITE_KEY } from './common';

/** Running children; the worker is stopped first, while the Temporal server it reports to is still up. */
export const children = new Set<ChildProcess>();
export const stopFirst = new Set<ChildProcess>();

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** Stops one child: SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<void> {
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

export async function stopAllChildren(): Promise<void> {
  await Promise.all([...stopFirst].map((child) => stopChild(child, 10_000)));
  await Promise.all([...children].map((child) => stopChild(child, 5_000)));
}

export function installCleanupHandlers(scratch: string): void {
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
export function spawnTypeScript(script: string, args: string[], options: { env?: NodeJS.ProcessEnv; nodeArgs?: string[] } = {}): ChildProcess {
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
export class ChildOutput {
  readonly tail: string[] = [];
  /** Called for every line from then on (e.g. to echo worker warnings). */
  onLine: ((line: string) => void) | undefined;
  private readonly waiters = new Set<(line: string) => void>();

  constructor(
    private readonly name: string,
    private readonly child: ChildProcess,
  ) {
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

/** The counters test/support/segment-double.ts keeps (SegmentDoubleStats); only those the bench checks. */
export interface DoubleStats {
  batchRequests: number;
  accepted: number;
  duplicates: number;
  dropped: number;
  rejected400: number;
  missingMessageIds: number;
  maxBatchBytes: number;
  maxEventsInBatch: number;
}

export interface RunningDouble {
  url: string;
  pid: number;
  /** Stops it and returns its final counters (the stats line it prints on SIGTERM). */
  stop(): Promise<DoubleStats>;
}

export async function startSegmentDouble(): Promise<RunningDouble> {
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
