/**
 * End-to-end imports on the real Temporal dev server against the Segment double.
 */
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveMessageId, messageIdNamespace } from '../../src/core/message-id';
import { startImport, UsageError, getJobStatus, followJob } from '../../src/client';
import { startImportHarness, WRITE_KEY, type ImportHarness } from '../support/import-harness';
import { waitFor } from '../support/wait';
import { chainHistories, decodedHistoryText } from '../support/history';

let h: ImportHarness;

beforeAll(async () => {
  h = await startImportHarness();
});

afterAll(async () => {
  await h?.stop();
});

function messagesById() {
  return new Map(h.double.messages.map((m) => [String(m.message.messageId), m]));
}

describe('CSV import', () => {
  it('delivers every row once with its original timestamp, a derived messageId and nested fields', async () => {
    h.double.reset();
    // BOM, CRLF, a quoted field with an embedded newline, dotted and JSON columns.
    const csv =
      '\uFEFFtype,userId,anonymousId,event,name,groupId,previousId,timestamp,properties.plan,properties.revenue:number,traits,context.ip\r\n' +
      'identify,u1,,,,,,2021-03-04T05:06:07.000Z,,,"{""email"":""a@example.com""}",10.0.0.1\r\n' +
      'track,u1,,Order Completed,,,,2021-03-04T06:00:00Z,"pro\nannual",9.5,,\r\n' +
      'page,,anon-7,,Home,,,2020-01-01T00:00:00+02:00,,,,\r\n' +
      'screen,u2,,,Settings,,,2019-12-31T23:59:59.999Z,,,,\r\n' +
      'group,u2,,,,g-1,,2019-06-01T00:00:00Z,,,"{""name"":""Acme""}",\r\n' +
      'alias,u3,,,,,u3-old,2018-01-01T00:00:00Z,,,,\r\n';
    const file = h.writeInput('happy.csv', csv);
    const status = await h.runImport({ file });

    expect(status.state).toBe('completed');
    expect(status.rows).toEqual({ read: 6, rejected: 0, valid: 6 });
    expect(status.events).toMatchObject({ sent: 6 });
    expect(h.double.uniqueMessageIds().size).toBe(6);

    const byType = new Map(h.double.messages.map((m) => [m.message.type, m]));
    expect(byType.get('identify')!.message).toMatchObject({ userId: 'u1', traits: { email: 'a@example.com' }, context: { ip: '10.0.0.1' } });
    expect(byType.get('track')!.message).toMatchObject({ event: 'Order Completed', properties: { plan: 'pro\nannual', revenue: 9.5 } });
    expect(byType.get('page')!.message).toMatchObject({ anonymousId: 'anon-7', name: 'Home', timestamp: '2019-12-31T22:00:00.000Z' });
    expect(byType.get('group')!.message).toMatchObject({ groupId: 'g-1', traits: { name: 'Acme' } });
    expect(byType.get('alias')!.message).toMatchObject({ userId: 'u3', previousId: 'u3-old' });

    // Timestamps: the original time is sent as `timestamp`, and sentAt is fresh, so Segment's skew correction
    // (receivedAt − (sentAt − timestamp)) lands within moments of the original.
    for (const m of h.double.messages) {
      expect(m.sentAt).toBeDefined();
      expect(Math.abs(Date.parse(m.sentAt!) - Date.parse(m.receivedAt))).toBeLessThan(10_000);
      expect(Math.abs(Date.parse(m.computedTimestamp!) - Date.parse(String(m.message.timestamp)))).toBeLessThan(10_000);
      expect(m.message).not.toHaveProperty('sentAt');
    }
    expect(byType.get('identify')!.message.timestamp).toBe('2021-03-04T05:06:07.000Z');

    // Deterministic ids: namespace of the source, the row's line and its raw text.
    const namespace = messageIdNamespace('default');
    const lines = csv.slice(1).split('\r\n');
    expect(byType.get('identify')!.message.messageId).toBe(deriveMessageId(namespace, 2, lines[1]!));
    expect(byType.get('page')!.message.messageId).toBe(deriveMessageId(namespace, 5, lines[3]!));
  });
});

