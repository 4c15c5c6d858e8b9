/**
 * Durable execution at the edges (issue 14): rate waits that keep heartbeating, a cap that is the real rate, input
 * errors that cannot heal, chunks being retried shown in status, `--wait` saying why a job does not answer, siblings
 * stopped when a chunk fails, and cancellations whose accounting is true.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followJob, getJobStatus, startImport, UsageError, type JobStatus } from '../../src/client';
import { startRangeServer, type RangeServer } from '../support/range-server';
import { startImportHarness, type ImportHarness } from '../support/import-harness';
import { ndjsonEvents, waitFor } from '../support/wait';
import { causeChain, FailureType } from '../../src/contracts/failures';

let h: ImportHarness;

beforeAll(async () => {
  // The object store stand-in listens on loopback, which a worker reads only when SEGFLOW_INPUT_HOSTS names it.
  h = await startImportHarness({ extraEnv: { SEGFLOW_INPUT_HOSTS: '127.0.0.1' } });
});

afterAll(async () => {
  await h?.stop();
});

const sentOf = (status: JobStatus) => (status.events as { sent: number }).sent;

/** Events per second the double received, not counting the first request (paced before it, not after). */
function measuredRate(): { rate: number; seconds: number } {
  const log = h.double.requestLog().filter((r) => r.status === 200);
  const times = log.map((r) => Date.parse(r.receivedAt));
  const first = Math.min(...times);
  const seconds = (Math.max(...times) - first) / 1000;
  const events = log.filter((r) => Date.parse(r.receivedAt) !== first).reduce((sum, r) => sum + r.events, 0);
  return { rate: events / seconds, seconds };
}

describe('rate cap', () => {
  it('completes a low --rate with the default batch size and a short heartbeat timeout', async () => {
    h.double.reset();
    // Before: one 400-event batch at 100/s ÷ 4 chunks waited 16 s without a heartbeat, past the 3 s heartbeat
    // timeout, and every retry started over with an empty bucket: the job never sent anything.
    const file = h.writeInput('low-rate.ndjson', ndjsonEvents(400, 'low'));
    const status = await h.runImport({ file, rateLimit: { perSecond: 100, unit: 'events' }, heartbeatTimeoutMs: 3000 });
    expect(status.state).toBe('completed');
    expect(sentOf(status)).toBe(400);
    expect(h.double.uniqueMessageIds().size).toBe(400);
  });

  it('gives a chunk running alone the whole cap, never more', async () => {
    h.double.reset();
    // One chunk, default concurrency 4: before, it ran at 300 ÷ 4 = 75 events/s.
    const file = h.writeInput('one-chunk.ndjson', ndjsonEvents(1500, 'solo'));
    const status = await h.runImport({ file, rateLimit: { perSecond: 300, unit: 'events' } });
    expect(status.state).toBe('completed');
    const { rate } = measuredRate();
    expect(rate).toBeLessThanOrEqual(300 * 1.05);
    expect(rate).toBeGreaterThan(300 * 0.7);
  });

  it('holds several chunks in flight together under the cap, and near it', async () => {
    h.double.reset();
    const file = h.writeInput('many-chunks.ndjson', ndjsonEvents(2400, 'many'));
    const status = await h.runImport({ file, rateLimit: { perSecond: 400, unit: 'events' }, concurrency: 3, targetChunkBytes: 30_000 });
    expect(status.state).toBe('completed');
    expect((status.chunks as { done: number }).done).toBeGreaterThan(3);
    const { rate } = measuredRate();
    expect(rate).toBeLessThanOrEqual(400 * 1.05);
    expect(rate).toBeGreaterThan(400 * 0.6);
  });

  it('refuses a rate too low for a chunk to finish in time', async () => {
    const file = h.writeInput('too-slow.ndjson', ndjsonEvents(3, 'slow'));
    await expect(startImport(h.sc, { file, rateLimit: { perSecond: 0.0001, unit: 'events' } })).rejects.toThrow(/too slow for a chunk to finish/);
    await expect(startImport(h.sc, { file, heartbeatTimeoutMs: 500 })).rejects.toThrow(/too short to heartbeat/);
  });
});

