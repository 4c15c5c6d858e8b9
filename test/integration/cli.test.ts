/**
 * The CLI as a user runs it (a child process), against the run's dev server and a worker.
 */
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, inject } from 'vitest';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { ndjsonEvents } from '../support/wait';
import { hasUnsafeCharacters } from '../../src/shared/safe-text';

const root = resolve(__dirname, '../..');
let h: ImportHarness;

beforeAll(async () => {
  h = await startImportHarness();
});

afterAll(async () => {
  await h?.stop();
});

/** Runs the CLI as a child process. Asynchronous on purpose: this process hosts the worker, which must keep running. */
function segflow(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(join(root, 'node_modules/.bin/tsx'), [join(root, 'src/cli.ts'), ...args], {
    cwd: h.workDir,
    env: { ...process.env, TEMPORAL_ADDRESS: inject('temporalAddress'), SEGFLOW_TASK_QUEUE: h.taskQueue, SEGFLOW_UI_URL: inject('temporalUiUrl') },
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolveRun) => child.on('close', (code) => resolveRun({ code, stdout, stderr })));
}

describe('segflow CLI', () => {
  it('import --wait --json prints the final status object and exits 0; status and list agree', async () => {
    const file = h.writeInput('cli.ndjson', ndjsonEvents(40, 'cli') + '{"type":"track","userId":"x"}\n');
    const run = await segflow('import', file, '--wait', '--json');
    expect(run.code, run.stderr).toBe(0);
    const final = JSON.parse(run.stdout);
    expect(final).toMatchObject({ state: 'completed', rows: { read: 41, rejected: 1 }, events: { sent: 40 }, batches: { sent: 1 } });
    expect(typeof final.jobId).toBe('string');

    const status = await segflow('status', final.jobId, '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ jobId: final.jobId, state: 'completed', events: { sent: 40 } });

    const list = await segflow('list', '--json', '--kind', 'import', '--state', 'completed');
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout).map((j: { jobId: string }) => j.jobId)).toContain(final.jobId);

    // watch: JSON lines with --json, plain lines when piped without it; exit code from the final state.
    const watchJson = await segflow('watch', final.jobId, '--json');
    expect(watchJson.code).toBe(0);
    const lines = watchJson.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.at(-1)).toMatchObject({ jobId: final.jobId, state: 'completed' });
    const watchPlain = await segflow('watch', final.jobId);
    expect(watchPlain.stderr).toMatch(/completed · .*rows 41 · sent 40 · rejected 1/);
    expect(watchPlain.stdout).toMatch(/rows read 41 = events sent 40 \+ rows rejected 1/);

    // The same file again is refused as a usage error naming the earlier job.
    const again = await segflow('import', file);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(final.jobId);
    expect(again.stderr).toContain('--force');
    expect(again.stderr).not.toMatch(/\n\s+at /); // no stack trace without --verbose
  });

  it('import --wait and status show a CSV header with ESC, C1 and bidi characters escaped, never raw', async () => {
    const column = 'ev\u001b[2J\u009b31m\u202ent';
    const file = h.writeInput('cli-escapes.csv', `type,userId,event,${column}\ntrack,u1,Signed Up,x\n`);
    const run = await segflow('import', file, '--id', 'cli-escapes-1', '--wait');
    const printed = run.stdout + run.stderr;
    expect(run.code, printed).not.toBe(0);
    expect(printed).toContain('unknown column "ev\\u001b[2J\\u009b31m\\u202ent"');
    expect(hasUnsafeCharacters(printed.replace(/\n/g, ''))).toBe(false);
    const status = await segflow('status', 'cli-escapes-1');
    expect(status.stdout).toContain('unknown column "ev\\u001b[2J\\u009b31m\\u202ent"');
    expect(hasUnsafeCharacters((status.stdout + status.stderr).replace(/\n/g, ''))).toBe(false);
    const json = await segflow('status', 'cli-escapes-1', '--json');
    expect(json.stdout).toContain('\\u009b31m\\u202ent');
    expect(hasUnsafeCharacters(json.stdout.replace(/\n/g, ''))).toBe(false);
    expect(JSON.parse(json.stdout).error).toContain(column);
  });

  it('prints the job id and its Web UI link without --wait', async () => {
    const file = h.writeInput('cli-nowait.ndjson', ndjsonEvents(3, 'nowait'));
    const run = await segflow('import', file);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Started import import-default-[0-9a-f]{16}/);
    expect(run.stdout).toContain(`${inject('temporalUiUrl')}/namespaces/default/workflows/import-default-`);
  });

  it('answers mistakes with one sentence, the fix, and exit code 2', async () => {
    const missing = await segflow('import', join(h.workDir, 'nope.csv'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/does not exist/);
    const format = await segflow('import', h.writeInput('data.txt', 'x'));
    expect(format.code).toBe(2);
    expect(format.stderr).toMatch(/--format/);
    const unknownJob = await segflow('status', 'no-such-job');
    expect(unknownJob.code).toBe(2);
    expect(unknownJob.stderr).toMatch(/No segflow job/);
    const badFlag = await segflow('import', 'x.csv', '--concurrency', 'many');
    expect(badFlag.code).toBe(2);
  });

  it('has --help with examples on every command', async () => {
    for (const command of ['import', 'status', 'list', 'watch', 'dev', 'worker']) {
      const help = await segflow(command, '--help');
      expect(help.code, command).toBe(0);
      expect(help.stdout, command).toMatch(/Usage: segflow/);
    }
    expect((await segflow('import', '--help')).stdout).toMatch(/Examples:/);
  });
});
