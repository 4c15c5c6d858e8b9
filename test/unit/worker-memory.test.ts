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
function youngGenerationAfterChurn(env: NodeJS.ProcessEnv): { flags: string[]; newSpaceBytes: number } {
  const script = `
    const { applyWorkerMemorySettings } = require(${JSON.stringify(join(root, 'src/ops/worker-memory.ts'))});
    const v8 = require('node:v8');
    const flags = applyWorkerMemorySettings(process.env);
    let window = [];
    for (let i = 0; i < 1_000_000; i++) {
      const raw = '{"type":"track","userId":"u' + i + '","event":"E"}';
      window.push({ raw, serialized: JSON.stringify(JSON.parse(raw)) });
      if (window.length > 2500) window = [];
    }
    const newSpace = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
    process.stdout.write(JSON.stringify({ flags, newSpaceBytes: newSpace.space_size }));
  `;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: root,
    env: { ...process.env, NODE_OPTIONS: '', ...env },
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (child.status !== 0) throw new Error(`child failed: ${child.stderr}`);
  return JSON.parse(child.stdout) as { flags: string[]; newSpaceBytes: number };
}

describe('the worker applies its own memory settings (src/ops/worker-memory.ts)', () => {
  it('keeps the young generation at its initial size under an import-like allocation rate', () => {
    const tuned = youngGenerationAfterChurn({ SEGFLOW_WORKER_V8_FLAGS: '' });
    const untuned = youngGenerationAfterChurn({ SEGFLOW_WORKER_V8_FLAGS: 'none' });
    expect(tuned.flags).toEqual([...WORKER_V8_FLAGS]);
    expect(untuned.flags).toEqual([]);
    // V8's defaults let it grow to two 16 MB semi-spaces; the worker's stay at the initial 1 MB each.
    expect(untuned.newSpaceBytes).toBeGreaterThan(8 * 1024 * 1024);
    expect(tuned.newSpaceBytes).toBeLessThanOrEqual(4 * 1024 * 1024);
  });

  it('takes other flags from SEGFLOW_WORKER_V8_FLAGS', () => {
    expect(youngGenerationAfterChurn({ SEGFLOW_WORKER_V8_FLAGS: '--semi-space-growth-factor=1' }).flags).toEqual(['--semi-space-growth-factor=1']);
  });
});
