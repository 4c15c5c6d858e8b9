/**
 * The worker's checks of every job input (src/contracts/job-input.ts): each rule, the sentence it gives (naming the
 * field), the run facts a client cannot choose, every recorded input shape still accepted, and the activities checking
 * their own inputs as if no workflow stood in front of them.
 */
import { ApplicationFailure } from '@temporalio/common';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateImportOptions } from '../../src/client/import-start';
import { checkImportRequest } from '../../src/client/import-request';
import { requiredApprovals } from '../../src/config';
import { FailureType } from '../../src/contracts/failures';
import { checkInput, IMPORT_LIMITS, importInputProblem, importJobInputSchema, workspaceJobInputSchema } from '../../src/contracts/job-input';
import { sourceLabel } from '../../src/workflows/metrics';
import { createActivities } from '../../src/worker';
import { importOptions } from '../support/import-options';

const options = importOptions({ file: '/data/in.ndjson', searchAttributes: true });
const run = { workflowId: 'job-1' };
const problem = (input: unknown, facts: { workflowId: string; continuedFromExecutionRunId?: string } = run) => importInputProblem(input, facts);
const withOptions = (overrides: Record<string, unknown>) => problem({ jobId: 'job-1', options: { ...options, ...overrides } });

describe('the import input schema', () => {
  it('accepts what `segflow import` starts', () => {
    expect(withOptions({})).toBeUndefined();
    expect(
      withOptions({
        reportDir: 'team-a/2024',
        rateLimit: { perSecond: 10, unit: 'events' },
        ignoreColumns: ['reason', 'a.b:c-d'],
        inputSet: { kind: 'directory', digest: 'a'.repeat(64), files: 3 },
        maxRejects: 0,
        maxRejectRate: 0.05,
      }),
    ).toBeUndefined();
  });

  // Each row: the field, a value that breaks its rule, and what the sentence must say.
  it.each([
    ['format', '/../../../../tmp/x', 'options.format: must be one of csv, ndjson'],
    ['format', undefined, 'options.format: is required'],
    ['source', 's'.repeat(3000), 'options.source: must be 1-64 letters, digits, "_" or "-"'],
    ['source', 'web app', 'options.source: must be 1-64'],
    ['concurrency', IMPORT_LIMITS.maxConcurrency + 1, `options.concurrency: must be at most ${IMPORT_LIMITS.maxConcurrency}`],
    ['concurrency', 0, 'options.concurrency: must be at least 1'],
    ['concurrency', 1.5, 'options.concurrency: must be a whole number'],
    ['maxEventsPerBatch', 2501, 'options.maxEventsPerBatch: must be at most 2500'],
    ['maxBatchBytes', 480_001, 'options.maxBatchBytes: must be at most 480000'],
    ['targetChunkBytes', -1, 'options.targetChunkBytes: must be at least 1'],
    ['chunksPerRun', IMPORT_LIMITS.maxChunksPerRun + 1, 'options.chunksPerRun: must be at most'],
    ['heartbeatTimeoutMs', 500, 'options.heartbeatTimeoutMs: must be at least 2000 ms'],
    ['maxRejectRate', 1.5, 'options.maxRejectRate: must be between 0 and 1'],
    ['maxRejects', -1, 'options.maxRejects: must not be negative'],
    ['reportDir', '../elsewhere', 'options.reportDir: must not contain ".."'],
    ['reportDir', 'a/../../b', 'options.reportDir: must not contain ".."'],
    ['reportDir', '/etc', 'options.reportDir: must be a relative path'],
    ['reportDir', 'C:\\reports', 'options.reportDir: must be a relative path'],
    ['reportDir', 'r'.repeat(501), 'options.reportDir: must be at most 500 characters'],
    ['ignoreColumns', ['ok', 'no spaces'], 'options.ignoreColumns[1]: must be a column name'],
    ['ignoreColumns', Array.from({ length: 101 }, (_, i) => `c${i}`), 'options.ignoreColumns: must list at most 100 columns'],
    ['rateLimit', { perSecond: 0, unit: 'events' }, 'options.rateLimit.perSecond: must be a positive number'],
    ['rateLimit', { perSecond: 5, unit: 'bytes' }, 'options.rateLimit.unit: must be events or requests'],
    ['inputSet', { kind: 'tarball', digest: 'a'.repeat(64), files: 1 }, 'options.inputSet.kind: must be one of file, directory, glob, manifest'],
    ['inputSet', { kind: 'file', digest: 'xyz', files: 1 }, 'options.inputSet.digest: must be a sha-256 digest'],
    ['file', '', 'options.file: must not be empty'],
    ['idNamespace', 'n'.repeat(501), 'options.idNamespace: must be at most 500 characters'],
    ['dryRun', 'yes', 'options.dryRun: must be true or false'],
  ])('options.%s = %j is refused: "%s"', (field, value, message) => {
    expect(withOptions({ [field]: value })).toContain(`Invalid import input: ${message}`);
  });

  it('refuses a job id that is not a name, and one that is not the workflow id', () => {
    expect(problem({ jobId: '../x', options }, { workflowId: '../x' })).toContain('Invalid import input: jobId: must be letters, digits');
    expect(problem({ jobId: 'other-job', options })).toBe(
      'Invalid import input: jobId must equal the workflow id; start the workflow with the job id as its workflow id.',
    );
  });

  it('accepts carried state only in a run that continues another', () => {
    const carried = {
      phase: 'send',
      fileSize: 10,
      dataStart: { byte: 0, line: 1, record: 0 },
      cursor: null,
      nextChunkIndex: 0,
      pending: [],
      totals: {},
      paused: false,
      startedAt: '2026-01-01T00:00:00.000Z',
      runs: 1,
      approval: { planHash: 'f'.repeat(64), by: 'x', at: '2026-01-01T00:00:00.000Z' },
    };
    expect(problem({ jobId: 'job-1', options, carried })).toBe(
      'Invalid import input: carried is set only by the job itself when it continues as new; start the job without it.',
    );
    expect(problem({ jobId: 'job-1', options, carried }, { workflowId: 'job-1', continuedFromExecutionRunId: 'run-0' })).toBeUndefined();
  });

  it('is one sentence for any value, however it is broken', () => {
    for (const input of [undefined, null, 42, 'text', [], { jobId: 'job-1' }]) {
      const sentence = problem(input);
      expect(sentence).toMatch(/^Invalid import input: .+\.$/);
    }
    expect(problem({ jobId: 'job-1' })).toBe('Invalid import input: options: is required.');
  });

  it('accepts every input recorded in test/fixtures/histories (old carried.staged with file and map too)', () => {
    const dir = join(__dirname, '../fixtures/histories');
    const inputs = readdirSync(dir)
      .filter((name) => /\.run\d+\.json$/.test(name))
      .map((name) => {
        const event = JSON.parse(readFileSync(join(dir, name), 'utf8')).events[0].workflowExecutionStartedEventAttributes;
        const payload = JSON.parse(Buffer.from(event.input.payloads[0].data, 'base64').toString('utf8'));
        return { name, payload, workflowId: event.workflowId ?? payload.jobId, continued: event.continuedExecutionRunId };
      });
    expect(inputs.length).toBeGreaterThan(5);
    for (const { name, payload, continued } of inputs) {
      if (name.startsWith('workspace')) {
        expect(checkInput(workspaceJobInputSchema, 'workspace job input', payload)).toBeUndefined();
        continue;
      }
      expect(problem(payload, { workflowId: payload.jobId, continuedFromExecutionRunId: continued })).toBeUndefined();
    }
    const legacy = { ...inputs.find((i) => i.payload.carried)!.payload };
    legacy.carried = { ...legacy.carried, staged: { file: '/reports/x/staged/input.ndjson', map: '/reports/x/staged/files.ndjson', files: 2 } };
    expect(importJobInputSchema.safeParse(legacy).success).toBe(true);
  });
});