describe('input errors that cannot heal', () => {
  it('fails at once, with the reason, when the local file is removed mid-import', async () => {
    h.double.reset();
    const file = h.writeInput('vanishing.ndjson', ndjsonEvents(1200, 'gone'));
    const started = await startImport(h.sc, {
      file,
      concurrency: 1,
      targetChunkBytes: 20_000,
      maxEventsPerBatch: 50,
      rateLimit: { perSecond: 400, unit: 'events' },
      heartbeatTimeoutMs: 5000,
    });
    await waitFor(async () => sentOf(await getJobStatus(h.sc, started.jobId)) > 0, 60_000, 'first events');
    rmSync(file);
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('failed');
    expect(String(final.error)).toMatch(/no longer exists/);
  });

  it('fails at once when the object behind a URL is deleted (404)', async () => {
    h.double.reset();
    const server: RangeServer = await startRangeServer();
    try {
      server.put('/events.ndjson', ndjsonEvents(1200, 'url'));
      const started = await startImport(h.sc, {
        file: server.url('/events.ndjson'),
        jobId: `deleted-object-${Date.now()}`,
        concurrency: 1,
        targetChunkBytes: 20_000,
        maxEventsPerBatch: 50,
        rateLimit: { perSecond: 400, unit: 'events' },
      });
      await waitFor(async () => sentOf(await getJobStatus(h.sc, started.jobId)) > 0, 60_000, 'first events');
      server.remove('/events.ndjson');
      const final = await followJob(h.sc, started.jobId, () => undefined, 200);
      expect(final.state).toBe('failed');
      expect(String(final.error)).toMatch(/not found/);
    } finally {
      await server.stop();
    }
  });
});

describe('status while Segment fails', () => {
  it("shows a retried chunk's attempt count and last failure", async () => {
    h.double.reset();
    h.double.injectFaults(...Array.from({ length: 4 }, () => ({ kind: 'status' as const, status: 503 })));
    const file = h.writeInput('retrying.ndjson', ndjsonEvents(50, 'retry'));
    const started = await startImport(h.sc, { file, heartbeatTimeoutMs: 5000 });
    let seen: { attempt: number; lastFailure?: string } | undefined;
    await waitFor(
      async () => {
        const status = await getJobStatus(h.sc, started.jobId);
        seen = (status.chunks as { retrying?: Array<{ attempt: number; lastFailure?: string }> }).retrying?.[0];
        return seen !== undefined && seen.attempt >= 2;
      },
      60_000,
      'a retrying chunk in status',
    );
    expect(seen!.lastFailure).toMatch(/503/);
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('completed');
    expect(h.double.uniqueMessageIds().size).toBe(50);
  });
});

