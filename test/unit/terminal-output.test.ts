/**
 * What the CLI prints goes through the one sanitiser (src/shared/safe-text.ts): text from a job, its input, Temporal
 * or Segment shows ESC, C1 (0x9B is a one-byte CSI), DEL and bidi controls as escapes, and --json stays JSON with
 * those characters \u-escaped. The real rendering functions are driven here; output is captured as the CLI writes it.
 */
import { Command } from 'commander';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatAudit } from '../../src/cli/approval-commands';
import { action, printJson } from '../../src/cli/common';
import { formatStatus } from '../../src/cli/import-commands';
import { createProgressPrinter } from '../../src/cli/progress';
import { ask, note, out } from '../../src/cli/terminal';
import type { AuditReport, JobStatus } from '../../src/client';
import { hasUnsafeCharacters } from '../../src/shared/safe-text';

const ESC = '\u001b[2J\u001b]0;owned\u0007';
const CSI = '\u009b31m';
const BIDI = '\u202eevil\u202c';
const DEL = '\u007f';

/** Every line as the terminal gets it: nothing hidden or obeyed, except the newlines that separate lines. */
const raw = (text: string) => text.split('\n').filter((line) => hasUnsafeCharacters(line));

afterEach(() => vi.restoreAllMocks());

function capture(stream: NodeJS.WriteStream): () => string {
  let text = '';
  vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => ((text += String(chunk)), true));
  return () => text;
}

const hostile: JobStatus = {
  jobId: 'import-default-1',
  kind: 'import',
  state: 'failed',
  rows: { read: 3, rejected: 1, valid: 2 },
  events: { sent: 2, wouldSend: 0 },
  serverSetFields: { rows: 1, fields: [`messageId${CSI}`] },
  chunks: { retrying: [{ activityId: '7', attempt: 3, lastFailure: `Segment said ${ESC}${BIDI}` }] },
  error: `events.csv, line 1 (header): unknown column "prop${ESC}${CSI}${BIDI}${DEL}"`,
};

describe('terminal output: text from a job is shown escaped, never obeyed', () => {
  it('formatStatus (status, import --wait) shows ESC, C1, bidi and DEL in status.error, a retry failure and column names as escapes', () => {
    const text = formatStatus(hostile, 'http://localhost:8233/x');
    expect(raw(text)).toEqual([]);
    expect(text).toContain(
      'error: events.csv, line 1 (header): unknown column "prop\\u001b[2J\\u001b]0;owned\\u0007\\u009b31m\\u202eevil\\u202c\\u007f"',
    );
    expect(text).toContain('retrying activity 7 (attempt 3): Segment said \\u001b[2J');
    expect(text).toContain('(messageId\\u009b31m)');
  });

  it('the progress line (watch, import --wait) escapes a state or id from the job; its own repaint sequence stays', () => {
    const stream = { write: vi.fn(() => true) } as unknown as NodeJS.WriteStream;
    const printer = createProgressPrinter({ json: false, tty: true }, stream);
    printer.update({ jobId: `job${CSI}`, kind: 'import', state: `running${ESC}` });
    const written = String((stream.write as unknown as { mock: { calls: string[][] } }).mock.calls[0]![0]);
    expect(written.startsWith('\r\u001b[2K')).toBe(true);
    expect(hasUnsafeCharacters(written.slice('\r\u001b[2K'.length))).toBe(false);
    expect(written).toContain('job\\u009b31m: running\\u001b[2J');
  });

  it('--json output stays JSON and \\u-escapes C1, DEL and bidi characters too (JSON.stringify leaves them raw)', () => {
    const stdout = capture(process.stdout);
    printJson(hostile);
    const text = stdout();
    expect(raw(text)).toEqual([]);
    expect(text).toContain('\\u009b31m');
    expect(text).toContain('\\u202eevil\\u202c');
    expect(JSON.parse(text)).toEqual(hostile);
  });

  it('JSON lines of watch --json are escaped the same way', () => {
    const stdout = capture(process.stdout);
    createProgressPrinter({ json: true, tty: false }).update(hostile);
    expect(raw(stdout())).toEqual([]);
    expect(JSON.parse(stdout())).toEqual(hostile);
  });

  it('a failure message (a rejection reason, an approval refusal) is written escaped to stderr', async () => {
    const stderr = capture(process.stderr);
    const command = new Command('x');
    await action(async (_command: Command) => {
      throw new Error(`approval refused: ${ESC}${BIDI}`);
    })(command);
    expect(raw(stderr())).toEqual([]);
    expect(stderr()).toContain('segflow: approval refused: \\u001b[2J');
    process.exitCode = undefined;
  });

  it('out and note (approve, job, source and destination views) escape what they print', () => {
    const stdout = capture(process.stdout);
    const stderr = capture(process.stderr);
    out(`Approved as alice${CSI}\nnext line`);
    note(`Started job ${BIDI}`);
    expect(raw(stdout())).toEqual([]);
    expect(stdout()).toBe('Approved as alice\\u009b31m\nnext line\n');
    expect(stderr()).toBe('Started job \\u202eevil\\u202c\n');
  });

  it('a prompt (approve asks for each destructive id) quotes the id escaped', async () => {
    const stderr = capture(process.stderr);
    const answer = ask(`  delete-source:${ESC}${BIDI}\n  > `);
    process.stdin.push('yes\n');
    expect(await answer).toBe('yes');
    expect(raw(stderr())).toEqual([]);
    expect(stderr()).toContain('delete-source:\\u001b[2J');
  });

  it('formatAudit (segflow audit) escapes names, reasons and times from history', () => {
    const report: AuditReport = {
      jobId: 'job-1',
      runs: ['run-1'],
      planHash: 'a'.repeat(64),
      plan: `Import plan aaa\n  "file": "x${ESC}"`,
      attempts: [
        {
          at: `2026-01-01${CSI}`,
          runId: 'run-1',
          via: 'signal',
          kind: 'reject',
          by: `mallory${ESC}`,
          planHash: null,
          signed: false,
          workerVerdict: `refused by the worker: ${BIDI}`,
          verification: null,
          verified: null,
        },
      ],
      decision: { outcome: 'rejected', planHash: 'a'.repeat(64), by: `bob${DEL}`, reason: `no${ESC}`, at: `t${CSI}`, via: 'signal' },
      proofs: [],
      keysFrom: 'none',
      quorum: null,
      problem: null,
    };
    const text = formatAudit(report);
    expect(raw(text)).toEqual([]);
    expect(text).toContain('reject by mallory\\u001b[2J');
    expect(text).toContain('Outcome: rejected by bob\\u007f at t\\u009b31m');
  });
});
