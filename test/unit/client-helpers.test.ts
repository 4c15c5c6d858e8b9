/**
 * The helpers that replaced near-copies in src/client/ and src/cli/: one --rate rule, one job-id derivation, one
 * connect/close (withClient), one follow-to-the-end for commands, one format for help examples. (The one http(s)
 * detection is tested in test/unit/location.test.ts.)
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { checkImportRequest, defaultJobId, parseRate, UsageError, withClient, type JobStatus, type SegflowClient } from '../../src/client';
import { validateImportOptions } from '../../src/client/import-start';
import { importJobId, jobIdCandidates, WORKSPACE_JOB_PREFIX, workspaceJobId } from '../../src/client/job-ids';
import { EXIT } from '../../src/cli/common';
import { examples } from '../../src/cli/examples';
import { followToEnd } from '../../src/cli/follow';
import { isValidRate, Pacer } from '../../src/shared/pacer';
import type { ImportOptions } from '../../src/contracts/import-job';
import { importOptions } from '../support/import-options';

describe('--rate: one rule for the CLI flag, the start options and the pacer', () => {
  // The former call sites: the `import` action (`!(Number(opts.rate) > 0)`), startImport's option check
  // (`!(perSecond > 0)`) and the pacer (`> 0` and finite). Infinity passed the first two and broke the third.
  const options = (perSecond: number): ImportOptions =>
    importOptions({
      file: '/tmp/x.csv',
      format: 'csv',
      maxEventsPerBatch: 100,
      targetChunkBytes: 1000,
      maxRecordsPerChunk: 1000,
      chunksPerRun: 10,
      approvalTimeoutMs: 1000,
      rateLimit: { perSecond, unit: 'events' },
    });

  it.each<[string, string | number, number | undefined]>([
    ['1. a whole number', '1000', 1000],
    ['2. a fraction', '0.5', 0.5],
    ['3. exponent notation', '2e3', 2000],
    ['4. a number already parsed', 250, 250],
    ['5. zero', '0', undefined],
    ['6. negative', '-5', undefined],
    ['7. not a number', 'fast', undefined],
    ['8. empty', '', undefined],
    ['9. NaN', Number.NaN, undefined],
    ['10. infinite', 'Infinity', undefined],
    ['11. negative zero', -0, undefined],
  ])('%s: %j', (_case, value, expected) => {
    const numeric = Number(value);
    if (expected === undefined) {
      expect(() => parseRate(value)).toThrow(new UsageError('--rate must be a positive number.'));
      expect(() => validateImportOptions(options(numeric))).toThrow('--rate must be a positive number.');
      expect(() => new Pacer(numeric)).toThrow(RangeError);
      expect(isValidRate(numeric)).toBe(false);
    } else {
      expect(parseRate(value)).toBe(expected);
      expect(() => validateImportOptions(options(numeric))).not.toThrow();
      expect(new Pacer(numeric).rate).toBe(expected);
      expect(isValidRate(numeric)).toBe(true);
    }
  });
});

describe('job ids', () => {
  // Pinned: these ids are how a second start of the same import finds the first job, so they must never drift.
  const dir = mkdtempSync(join(tmpdir(), 'segflow-ids-'));
  const file = join(dir, 'e.csv');
  writeFileSync(file, 'userId,event\nu1,E\n');
  mkdirSync(join(dir, 'in'));
  writeFileSync(join(dir, 'in', 'a.csv'), 'userId,event\nu1,E\n');
  writeFileSync(join(dir, 'in', 'b.csv'), 'userId,event\nu2,F\n');

  it('a file: its content, then the source and the id namespace', async () => {
    expect(await defaultJobId(file, 'web', 'web', false)).toBe('import-web-6e5b0beabeb07307');
    expect(await defaultJobId(file, 'web', 'ns2', true)).toBe('dryrun-web-7db422be71c11294');
    expect(importJobId(createHash('sha256').update('userId,event\nu1,E\n'), { source: 'web', idNamespace: 'web', dryRun: false })).toBe(
      'import-web-6e5b0beabeb07307',
    );
  });

  it('a staged set: the digest of its files, then the same target', async () => {
    expect((await checkImportRequest({ file: join(dir, 'in'), source: 'web' })).jobId).toBe('import-web-fad8a182ee185bc1');
    expect((await checkImportRequest({ file: join(dir, 'in'), source: 'Web_x', idNamespace: 'n', dryRun: true })).jobId).toBe(
      'dryrun-web-x-cb12385c0bb2f9e6',
    );
  });

  it('a workspace job: readable, timestamped, unique; found with or without its prefix', () => {
    const id = workspaceJobId('Retire Old Web Sources!', new Date('2024-05-01T10:15:00Z'));
    expect(id).toMatch(/^workspace-retire-old-web-sources-20240501-101500-[0-9a-f]{4}$/);
    expect(workspaceJobId('', new Date('2024-05-01T10:15:00Z'))).toMatch(/^workspace-job-20240501-101500-/);
    expect(jobIdCandidates('cleanup-1')).toEqual(['cleanup-1', `${WORKSPACE_JOB_PREFIX}cleanup-1`]);
  });
});

describe('followToEnd: what a command prints once the job it follows ends', () => {
  let stdout = '';
  afterEach(() => {
    vi.restoreAllMocks();
    stdout = '';
  });

  /** A client whose job answers its status query with `states`, one per poll (the last one repeats). */
  function fakeClient(states: string[]): SegflowClient {
    let poll = 0;
    const handle = {
      describe: async () => ({ status: { name: 'RUNNING' }, raw: { pendingActivities: [] } }),
      query: async () => ({ jobId: 'job-1', kind: 'import', state: states[Math.min(poll++, states.length - 1)] }),
    };
    return {
      client: { withDeadline: (_deadline: number, fn: () => unknown) => fn(), workflow: { getHandle: () => handle } },
      settings: {},
      close: async () => {},
    } as unknown as SegflowClient;
  }

  function captureStdout() {
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      stdout += String(chunk);
      return true;
    });
  }

  it.each<[string, number]>([
    ['completed', EXIT.ok],
    ['failed', EXIT.failed],
    ['cancelled', EXIT.cancelled],
    ['rejected', EXIT.rejectedOrExpired],
    ['expired', EXIT.rejectedOrExpired],
  ])('ends %s: exit code %i, the text for people', async (state, code) => {
    const seen: string[] = [];
    const done = vi.fn();
    captureStdout();
    const exit = await followToEnd(fakeClient([state]), 'job-1', false, {
      update: (s) => void seen.push(s.state),
      done,
      text: (final: JobStatus) => `final ${final.state}\n`,
    });
    expect(exit).toBe(code);
    expect(seen).toEqual([state]);
    expect(done).toHaveBeenCalledOnce();
    expect(stdout).toBe(`final ${state}\n`);
  });

  it('passes every status to update, then prints the final one as JSON, or nothing when the updates were the JSON', async () => {
    const seen: string[] = [];
    captureStdout();
    expect(
      await followToEnd(fakeClient(['running', 'completed']), 'job-1', true, {
        update: (s) => void seen.push(s.state),
        text: () => 'not for --json',
      }),
    ).toBe(EXIT.ok);
    expect(seen).toEqual(['running', 'completed']);
    expect(JSON.parse(stdout)).toEqual({ jobId: 'job-1', kind: 'import', state: 'completed' });
    stdout = '';
    await followToEnd(fakeClient(['completed']), 'job-1', true, { text: () => 'not for --json', finalJson: false });
    expect(stdout).toBe('');
  }, 20_000);
});

