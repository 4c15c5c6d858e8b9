/**
 * Many files as one job: a Segment-storage-export-shaped directory (a folder per day of .gz files), a manifest, one
 * progress and one reject report naming file and line, a job id over every file's content, and a file changed
 * after the job started failing it.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { followJob, startImport, UsageError } from '../../src/client';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { startRangeServer } from '../support/range-server';
import { startTestWorker, type RunningTestWorker } from '../support/temporal';
import { ndjsonEvents } from '../support/wait';

let h: ImportHarness;
/** The worker that replaced the harness's own after the last test stopped it. */
let replacement: RunningTestWorker | undefined;
let ownWorkerStopped = false;

beforeAll(async () => {
  // The object store stand-in listens on loopback, which a worker reads only when SEGFLOW_INPUT_HOSTS names it.
  h = await startImportHarness({ extraEnv: { SEGFLOW_INPUT_HOSTS: '127.0.0.1' } });
});

afterAll(async () => {
  await replacement?.stop();
  if (!ownWorkerStopped) await h?.worker.stop();
  await h?.double.stop();
});

function exportDir(name: string): string {
  const root = join(h.workDir, name);
  for (const [day, parts] of [
    ['2024-01-01', 2],
    ['2024-01-02', 3],
  ] as const) {
    mkdirSync(join(root, day), { recursive: true });
    for (let part = 0; part < parts; part++) {
      let text = ndjsonEvents(300, `${name}-${day}-${part}`);
      // One bad row in one file, at its line 7.
      if (day === '2024-01-02' && part === 1) {
        const lines = text.split('\n');
        lines[6] = '{"type":"track","userId":"bad","timestamp":"2024-01-02T00:00:00Z"}';
        text = lines.join('\n');
      }
      writeFileSync(join(root, day, `part-${part}.ndjson.gz`), gzipSync(text));
    }
  }
  return root;
}

it('imports a directory of daily .gz files as one job, with one report naming file and line', async () => {
  h.double.reset();
  const dir = exportDir('export-a');
  const status = await h.runImport({ file: dir, targetChunkBytes: 20_000 });
  expect(status.state, String(status.error)).toBe('completed');
  expect(status.rows).toMatchObject({ read: 1500, rejected: 1 });
  expect(status.events).toMatchObject({ sent: 1499 });
  expect(h.double.uniqueMessageIds().size).toBe(1499);
  const report = readFileSync(String(status.rejectReport), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  expect(report).toEqual([expect.objectContaining({ file: '2024-01-02/part-1.ndjson.gz', line: 7, field: 'event' })]);

  // The job id covers every file's content: the same directory again is refused, a changed file is a new job.
  await expect(startImport(h.sc, { file: dir })).rejects.toThrow(UsageError);
  writeFileSync(join(dir, '2024-01-01', 'part-0.ndjson.gz'), gzipSync(ndjsonEvents(300, 'changed')));
  const again = await startImport(h.sc, { file: dir, dryRun: true });
  expect(again.jobId).not.toBe(status.jobId.replace(/^import/, 'dryrun'));
}, 180_000);

it('imports the files a manifest lists, and a glob of them, with the same messageIds as the directory', async () => {
  h.double.reset();
  const dir = exportDir('export-b');
  writeFileSync(join(dir, 'manifest.txt'), '# day 1 only\n2024-01-01/part-0.ndjson.gz\n2024-01-01/part-1.ndjson.gz\n');
  const status = await h.runImport({ file: join(dir, 'manifest.txt'), manifest: true });
  expect(status.state, String(status.error)).toBe('completed');
  expect(status.events).toMatchObject({ sent: 600 });
  const manifestIds = h.double.uniqueMessageIds();

  h.double.reset();
  // Globbed from the export's root, the files have the same names as in the manifest.
  const globbed = await h.runImport({ file: join(dir, '2024-01-01*/part-*.ndjson.gz'), force: true });
  expect(globbed.state, String(globbed.error)).toBe('completed');
  expect(globbed.events).toMatchObject({ sent: 600 });
  // A file's messageIds depend on its name and its own lines, not on the other files of the job.
  expect([...h.double.uniqueMessageIds()].sort()).toEqual([...manifestIds].sort());
}, 180_000);

it("imports a .gz over http(s) with the messageIds of the same rows as a plain file, the URL's query never shown", async () => {
  const store = await startRangeServer({ requireQuery: '?sig=s3cr3t' });
  try {
    const text = ndjsonEvents(500, 'http-gz').replace(/\n$/, '\n{"type":"track","userId":"x","timestamp":"2024-01-01T00:00:00Z"}\n');
    h.double.reset();
    const plain = await h.runImport({ file: h.writeInput('same-rows.ndjson', text) });
    expect(plain.state).toBe('completed');
    const plainIds = [...h.double.uniqueMessageIds()].sort();

    h.double.reset();
    store.put('/bucket/same-rows.ndjson.gz', gzipSync(text));
    const status = await h.runImport({ file: store.url('/bucket/same-rows.ndjson.gz?sig=s3cr3t'), targetChunkBytes: 10_000 });
    expect(status.state, String(status.error)).toBe('completed');
    expect(status.rows).toMatchObject({ read: 501, rejected: 1 });
    expect([...h.double.uniqueMessageIds()].sort()).toEqual(plainIds);
    // A single file's report needs no file name; its line is the line of the decompressed file.
    const report = readFileSync(String(status.rejectReport), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(report).toEqual([expect.objectContaining({ line: 501, field: 'event' })]);
    expect(report[0]).not.toHaveProperty('file');
    expect(JSON.stringify(status)).not.toContain('s3cr3t');
  } finally {
    await store.stop();
  }
}, 180_000);

it('fails the job, naming the change, when a file changes after the job read it', async () => {
  h.double.reset();
  const dir = exportDir('export-c');
  // No worker polls while the file changes, so the change lands between the CLI's digest and the workers' read.
  await h.worker.stop();
  ownWorkerStopped = true;
  const started = await startImport(h.sc, { file: dir, heartbeatTimeoutMs: 5000 });
  writeFileSync(join(dir, '2024-01-02', 'part-2.ndjson.gz'), gzipSync(ndjsonEvents(301, 'changed')));
  replacement = await startTestWorker({ taskQueue: h.taskQueue, env: h.workerEnv });
  const final = await followJob(h.sc, started.jobId, () => undefined, 200);
  expect(final.state).toBe('failed');
  expect(String(final.error)).toMatch(/input files changed since `segflow import` read them/);
  expect(h.double.uniqueMessageIds().size).toBe(0);
}, 180_000);
