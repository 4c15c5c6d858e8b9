/**
 * Branches of the import workflow (src/workflows/import-workflow.ts) that a real import reaches only with large or
 * carefully broken inputs, driven here by mocked activities on the run's real Temporal dev server: the reject
 * thresholds (--max-rejects, --max-reject-rate and its 100-row floor), a pause that arrives while the job is still
 * planning, and continue-as-new handing the cursor, the planned chunks and the totals from run to run.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { ChunkResult, ImportActivities, PlanChunksInput, ProcessChunkInput } from '../../src/contracts/import-job';
import { importJob } from '../../src/workflows/import-workflow';
import {
  pauseSignal,
  resumeSignal,
  importStatusQuery,
  type ChunkDescriptor,
  type ImportOptions,
  type ImportStatus,
} from '../../src/contracts/import-job';
import { rootCause } from '../../src/contracts/failures';
import { getTestEnv, uniqueTaskQueue } from '../support/temporal';
import { waitFor } from '../support/wait';

/** A planned input of `chunks` chunks of 100 records (100 bytes each) after a 10-byte header. */
const CHUNK_BYTES = 100;
const HEADER_BYTES = 10;

function plannedChunk(index: number): ChunkDescriptor {
  return {
    index,
    startByte: HEADER_BYTES + index * CHUNK_BYTES,
    endByte: HEADER_BYTES + (index + 1) * CHUNK_BYTES,
    firstLine: 2 + index * 100,
    firstRecord: index * 100,
    records: 100,
    lines: 100,
  };
}

interface MockedImport {
  activities: Partial<ImportActivities>;
  /** Chunk indexes in the order processChunk was called, with the mode. */
  processed: Array<{ index: number; mode: string }>;
  planned: PlanChunksInput[];
}

/**
 * Activities for an input of `chunks` chunks. `chunkResult` says what each chunk reports (default: 100 valid rows
 * sent); `gate` lets a test hold an activity until it says so.
 */
function mockImport(options: {
  chunks: number;
  chunkResult?: (input: ProcessChunkInput) => Partial<ChunkResult>;
  inspectGate?: Promise<void>;
}): MockedImport {
  const processed: MockedImport['processed'] = [];
  const planned: PlanChunksInput[] = [];
  const fileSize = HEADER_BYTES + options.chunks * CHUNK_BYTES;
  const activities: Partial<ImportActivities> = {
    async inspectInput() {
      await options.inspectGate;
      return { fileSize, start: { byte: HEADER_BYTES, line: 2, record: 0 } };
    },
    async planChunks(input) {
      planned.push(input);
      const first = (input.from.byte - HEADER_BYTES) / CHUNK_BYTES;
      const count = Math.min(input.maxChunks, options.chunks - first);
      const chunks = Array.from({ length: count }, (_, i) => plannedChunk(first + i));
      const end = first + count;
      return { chunks, next: end >= options.chunks ? null : { byte: HEADER_BYTES + end * CHUNK_BYTES, line: 2 + end * 100, record: end * 100 } };
    },
    async processChunk(input) {
      processed.push({ index: input.chunk.index, mode: input.mode });
      const day = input.chunk.index % 2 === 0 ? '2031-01-01' : '2031-01-02';
      return {
        index: input.chunk.index,
        rowsRead: 100,
        rowsRejected: 0,
        eventsSent: input.mode === 'send' ? 100 : 0,
        eventsValid: 100,
        batchesSent: input.mode === 'send' ? 1 : 0,
        bytes: input.chunk.endByte - input.chunk.startByte,
        typeCounts: { track: 90, identify: 10 },
        minTimestamp: `2020-01-${String(10 + input.chunk.index).padStart(2, '0')}T00:00:00.000Z`,
        maxTimestamp: `2020-02-${String(10 + input.chunk.index).padStart(2, '0')}T00:00:00.000Z`,
        serverFieldRows: 0,
        serverFields: [],
        sentByDay: input.mode === 'send' ? { [day]: 100 } : {},
        attempt: 1,
        ...options.chunkResult?.(input),
      };
    },
    async finalizeReport(input) {
      return { path: `/reports/${input.jobId}/rejects.ndjson`, rejects: 0, dir: `/reports/${input.jobId}` };
    },
    async hashImportPlan() {
      return 'plan-hash';
    },
    async confirmWriteKey() {
      return { confirmed: false, reason: 'mocked activities' };
    },
    async workerApprovalPolicy() {
      return { imports: false };
    },
  };
  return { activities, processed, planned };
}

