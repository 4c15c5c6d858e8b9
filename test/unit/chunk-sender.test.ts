/**
 * The chunk algorithm (src/activities/chunk-sender.ts) without a Temporal server: MockActivityEnvironment supplies
 * the activity context (attempt, heartbeat details, heartbeats, cancellation), an in-memory input stands in for the
 * file, and deliveries go either to the local Segment double through the real Tracking API client or to a scripted
 * sender when a test needs to stop a delivery at an exact batch.
 */
import { CancelledFailure } from '@temporalio/activity';
import { ApplicationFailure, type MetricMeter, type MetricTags } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { FailureType } from '../../src/contracts/failures';
import { ChunkSender, type ChunkSenderDeps, type TrackingSender } from '../../src/activities/chunk-sender';
import type { ChunkResult, ProcessChunkInput } from '../../src/contracts/import-job';
import type { OutgoingBatch } from '../../src/core/batch-builder';
import { chunkMetricsInterceptor } from '../../src/activities/metrics';
import { ChunkCheckpointWriter, readChunkCheckpoint, type ChunkProgress } from '../../src/io/chunk-checkpoint';
import { chunkCheckpointPath, localRejectsPath, serverRejectsPath } from '../../src/io/reject-report';
import { deriveMessageId, messageIdNamespace } from '../../src/core/message-id';
import { TrackingClient, TrackingRetryableError, type SendOptions } from '../../src/segment/tracking-client';
import { MemoryByteSource } from '../support/memory-byte-source';
import { SegmentDouble } from '../support/segment-double';
import { ndjsonEvents } from '../support/wait';

const WRITE_KEY = 'wk-chunk-sender';
const RUN_ID = '11111111-2222-3333-4444-555555555555';
const EVENTS = 50;
const BATCH = 10;
const DATA = ndjsonEvents(EVENTS, 'cs');

let double: SegmentDouble;
let reports: string;

beforeAll(async () => {
  double = await SegmentDouble.start({ writeKeys: [WRITE_KEY], refuse: (item) => item.userId === 'cs-refused' });
});
afterAll(async () => {
  await double?.stop();
});
beforeEach(() => {
  double.reset();
  reports = mkdtempSync(join(tmpdir(), 'segflow-chunk-sender-'));
});

function chunkInput(data: string, overrides: Partial<ProcessChunkInput> = {}): ProcessChunkInput {
  const records = data.split('\n').filter((line) => line !== '').length;
  return {
    jobId: 'chunk-sender-job',
    file: '/inputs/events.ndjson',
    format: 'ndjson',
    chunk: { index: 0, startByte: 0, endByte: Buffer.byteLength(data), firstLine: 1, firstRecord: 0, records, lines: records },
    expectedFileSize: Buffer.byteLength(data),
    source: 'web',
    idNamespace: 'web',
    mode: 'send',
    allowMissingTimestamp: false,
    maxEventsPerBatch: BATCH,
    maxBatchBytes: 500_000,
    maxEventBytes: 32_000,
    referenceTime: '2030-01-01T00:00:00.000Z',
    ...overrides,
  };
}

function deps(data: string, tracking: TrackingSender = new TrackingClient({ apiRoot: double.url, writeKey: WRITE_KEY })): ChunkSenderDeps {
  return {
    openSource: () => new MemoryByteSource(data, { description: '/inputs/events.ndjson', pieceBytes: 97 }),
    assertInputAllowed: async () => undefined,
    tracking: () => tracking,
    now: () => new Date('2031-02-03T04:05:06.000Z'),
  };
}

function activityEnv(
  info: { attempt?: number; heartbeatDetails?: ChunkProgress } = {},
  metricMeter?: MetricMeter,
): MockActivityEnvironment & { heartbeats: ChunkProgress[] } {
  const env = new MockActivityEnvironment(
    {
      activityId: '7',
      activityType: 'processChunk',
      attempt: info.attempt ?? 1,
      heartbeatDetails: info.heartbeatDetails,
      heartbeatTimeoutMs: 3000,
      workflowExecution: { workflowId: 'chunk-sender-job', runId: RUN_ID },
    },
    { logger: new DefaultLogger('ERROR'), ...(metricMeter ? { metricMeter, interceptors: [chunkMetricsInterceptor] } : {}) },
  );
  const heartbeats: ChunkProgress[] = [];
  env.on('heartbeat', (details: ChunkProgress) => heartbeats.push(structuredClone(details)));
  return Object.assign(env, { heartbeats });
}

function runChunk(env: MockActivityEnvironment, input: ProcessChunkInput, chunkDeps: ChunkSenderDeps): Promise<ChunkResult> {
  // The input is the activity's argument, as the worker passes it (the metrics interceptor reads it there).
  return env.run((chunk: ProcessChunkInput) => new ChunkSender(chunkDeps, chunk, reports).run(), input);
}

