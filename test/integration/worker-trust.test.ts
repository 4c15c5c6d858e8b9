/**
 * What a worker refuses from anyone who can start a workflow in the namespace: these tests start workflows directly
 * with @temporalio/client, never through the CLI, on the run's real dev server (README "Security model").
 *
 * The set-up at the top (a harness with a Segment double, a worker, sentinel files outside the report root, and the
 * helpers to start a workflow directly and read its failure and history) is shared: later describe blocks (SSRF,
 * decompression bombs) use the same `trust` object.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJobStatus } from '../../src/client';
import { rootCause, FailureType } from '../../src/contracts/failures';
import type { CarriedImportState, ImportJobInput, ImportOptions } from '../../src/contracts/import-job';
import type { WorkspaceJobInput } from '../../src/contracts/workspace-job';
import { stagedInputPaths } from '../../src/io/reject-report';
import { importJob } from '../../src/workflows/import-workflow';
import { workspaceJob } from '../../src/workflows/workspace-job';
import { decodedHistoryText } from '../support/history';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { importOptions } from '../support/import-options';
import { startRangeServer, type RangeServer } from '../support/range-server';
import { ndjsonEvents, waitFor } from '../support/wait';

/** Shared by every describe block of this file. */
const trust = {
  h: undefined as unknown as ImportHarness,
  /** A plain input every attack can point at: 20 valid events. */
  input: '',
  /** Outside the worker's report root: a secret file and a sentinel file the attacks name. */
  outside: '',
  secret: 'TOP-SECRET-7f3a9c-do-not-leak',
  sentinel: '',
  sequence: 0,

  /** Options as `segflow import` would start them, for the input above; an attack overrides some. */
  options(overrides: Partial<ImportOptions> = {}): ImportOptions {
    return importOptions({
      file: trust.input,
      concurrency: 2,
      maxEventsPerBatch: 100,
      targetChunkBytes: 1_000_000,
      approvalTimeoutMs: 60_000,
      heartbeatTimeoutMs: 5000,
      ...overrides,
    });
  },

  /** What a run hands the next at continue-as-new, here forged: one chunk covering the whole input. */
  carried(overrides: Partial<CarriedImportState> = {}): CarriedImportState {
    const size = readFileSync(trust.input).length;
    return {
      phase: 'validate',
      fileSize: size,
      dataStart: { byte: 0, line: 1, record: 0 },
      cursor: null,
      nextChunkIndex: 0,
      pending: [{ index: 0, startByte: 0, endByte: size, firstLine: 1, firstRecord: 0, records: 20, lines: 20 }],
      totals: { rowsRead: 0, rowsRejected: 0, eventsSent: 0, eventsValid: 0, batchesSent: 0, bytesDone: 0, chunksDone: 0, typeCounts: {} },
      paused: false,
      startedAt: new Date().toISOString(),
      runs: 0,
      ...overrides,
    };
  },

  workflowId(label: string): string {
    trust.sequence += 1;
    return `trust-${label}-${Date.now().toString(36)}-${trust.sequence}`;
  },

  /** Starts importJob directly (no CLI), with this input as is. */
  startImport(workflowId: string, input: unknown): Promise<WorkflowHandle<typeof importJob>> {
    return trust.h.sc.client.workflow.start(importJob, { taskQueue: trust.h.taskQueue, workflowId, args: [input as ImportJobInput] });
  },

  startWorkspace(workflowId: string, input: unknown): Promise<WorkflowHandle<typeof workspaceJob>> {
    return trust.h.sc.client.workflow.start(workspaceJob, { taskQueue: trust.h.taskQueue, workflowId, args: [input as WorkspaceJobInput] });
  },

  /** The failure that closed the workflow (its innermost cause), fetched from the server. */
  async failureOf(handle: WorkflowHandle): Promise<ApplicationFailure> {
    const error = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const root = rootCause(error);
    expect(root).toBeInstanceOf(ApplicationFailure);
    return root as ApplicationFailure;
  },

  async history(handle: WorkflowHandle): Promise<{ text: string; eventTypes: string[] }> {
    const history = await handle.fetchHistory();
    return { text: decodedHistoryText(history), eventTypes: (history.events ?? []).map((e) => String(e.eventType)) };
  },

  /**
   * The refusal every attack must meet: the workflow failed with InvalidJobInput naming `field`, before scheduling any
   * activity, the secret nowhere in its history, nothing sent to Segment and the sentinel untouched.
   */
  async expectRefused(handle: WorkflowHandle, field: string): Promise<ApplicationFailure> {
    const failure = await trust.failureOf(handle);
    expect(failure.type).toBe(FailureType.InvalidJobInput);
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toContain(field);
    const { text, eventTypes } = await trust.history(handle);
    expect(eventTypes.filter((type) => /ACTIVITY_TASK_SCHEDULED|WORKFLOW_TASK_FAILED/.test(type))).toEqual([]);
    expect(text).not.toContain(trust.secret);
    expect(trust.h.double.messages).toEqual([]);
    expect(readFileSync(trust.sentinel, 'utf8')).toBe('sentinel\n');
    return failure;
  },
};

