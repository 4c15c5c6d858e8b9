/**
 * An import from an http(s) URL (as a presigned object-store URL would be): each chunk activity fetches only
 * its own byte range, with the same chunking and resume guarantees as a local file.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { followJob, startImport } from '../../src/client';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { startRangeServer, type RangeServer } from '../support/range-server';
import { waitFor } from '../support/wait';

let h: ImportHarness;
let store: RangeServer;

beforeAll(async () => {
  // The object store stand-in listens on loopback, which a worker reads only when SEGFLOW_INPUT_HOSTS names it.
  h = await startImportHarness({ extraEnv: { SEGFLOW_INPUT_HOSTS: '127.0.0.1' } });
  store = await startRangeServer({ requireQuery: '?X-Amz-Signature=s3cr3t-sig' });
});

afterAll(async () => {
  await h?.stop();
  await store?.stop();
});

it('imports from a presigned-style URL with range requests and keeps the signature out of messages', async () => {
  const csv =
    'type,userId,event,timestamp,properties.n:number\n' +
    Array.from({ length: 3000 }, (_, i) => `track,http-${i},Remote Event,2021-01-01T00:00:00Z,${i}`).join('\n') +
    '\ntrack,,Broken,2021-01-01T00:00:00Z,1\n';
  store.put('/bucket/export.csv', csv);
  h.double.injectFaultOnRequest(3, { kind: 'status', status: 503 });
  const url = store.url('/bucket/export.csv?X-Amz-Signature=s3cr3t-sig');
  const status = await h.runImport({ file: url, targetChunkBytes: 20_000, maxEventsPerBatch: 250, concurrency: 3 });

  expect(status.state).toBe('completed');
  expect(status.rows).toMatchObject({ read: 3001, rejected: 1 });
  expect(h.double.uniqueMessageIds().size).toBe(3000);
  const ranged = store.requests.filter((r) => r.status === 206 && r.range !== 'bytes=0-0');
  // Several chunks, each fetched by its own range; nothing fetched whole.
  expect(ranged.length).toBeGreaterThanOrEqual(5);
  expect(store.requests.filter((r) => r.status === 200)).toHaveLength(0);
  expect(JSON.stringify(status)).not.toContain('s3cr3t-sig');
});

it('fails the job, sending nothing of the new content, when the object is overwritten with the same size mid-import', async () => {
  // Same length on purpose: the size check alone let every later chunk read (and send) the new content.
  const rows = (who: string) =>
    'type,userId,event,timestamp\n' + Array.from({ length: 3000 }, (_, i) => `track,${who}-${i},Pinned,2021-01-01T00:00:00Z`).join('\n') + '\n';
  store.put('/bucket/overwritten.csv', rows('orig'));
  const url = store.url('/bucket/overwritten.csv?X-Amz-Signature=s3cr3t-sig');
  const started = await startImport(h.sc, {
    file: url,
    targetChunkBytes: 10_000,
    maxEventsPerBatch: 100,
    concurrency: 1,
    rateLimit: { perSecond: 500, unit: 'events' },
  });
  await waitFor(async () => h.double.messages.some((m) => String(m.message.userId).startsWith('orig-')), 60_000, 'first events sent');
  store.put('/bucket/overwritten.csv', rows('swap'));

  const final = await followJob(h.sc, started.jobId, () => undefined, 200);
  expect(final.state).toBe('failed');
  expect(String(final.error)).toMatch(/changed while being imported/);
  expect(String(final.error)).not.toContain('s3cr3t-sig');
  expect(h.double.messages.some((m) => String(m.message.userId).startsWith('swap-'))).toBe(false);
  // The chunks after the overwrite asked for the version the job first read, and the store refused them.
  expect(store.requests.some((r) => r.path === '/bucket/overwritten.csv' && r.status === 412)).toBe(true);
});
