/**
 * `@segment/analytics-node` on the same file and a Segment double of its own: the library a user would pick
 * instead of segflow, with its defaults. Its sender (bench/analytics-node-sender.ts) is transpiled once to plain
 * JavaScript and run by node, so no TypeScript loader is counted in its CPU or memory.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { CACHE_DIR, ROOT, WRITE_KEY, type SendRun } from './common';
import { startCpuMeter, TreeRssSampler } from './proc-stats';
import { ChildOutput, children, stopChild } from './processes';

export interface LibraryRun extends SendRun {
  peakRss: number;
  errors: number;
}

function compiledSender(): string {
  const source = readFileSync(join(ROOT, 'bench/analytics-node-sender.ts'), 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  mkdirSync(CACHE_DIR, { recursive: true });
  // Under .cache/bench, so `require('@segment/analytics-node')` resolves to this checkout's node_modules.
  const path = join(CACHE_DIR, 'analytics-node-sender.js');
  writeFileSync(path, outputText);
  return path;
}

export async function runAnalyticsNode(file: string, doubleUrl: string, doublePid: number): Promise<LibraryRun> {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, [compiledSender(), file, doubleUrl, WRITE_KEY], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const stopMeter = startCpuMeter({ sender: child.pid!, double: doublePid });
  const sampler = new TreeRssSampler([child.pid!]);
  sampler.start();
  const output = new ChildOutput('analytics-node sender', child);
  try {
    const line = await output.waitFor((text) => text.startsWith('{"events"'), 3_600_000);
    const memory = sampler.stop();
    const cpu = stopMeter();
    const result = JSON.parse(line) as { events: number; ms: number; errors: number };
    return {
      events: result.events,
      batches: NaN,
      ms: result.ms,
      senderCpu: cpu.used.sender ?? NaN,
      doubleCpu: cpu.used.double ?? NaN,
      othersCpu: cpu.others + cpu.self,
      peakRss: memory.hwm,
      errors: result.errors,
    };
  } finally {
    sampler.stop();
    await stopChild(child, 5_000);
  }
}