function importOptions(overrides: Partial<ImportOptions> = {}): ImportOptions {
  return {
    file: '/inputs/events.csv',
    format: 'csv',
    source: 'web',
    idNamespace: 'web',
    dryRun: false,
    requireApproval: false,
    allowMissingTimestamp: false,
    concurrency: 1,
    maxEventsPerBatch: 100,
    maxBatchBytes: 480_000,
    targetChunkBytes: CHUNK_BYTES,
    maxRecordsPerChunk: 100,
    chunksPerRun: 1000,
    approvalTimeoutMs: 60_000,
    heartbeatTimeoutMs: 10_000,
    searchAttributes: false,
    ...overrides,
  };
}

let connection: NativeConnection;
beforeAll(async () => {
  await getTestEnv(); // installs the quiet Runtime
  connection = await NativeConnection.connect({ address: inject('temporalAddress') });
});
afterAll(async () => {
  await connection?.close();
});

/** Runs `body` with a worker that has the real workflows and the mocked activities. */
async function withWorker<T>(mocked: MockedImport, body: (taskQueue: string) => Promise<T>): Promise<T> {
  const taskQueue = uniqueTaskQueue('branches');
  const worker = await Worker.create({
    connection,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    activities: mocked.activities,
  });
  return worker.runUntil(body(taskQueue));
}

async function runImport(mocked: MockedImport, options: ImportOptions): Promise<{ status?: ImportStatus; failure?: WorkflowFailedError }> {
  const env = await getTestEnv();
  return withWorker(mocked, async (taskQueue) => {
    const jobId = `branches-${randomUUID().slice(0, 8)}`;
    const handle = await env.client.workflow.start(importJob, { taskQueue, workflowId: jobId, args: [{ jobId, options }] });
    try {
      return { status: await handle.result() };
    } catch (error) {
      if (!(error instanceof WorkflowFailedError)) throw error;
      return { failure: error, status: await handle.query(importStatusQuery) };
    }
  });
}

/** The innermost message of a workflow failure (what `segflow status` shows as the error). */
function rootMessage(error: unknown): string {
  return String((rootCause(error) as { message?: string }).message);
}

describe('reject thresholds', () => {
  it('--max-rejects fails the job once the rejected rows exceed it, and starts no further chunk', async () => {
    const mocked = mockImport({ chunks: 6, chunkResult: () => ({ rowsRejected: 10, eventsValid: 90, eventsSent: 90 }) });
    const { status, failure } = await runImport(mocked, importOptions({ maxRejects: 15 }));
    expect(failure).toBeDefined();
    expect(rootMessage(failure)).toMatch(/^Too many rejected rows: 20 > --max-rejects 15 after 200 rows/);
    expect(status).toMatchObject({ state: 'failed', rows: { read: 200, rejected: 20 } });
    expect(mocked.processed.map((c) => c.index)).toEqual([0, 1]);
  });

  it('--max-rejects is a maximum: exactly that many rejected rows completes', async () => {
    const mocked = mockImport({ chunks: 3, chunkResult: (input) => ({ rowsRejected: input.chunk.index === 1 ? 15 : 0 }) });
    const { status, failure } = await runImport(mocked, importOptions({ maxRejects: 15 }));
    expect(failure).toBeUndefined();
    expect(status).toMatchObject({ state: 'completed', rows: { read: 300, rejected: 15 } });
  });

  it('--max-reject-rate waits for 100 rows before judging, then fails above the rate', async () => {
    // Chunk 1: 50 rows, 40 rejected (80%, too few rows to judge). Chunk 2: 60 clean rows: 40 of 110 = 36% > 29%.
    const mocked = mockImport({
      chunks: 5,
      chunkResult: (input) => (input.chunk.index === 0 ? { rowsRead: 50, rowsRejected: 40, eventsValid: 10, eventsSent: 10 } : { rowsRead: 60 }),
    });
    // 0.29 * 100 is 28.999999999999996 in floating point: the message must still say 29%.
    const { status, failure } = await runImport(mocked, importOptions({ maxRejectRate: 0.29 }));
    expect(rootMessage(failure)).toMatch(/^Too many rejected rows: 36\.4% of 110 rows > --max-reject-rate 29%;/);
    expect(status).toMatchObject({ state: 'failed', rows: { read: 110, rejected: 40 } });
    expect(mocked.processed.map((c) => c.index)).toEqual([0, 1]);
  });

  it('--max-reject-rate is a maximum: a job exactly at the rate completes', async () => {
    const mocked = mockImport({ chunks: 4, chunkResult: () => ({ rowsRejected: 25 }) });
    const { status, failure } = await runImport(mocked, importOptions({ maxRejectRate: 0.25 }));
    expect(failure).toBeUndefined();
    expect(status).toMatchObject({ state: 'completed', rows: { read: 400, rejected: 100 } });
  });
});