describe('--wait says why a job does not answer', () => {
  it('says no worker polls the task queue, and keeps waiting', async () => {
    const file = h.writeInput('no-worker.ndjson', ndjsonEvents(2, 'nw'));
    const sc = { ...h.sc, settings: { ...h.sc.settings, taskQueue: `nobody-polls-${Date.now()}` } };
    const started = await startImport(sc, { file, jobId: `no-worker-${Date.now()}` });
    const problems: string[] = [];
    const following = followJob(
      sc,
      started.jobId,
      () => undefined,
      200,
      (p) => problems.push(p),
      500,
    );
    following.catch(() => undefined);
    await waitFor(() => problems.length > 0, 60_000, 'a diagnosis');
    expect(problems[0]).toMatch(/nothing polls task queue "nobody-polls-/);
    await sc.client.workflow.getHandle(started.jobId).terminate('test over');
    expect((await following).state).toBe('terminated');
  });

  it('stops waiting and gives the error when the workflow task keeps failing', async () => {
    const handle = await h.sc.client.workflow.start('noSuchWorkflowType', { taskQueue: h.taskQueue, workflowId: `broken-${Date.now()}`, args: [] });
    try {
      await expect(
        followJob(
          h.sc,
          handle.workflowId,
          () => undefined,
          200,
          () => undefined,
          500,
        ),
      ).rejects.toThrow(UsageError);
      await expect(
        followJob(
          h.sc,
          handle.workflowId,
          () => undefined,
          200,
          () => undefined,
          500,
        ),
      ).rejects.toThrow(/workflow task keeps failing.*noSuchWorkflowType/);
    } finally {
      await handle.terminate('test over');
    }
  });
});

describe('stopping', () => {
  it('stops in-flight siblings when too many rows are rejected, and counts what they sent', async () => {
    h.double.reset();
    // Chunk 1 is all bad rows; chunks 2 and 3 are good and slow (rate cap). Before, they ran to their end.
    const bad =
      Array.from({ length: 200 }, (_, i) => JSON.stringify({ type: 'track', userId: `b${i}`, timestamp: '2020-01-01T00:00:00Z' })).join('\n') + '\n';
    const file = h.writeInput('bad-first.ndjson', bad + ndjsonEvents(3000, 'good'));
    const started = await startImport(h.sc, {
      file,
      concurrency: 3,
      targetChunkBytes: 40_000,
      maxEventsPerBatch: 20,
      maxRejects: 50,
      rateLimit: { perSecond: 100, unit: 'events' },
      heartbeatTimeoutMs: 5000,
    });
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('failed');
    expect(String(final.error)).toMatch(/max-rejects 50/);
    const acceptedAtEnd = h.double.stats().accepted;
    expect(acceptedAtEnd).toBeLessThan(3000);
    // Every event Segment accepted is counted, and nothing arrives after the job said it failed.
    expect(sentOf(final)).toBe(acceptedAtEnd);
    await new Promise((r) => setTimeout(r, 2000));
    expect(h.double.stats().accepted).toBe(acceptedAtEnd);
  });

  it('cancels mid-chunk: no request after "cancelled", and the counts match what Segment got', async () => {
    h.double.reset();
    const file = h.writeInput('cancel-mid.ndjson', ndjsonEvents(3000, 'cm'));
    const started = await startImport(h.sc, {
      file,
      concurrency: 2,
      targetChunkBytes: 60_000,
      maxEventsPerBatch: 25,
      rateLimit: { perSecond: 200, unit: 'events' },
      heartbeatTimeoutMs: 5000,
    });
    await waitFor(async () => sentOf(await getJobStatus(h.sc, started.jobId)) > 100, 60_000, 'first events');
    await h.sc.client.workflow.getHandle(started.jobId).cancel();
    const final = await followJob(h.sc, started.jobId, () => undefined, 100);
    expect(final.state).toBe('cancelled');
    const requestsAtCancelled = h.double.stats().batchRequests;
    await new Promise((r) => setTimeout(r, 2500));
    expect(h.double.stats().batchRequests).toBe(requestsAtCancelled);
    expect(sentOf(final)).toBe(h.double.stats().accepted);
    expect(final.rejectReport).toBeDefined();
  });
});

describe('a failure keeps its cause', () => {
  it('chains the workflow failure to the activity failure and its type', async () => {
    h.double.reset();
    const file = h.writeInput('cause.csv', 'type,user_id,event,timestamp\ntrack,u1,E,2020-01-01T00:00:00Z\n');
    const started = await startImport(h.sc, { file });
    const error = await h.sc.client.workflow
      .getHandle(started.jobId)
      .result()
      .catch((e: unknown) => e);
    const chain = causeChain(error) as Array<{ name?: string; type?: string }>;
    // Before, the chain ended at the activity failure itself: no ImportFailed with the job's status in front of it.
    expect(chain.map((e) => e.type).filter(Boolean)).toEqual([FailureType.ImportFailed, FailureType.InvalidCsvHeader]);
    expect(chain.some((e) => e.name === 'ActivityFailure')).toBe(true);
  });
});

describe('a worker alive but stuck', () => {
  it('gives up on a request Segment never answers and delivers everything on a retry', async () => {
    // The worker is alive (it heartbeats while it waits) but Segment holds the answer for a minute: the request's
    // own timeout ends the wait, and the chunk retries from its last acknowledged batch.
    const stuck = await startImportHarness({ extraEnv: { SEGFLOW_REQUEST_TIMEOUT_MS: '2000' } });
    try {
      stuck.double.injectFaultOnRequest(2, { kind: 'delay', ms: 60_000 });
      const started = Date.now();
      const status = await stuck.runImport({
        file: stuck.writeInput('stuck.ndjson', ndjsonEvents(300, 'stuck')),
        maxEventsPerBatch: 50,
        concurrency: 1,
      });
      expect(status.state).toBe('completed');
      expect(stuck.double.uniqueMessageIds().size).toBe(300);
      expect(Date.now() - started).toBeLessThan(45_000);
    } finally {
      await stuck.stop();
    }
  });
});
