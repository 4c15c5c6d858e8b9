/**
 * CPU profile summary (--cpu-prof): where the worker's main thread spent its time. The worker runs the compiled
 * dist/ code (bench/segflow-run.ts), so steps match src/ and dist/ paths alike.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './common';

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
  [/node:internal\/crypto|(src|dist)\/core\/message-id/, 'messageId (SHA-1 UUIDv5)'],
  [/(src|dist)\/core\/message-schema|node_modules\/zod\//, 'validation (zod, timestamps)'],
  [/(src|dist)\/core\/row-to-message|(src|dist)\/core\/csv-mapping/, 'row conversion (JSON.parse/stringify, copies)'],
  [/(src|dist)\/core\/batch-builder/, 'batch building and body rendering'],
  [/(src|dist)\/io\/|node:internal\/fs\/|^node:fs$/, 'file reading and record scanning'],
  [/(src|dist)\/segment\/|node_modules\/undici\/|^node:net$|node:internal\/stream_base_commons/, 'HTTP (undici, sockets)'],
  [/node_modules\/@temporalio\/|protobufjs/, 'Temporal SDK (polling, heartbeats, completions)'],
  [/(src|dist)\/activities\//, 'activity loop (processChunk itself)'],
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
    if (frame.callFrame.functionName === 'planChunks' && /\/(src|dist)\//.test(frame.callFrame.url))
      return 'planning (a first pass over the file for chunk boundaries)';
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
