/**
 * A chunk's byte range read from a storage host on another network namespace by a reader slower than the server's
 * keep-alive timeout, the way a chunk activity reads at the job's rate cap. Over a real link (veth, 1500-byte MTU)
 * undici used to fail such a half-consumed body with "other side closed" once the server closed the idle
 * connection (first seen in multi-host.test.ts); src/io/http-source.ts now reads the range whole first.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { HttpRangeSource } from '../../src/io/http-source';
import { labUnavailableReason, NetworkLab } from '../support/netns';

const root = resolve(__dirname, '../..');
let lab: NetworkLab | undefined;
let dir: string;
let server: ChildProcess;
let url: string;

beforeAll(async () => {
  const reason = labUnavailableReason();
  if (reason) throw new Error(`This test cannot run: ${reason}.`);
  dir = mkdtempSync(join(tmpdir(), 'segflow-slow-reader-'));
  writeFileSync(join(dir, 'events.ndjson'), 'x'.repeat(1_500_000));
  lab = NetworkLab.create(['storage']);
  server = lab.spawn(
    'storage',
    join(root, 'node_modules/.bin/tsx'),
    [join(root, 'test/support/range-server-cli.ts'), '--dir', dir, '--host', lab.host('storage').ip],
    { cwd: root },
  );
  const line = await new Promise<string>((resolveLine, reject) => {
    createInterface({ input: server.stdout! }).once('line', resolveLine);
    server.once('exit', (code) => reject(new Error(`range server exited (${code})`)));
  });
  url = `${(JSON.parse(line) as { url: string }).url}/events.ndjson`;
}, 120_000);

afterAll(() => {
  lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it('reads a whole range although the reader pauses longer than the server keeps an idle connection', async () => {
  const source = new HttpRangeSource(url);
  const size = await source.size();
  expect(size).toBeGreaterThan(1_000_000);
  let received = 0;
  let pieces = 0;
  for await (const piece of source.openRange(0, size)) {
    received += piece.length;
    // Node's HTTP server closes an idle keep-alive connection after 5 s; the reader is busy (paced) for longer.
    await new Promise((r) => setTimeout(r, pieces++ === 0 ? 7000 : 5));
  }
  expect(received).toBe(size);
}, 60_000);
