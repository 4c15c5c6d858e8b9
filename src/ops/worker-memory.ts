/**
 * Memory settings the worker applies to itself when it starts (src/worker.ts runWorker), so `segflow worker` with no
 * flags keeps its memory flat; nothing is left to NODE_OPTIONS or the user. Measured in bench/README.md, explained in
 * docs/footprint.md.
 *
 * Why this and not a heap cap: `--max-old-space-size` and `--max-semi-space-size` are read only when V8 creates its
 * heap, before any JavaScript runs, so setting them needs a second process (a launcher that re-executes node), whose
 * own ~40 MB would eat much of what the cap saves. `--optimize-for-size` is read by V8's garbage collector each time it
 * sizes the heap, so a running process can set it: the young generation stays at half its default ceiling and the old
 * generation grows in smaller steps and is collected sooner. An import allocates fast and keeps little (a chunk's rows
 * are parsed, validated, serialized, sent and dropped), so nearly all the memory it saves was garbage.
 * Cost: over 1,000,000 events 9.61 µs of CPU per event with it and 8.54 µs without (separate runs, 2026-12-07), for a
 * 246.3 MB instead of a 270.6 MB peak (docs/footprint.md, "CPU"); without it the worker misses the 256 MB target.
 * While batches were heap strings it cost +17 % everywhere (bench/README.md, "Measured (2026-11-28, batches outside
 * the heap)").
 * `--semi-space-growth-factor=1` was tried too: +10 % CPU and no lower peak, so it is not used.
 */
import { setFlagsFromString } from 'node:v8';

export const WORKER_V8_FLAGS: readonly string[] = ['--optimize-for-size'];

/**
 * Applies WORKER_V8_FLAGS, or the space-separated flags of SEGFLOW_WORKER_V8_FLAGS (`none`: no flags, V8's own
 * defaults). Returns the flags applied.
 */
export function applyWorkerMemorySettings(env: NodeJS.ProcessEnv = process.env): readonly string[] {
  const chosen = env.SEGFLOW_WORKER_V8_FLAGS?.trim();
  if (chosen === 'none') return [];
  const flags = chosen ? chosen.split(/\s+/) : WORKER_V8_FLAGS;
  for (const flag of flags) setFlagsFromString(flag);
  return flags;
}
