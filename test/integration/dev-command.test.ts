/**
 * The README's first command: `segflow dev --import samples/events.csv --exit` (what `npm run demo` runs) brings
 * up its own dev server, worker and Segment stand-in, imports the sample and shuts everything down.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';

const root = resolve(__dirname, '../..');

it('imports the sample end to end on the embedded default and exits 0', async () => {
  const cwd = mkdtempSync(join(tmpdir(), 'segflow-dev-'));
  const child = spawn(
    join(root, 'node_modules/.bin/tsx'),
    [join(root, 'src/cli.ts'), 'dev', '--import', join(root, 'samples/events.csv'), '--exit', '--port', '17233'],
    {
      cwd,
      // No real Segment settings: the stand-in must be used.
      env: { ...process.env, SEGMENT_WRITE_KEY: '', SEGMENT_TRACKING_URL: '' },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  expect(code, stderr).toBe(0);
  expect(stdout).toContain('rows read 205 = events sent 201 + rows rejected 4');
  expect(stderr).toMatch(/Temporal Web UI: +http:\/\/127\.0\.0\.1:\d+/);
  expect(stderr).toMatch(/Segment stand-in \(records what it receives\)/);
  expect(stderr).toMatch(/accepted=201/);
  const report = /reject report: (\S+)/.exec(stdout)?.[1];
  expect(report && existsSync(report)).toBe(true);
  expect(readFileSync(report!, 'utf8').trim().split('\n')).toHaveLength(4);
}, 120_000);
