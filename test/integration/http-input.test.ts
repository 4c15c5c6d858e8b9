/**
 * An import from an http(s) URL (as a presigned object-store URL would be): each chunk activity fetches only
 * its own byte range, with the same chunking and resume guarantees as a local file.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { startRangeServer, type RangeServer } from '../support/range-server';
import { ndjsonEvents } from '../support/wait';

let h: ImportHarness;
let store: RangeServer;

beforeAll(async () => {
  h = await startImportHarness();
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
