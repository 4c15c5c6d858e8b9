/**
 * .gz inputs (NDJSON and CSV) with a worker process SIGKILLed mid-file: a new worker finishes the job and every
 * valid row is delivered, none missing. The chunks read the staged plain copy (src/io/staging.ts), so they resume
 * after their last acknowledged batch as for a plain file.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { expect, it } from 'vitest';
import { followJob, startImport } from '../../src/client';
import { ndjsonEvents, waitFor } from '../support/wait';
import { useProcessHarness } from '../support/worker-process';

// This file's workers are separate processes (the harness's in-process one takes no work).
const p = useProcessHarness();

function csvEvents(count: number, prefix: string): string {
  const rows = ['type,userId,event,timestamp,properties.n:number'];
  for (let i = 0; i < count; i++) rows.push(`track,${prefix}-${i},Imported,${new Date(Date.UTC(2020, 0, 1) + i * 1000).toISOString()},${i}`);
  return rows.join('\n') + '\n';
}

for (const [format, make] of [
  ['ndjson', ndjsonEvents],
  ['csv', csvEvents],
] as const) {
  it(`completes a .gz ${format} import with every row delivered after the worker is SIGKILLed mid-file`, async () => {
    const h = p.h;
    h.double.reset();
    const total = 15_000;
    const file = join(h.workDir, `crash.${format}.gz`);
    writeFileSync(file, gzipSync(make(total, `gz-${format}`)));
    const first = p.startWorker();
    const started = await startImport(h.sc, {
      file,
      concurrency: 2,
      targetChunkBytes: 200_000,
      maxEventsPerBatch: 200,
      heartbeatTimeoutMs: 3000,
      // Slow enough that the kill lands mid-file.
      rateLimit: { perSecond: 2500, unit: 'events' },
    });
    await waitFor(() => h.double.uniqueMessageIds().size > 2000, 90_000, 'first events delivered');
    first.kill();
    expect(h.double.uniqueMessageIds().size).toBeLessThan(total);

    const second = p.startWorker();
    const final = await followJob(h.sc, started.jobId, () => undefined, 500);
    second.kill();
    expect(final.state, String(final.error)).toBe('completed');
    expect(final.rows).toMatchObject({ read: total, rejected: 0 });
    expect(final.events).toMatchObject({ sent: total });
    expect(h.double.uniqueMessageIds().size).toBe(total);
  }, 240_000);
}
