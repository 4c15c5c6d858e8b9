/**
 * Hostile names and paths: job ids are names, report paths stay under SEGFLOW_REPORT_DIR, source names are
 * normalised, a torn reject report does not wedge finalize, local inputs are checked before connecting.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { checkImportRequest, UsageError } from '../../src/client';
import { canonicalSourceName, writeKeyVariable } from '../../src/config';
import { isValidJobId } from '../../src/core/job-id';
import { createActivities } from '../../src/worker';
import { localRejectsPath, mergeRejectReports, RejectWriter, serverRejectsPath } from '../../src/io/reject-report';
import { FailureType } from '../../src/contracts/failures';

const root = resolve(__dirname, '../..');

describe('job ids are names, not paths', () => {
  it.each(['import-default-0123abcd', 'a', 'A.b_c-d', 'x'.repeat(200)])('%s is a job id', (id) => expect(isValidJobId(id)).toBe(true));
  it.each(['', '../x', '.hidden', '-x', 'a/b', 'a\\b', 'x'.repeat(201), 'a b', 'a\nb', '..'])('%j is not', (id) =>
    expect(isValidJobId(id)).toBe(false),
  );

  it('the client refuses --id ../x before anything starts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'segflow-id-'));
    const file = join(dir, 'in.ndjson');
    writeFileSync(file, '');
    await expect(checkImportRequest({ file, jobId: '../x' })).rejects.toThrow(UsageError);
    await expect(checkImportRequest({ file, jobId: '../x' })).rejects.toThrow(/--id/);
  });

  it('the activities refuse a job id that is a path, writing and deleting nothing', async () => {
    const base = mkdtempSync(join(tmpdir(), 'segflow-reports-'));
    const reports = join(base, 'reports');
    mkdirSync(reports);
    mkdirSync(join(base, 'x', 'chunks'), { recursive: true });
    const activities = createActivities({ SEGFLOW_REPORT_DIR: reports });
    const error = await activities.finalizeReport({ jobId: '../x' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).nonRetryable).toBe(true);
    expect((error as ApplicationFailure).type).toBe(FailureType.InvalidJobId);
    expect(existsSync(join(base, 'x', 'chunks'))).toBe(true);
    expect(existsSync(join(base, 'x', 'rejects.ndjson'))).toBe(false);
  });
});

describe('report paths stay under SEGFLOW_REPORT_DIR', () => {
  it('--report-dir is a sub-path: the client refuses absolute and escaping paths', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'segflow-rd-'));
    const file = join(dir, 'in.ndjson');
    writeFileSync(file, '');
    await expect(checkImportRequest({ file, reportDir: '/etc' })).rejects.toThrow(/--report-dir/);
    await expect(checkImportRequest({ file, reportDir: '../outside' })).rejects.toThrow(/--report-dir/);
    await expect(checkImportRequest({ file, reportDir: 'team-a/2024' })).resolves.toMatchObject({ reportDir: 'team-a/2024' });
  });

  it('the activities refuse a report dir outside SEGFLOW_REPORT_DIR', async () => {
    const base = mkdtempSync(join(tmpdir(), 'segflow-reports-'));
    const activities = createActivities({ SEGFLOW_REPORT_DIR: join(base, 'reports') });
    for (const reportDir of ['../elsewhere', '/tmp']) {
      const error = await activities.finalizeReport({ jobId: 'ok', reportDir }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ApplicationFailure);
      expect((error as ApplicationFailure).type).toBe(FailureType.InvalidReportDir);
    }
    expect(existsSync(join(base, 'elsewhere'))).toBe(false);
    const fine = await activities.finalizeReport({ jobId: 'ok', reportDir: 'sub' });
    expect(fine.path).toBe(join(base, 'reports', 'sub', 'ok', 'rejects.ndjson'));
  });
});

describe('source names are normalised', () => {
  it('web-app, web_app and Web-App are one source: one write key, one job id, one messageId namespace', async () => {
    expect(new Set(['web-app', 'web_app', 'Web-App', 'WEB_APP'].map(canonicalSourceName))).toEqual(new Set(['web-app']));
    expect(writeKeyVariable(canonicalSourceName('Web_App'))).toBe('SEGMENT_WRITE_KEY_WEB_APP');
    const dir = mkdtempSync(join(tmpdir(), 'segflow-src-'));
    const file = join(dir, 'in.ndjson');
    writeFileSync(file, '{"type":"track","userId":"u","event":"E","timestamp":"2020-01-01T00:00:00Z"}\n');
    const checked = await Promise.all(['web-app', 'web_app', 'Web-App'].map((source) => checkImportRequest({ file, source })));
    expect(new Set(checked.map((c) => c.source))).toEqual(new Set(['web-app']));
    expect(new Set(checked.map((c) => c.idNamespace))).toEqual(new Set(['web-app']));
    expect(new Set(checked.map((c) => c.jobId))).toHaveProperty('size', 1);
  });
});

describe('a torn reject report does not wedge finalize', () => {
  it('merges the whole lines and drops a torn last line', async () => {
    const reports = mkdtempSync(join(tmpdir(), 'segflow-torn-'));
    const good = { line: 2, field: 'event', reason: 'missing', raw: '{}' };
    mkdirSync(join(reports, 'job', 'chunks'), { recursive: true });
    writeFileSync(localRejectsPath(reports, 'job', 0), `${JSON.stringify(good)}\n{"line":3,"field":"ev`);
    const merged = await mergeRejectReports(reports, 'job');
    expect(merged.rejects).toBe(1);
    expect(readFileSync(merged.path, 'utf8')).toBe(`${JSON.stringify(good)}\n`);
  });

  it('an appending writer first cuts a torn tail, so the next record starts on its own line', async () => {
    const reports = mkdtempSync(join(tmpdir(), 'segflow-torn-'));
    const path = serverRejectsPath(reports, 'job', 0);
    mkdirSync(join(path, '..'), { recursive: true });
    const first = { line: 2, field: '(message)', reason: 'refused', raw: 'a' };
    writeFileSync(path, `${JSON.stringify(first)}\n{"line":5,"fie`);
    const writer = await RejectWriter.open(path, 'append');
    const next = { line: 5, field: '(message)', reason: 'refused', raw: 'b' };
    await writer.write(next);
    await writer.close();
    expect(readFileSync(path, 'utf8')).toBe(`${JSON.stringify(first)}\n${JSON.stringify(next)}\n`);
  });
});

describe('local inputs are checked before connecting to Temporal', () => {
  it('segflow import missing.csv says the file is missing, with Temporal unreachable', () => {
    const run = spawnSync(join(root, 'node_modules/.bin/tsx'), [join(root, 'src/cli.ts'), 'import', join(tmpdir(), 'segflow-no-such-file.csv')], {
      cwd: root,
      env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1', TEMPORAL_CONFIG_FILE: join(tmpdir(), 'segflow-no-config.toml') },
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/segflow-no-such-file\.csv.*(does not exist|not a file)/);
    expect(run.stderr).not.toMatch(/Temporal|connect/i);
  }, 70_000);
});