describe('the workspace job input schema', () => {
  const spec = { continueOnError: false, steps: [{ op: 'list-sources', name: 'list' }] };
  it.each([
    [{ jobId: 'w', spec }, undefined],
    [{ jobId: 'w', spec: { ...spec, steps: [] } }, 'spec.steps: a job needs at least one step'],
    [{ jobId: 'w', spec: { ...spec, steps: [{ op: 'drop-table', name: 'x' }] } }, 'spec.steps[0].op: must be one of list-sources, get-source'],
    [
      { jobId: 'w', spec: { ...spec, steps: [{ op: 'delete-source', name: 'x', targets: { sourceIds: ['../x'] }, force: true }] } },
      'spec.steps[0].targets.sourceIds[0]: an id is letters',
    ],
    [
      { jobId: 'w', spec: { ...spec, steps: [{ op: 'send', name: 's', source: 'default', messages: [{ type: 'nope' }] }] } },
      'spec.steps[0].messages[0].type: must be one of',
    ],
    [{ jobId: 'w/..', spec }, 'jobId: must be letters'],
    [{ jobId: 'w', spec, approvalTimeoutMs: -5 }, 'approvalTimeoutMs: must be at least 1'],
  ])('%j: %s', (input, message) => {
    const found = checkInput(workspaceJobInputSchema, 'workspace job input', input);
    if (message === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(`Invalid workspace job input: ${message}`);
  });
});

describe('the client states the same limits', () => {
  it('refuses what the worker would refuse, with the flag or field named', async () => {
    expect(() => validateImportOptions({ ...options, concurrency: IMPORT_LIMITS.maxConcurrency + 1 })).toThrow(
      `--concurrency above ${IMPORT_LIMITS.maxConcurrency}`,
    );
    expect(() => validateImportOptions({ ...options, chunksPerRun: IMPORT_LIMITS.maxChunksPerRun + 1 })).toThrow(
      `Invalid import options: chunksPerRun: must be at most ${IMPORT_LIMITS.maxChunksPerRun}.`,
    );
    const dir = mkdtempSync(join(tmpdir(), 'segflow-limits-'));
    const file = join(dir, 'in.ndjson');
    writeFileSync(file, '');
    await expect(checkImportRequest({ file, reportDir: 'r'.repeat(501) })).rejects.toThrow(/--report-dir/);
    await expect(checkImportRequest({ file, idNamespace: 'n'.repeat(501) })).rejects.toThrow(/--id-namespace/);
  });
});

describe('metrics labels', () => {
  it('carry a source name only when it is one; anything else shares one label', () => {
    expect(sourceLabel('web-app')).toBe('web-app');
    expect(sourceLabel('s'.repeat(3000))).toBe('invalid');
  });
});

describe('the worker approval policy (SEGFLOW_REQUIRE_APPROVAL)', () => {
  it('reads imports, nothing, or refuses an unknown value', () => {
    expect(requiredApprovals({})).toEqual({ imports: false });
    expect(requiredApprovals({ SEGFLOW_REQUIRE_APPROVAL: ' Imports ' })).toEqual({ imports: true });
    expect(() => requiredApprovals({ SEGFLOW_REQUIRE_APPROVAL: 'imprts' })).toThrow('SEGFLOW_REQUIRE_APPROVAL "imprts" is not known');
    expect(() => createActivities({ SEGFLOW_REQUIRE_APPROVAL: 'everything' })).toThrow('SEGFLOW_REQUIRE_APPROVAL');
  });

  it('makes processChunk refuse a send without an approved plan hash (ApprovalRequired)', async () => {
    const activities = createActivities({ SEGFLOW_REQUIRE_APPROVAL: 'imports', SEGFLOW_REPORT_DIR: mkdtempSync(join(tmpdir(), 'segflow-r-')) });
    const chunk = { index: 0, startByte: 0, endByte: 10, firstLine: 1, firstRecord: 0, records: 1, lines: 1 };
    const error = await activities
      .processChunk({
        jobId: 'job-1',
        file: '/nonexistent.ndjson',
        format: 'ndjson',
        chunk,
        expectedFileSize: 10,
        source: 'default',
        idNamespace: 'default',
        mode: 'send',
        allowMissingTimestamp: false,
        maxEventsPerBatch: 10,
        maxBatchBytes: 1000,
        maxEventBytes: 1000,
        referenceTime: '2026-01-01T00:00:00.000Z',
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).type).toBe(FailureType.ApprovalRequired);
    expect((error as ApplicationFailure).nonRetryable).toBe(true);
    expect(await activities.workerApprovalPolicy()).toEqual({ imports: true });
  });
});

describe('activities check their own inputs', () => {
  it('stageInput refuses a format with a path in it before writing anything', async () => {
    const base = mkdtempSync(join(tmpdir(), 'segflow-stage-'));
    const activities = createActivities({ SEGFLOW_REPORT_DIR: join(base, 'reports') });
    const error = await activities
      .stageInput({ jobId: 'job-1', kind: 'file', location: join(base, 'in.ndjson.gz'), format: '/../../../x' as 'ndjson', digest: 'a'.repeat(64) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as ApplicationFailure).type).toBe(FailureType.InvalidJobInput);
    expect((error as ApplicationFailure).message).toContain('stageInput input: format: must be one of csv, ndjson');
    expect(readdirSync(base)).toEqual([]);
  });

  it('confirmWriteKey refuses a source that is not a source name, naming the field', async () => {
    const error = await createActivities({})
      .confirmWriteKey({ source: 's'.repeat(3000) })
      .catch((e: unknown) => e);
    expect((error as ApplicationFailure).type).toBe(FailureType.InvalidJobInput);
    expect((error as ApplicationFailure).message).toBe('Invalid confirmWriteKey input: source: must be 1-64 letters, digits, "_" or "-".');
  });

  it('inspectInput of a staged job reads the staged copy derived from the job id, not the file it is handed', async () => {
    const base = mkdtempSync(join(tmpdir(), 'segflow-staged-'));
    const staged = join(base, 'reports', 'job-1', 'staged');
    mkdirSync(staged, { recursive: true });
    writeFileSync(join(staged, 'input.ndjson'), '{"a":1}\n');
    writeFileSync(join(base, 'other.ndjson'), 'x'.repeat(100));
    const activities = createActivities({ SEGFLOW_REPORT_DIR: join(base, 'reports'), SEGFLOW_INPUT_ROOTS: base });
    const inspected = await activities.inspectInput({ file: join(base, 'other.ndjson'), format: 'ndjson', jobId: 'job-1', staged: true });
    expect(inspected.fileSize).toBe(8);
    const missing = await activities.inspectInput({ file: 'x', format: 'ndjson', staged: true }).catch((e: unknown) => e);
    expect((missing as ApplicationFailure).message).toContain('inspectInput input: jobId: is required for a staged input');
  });

  it('finalizeReport removes the job staged directory and ignores a staged map path handed to it', async () => {
    const base = mkdtempSync(join(tmpdir(), 'segflow-final-'));
    const staged = join(base, 'reports', 'job-1', 'staged');
    mkdirSync(staged, { recursive: true });
    writeFileSync(join(staged, 'input.ndjson'), '{}\n');
    writeFileSync(join(staged, 'files.ndjson'), '');
    const sentinel = join(base, 'outside', 'input.ndjson');
    mkdirSync(join(base, 'outside'));
    writeFileSync(sentinel, 'sentinel');
    const activities = createActivities({ SEGFLOW_REPORT_DIR: join(base, 'reports') });
    await activities.finalizeReport({ jobId: 'job-1', format: 'ndjson', stagedMap: join(base, 'outside', 'files.ndjson') } as never);
    expect(existsSync(staged)).toBe(false);
    expect(readFileSync(sentinel, 'utf8')).toBe('sentinel');
  });
});
