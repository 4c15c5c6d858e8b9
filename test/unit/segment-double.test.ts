/**
 * The Tracking API double is the oracle for every delivery test, so its own behaviour is pinned here
 * against docs/segment-tracking-api.md and its section "What the test double emulates".
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { basicAuthWriteKey, computeSegmentTimestamp, DOUBLE_LIMITS, dropReason, SegmentDouble, serializedBytes } from '../support/segment-double';
import type { Fault, RequestLogEntry } from '../support/segment-double';

const WRITE_KEY = 'test-write-key';

function basicAuth(key: string, withColon = true): string {
  return `Basic ${Buffer.from(withColon ? `${key}:` : key).toString('base64')}`;
}

interface SendOptions {
  method?: string;
  /** Basic auth with the default key unless set to null (no header) or another header value. */
  authorization?: string | null;
  /** Defaults to application/json; null sends no Content-Type at all. */
  contentType?: string | null;
  headers?: Record<string, string>;
}

interface Answer {
  status: number;
  text: string;
  headers: Headers;
}

/** POST a body (objects are JSON-encoded, strings and bytes sent as is) to the double. */
async function send(double: SegmentDouble, path: string, body?: unknown, opts: SendOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  const contentType = opts.contentType === undefined ? 'application/json' : opts.contentType;
  const authorization = opts.authorization === undefined ? basicAuth(WRITE_KEY) : opts.authorization;
  if (authorization !== null) headers['authorization'] = authorization;
  // Bytes make fetch send the body without inventing a Content-Type of its own.
  let payload: Uint8Array | undefined;
  if (body instanceof Uint8Array) payload = body;
  else if (typeof body === 'string') payload = Buffer.from(body);
  else if (body !== undefined) payload = Buffer.from(JSON.stringify(body));
  if (contentType !== null && payload !== undefined) headers['content-type'] = contentType;
  const res = await fetch(`${double.url}${path}`, { method: opts.method ?? 'POST', headers, body: payload });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

let idCounter = 0;
function track(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  idCounter += 1;
  return { type: 'track', userId: 'u1', event: 'Signed Up', messageId: `msg-${idCounter}`, ...overrides };
}

/** A track event whose compact JSON is exactly `bytes` long. */
function trackOfSize(bytes: number): Record<string, unknown> {
  const event = track({ properties: { pad: '' } });
  const pad = bytes - serializedBytes(event);
  return { ...event, properties: { pad: 'x'.repeat(pad) } };
}

/** A JSON body of exactly `bytes` bytes: trailing whitespace is valid JSON and pads without changing meaning. */
function jsonOfSize(value: unknown, bytes: number): string {
  const json = JSON.stringify(value);
  if (Buffer.byteLength(json) > bytes) throw new Error('value already larger than requested size');
  return json + ' '.repeat(bytes - Buffer.byteLength(json));
}

describe('SegmentDouble (Tracking API)', () => {
  let double: SegmentDouble;
  beforeAll(async () => {
    double = await SegmentDouble.start();
  });
  afterAll(async () => {
    await double.stop();
  });
  beforeEach(() => {
    double.reset();
  });

  it('listens on a random local port and answers {"success":true}', async () => {
    expect(double.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const answer = await send(double, '/v1/batch', { batch: [track()] });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ success: true });
    expect(answer.headers.get('content-type')).toBe('application/json');
  });

  describe('authentication', () => {
    const cases: Array<{ name: string; authorization: string | null; bodyKey?: string; status: number }> = [
      { name: 'Basic with trailing colon', authorization: basicAuth(WRITE_KEY), status: 200 },
      { name: 'Basic without colon (legacy form)', authorization: basicAuth(WRITE_KEY, false), status: 200 },
      { name: 'writeKey in the body only', authorization: null, bodyKey: WRITE_KEY, status: 200 },
      { name: 'Basic header and body key (analytics-node v3)', authorization: basicAuth(WRITE_KEY), bodyKey: WRITE_KEY, status: 200 },
      { name: 'Bearer token plus body key (OAuth)', authorization: 'Bearer some-token', bodyKey: WRITE_KEY, status: 200 },
      { name: 'no key at all', authorization: null, status: 401 },
      { name: 'Bearer token without body key', authorization: 'Bearer some-token', status: 401 },
      { name: 'unknown key in Basic', authorization: basicAuth('other-key'), status: 401 },
      { name: 'unknown key in body', authorization: null, bodyKey: 'other-key', status: 401 },
      { name: 'good header but unknown body key', authorization: basicAuth(WRITE_KEY), bodyKey: 'other-key', status: 401 },
    ];
    it.each(cases)('$name -> $status', async ({ authorization, bodyKey, status }) => {
      const body = { batch: [track()], ...(bodyKey === undefined ? {} : { writeKey: bodyKey }) };
      const answer = await send(double, '/v1/batch', body, { authorization });
      expect(answer.status).toBe(status);
      expect(double.stats().authFailures).toBe(status === 401 ? 1 : 0);
      expect(double.messages).toHaveLength(status === 200 ? 1 : 0);
    });

    it('records the write key the request authenticated with', async () => {
      await send(double, '/v1/batch', { writeKey: WRITE_KEY, batch: [track()] }, { authorization: null });
      expect(double.messages[0]?.writeKey).toBe(WRITE_KEY);
    });

    it('accepts only the configured write keys', async () => {
      const custom = await SegmentDouble.start({ writeKeys: ['key-a', 'key-b'] });
      try {
        expect((await send(custom, '/v1/batch', { batch: [track()] }, { authorization: basicAuth('key-b') })).status).toBe(200);
        expect((await send(custom, '/v1/batch', { batch: [track()] })).status).toBe(401);
      } finally {
        await custom.stop();
      }
    });
  });

  describe('request validation', () => {
    const cases: Array<{ name: string; path?: string; method?: string; body?: unknown; contentType?: string | null; status: number }> = [
      { name: 'Content-Type with charset', contentType: 'application/json; charset=utf-8', body: { batch: [] }, status: 200 },
      { name: 'no Content-Type', contentType: null, body: { batch: [] }, status: 400 },
      { name: 'text/plain Content-Type', contentType: 'text/plain', body: { batch: [] }, status: 400 },
      { name: 'invalid JSON', body: '{"batch": [', status: 400 },
      { name: 'JSON that is not an object', body: [track()], status: 400 },
      { name: 'batch that is not an array', body: { batch: track() }, status: 400 },
      { name: 'GET instead of POST', method: 'GET', status: 405 },
      { name: 'unknown /v1 path', path: '/v1/nope', body: { batch: [] }, status: 404 },
    ];
    it.each(cases)('$name -> $status', async ({ path, method, body, contentType, status }) => {
      const answer = await send(double, path ?? '/v1/batch', body, { method, contentType });
      expect(answer.status).toBe(status);
      if (status === 400) expect(answer.text).toMatch(/^Bad Request/);
      expect(double.stats().rejected400).toBe(status === 400 ? 1 : 0);
    });

    it('tells the client which method is allowed', async () => {
      const answer = await send(double, '/v1/batch', undefined, { method: 'GET' });
      expect(answer.headers.get('allow')).toBe('POST');
    });

    it('reads gzip bodies and applies the limits to the uncompressed size', async () => {
      const ok = gzipSync(Buffer.from(JSON.stringify({ batch: [track()] })));
      expect((await send(double, '/v1/batch', ok, { headers: { 'content-encoding': 'gzip' } })).status).toBe(200);
      const big = gzipSync(Buffer.from(jsonOfSize({ batch: [] }, DOUBLE_LIMITS.maxBodyBytes + 1)));
      expect(big.length).toBeLessThan(DOUBLE_LIMITS.maxBodyBytes);
      expect((await send(double, '/v1/batch', big, { headers: { 'content-encoding': 'gzip' } })).status).toBe(400);
    });
  });

  describe('size and count limits (the double enforces the documented limits, KB = 1000 bytes)', () => {
    it('uses 32,000 bytes per event, 500,000 bytes per body, 2,500 events per request', () => {
      expect(DOUBLE_LIMITS).toEqual({ maxEventBytes: 32_000, maxBodyBytes: 500_000, maxEventsPerBatch: 2_500, maxMessageIdLength: 100 });
    });

    const cases = [
      { name: 'batch event of exactly 32,000 bytes', eventBytes: DOUBLE_LIMITS.maxEventBytes, status: 200 },
      { name: 'batch event of 32,001 bytes', eventBytes: DOUBLE_LIMITS.maxEventBytes + 1, status: 400 },
    ];
    it.each(cases)('$name -> $status', async ({ eventBytes, status }) => {
      const event = trackOfSize(eventBytes);
      expect(serializedBytes(event)).toBe(eventBytes);
      const answer = await send(double, '/v1/batch', { batch: [track(), event] });
      expect(answer.status).toBe(status);
      // A 400 rejects the whole request: no event of it is kept.
      expect(double.messages).toHaveLength(status === 200 ? 2 : 0);
    });

    it.each([
      { bytes: DOUBLE_LIMITS.maxBodyBytes, status: 200 },
      { bytes: DOUBLE_LIMITS.maxBodyBytes + 1, status: 400 },
    ])('batch body of $bytes bytes -> $status', async ({ bytes, status }) => {
      const batch = Array.from({ length: 20 }, () => trackOfSize(20_000));
      const answer = await send(double, '/v1/batch', jsonOfSize({ batch }, bytes));
      expect(answer.status).toBe(status);
      expect(double.stats().maxBatchBytes).toBe(bytes);
      expect(double.stats().accepted).toBe(status === 200 ? 20 : 0);
    });

    it.each([
      { bytes: DOUBLE_LIMITS.maxEventBytes, status: 200 },
      { bytes: DOUBLE_LIMITS.maxEventBytes + 1, status: 400 },
    ])('single-call body of $bytes bytes -> $status', async ({ bytes, status }) => {
      const answer = await send(double, '/v1/track', jsonOfSize({ userId: 'u1', event: 'E' }, bytes));
      expect(answer.status).toBe(status);
    });

    it('answers 200 for 2,500 events and keeps them all', async () => {
      const batch = Array.from({ length: DOUBLE_LIMITS.maxEventsPerBatch }, () => track());
      expect((await send(double, '/v1/batch', { batch })).status).toBe(200);
      expect(double.stats()).toMatchObject({ accepted: 2_500, dropped: 0, maxEventsInBatch: 2_500 });
    });

    it('answers 200 for 2,501 events but drops every one of them', async () => {
      const batch = Array.from({ length: DOUBLE_LIMITS.maxEventsPerBatch + 1 }, () => track());
      expect((await send(double, '/v1/batch', { batch })).status).toBe(200);
      expect(double.stats()).toMatchObject({ accepted: 0, dropped: 2_501, maxEventsInBatch: 2_501 });
      expect(double.messages).toHaveLength(0);
      expect(double.uniqueMessageIds().size).toBe(0);
      const dropped = double.droppedMessages();
      expect(dropped).toHaveLength(2_501);
      expect(dropped[0]?.reason).toMatch(/more than 2500 events/);
    });
  });

  describe('silently dropped events (200 but not accepted)', () => {
    const cases: Array<{ name: string; item: unknown; reason: RegExp | undefined }> = [
      { name: 'valid track', item: { type: 'track', userId: 'u', event: 'E' }, reason: undefined },
      { name: 'track with anonymousId only', item: { type: 'track', anonymousId: 'a', event: 'E' }, reason: undefined },
      { name: 'valid alias', item: { type: 'alias', userId: 'new', previousId: 'old' }, reason: undefined },
      { name: 'valid group', item: { type: 'group', userId: 'u', groupId: 'g' }, reason: undefined },
      { name: '100-char messageId', item: { type: 'identify', userId: 'u', messageId: 'm'.repeat(100) }, reason: undefined },
      { name: 'not an object', item: 'track', reason: /not a JSON object/ },
      { name: 'missing type', item: { userId: 'u' }, reason: /type/ },
      { name: 'unknown type', item: { type: 'event', userId: 'u' }, reason: /type/ },
      { name: 'no userId or anonymousId', item: { type: 'identify', traits: {} }, reason: /no userId or anonymousId/ },
      { name: 'empty userId', item: { type: 'page', userId: '' }, reason: /no userId or anonymousId/ },
      { name: 'track without event', item: { type: 'track', userId: 'u' }, reason: /track without event/ },
      { name: 'group without groupId', item: { type: 'group', userId: 'u' }, reason: /group without groupId/ },
      { name: 'alias without previousId', item: { type: 'alias', userId: 'u' }, reason: /alias without previousId/ },
      { name: 'alias with anonymousId instead of userId', item: { type: 'alias', anonymousId: 'a', previousId: 'p' }, reason: /alias without/ },
      { name: '101-char messageId', item: { type: 'identify', userId: 'u', messageId: 'm'.repeat(101) }, reason: /longer than 100/ },
      { name: 'numeric messageId', item: { type: 'identify', userId: 'u', messageId: 7 }, reason: /not a string/ },
    ];

    it.each(cases)('$name', ({ item, reason }) => {
      const actual = dropReason(item);
      if (reason === undefined) expect(actual).toBeUndefined();
      else expect(actual).toMatch(reason);
    });

    it('answers 200, keeps the good items and reports the dropped ones with their reason', async () => {
      const good = track();
      const bad = { type: 'track', userId: 'u', messageId: 'no-event' };
      const answer = await send(double, '/v1/batch', { batch: [bad, good] });
      expect(answer.status).toBe(200);
      expect(double.messages.map((m) => m.message)).toEqual([good]);
      expect(double.droppedMessages()).toEqual([{ reason: 'track without event', message: bad }]);
      expect(double.stats()).toMatchObject({ accepted: 1, dropped: 1, duplicates: 0 });
    });
  });

  describe('messageId dedupe', () => {
    it('counts a re-sent messageId as duplicate and records it once (across and within requests)', async () => {
      const first = track({ messageId: 'dup-1' });
      await send(double, '/v1/batch', { batch: [first, track({ messageId: 'dup-2' })] });
      await send(double, '/v1/batch', { batch: [track({ messageId: 'dup-1', event: 'Other payload' }), track({ messageId: 'dup-3' })] });
      await send(double, '/v1/batch', { batch: [track({ messageId: 'dup-4' }), track({ messageId: 'dup-4' })] });
      expect(double.duplicateCount()).toBe(2);
      expect(double.stats()).toMatchObject({ accepted: 4, duplicates: 2 });
      expect([...double.uniqueMessageIds()].sort()).toEqual(['dup-1', 'dup-2', 'dup-3', 'dup-4']);
      // Only the content of the first copy survives: Segment compares messageId, never payload.
      expect(double.messages.find((m) => m.messageId === 'dup-1')?.message).toEqual(first);
      expect(double.requestLog().map((entry) => entry.duplicates)).toEqual([0, 1, 1]);
    });

    it('does not count a messageId seen only on a dropped event as accepted', async () => {
      await send(double, '/v1/batch', { batch: [{ type: 'track', userId: 'u', messageId: 'x' }] });
      await send(double, '/v1/batch', { batch: [track({ messageId: 'x' })] });
      expect(double.stats()).toMatchObject({ accepted: 1, duplicates: 0, dropped: 1 });
    });

    it('assigns an id to events sent without one, so their retries are never deduplicated', async () => {
      const anonymous = { type: 'identify', userId: 'u1' };
      await send(double, '/v1/batch', { batch: [anonymous] });
      await send(double, '/v1/batch', { batch: [anonymous] });
      expect(double.stats()).toMatchObject({ accepted: 2, duplicates: 0, missingMessageIds: 2 });
      const [a, b] = double.messages;
      expect(a?.messageId).not.toBe(b?.messageId);
      expect(double.uniqueMessageIds().size).toBe(0);
    });
  });

  describe('timestamps (receivedAt − (sentAt − timestamp))', () => {
    const receivedAtMs = Date.parse('2024-05-01T08:00:10.000Z');
    const cases: Array<{ name: string; sentAt: unknown; timestamp: unknown; expected: string | undefined }> = [
      {
        name: 'sentAt 10 s before receipt shifts the event by the same 10 s',
        sentAt: '2024-05-01T08:00:00.000Z',
        timestamp: '2021-06-01T10:00:00.000Z',
        expected: '2021-06-01T10:00:10.000Z',
      },
      {
        name: 'sentAt equal to receipt preserves the event time',
        sentAt: '2024-05-01T08:00:10.000Z',
        timestamp: '2021-06-01T10:00:00Z',
        expected: '2021-06-01T10:00:00.000Z',
      },
      {
        name: 'sentAt equal to the event time loses it (becomes receivedAt)',
        sentAt: '2021-06-01T10:00:00.000Z',
        timestamp: '2021-06-01T10:00:00.000Z',
        expected: '2024-05-01T08:00:10.000Z',
      },
      { name: 'no sentAt keeps the timestamp', sentAt: undefined, timestamp: '2021-06-01T10:00:00+02:00', expected: '2021-06-01T08:00:00.000Z' },
      {
        name: 'unparseable sentAt counts as absent',
        sentAt: 'yesterday-ish',
        timestamp: '2021-06-01T10:00:00Z',
        expected: '2021-06-01T10:00:00.000Z',
      },
      { name: 'no timestamp means now', sentAt: '2024-05-01T08:00:00.000Z', timestamp: undefined, expected: '2024-05-01T08:00:10.000Z' },
      { name: 'unparseable timestamp yields nothing', sentAt: undefined, timestamp: 'not a date', expected: undefined },
    ];
    it.each(cases)('$name', ({ sentAt, timestamp, expected }) => {
      expect(computeSegmentTimestamp(receivedAtMs, sentAt, timestamp)).toBe(expected);
    });

    it('applies the batch-root sentAt, lets an item sentAt override it, and records receivedAt', async () => {
      const before = Date.now();
      const rootSentAt = '2024-05-01T08:00:00.000Z';
      await send(double, '/v1/batch', {
        sentAt: rootSentAt,
        batch: [
          track({ messageId: 'root', timestamp: '2024-05-01T07:00:00.000Z' }),
          track({ messageId: 'own', timestamp: '2024-05-01T07:00:00.000Z', sentAt: '2024-05-01T07:30:00.000Z' }),
          track({ messageId: 'none' }),
        ],
      });
      const byId = new Map(double.messages.map((m) => [m.messageId, m]));
      const receivedAt = Date.parse(byId.get('root')?.receivedAt ?? '');
      expect(receivedAt).toBeGreaterThanOrEqual(before);
      expect(receivedAt).toBeLessThanOrEqual(Date.now());
      expect(byId.get('root')?.sentAt).toBe(rootSentAt);
      expect(byId.get('root')?.computedTimestamp).toBe(new Date(receivedAt - 3_600_000).toISOString());
      expect(byId.get('own')?.sentAt).toBe('2024-05-01T07:30:00.000Z');
      expect(byId.get('own')?.computedTimestamp).toBe(new Date(receivedAt - 1_800_000).toISOString());
      expect(byId.get('none')?.computedTimestamp).toBe(new Date(receivedAt).toISOString());
    });

    it('keeps the timestamp as is when the client sends no sentAt', async () => {
      await send(double, '/v1/batch', { batch: [track({ timestamp: '2021-06-01T10:00:00.000Z' })] });
      expect(double.messages[0]?.sentAt).toBeUndefined();
      expect(double.messages[0]?.computedTimestamp).toBe('2021-06-01T10:00:00.000Z');
    });
  });

  describe('endpoints', () => {
    const singleCalls: Array<{ type: string; body: Record<string, unknown> }> = [
      { type: 'identify', body: { userId: 'u', traits: { email: 'a@b.c' } } },
      { type: 'track', body: { userId: 'u', event: 'Order Completed' } },
      { type: 'page', body: { anonymousId: 'a', name: 'Home' } },
      { type: 'screen', body: { userId: 'u', name: 'Settings' } },
      { type: 'group', body: { userId: 'u', groupId: 'g' } },
      { type: 'alias', body: { userId: 'new', previousId: 'old' } },
    ];
    it.each(singleCalls)('/v1/$type implies the type from the path', async ({ type, body }) => {
      const answer = await send(double, `/v1/${type}`, { ...body, messageId: `single-${type}`, writeKey: WRITE_KEY }, { authorization: null });
      expect(answer.status).toBe(200);
      expect(double.messages).toHaveLength(1);
      expect(double.messages[0]?.message).toMatchObject({ ...body, type, messageId: `single-${type}` });
      expect(double.stats()).toMatchObject({ batchRequests: 0, accepted: 1, maxEventsInBatch: 0 });
    });

    it('drops a single call that lacks what its path type needs', async () => {
      expect((await send(double, '/v1/track', { userId: 'u' })).status).toBe(200);
      expect(double.droppedMessages()[0]?.reason).toBe('track without event');
    });

    it('treats /v1/import as an alias of /v1/batch', async () => {
      expect((await send(double, '/v1/import', { batch: [track(), track()] })).status).toBe(200);
      expect(double.stats()).toMatchObject({ batchRequests: 1, accepted: 2 });
    });
  });

  describe('faults', () => {
    it('serves a status fault with its body, then answers normally', async () => {
      double.injectFaults({ kind: 'status', status: 503, body: 'try later' });
      const failed = await send(double, '/v1/batch', { batch: [track()] });
      expect(failed).toMatchObject({ status: 503, text: 'try later' });
      expect(failed.headers.get('retry-after')).toBeNull();
      expect(double.messages).toHaveLength(0);
      expect((await send(double, '/v1/batch', { batch: [track()] })).status).toBe(200);
      expect(double.stats()).toMatchObject({ faultsServed: 1, accepted: 1 });
    });

    it.each([
      { retryAfterSeconds: 7, header: '7' },
      { retryAfterSeconds: undefined, header: '1' },
    ])('429 carries Retry-After and X-RateLimit-Reset in seconds ($header)', async ({ retryAfterSeconds, header }) => {
      const fault: Fault = retryAfterSeconds === undefined ? { kind: 'status', status: 429 } : { kind: 'status', status: 429, retryAfterSeconds };
      double.injectFaults(fault);
      const answer = await send(double, '/v1/batch', { batch: [track()] });
      expect(answer.status).toBe(429);
      expect(answer.headers.get('retry-after')).toBe(header);
      expect(answer.headers.get('x-ratelimit-reset')).toBe(header);
    });

    it('reset closes the connection without an answer and records nothing', async () => {
      double.injectFaults({ kind: 'reset' });
      await expect(send(double, '/v1/batch', { batch: [track()] })).rejects.toThrow();
      expect(double.messages).toHaveLength(0);
      expect(double.requestLog()[0]).toMatchObject({ status: 0, fault: 'reset', events: 0 });
      expect((await send(double, '/v1/batch', { batch: [track()] })).status).toBe(200);
    });

    it('acceptThenFail records the batch but answers 500; the retry is deduplicated', async () => {
      double.injectFaults({ kind: 'acceptThenFail' });
      const batch = [track(), track()];
      expect((await send(double, '/v1/batch', { batch })).status).toBe(500);
      expect(double.messages).toHaveLength(2);
      expect((await send(double, '/v1/batch', { batch })).status).toBe(200);
      expect(double.stats()).toMatchObject({ accepted: 2, duplicates: 2, faultsServed: 1 });
      expect(double.requestLog()[0]).toMatchObject({ status: 500, accepted: 2, fault: 'acceptThenFail' });
    });

    it('delay holds a normal answer for the given time', async () => {
      double.injectFaults({ kind: 'delay', ms: 300 });
      const started = performance.now();
      const answer = await send(double, '/v1/batch', { batch: [track()] });
      expect(performance.now() - started).toBeGreaterThanOrEqual(290);
      expect(answer.status).toBe(200);
      expect(double.messages).toHaveLength(1);
    });

    const statusOf = (status: number): Fault => ({ kind: 'status', status });
    const sequences: Array<{ name: string; arrange: (d: SegmentDouble) => void; expected: number[] }> = [
      {
        name: 'queued faults are served first in first out',
        arrange: (d) => d.injectFaults(statusOf(500), statusOf(503)),
        expected: [500, 503, 200],
      },
      {
        name: 'a scheduled fault hits the n-th request from now',
        arrange: (d) => d.injectFaultOnRequest(2, statusOf(502)),
        expected: [200, 502, 200],
      },
      {
        name: 'a scheduled fault wins over the queue, which waits',
        arrange: (d) => {
          d.injectFaults(statusOf(503));
          d.injectFaultOnRequest(1, statusOf(429));
        },
        expected: [429, 503, 200],
      },
      {
        name: 'clearFaults drops queued and scheduled faults',
        arrange: (d) => {
          d.injectFaults(statusOf(500));
          d.injectFaultOnRequest(2, statusOf(500));
          d.clearFaults();
        },
        expected: [200, 200, 200],
      },
    ];
    it.each(sequences)('$name', async ({ arrange, expected }) => {
      arrange(double);
      const statuses: number[] = [];
      for (let i = 0; i < expected.length; i += 1) statuses.push((await send(double, '/v1/batch', { batch: [track()] })).status);
      expect(statuses).toEqual(expected);
    });

    it('counts scheduled requests from the moment of scheduling', async () => {
      await send(double, '/v1/batch', { batch: [track()] });
      double.injectFaultOnRequest(1, statusOf(500));
      expect((await send(double, '/v1/batch', { batch: [track()] })).status).toBe(500);
    });

    it('serves faults on every /v1 endpoint, single calls included', async () => {
      double.injectFaults(statusOf(500));
      expect((await send(double, '/v1/identify', { userId: 'u' })).status).toBe(500);
    });

    it('rejects a bad request number or a double booking', () => {
      expect(() => double.injectFaultOnRequest(0, statusOf(500))).toThrow(RangeError);
      double.injectFaultOnRequest(1, statusOf(500));
      expect(() => double.injectFaultOnRequest(1, statusOf(503))).toThrow(/already scheduled/);
    });

    it('reset() forgets faults and recorded state', async () => {
      await send(double, '/v1/batch', { batch: [track({ messageId: 'again' })] });
      double.injectFaults(statusOf(500));
      double.reset();
      expect(double.stats().requests).toBe(0);
      expect((await send(double, '/v1/batch', { batch: [track({ messageId: 'again' })] })).status).toBe(200);
      expect(double.stats()).toMatchObject({ accepted: 1, duplicates: 0, faultsServed: 0 });
    });
  });

  describe('observations', () => {
    it('logs each request with path, status, events, bytes, sentAt and headers', async () => {
      const body = JSON.stringify({ sentAt: '2024-05-01T08:00:00.000Z', batch: [track(), track()] });
      await send(double, '/v1/batch', body, { headers: { 'x-retry-count': '3' } });
      await send(double, '/v1/batch', 'nope');
      const [ok, bad] = double.requestLog();
      expect(ok).toMatchObject({
        method: 'POST',
        path: '/v1/batch',
        status: 200,
        events: 2,
        accepted: 2,
        bytes: Buffer.byteLength(body),
        sentAt: '2024-05-01T08:00:00.000Z',
        writeKey: WRITE_KEY,
      });
      expect(ok?.headers['authorization']).toBe(basicAuth(WRITE_KEY));
      expect(ok?.headers['x-retry-count']).toBe('3');
      expect(bad).toMatchObject({ status: 400, events: 0 });
      expect(double.stats()).toMatchObject({ requests: 2, batchRequests: 2, rejected400: 1, bytesReceived: Buffer.byteLength(body) + 4 });
    });
  });
});