const checkpointKey = (input: ProcessChunkInput) => ({
  runId: RUN_ID,
  activityId: '7',
  startByte: input.chunk.startByte,
  endByte: input.chunk.endByte,
});
const userIds = () => double.messages.map((m) => String(m.message.userId));
const expectedIds = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `cs-${from + i}`);

/**
 * A sender that accepts every batch the way TrackingClient reports it (beforePost, then onResponse and onAccepted),
 * and runs `onBatch` before each one, so a test can fail or cancel the attempt at an exact batch.
 */
function scriptedSender(onBatch: (batchNumber: number) => Promise<void> | void = () => undefined): TrackingSender & { posted: string[][] } {
  const posted: string[][] = [];
  const sender = {
    posted,
    async send<E>(events: readonly E[] | OutgoingBatch<E>, options: SendOptions<E> = {}) {
      // The chunk hands over its BatchBuffer (src/core/batch-builder.ts): read the body it would post.
      const batch = events as OutgoingBatch<E>;
      await onBatch(posted.length + 1);
      await options.beforePost?.(batch);
      const body = JSON.parse(Buffer.from(batch.renderBody(new Date().toISOString())).toString('utf8')) as { batch: Array<{ userId: string }> };
      posted.push(body.batch.map((e) => String(e.userId)));
      options.onResponse?.({ status: 200 });
      await options.onAccepted?.(batch);
      return { accepted: batch.length, refused: 0, batches: 1 };
    },
  } as TrackingSender & { posted: string[][] };
  return sender;
}

