/**
 * Memory settings the worker applies to itself when it starts (src/worker.ts runWorker), so `segflow worker` with no
 * flags keeps its memory flat; nothing is left to NODE_OPTIONS or the user. Measured in bench/README.md, explained in
 * docs/footprint.md.
 *
 * Why these and not a heap cap: `--max-old-space-size` and `--max-semi-space-size` are read only when V8 creates its
 * heap, before any JavaScript runs, so setting them needs a second process (a launcher that re-executes node), whose
 * own ~40 MB would eat what the cap saves. The flags below are read by V8's garbage collector each time it sizes the
 * heap, so a running process can set them: `--semi-space-growth-factor=1` keeps the young generation at its initial
 * size instead of letting it grow to 2 x 16 MB under the import's allocation rate (a chunk's rows die young: parsed,
 * validated, serialized, sent), and `--optimize-for-size` makes the old generation grow in smaller steps and be
 * collected sooner.
 */
import { setFlagsFromString } from 'node:v8';

export const WORKER_V8_FLAGS: readonly string[] = ['--semi-space-growth-factor=1', '--optimize-for-size'];

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