describe('SegmentDouble in benchmark mode (recordMessages: false)', () => {
  it('keeps counters and messageIds only, and still reports every request to onRequest', async () => {
    const seen: RequestLogEntry[] = [];
    const double = await SegmentDouble.start({ recordMessages: false, onRequest: (entry) => seen.push(entry) });
    try {
      const requests = 20;
      const perRequest = 2_000;
      for (let r = 0; r < requests; r += 1) {
        const batch = Array.from({ length: perRequest }, (_, i) => track({ messageId: `bench-${r}-${i}` }));
        batch.push({ type: 'track', userId: 'u' });
        expect((await send(double, '/v1/batch', { batch })).status).toBe(200);
      }
      await send(double, '/v1/batch', { batch: [track({ messageId: 'bench-0-0' })] });
      expect(double.stats()).toMatchObject({ accepted: requests * perRequest, dropped: requests, duplicates: 1, batchRequests: requests + 1 });
      expect(double.uniqueMessageIds().size).toBe(requests * perRequest);
      expect(double.messages).toHaveLength(0);
      expect(double.droppedMessages()).toHaveLength(0);
      expect(double.requestLog()).toHaveLength(0);
      expect(seen).toHaveLength(requests + 1);
      expect(seen[0]).toMatchObject({ status: 200, events: perRequest + 1, accepted: perRequest, dropped: 1 });
    } finally {
      await double.stop();
    }
  });
});