beforeAll(async () => {
  trust.h = await startImportHarness();
  trust.input = trust.h.writeInput('trust.ndjson', ndjsonEvents(20, 'trust'));
  trust.outside = join(trust.h.workDir, 'outside');
  mkdirSync(trust.outside, { recursive: true });
  writeFileSync(join(trust.outside, 'secret.txt'), `${trust.secret}\n`);
  trust.sentinel = join(trust.outside, 'input.ndjson');
  writeFileSync(trust.sentinel, 'sentinel\n');
}, 180_000);

afterAll(async () => {
  await trust.h?.stop();
});

describe('a workflow started around the CLI', () => {
  it('options.format with a path in it (a .gz input) fails the job naming options.format, and no file appears at the traversal target', async () => {
    const gz = join(trust.h.workDir, 'events.ndjson.gz');
    writeFileSync(gz, gzipSync(readFileSync(trust.input)));
    const format = '/../../../../traversal-target';
    const workflowId = trust.workflowId('format');
    // Where the staged file `input.${format}` would land: the report root's parent (the work dir).
    const target = join(trust.h.workDir, 'reports', workflowId, 'staged', `input.${format}`);
    expect(target).toBe(join(trust.h.workDir, 'traversal-target'));
    const handle = await trust.startImport(workflowId, {
      jobId: workflowId,
      options: trust.options({ file: gz, format: format as 'ndjson', inputSet: { kind: 'file', digest: 'a'.repeat(64), files: 1 } }),
    });
    await trust.expectRefused(handle, 'options.format');
    expect(existsSync(target)).toBe(false);
  });

  it('carried.staged.map next to a sentinel file (and /dev/null) fails the job naming carried, and the sentinel stays', async () => {
    for (const map of [join(trust.outside, 'files.ndjson'), '/dev/null']) {
      const workflowId = trust.workflowId('map');
      const handle = await trust.startImport(workflowId, {
        jobId: workflowId,
        options: trust.options(),
        carried: trust.carried({ staged: { file: trust.input, map, files: 1 } }),
      });
      await trust.expectRefused(handle, 'carried');
    }
  });

  it('carried.staged.map naming a secret file fails the job naming carried, and the secret is nowhere in the history', async () => {
    const workflowId = trust.workflowId('secret');
    const handle = await trust.startImport(workflowId, {
      jobId: workflowId,
      options: trust.options({ dryRun: true }),
      carried: trust.carried({ staged: { file: trust.input, map: join(trust.outside, 'secret.txt'), files: 1 } }),
    });
    await trust.expectRefused(handle, 'carried');
  });

  it('carried.approval in a first run of a --require-approval import fails the job naming carried, and nothing is sent', async () => {
    const workflowId = trust.workflowId('approval');
    const handle = await trust.startImport(workflowId, {
      jobId: workflowId,
      options: trust.options({ requireApproval: true }),
      carried: trust.carried({
        phase: 'send',
        approval: { planHash: 'f'.repeat(64), by: 'nobody', at: new Date().toISOString() },
      }),
    });
    await trust.expectRefused(handle, 'carried');
  });

  it('a jobId other than the workflow id fails the job naming jobId, and the other job gets no report directory', async () => {
    const workflowId = trust.workflowId('victim-run');
    const otherJob = trust.workflowId('other-job');
    const handle = await trust.startImport(workflowId, { jobId: otherJob, options: trust.options() });
    await trust.expectRefused(handle, 'jobId');
    expect(existsSync(join(trust.h.workDir, 'reports', otherJob))).toBe(false);
  });

  it('a 3,000-character source name fails the job naming options.source', async () => {
    const workflowId = trust.workflowId('source');
    const handle = await trust.startImport(workflowId, { jobId: workflowId, options: trust.options({ source: 's'.repeat(3000) }) });
    const failure = await trust.expectRefused(handle, 'options.source');
    expect(failure.message.length).toBeLessThan(300);
  });

  it('a workspace job with a bad spec fails naming the field of the spec, before any preview', async () => {
    const workflowId = trust.workflowId('workspace');
    const handle = await trust.startWorkspace(workflowId, {
      jobId: workflowId,
      spec: { continueOnError: false, steps: [{ op: 'delete-source', name: 'x', targets: { sourceIds: ['../../etc'] }, force: true }] },
    });
    await trust.expectRefused(handle, 'spec.steps[0].targets.sourceIds[0]');
  });

  it('a workspace job whose jobId is not its workflow id fails naming jobId, before any preview', async () => {
    const workflowId = trust.workflowId('workspace-id');
    const handle = await trust.startWorkspace(workflowId, {
      jobId: 'another-workspace-job',
      spec: { continueOnError: false, steps: [{ op: 'list-sources', name: 'list' }] },
    });
    await trust.expectRefused(handle, 'jobId');
  });

  it('the same worker still runs a good import afterwards', async () => {
    const status = await trust.h.runImport({ file: trust.input });
    expect(status.state).toBe('completed');
    expect(trust.h.double.uniqueMessageIds().size).toBe(20);
    trust.h.double.reset();
  });
});