describe('pause during planning', () => {
  it('a pause while the input is being inspected holds the job before its first chunk; resume sends everything', async () => {
    let release!: () => void;
    const inspectGate = new Promise<void>((done) => (release = done));
    const mocked = mockImport({ chunks: 3, inspectGate });
    const env = await getTestEnv();
    await withWorker(mocked, async (taskQueue) => {
      const jobId = `branches-${randomUUID().slice(0, 8)}`;
      const handle = await env.client.workflow.start(importJob, { taskQueue, workflowId: jobId, args: [{ jobId, options: importOptions() }] });
      await waitFor(async () => (await handle.query(importStatusQuery)).state === 'planning', 30_000, 'planning');
      await handle.signal(pauseSignal, { by: 'test' });
      // Still planning: the pause is recorded and applies when planning ends.
      expect((await handle.query(importStatusQuery)).state).toBe('planning');
      release();
      await waitFor(async () => (await handle.query(importStatusQuery)).state === 'paused', 30_000, 'paused after planning');
      // Give a wrongly started chunk time to show up.
      await new Promise((r) => setTimeout(r, 1500));
      expect(mocked.processed).toEqual([]);
      expect(mocked.planned).toEqual([]);
      await handle.signal(resumeSignal, { by: 'test' });
      const final = await handle.result();
      expect(final).toMatchObject({ state: 'completed', events: { sent: 300 }, chunks: { done: 3 } });
      expect(mocked.processed.map((c) => c.index)).toEqual([0, 1, 2]);
    });
  });
});

describe('continue-as-new', () => {
  it('hands the cursor, the planned chunks and the totals to each next run: every chunk once, totals exact', async () => {
    // 7 chunks, 2 started per run, up to 8 planned per call: runs 1-3 start 2 each, run 4 the last one.
    const mocked = mockImport({ chunks: 7 });
    const { status, failure } = await runImport(mocked, importOptions({ chunksPerRun: 2, concurrency: 2 }));
    expect(failure).toBeUndefined();
    expect(status).toMatchObject({
      state: 'completed',
      runs: 4,
      rows: { read: 700, rejected: 0, valid: 700 },
      events: { sent: 700 },
      batches: { sent: 7 },
      chunks: { done: 7, planned: 7 },
      bytes: { done: HEADER_BYTES + 700, total: HEADER_BYTES + 700 },
      typeCounts: { track: 630, identify: 70 },
      sentByDay: { '2031-01-01': 400, '2031-01-02': 300 },
      timeRange: { min: '2020-01-10T00:00:00.000Z', max: '2020-02-16T00:00:00.000Z' },
    });
    expect(mocked.processed.map((c) => c.index).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // Chunks planned in one run and started in a later one are not planned again.
    expect(mocked.planned.map((p) => p.firstIndex)).toEqual([0]);
  });

  it("a dry run's validation totals cross run boundaries too", async () => {
    const mocked = mockImport({ chunks: 3, chunkResult: (input) => ({ rowsRejected: input.chunk.index, eventsValid: 100 - input.chunk.index }) });
    const { status, failure } = await runImport(mocked, importOptions({ chunksPerRun: 1, dryRun: true }));
    expect(failure).toBeUndefined();
    expect(status).toMatchObject({ state: 'completed', runs: 3, rows: { read: 300, rejected: 3, valid: 297 }, events: { sent: 0, wouldSend: 297 } });
    expect(mocked.processed.every((c) => c.mode === 'validate')).toBe(true);
  });
});
