import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { WORKER_V8_FLAGS } from '../../src/ops/worker-memory';

const root = join(__dirname, '..', '..');

/**
 * V8 flags are process-wide, so each case runs in a node process of its own: it applies the worker's settings the
 * way runWorker does, allocates the way an import does (short-lived rows, a window kept per batch), and reports the
 * young generation's size.
 */
interface Churn {
  flags: string[];
  newSpaceBytes: number;
  peakHeapBytes: number;
}

function heapAfterChurn(env: NodeJS.ProcessEnv): Churn {
  const script = `
    const { applyWorkerMemorySettings } = require(${JSON.stringify(join(root, 'src/ops/worker-memory.ts'))});
    const v8 = require('node:v8');
    const flags = applyWorkerMemorySettings(process.env);
    let window = [];
    let peakHeapBytes = 0;
    for (let i = 0; i < 1_000_000; i++) {
      const raw = '{"type":"track","userId":"u' + i + '","event":"E"}';
      window.push({ raw, serialized: JSON.stringify(JSON.parse(raw)) });
      if (window.length > 2500) window = [];
      if ((i & 1023) === 0) peakHeapBytes = Math.max(peakHeapBytes, v8.getHeapStatistics().total_heap_size);
    }
    const newSpace = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
    process.stdout.write(JSON.stringify({ flags, newSpaceBytes: newSpace.space_size, peakHeapBytes }));
  `;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (child.status !== 0) throw new Error(`child failed: ${child.stderr}`);
  return JSON.parse(child.stdout) as Churn;
}

describe('the worker applies its own memory settings (src/ops/worker-memory.ts)', () => {
  it('keeps the heap smaller under an import-like allocation rate than V8 does by default', () => {
    const tuned = heapAfterChurn({ SEGFLOW_WORKER_V8_FLAGS: '' });
    const untuned = heapAfterChurn({ SEGFLOW_WORKER_V8_FLAGS: 'none' });
    expect(tuned.flags).toEqual([...WORKER_V8_FLAGS]);
    expect(untuned.flags).toEqual([]);
    // V8's defaults let the young generation grow to a 32 MiB ceiling (64-bit); --optimize-for-size halves it. How
    // far either grows depends on the allocation rate V8 measures, which a loaded machine slows: a ratio between the
    // two failed under a full parallel unit run. So the tuned process is held to the lower ceiling (without the flag
    // it reaches 32 MiB here) and its peak heap only to being the smaller one.
    expect(tuned.newSpaceBytes).toBeLessThanOrEqual(16 * 1024 * 1024);
    expect(tuned.peakHeapBytes).toBeLessThan(untuned.peakHeapBytes);
  });

  it('takes other flags from SEGFLOW_WORKER_V8_FLAGS', () => {
    expect(heapAfterChurn({ SEGFLOW_WORKER_V8_FLAGS: '--semi-space-growth-factor=1' }).flags).toEqual(['--semi-space-growth-factor=1']);
  });
});