describe('ChunkSender', () => {
  it('delivers every valid event in batches, heartbeating the checkpoint and saving it durably after each batch', async () => {
    const input = chunkInput(DATA);
    const env = activityEnv();
    const result = await runChunk(env, input, deps(DATA));
    expect(result).toMatchObject({
      index: 0,
      rowsRead: EVENTS,
      rowsRejected: 0,
      eventsValid: EVENTS,
      eventsSent: EVENTS,
      batchesSent: EVENTS / BATCH,
      attempt: 1,
    });
    expect(result.typeCounts).toEqual({ track: EVENTS });
    expect(result.minTimestamp).toBe('2020-01-01T00:00:00.000Z');
    expect(result.sentByDay).toEqual({ '2031-02-03': EVENTS });
    expect(userIds().sort()).toEqual(expectedIds(0, EVENTS).sort());
    // A heartbeat after every acknowledged batch, each one further along.
    const acked = env.heartbeats.map((h) => h.batchesSent);
    for (let batches = 1; batches <= EVENTS / BATCH; batches++) expect(acked).toContain(batches);
    expect(await readChunkCheckpoint(chunkCheckpointPath(reports, input.jobId, 0), checkpointKey(input))).toMatchObject({
      recordsAcked: EVENTS,
      eventsSent: EVENTS,
      batchesSent: 5,
    });
  });

  it('validates without sending: counts and the chunk digest, no checkpoint file', async () => {
    const input = chunkInput(DATA, { mode: 'validate' });
    const result = await runChunk(
      activityEnv(),
      input,
      deps(
        DATA,
        scriptedSender(() => expect.fail('a validation pass sent a batch')),
      ),
    );
    expect(result).toMatchObject({ eventsValid: EVENTS, eventsSent: 0, batchesSent: 0, sentByDay: {} });
    expect(result.digest).toMatch(/^[0-9a-f]{32}$/);
    expect(existsSync(chunkCheckpointPath(reports, input.jobId, 0))).toBe(false);
  });

  it('resumes after the records its heartbeat details say Segment acknowledged', async () => {
    const input = chunkInput(DATA);
    const resumed = { recordsAcked: 30, eventsSent: 30, batchesSent: 3, serverRejected: 0, sentByDay: { '2031-02-02': 30 } };
    const result = await runChunk(activityEnv({ attempt: 2, heartbeatDetails: resumed }), input, deps(DATA));
    expect(userIds().sort()).toEqual(expectedIds(30, EVENTS).sort());
    // The attempt reports the whole chunk: what earlier attempts sent plus its own.
    expect(result).toMatchObject({ rowsRead: EVENTS, eventsSent: EVENTS, batchesSent: 5, attempt: 2 });
    expect(result.sentByDay).toEqual({ '2031-02-02': 30, '2031-02-03': 20 });
  });

  it('a retried attempt resumes from the checkpoint file when its heartbeats lag behind, re-sending nothing acknowledged', async () => {
    const input = chunkInput(DATA);
    // Attempt 1: Segment accepts two batches, then answers 503 for the third.
    const first = scriptedSender((n) => {
      if (n === 3) throw new TrackingRetryableError('503 Service Unavailable', undefined);
    });
    const failure = await runChunk(activityEnv(), input, deps(DATA, first)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe(FailureType.SegmentRetryable);
    expect((failure as ApplicationFailure).nonRetryable).toBe(false);
    expect(first.posted.flat()).toEqual(expectedIds(0, 20));

    // Attempt 2 got only the first heartbeat to the server; the file says two batches.
    const second = scriptedSender();
    const stale = { recordsAcked: 10, eventsSent: 10, batchesSent: 1, serverRejected: 0 };
    const result = await runChunk(activityEnv({ attempt: 2, heartbeatDetails: stale }), input, deps(DATA, second));
    expect(second.posted.flat()).toEqual(expectedIds(20, EVENTS));
    expect(result).toMatchObject({ eventsSent: EVENTS, batchesSent: 5 });
  });

  it('isolates an event Segment refuses (400): the batch is halved down to it, it is reported, the rest delivered', async () => {
    const lines = DATA.split('\n');
    lines[17] = JSON.stringify({ type: 'track', userId: 'cs-refused', event: 'Imported', timestamp: '2020-01-01T00:00:17.000Z' });
    const data = lines.join('\n');
    const input = chunkInput(data);
    const result = await runChunk(activityEnv(), input, deps(data));
    expect(result).toMatchObject({ rowsRead: EVENTS, rowsRejected: 1, eventsValid: EVENTS, eventsSent: EVENTS - 1 });
    expect(userIds()).not.toContain('cs-refused');
    expect(new Set(userIds()).size).toBe(EVENTS - 1);
    // Halving: the refused batch of ten was re-sent in halves until the one event was alone.
    expect(double.requestLog().filter((entry) => entry.status === 400).length).toBeGreaterThanOrEqual(4);
    const reported = readFileSync(serverRejectsPath(reports, input.jobId, 0), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; field: string; raw: string });
    // The row's own text, kept for the report beside the batch (src/core/batch-builder.ts BatchBuffer).
    expect(reported).toEqual([expect.objectContaining({ line: 18, field: '(message)', raw: lines[17] })]);
  });

  it('reports a messageId the chunk already sent: an id a row brings, repeated; and the id derived for a later row, brought earlier', async () => {
    const lines = DATA.split('\n');
    const withId = (i: number, messageId: string) => JSON.stringify({ ...(JSON.parse(lines[i]!) as object), messageId });
    lines[3] = withId(3, 'own-id');
    lines[8] = withId(8, 'own-id');
    // Line 31 brings no id: it gets the one derived from its line and text, which line 21 already brought.
    lines[20] = withId(20, deriveMessageId(messageIdNamespace('web'), 31, lines[30]!));
    const data = lines.join('\n');
    const input = chunkInput(data);
    const result = await runChunk(activityEnv(), input, deps(data));
    expect(result).toMatchObject({ rowsRead: EVENTS, rowsRejected: 2, eventsValid: EVENTS - 2, eventsSent: EVENTS - 2 });
    const reported = readFileSync(localRejectsPath(reports, input.jobId, 0), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; field: string; reason: string });
    expect(reported.map(({ line, field, reason }) => ({ line, field, reason }))).toEqual([
      { line: 9, field: 'messageId', reason: 'duplicate of line 4' },
      { line: 31, field: 'messageId', reason: 'duplicate of line 21' },
    ]);
    expect(double.duplicateCount()).toBe(0);
  });

  it('stops before its next request once a later attempt has taken the chunk over (ChunkSuperseded)', async () => {
    const input = chunkInput(DATA);
    const path = chunkCheckpointPath(reports, input.jobId, 0);
    const sender = scriptedSender(async (n) => {
      // After two acknowledged batches, attempt 2 starts on another worker and writes the checkpoint file.
      if (n === 3)
        await (
          await ChunkCheckpointWriter.open(path, checkpointKey(input), { recordsAcked: 20, eventsSent: 20, batchesSent: 2, serverRejected: 0 }, 2)
        ).close();
    });
    const failure = await runChunk(activityEnv({ attempt: 1 }), input, deps(DATA, sender)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect((failure as ApplicationFailure).type).toBe(FailureType.ChunkSuperseded);
    expect((failure as ApplicationFailure).nonRetryable).toBe(false);
    // Nothing more went out after the takeover.
    expect(sender.posted.flat()).toEqual(expectedIds(0, 20));
  });

  it('a cancelled chunk stops at its next heartbeat and reports exactly what Segment acknowledged', async () => {
    const input = chunkInput(DATA);
    const env = activityEnv();
    const sender = scriptedSender((n) => {
      if (n === 3) env.cancel();
    });
    const failure = await runChunk(env, input, deps(DATA, sender)).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(CancelledFailure);
    const partial = (failure as CancelledFailure).details[0] as ChunkResult;
    expect(partial).toMatchObject({ stopped: true, eventsSent: 20, batchesSent: 2 });
    expect(sender.posted.flat()).toEqual(expectedIds(0, 20));
  });

  it('refuses to send an input that changed since the job read it (size) or since it was validated (digest)', async () => {
    const grown = await runChunk(activityEnv(), chunkInput(DATA, { expectedFileSize: Buffer.byteLength(DATA) - 1 }), deps(DATA)).catch(
      (e: unknown) => e,
    );
    expect((grown as ApplicationFailure).type).toBe(FailureType.InputChanged);
    expect((grown as ApplicationFailure).nonRetryable).toBe(true);

    const validated = await runChunk(activityEnv(), chunkInput(DATA, { mode: 'validate' }), deps(DATA));
    const edited = DATA.replace('cs-3"', 'cs-X"');
    const approvedSend = chunkInput(edited, { expectedDigest: validated.digest });
    const changed = await runChunk(activityEnv(), approvedSend, deps(edited)).catch((e: unknown) => e);
    expect((changed as ApplicationFailure).type).toBe(FailureType.InputChanged);
    expect((changed as Error).message).toMatch(/lines 1-50 \(chunk 1\) changed since they were validated and approved/);
    expect(double.messages).toHaveLength(0);
  });
});

