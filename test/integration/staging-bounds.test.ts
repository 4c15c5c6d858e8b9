/**
 * Issue 20, items 4 and 5, on a real worker: a gzip bomb fails the job within seconds naming the staging limit and
 * leaves nothing staged, an honest .gz still imports exactly, and a loopback URL is refused by a worker with the
 * default policy but read by one whose SEGFLOW_INPUT_HOSTS names it.
 */
import { createWriteStream, existsSync, readdirSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { createGzip, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { followJob, startImport } from '../../src/client';
import { stagedInputPaths } from '../../src/io/reject-report';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { startRangeServer, type RangeServer } from '../support/range-server';
import { ndjsonEvents } from '../support/wait';

/** A worker with the default input policy (SEGFLOW_INPUT_HOSTS unset). */
let h: ImportHarness;
/** A worker whose SEGFLOW_INPUT_HOSTS names the loopback store. */
let listed: ImportHarness;
let store: RangeServer;

beforeAll(async () => {
  h = await startImportHarness();
  listed = await startImportHarness({ extraEnv: { SEGFLOW_INPUT_HOSTS: '127.0.0.1' } });
  store = await startRangeServer();
});

afterAll(async () => {
  await h?.stop();
  await listed?.stop();
  await store?.stop();
});

/** 200 MB of newlines, gzipped to ~194 KB, written without holding 200 MB in memory. */
async function writeNewlineBomb(path: string): Promise<void> {
  const gzip = createGzip({ level: 9 });
  const file = gzip.pipe(createWriteStream(path));
  const mib = Buffer.alloc(1024 * 1024, 0x0a);
  for (let i = 0; i < 200; i++) if (!gzip.write(mib)) await once(gzip, 'drain');
  gzip.end();
  await once(file, 'close');
}

it('fails a 200 MB-of-newlines .gz within seconds, naming the ratio limit, with nothing left staged', async () => {
  h.double.reset();
  const file = join(h.workDir, 'bomb.ndjson.gz');
  await writeNewlineBomb(file);
  const started = await startImport(h.sc, { file, heartbeatTimeoutMs: 5000 });
  // Before the caps the job completed after staging all 200 MB; how fast it fails now is in docs/compressed-and-many-files.md ("Staging limits").
  const final = await followJob(h.sc, started.jobId, () => undefined, 200);
  expect(final.state).toBe('failed');
  expect(String(final.error)).toMatch(/bomb\.ndjson\.gz: decompresses to more than 100 times its compressed size.*SEGFLOW_STAGING_MAX_RATIO/);
  const staged = stagedInputPaths(String(h.workerEnv.SEGFLOW_REPORT_DIR), started.jobId, 'ndjson').dir;
  expect(existsSync(staged) ? readdirSync(staged) : []).toEqual([]);
  expect(h.double.uniqueMessageIds().size).toBe(0);
}, 120_000);

it('imports an honest .gz exactly', async () => {
  h.double.reset();
  const file = join(h.workDir, 'honest.ndjson.gz');
  writeFileSync(file, gzipSync(ndjsonEvents(3000, 'honest-gz')));
  const final = await h.runImport({ file, targetChunkBytes: 50_000 });
  expect(final.state, String(final.error)).toBe('completed');
  expect(final.rows).toMatchObject({ read: 3000, rejected: 0 });
  expect(final.events).toMatchObject({ sent: 3000 });
  expect(h.double.uniqueMessageIds().size).toBe(3000);
}, 120_000);

it('refuses a loopback URL with the default policy, and imports it on a worker whose SEGFLOW_INPUT_HOSTS names the host', async () => {
  store.put('/x.ndjson', ndjsonEvents(500, 'loopback-url'));
  const url = store.url('/x.ndjson');

  h.double.reset();
  const refused = await startImport(h.sc, { file: url, heartbeatTimeoutMs: 5000 });
  // The CLI read the URL to name the job; from here on only the worker could ask.
  const requestsBefore = store.requests.length;
  const failed = await followJob(h.sc, refused.jobId, () => undefined, 200);
  expect(failed.state).toBe('failed');
  expect(String(failed.error)).toMatch(/127\.0\.0\.1 is a loopback address, not a public one; name 127\.0\.0\.1 in the worker's SEGFLOW_INPUT_HOSTS/);
  expect(store.requests.length).toBe(requestsBefore);
  expect(h.double.uniqueMessageIds().size).toBe(0);

  const imported = await listed.runImport({ file: url });
  expect(imported.state, String(imported.error)).toBe('completed');
  expect(imported.events).toMatchObject({ sent: 500 });
  expect(listed.double.uniqueMessageIds().size).toBe(500);
}, 120_000);