describe('withClient: one connection per command, closed however the command ends', () => {
  function fakeConnect() {
    const close = vi.fn(async () => {});
    const sc = { close } as unknown as SegflowClient;
    return { close, sc, connect: vi.fn(async () => sc) };
  }

  it('returns what the command returns, then closes', async () => {
    const { close, sc, connect } = fakeConnect();
    const seen: SegflowClient[] = [];
    expect(await withClient(async (client) => (seen.push(client), 7), {}, connect)).toBe(7);
    expect(seen).toEqual([sc]);
    expect(close).toHaveBeenCalledOnce();
  });

  it('closes when the command throws, and passes the error on unchanged', async () => {
    const { close, connect } = fakeConnect();
    const failure = new UsageError('No segflow job with id x');
    await expect(withClient(async () => Promise.reject(failure), {}, connect)).rejects.toBe(failure);
    expect(close).toHaveBeenCalledOnce();
  });

  it('runs nothing when it cannot connect', async () => {
    const fn = vi.fn(async () => 1);
    const unreachable = new UsageError('Cannot reach Temporal');
    await expect(withClient(fn, {}, async () => Promise.reject(unreachable))).rejects.toBe(unreachable);
    expect(fn).not.toHaveBeenCalled();
  });
});

describe('help examples', () => {
  it('one format: a blank line, "Examples:", then each example indented two spaces', () => {
    expect(examples('segflow a', 'segflow b --json')).toBe('\nExamples:\n  segflow a\n  segflow b --json');
  });
});