/** A metric meter that adds up every counter by name and tags, like a Prometheus scrape would. */
function recordingMeter(): MetricMeter & { total(name: string, tags?: MetricTags): number } {
  const added: Array<{ name: string; tags: MetricTags; value: number }> = [];
  const meter = (base: MetricTags): MetricMeter =>
    ({
      createCounter: (name: string) => ({
        add: (value: number, tags: MetricTags = {}) => void added.push({ name, tags: { ...base, ...tags }, value }),
      }),
      createHistogram: () => ({ record: () => undefined }),
      createGauge: () => ({ set: () => undefined }),
      withTags: (tags: MetricTags) => meter({ ...base, ...tags }),
    }) as unknown as MetricMeter;
  return Object.assign(meter({}), {
    total: (name: string, tags: MetricTags = {}) =>
      added.filter((a) => a.name === name && Object.entries(tags).every(([k, v]) => a.tags[k] === v)).reduce((sum, a) => sum + a.value, 0),
  });
}

describe("ChunkSender metrics (src/activities/metrics.ts, through the worker's activity interceptor)", () => {
  it('counts rows by reject class, Segment responses by status class and what the completed chunk sent', async () => {
    const lines = DATA.split('\n');
    lines[2] = '{"type": "track", broken json';
    lines[4] = JSON.stringify({ type: 'track', event: 'No user', timestamp: '2020-01-01T00:00:04.000Z' });
    lines[17] = JSON.stringify({ type: 'track', userId: 'cs-refused', event: 'Imported', timestamp: '2020-01-01T00:00:17.000Z' });
    const data = lines.join('\n');
    const meter = recordingMeter();
    const result = await runChunk(activityEnv({}, meter), chunkInput(data), deps(data));
    expect(result).toMatchObject({ rowsRead: EVENTS, rowsRejected: 3, eventsSent: EVENTS - 3 });
    expect(meter.total('segflow_chunks', { outcome: 'completed', source: 'web', mode: 'send' })).toBe(1);
    expect(meter.total('segflow_rows_read')).toBe(EVENTS);
    expect(meter.total('segflow_rows_rejected', { reason_class: 'unreadable_row' })).toBe(1);
    expect(meter.total('segflow_rows_rejected', { reason_class: 'invalid_event' })).toBe(1);
    expect(meter.total('segflow_rows_rejected', { reason_class: 'refused_by_segment' })).toBe(1);
    expect(meter.total('segflow_events_sent')).toBe(EVENTS - 3);
    expect(meter.total('segflow_segment_responses', { status_class: '4xx' })).toBe(double.requestLog().filter((r) => r.status === 400).length);
    expect(meter.total('segflow_segment_responses', { status_class: '2xx' })).toBe(double.requestLog().filter((r) => r.status === 200).length);
    expect(meter.total('segflow_chunk_resumes')).toBe(0);
  });

  it('counts a resumed attempt', async () => {
    const meter = recordingMeter();
    const resumed = { recordsAcked: 30, eventsSent: 30, batchesSent: 3, serverRejected: 0 };
    await runChunk(activityEnv({ attempt: 2, heartbeatDetails: resumed }, meter), chunkInput(DATA), deps(DATA));
    expect(meter.total('segflow_chunk_resumes')).toBe(1);
    expect(meter.total('segflow_events_sent')).toBe(EVENTS);
  });
});