describe('NDJSON import', () => {
  it('keeps messageIds present in the input and derives the others', async () => {
    h.double.reset();
    const rows = [
      { type: 'track', userId: 'n1', event: 'A', messageId: 'keep-me-1', timestamp: '2022-02-02T02:02:02.000Z', properties: { n: 1 } },
      { type: 'identify', anonymousId: 'x', traits: { plan: 'free' }, timestamp: '2022-02-02T02:02:03.000Z' },
    ];
    const file = h.writeInput('happy.ndjson', rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const status = await h.runImport({ file });
    expect(status.state).toBe('completed');
    expect(status.events).toMatchObject({ sent: 2 });
    const ids = messagesById();
    expect(ids.get('keep-me-1')!.message).toMatchObject({ event: 'A', properties: { n: 1 } });
    const derived = deriveMessageId(messageIdNamespace('default'), 2, JSON.stringify(rows[1]));
    expect(ids.get(derived)!.message).toMatchObject({ anonymousId: 'x', traits: { plan: 'free' } });
  });
});

describe('validation and the reject report', () => {
  it('rejects each invalid row with its line and field, sends the rest, and counts read = sent + rejected', async () => {
    h.double.reset();
    const lines = [
      JSON.stringify({ type: 'track', userId: 'ok1', event: 'Fine', timestamp: '2020-05-05T05:05:05Z' }), // 1 ok
      JSON.stringify({ type: 'track', event: 'No identity', timestamp: '2020-05-05T05:05:05Z' }), // 2 identity
      JSON.stringify({ type: 'track', userId: 'u', timestamp: '2020-05-05T05:05:05Z' }), // 3 track without event
      JSON.stringify({ type: 'group', userId: 'u', timestamp: '2020-05-05T05:05:05Z' }), // 4 group without groupId
      JSON.stringify({ type: 'alias', userId: 'u', timestamp: '2020-05-05T05:05:05Z' }), // 5 alias without previousId
      JSON.stringify({ type: 'track', userId: 'u', event: 'E', timestamp: 'yesterday' }), // 6 bad timestamp
      JSON.stringify({ type: 'track', userId: 'u', event: 'E' }), // 7 missing timestamp
      '{"type": "track", "userId": broken', // 8 bad JSON
      JSON.stringify({ type: 'launch', userId: 'u', timestamp: '2020-05-05T05:05:05Z' }), // 9 unknown type
      JSON.stringify({ type: 'track', userId: 'u', event: 'Big', timestamp: '2020-05-05T05:05:05Z', properties: { blob: 'x'.repeat(40_000) } }), // 10 too large
      JSON.stringify({ type: 'identify', userId: 'ok2', timestamp: '2020-05-05T05:05:05Z' }), // 11 ok
    ];
    const file = h.writeInput('mixed.ndjson', lines.join('\n'));
    const status = await h.runImport({ file });
    expect(status.state).toBe('completed');
    expect(status.rows).toMatchObject({ read: 11, rejected: 9 });
    expect(status.events).toMatchObject({ sent: 2 });
    expect(h.double.uniqueMessageIds().size).toBe(2);

    const report = readFileSync(String(status.rejectReport), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; field: string; reason: string; raw: string });
    expect(report.map((r) => r.line)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const fieldOf = new Map(report.map((r) => [r.line, r.field]));
    expect(fieldOf.get(3)).toBe('event');
    expect(fieldOf.get(4)).toBe('groupId');
    expect(fieldOf.get(5)).toBe('previousId');
    expect(fieldOf.get(6)).toBe('timestamp');
    expect(fieldOf.get(7)).toBe('timestamp');
    expect(fieldOf.get(9)).toBe('type');
    expect(report.find((r) => r.line === 8)!.raw).toBe(lines[7]);
  });

  it('reports a row whose messageId repeats an earlier row of the chunk instead of counting it as sent', async () => {
    h.double.reset();
    const row = (userId: string, messageId: string) =>
      JSON.stringify({ type: 'track', userId, event: 'E', messageId, timestamp: '2020-05-05T05:05:05Z' });
    const lines = [row('a', 'same-id'), row('b', 'other-id'), row('c', 'same-id'), row('d', 'same-id')];
    const file = h.writeInput('duplicate-ids.ndjson', lines.join('\n') + '\n');
    const status = await h.runImport({ file });
    expect(status.state).toBe('completed');
    expect(status.rows).toMatchObject({ read: 4, rejected: 2, valid: 2 });
    expect(status.events).toMatchObject({ sent: 2 });
    const report = readFileSync(String(status.rejectReport), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(report).toEqual([
      { line: 3, field: 'messageId', reason: 'duplicate of line 1', raw: lines[2] },
      { line: 4, field: 'messageId', reason: 'duplicate of line 1', raw: lines[3] },
    ]);
  });

  it('fails early with --max-rejects when the input is clearly wrong, keeping what was sent', async () => {
    h.double.reset();
    const rows: string[] = [];
    for (let i = 0; i < 400; i++) rows.push(JSON.stringify({ type: 'track', userId: `u${i}`, timestamp: '2020-01-01T00:00:00Z' }));
    const file = h.writeInput('all-bad.ndjson', rows.join('\n'));
    const status = await h.runImport({ file, maxRejects: 10, targetChunkBytes: 2000, concurrency: 1 });
    expect(status.state).toBe('failed');
    expect(String(status.error)).toMatch(/max-rejects 10/);
    expect((status.rows as { read: number }).read).toBeLessThan(400);
  });
});

describe('input problems', () => {
  it('fails before sending anything when a CSV header has an unknown column, naming file, line and column', async () => {
    h.double.reset();
    const file = h.writeInput('typo.csv', 'type,user_id,event,timestamp\ntrack,u1,E,2020-01-01T00:00:00Z\n');
    const status = await h.runImport({ file });
    expect(status.state).toBe('failed');
    expect(String(status.error)).toContain('typo.csv, line 1 (header)');
    expect(String(status.error)).toContain('user_id');
    expect(h.double.stats().requests).toBe(0);
  });

  it('fails with a clear message when the file changes while it is imported', async () => {
    h.double.reset();
    const file = h.writeInput(
      'growing.ndjson',
      Array.from({ length: 600 }, (_, i) => JSON.stringify({ type: 'track', userId: `g${i}`, event: 'E', timestamp: '2020-01-01T00:00:00Z' })).join(
        '\n',
      ) + '\n',
    );
    const started = await startImport(h.sc, {
      file,
      targetChunkBytes: 4_000,
      concurrency: 1,
      rateLimit: { perSecond: 300, unit: 'events' },
      maxEventsPerBatch: 50,
    });
    await waitFor(async () => ((await getJobStatus(h.sc, started.jobId)).events as { sent: number }).sent > 0);
    appendFileSync(file, JSON.stringify({ type: 'track', userId: 'late', event: 'E', timestamp: '2020-01-01T00:00:00Z' }) + '\n');
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('failed');
    expect(String(final.error)).toMatch(/changed while being imported/);
  });

  it('completes an empty NDJSON file with zero rows', async () => {
    const status = await h.runImport({ file: h.writeInput('empty.ndjson', '') });
    expect(status.state).toBe('completed');
    expect(status.rows).toMatchObject({ read: 0, rejected: 0 });
  });

  it('rejects a CSV row with the wrong number of fields and keeps going', async () => {
    h.double.reset();
    const file = h.writeInput(
      'ragged.csv',
      'type,userId,event,timestamp\ntrack,u1,E,2020-01-01T00:00:00Z\ntrack,u2,E\ntrack,u3,E,2020-01-01T00:00:00Z\n',
    );
    const status = await h.runImport({ file });
    expect(status.state).toBe('completed');
    expect(status.rows).toMatchObject({ read: 3, rejected: 1 });
    const report = readFileSync(String(status.rejectReport), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(report[0]).toMatchObject({ line: 3, raw: 'track,u2,E' });
  });
});

describe('job identity', () => {
  it('refuses to import the same file into the same source twice unless forced', async () => {
    h.double.reset();
    const file = h.writeInput('once.ndjson', JSON.stringify({ type: 'track', userId: 'o', event: 'Once', timestamp: '2020-01-01T00:00:00Z' }) + '\n');
    const first = await startImport(h.sc, { file });
    await followJob(h.sc, first.jobId, () => undefined, 200);
    await expect(startImport(h.sc, { file })).rejects.toThrow(UsageError);
    await expect(startImport(h.sc, { file })).rejects.toThrow(first.jobId);
    const forced = await startImport(h.sc, { file, force: true });
    expect(forced.jobId).not.toBe(first.jobId);
    const final = await followJob(h.sc, forced.jobId, () => undefined, 200);
    expect(final.state).toBe('completed');
    // Same messageId both times: Segment (and the double) count the second as a duplicate.
    expect(h.double.uniqueMessageIds().size).toBe(1);
    expect(h.double.duplicateCount()).toBe(1);
  });

  it('dry run validates and plans but sends nothing', async () => {
    h.double.reset();
    const file = h.writeInput(
      'dry.ndjson',
      [
        JSON.stringify({ type: 'track', userId: 'd', event: 'E', timestamp: '2020-01-01T00:00:00Z' }),
        JSON.stringify({ type: 'track', userId: 'd', timestamp: '2020-01-01T00:00:00Z' }),
      ].join('\n'),
    );
    const status = await h.runImport({ file, dryRun: true });
    expect(status.state).toBe('completed');
    expect(status.events).toMatchObject({ sent: 0, wouldSend: 1 });
    expect(status.rows).toMatchObject({ read: 2, rejected: 1 });
    expect(h.double.stats().requests).toBe(0);
  });
});

describe('history stays clean and bounded', () => {
  it('continues as new on a long file and never puts the write key or row data in history', async () => {
    h.double.reset();
    const rows: string[] = [];
    for (let i = 0; i < 3000; i++) {
      rows.push(JSON.stringify({ type: 'track', userId: `user-${i}`, event: 'Secretive Event Name', timestamp: '2020-01-01T00:00:00Z' }));
    }
    const file = h.writeInput('long.ndjson', rows.join('\n'));
    const started = await startImport(h.sc, { file, targetChunkBytes: 8_000, chunksPerRun: 5, concurrency: 3, heartbeatTimeoutMs: 5000 });
    const status = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(status.state).toBe('completed');
    expect(status.runs as number).toBeGreaterThan(3);
    expect(status.events).toMatchObject({ sent: 3000 });
    expect(h.double.uniqueMessageIds().size).toBe(3000);

    // Every run of the chain, payloads decoded: the raw JSON holds payloads as base64, where `not.toContain`
    // cannot fail (a write key put into a workflow input passed the old check; this one catches it).
    const histories = await chainHistories(h.sc.client, started.jobId);
    expect(histories.length).toBe(status.runs);
    for (const history of histories) {
      const text = decodedHistoryText(history);
      // Positive control: decoding works (the file name is in every run's input).
      expect(text).toContain('long.ndjson');
      expect(text).not.toContain(WRITE_KEY);
      expect(text).not.toContain(Buffer.from(`${WRITE_KEY}:`).toString('base64'));
      expect(text).not.toContain('Secretive Event Name');
      expect(text).not.toContain('user-42');
    }
  });
});

describe('rate cap', () => {
  it('holds the job under --rate however many chunks run at once', async () => {
    h.double.reset();
    const file = h.writeInput(
      'rated.ndjson',
      Array.from({ length: 1200 }, (_, i) => JSON.stringify({ type: 'track', userId: `r${i}`, event: 'E', timestamp: '2020-01-01T00:00:00Z' })).join(
        '\n',
      ),
    );
    const status = await h.runImport({
      file,
      rateLimit: { perSecond: 400, unit: 'events' },
      concurrency: 3,
      targetChunkBytes: 8_000,
      maxEventsPerBatch: 40,
    });
    expect(status.state).toBe('completed');
    const times = h.double.requestLog().map((r) => Date.parse(r.receivedAt));
    const seconds = (Math.max(...times) - Math.min(...times)) / 1000;
    // 1,200 events at 400/s take 3 s; allow for the first batch's timing.
    expect(seconds).toBeGreaterThan(2.5);
    expect(h.double.uniqueMessageIds().size).toBe(1200);
  });
});

describe('operator controls', () => {
  it('pauses, resumes and reports progress', async () => {
    h.double.reset();
    const rows: string[] = [];
    for (let i = 0; i < 2000; i++) rows.push(JSON.stringify({ type: 'track', userId: `p${i}`, event: 'E', timestamp: '2020-01-01T00:00:00Z' }));
    const file = h.writeInput('pausable.ndjson', rows.join('\n'));
    // A low rate cap keeps the job running long enough to pause it.
    const started = await startImport(h.sc, {
      file,
      targetChunkBytes: 4_000,
      concurrency: 1,
      rateLimit: { perSecond: 400, unit: 'events' },
      maxEventsPerBatch: 50,
    });
    await waitFor(async () => ((await getJobStatus(h.sc, started.jobId)).events as { sent: number }).sent > 0);
    const handle = h.sc.client.workflow.getHandle(started.jobId);
    await handle.signal('pause', {});
    await waitFor(async () => (await getJobStatus(h.sc, started.jobId)).state === 'paused');
    // Paused: the chunk in flight finishes, then nothing more is sent.
    await waitFor(async () => ((await getJobStatus(h.sc, started.jobId)).chunks as { inFlight: number }).inFlight === 0);
    const sentWhilePaused = h.double.stats().accepted;
    await new Promise((r) => setTimeout(r, 1500));
    expect(h.double.stats().accepted).toBe(sentWhilePaused);
    expect(sentWhilePaused).toBeLessThan(2000);
    await handle.signal('resume', {});
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('completed');
    expect(h.double.uniqueMessageIds().size).toBe(2000);
  });

  it('cancels through Temporal and reports the job as cancelled', async () => {
    h.double.reset();
    const rows: string[] = [];
    for (let i = 0; i < 2000; i++) rows.push(JSON.stringify({ type: 'track', userId: `c${i}`, event: 'E', timestamp: '2020-01-01T00:00:00Z' }));
    const file = h.writeInput('cancellable.ndjson', rows.join('\n'));
    const started = await startImport(h.sc, {
      file,
      targetChunkBytes: 4_000,
      concurrency: 1,
      rateLimit: { perSecond: 300, unit: 'events' },
      maxEventsPerBatch: 50,
    });
    await waitFor(async () => ((await getJobStatus(h.sc, started.jobId)).events as { sent: number }).sent > 0);
    await h.sc.client.workflow.getHandle(started.jobId).cancel();
    const final = await followJob(h.sc, started.jobId, () => undefined, 200);
    expect(final.state).toBe('cancelled');
    expect(h.double.uniqueMessageIds().size).toBeLessThan(2000);
    // The reject report is still written, and a cancelled import may be started again without --force.
    expect(existsSync(String(final.rejectReport))).toBe(true);
    const again = await startImport(h.sc, { file, targetChunkBytes: 4_000 });
    expect(again.jobId).toBe(started.jobId);
    expect((await followJob(h.sc, again.jobId, () => undefined, 200)).state).toBe('completed');
    expect(h.double.uniqueMessageIds().size).toBe(2000);
  });
});