describe('a worker with SEGFLOW_REQUIRE_APPROVAL=imports', () => {
  let gated: ImportHarness;
  beforeAll(async () => {
    gated = await startImportHarness({ extraEnv: { SEGFLOW_REQUIRE_APPROVAL: 'imports' } });
  }, 180_000);
  afterAll(async () => {
    await gated?.stop();
  });

  it('puts an import started without --require-approval through the approval gate, and sends nothing meanwhile', async () => {
    const file = gated.writeInput('gated.ndjson', ndjsonEvents(20, 'gated'));
    const workflowId = trust.workflowId('gated');
    const handle = await gated.sc.client.workflow.start(importJob, {
      taskQueue: gated.taskQueue,
      workflowId,
      args: [{ jobId: workflowId, options: { ...trust.options({ file }), requireApproval: false } }],
    });
    await waitFor(async () => (await getJobStatus(gated.sc, workflowId)).state === 'awaiting_approval', 60_000, 'awaiting approval');
    const status = await getJobStatus(gated.sc, workflowId);
    expect(status).toMatchObject({ state: 'awaiting_approval', rows: { read: 20 }, events: { sent: 0 } });
    expect(gated.double.messages).toEqual([]);
    await handle.cancel();
  });
});

describe('inputs a worker with the default configuration will not read, started directly', () => {
  let store: RangeServer;
  beforeAll(async () => {
    store = await startRangeServer();
    store.put('/events.ndjson', ndjsonEvents(5, 'ssrf'));
  });
  afterAll(async () => {
    await store?.stop();
  });

  /** An import of `file` as a client would start it around the CLI, and its innermost failure. */
  async function refusedImport(label: string, options: Partial<ImportOptions>): Promise<ApplicationFailure> {
    const workflowId = trust.workflowId(label);
    const handle = await trust.startImport(workflowId, { jobId: workflowId, options: trust.options(options) });
    const failure = await trust.failureOf(handle);
    expect(trust.h.double.messages).toEqual([]);
    return failure;
  }

  // The list, with a live loopback server behind the first so a request to it would show.
  const internal = () => [
    store.url('/events.ndjson'),
    'http://0.0.0.0:8888/',
    'http://localhost:9464/metrics',
    'http://100.100.100.200/latest/meta-data/',
    'http://[::a9fe:a9fe]/',
    'http://[64:ff9b::a9fe:a9fe]/',
    'http://metadata.google.internal./',
  ];

  it('refuses every internal and metadata URL of the list as InputNotAllowed, and the loopback server gets no request', async () => {
    for (const url of internal()) {
      const failure = await refusedImport('ssrf', { file: url });
      expect(failure.type, url).toBe(FailureType.InputNotAllowed);
      expect(failure.nonRetryable, url).toBe(true);
    }
    expect(store.requests).toEqual([]);
  });

  it('refuses a gzip bomb at the ratio limit, naming it, and leaves nothing staged', async () => {
    const file = join(trust.h.workDir, 'bomb.ndjson.gz');
    // 64 MiB of newlines: past the 8 MiB the ratio waits for, at a ratio near 1000.
    writeFileSync(file, gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x0a), { level: 9 }));
    const workflowId = trust.workflowId('bomb');
    const handle = await trust.startImport(workflowId, {
      jobId: workflowId,
      options: trust.options({ file, inputSet: { kind: 'file', digest: '0'.repeat(64), files: 1 } }),
    });
    const failure = await trust.failureOf(handle);
    expect(failure.message).toMatch(/bomb\.ndjson\.gz.*SEGFLOW_STAGING_MAX_RATIO/);
    const staged = stagedInputPaths(String(trust.h.workerEnv.SEGFLOW_REPORT_DIR), workflowId, 'ndjson').dir;
    expect(existsSync(staged) ? readdirSync(staged) : []).toEqual([]);
    expect(trust.h.double.messages).toEqual([]);
  });

  it('refuses a manifest that lists one file twice, naming both lines', async () => {
    const manifest = join(trust.h.workDir, 'twice.txt');
    writeFileSync(manifest, `${trust.input}\n${trust.input}\n`);
    const failure = await refusedImport('manifest', { file: manifest, inputSet: { kind: 'manifest', digest: '0'.repeat(64), files: 2 } });
    expect(failure.message).toMatch(/line 2: .* is already listed on line 1/);
  });
});