describe('basicAuthWriteKey', () => {
  it.each([
    { header: basicAuth('abc123'), key: 'abc123' },
    { header: basicAuth('abc123', false), key: 'abc123' },
    { header: `basic ${Buffer.from('k:').toString('base64')}`, key: 'k' },
    { header: basicAuth(''), key: undefined },
    { header: 'Bearer abc', key: undefined },
    { header: undefined, key: undefined },
  ])('$header -> $key', ({ header, key }) => {
    expect(basicAuthWriteKey(header)).toBe(key);
  });
});

describe('segment-double CLI', () => {
  it('prints its url, summarizes each request on stderr and stops on SIGTERM', async () => {
    const root = join(__dirname, '..', '..');
    // tsx itself (not npx) so the signal reaches the process that owns the server.
    const child = spawn(join(root, 'node_modules', '.bin', 'tsx'), ['test/support/segment-double-cli.ts', '--port', '0'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    try {
      const lines = createInterface({ input: child.stdout });
      const [firstLine] = (await once(lines, 'line')) as [string];
      const { url } = JSON.parse(firstLine) as { url: string };
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${url}/v1/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: basicAuth(WRITE_KEY) },
        body: JSON.stringify({ batch: [track(), { type: 'track', userId: 'u' }] }),
      });
      expect(res.status).toBe(200);
      await res.text();
      // The summary line is written after the answer, so it may arrive a moment later.
      await vi.waitFor(() => expect(stderr).toContain('POST /v1/batch 200 events=2 accepted=1 duplicates=0 dropped=1'), { timeout: 5_000 });
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
      expect(stderr).toMatch(/SIGTERM, stopping; stats .*"accepted":1/);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 30_000);
});
