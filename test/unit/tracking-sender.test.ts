/**
 * The one Tracking API sender (src/segment/tracking-client.ts): a sentAt on every post (its freshness:
 * test/unit/delivery-boundaries.test.ts), only 2xx is delivery, split on 400/413, Retry-After honoured; and the rule
 * that no other code posts /v1/batch bodies.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TrackingClient, TrackingFatalError, TrackingRetryableError } from '../../src/segment/tracking-client';
import { classifyTrackingResponse, rateLimitDelayMs } from '../../src/core/retry-policy';
import type { OutgoingBatch } from '../../src/core/batch-builder';
import { classifyFailure } from '../../src/segment/public-api-errors';
import { trackingApiRoot, publicApiRoot } from '../../src/config';

type Handler = (
  body: { batch: Array<{ messageId: string }>; sentAt: string },
  req: IncomingMessage,
) => { status: number; headers?: Record<string, string>; body?: string };

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  server = undefined;
});

async function serve(handler: Handler): Promise<string> {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (piece) => (text += piece));
    req.on('end', () => {
      const answer = handler(JSON.parse(text), req);
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? '{"success":true}');
    });
  });
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

const events = (n: number) =>
  Array.from({ length: n }, (_, i) => ({ serialized: JSON.stringify({ type: 'track', event: 'E', userId: 'u', messageId: `m${i}` }), id: `m${i}` }));

const eventsOf = <E>(batch: OutgoingBatch<E>): E[] => Array.from({ length: batch.length }, (_, i) => batch.event(i));

describe('TrackingClient.send', () => {
  it('fails at once on a redirect, naming SEGMENT_TRACKING_URL and where it pointed; nothing counts as sent', async () => {
    const root = await serve(() => ({ status: 301, headers: { location: 'https://api.segment.io/v1/batch?token=secret' } }));
    const client = new TrackingClient({ apiRoot: root, writeKey: 'wk' });
    const accepted: unknown[] = [];
    const error = await client.send(events(3), { onAccepted: (batch) => void accepted.push(...eventsOf(batch)) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrackingFatalError);
    expect((error as Error).message).toMatch(/SEGMENT_TRACKING_URL/);
    expect((error as Error).message).toContain('https://api.segment.io/v1/batch');
    expect((error as Error).message).not.toContain('secret');
    expect(accepted).toEqual([]);
  });

  it('posts a well-formed sentAt with every request and splits a refused batch down to the offending event', async () => {
    const sentAts: string[] = [];
    const root = await serve((body) => {
      sentAts.push(body.sentAt);
      return body.batch.some((m) => m.messageId === 'm2') ? { status: 400, body: 'bad event' } : { status: 200 };
    });
    const client = new TrackingClient({ apiRoot: root, writeKey: 'wk' });
    const accepted: string[] = [];
    const refused: Array<[string, string]> = [];
    const result = await client.send(events(4), {
      onAccepted: (batch) => void accepted.push(...eventsOf(batch).map((e) => e.id)),
      onRefused: (event, reason) => void refused.push([event.id, reason]),
    });
    expect(accepted.sort()).toEqual(['m0', 'm1', 'm3']);
    expect(refused.map(([id]) => id)).toEqual(['m2']);
    expect(refused[0]![1]).toMatch(/400.*bad event/);
    expect(result).toMatchObject({ accepted: 3, refused: 1 });
    expect(sentAts.length).toBeGreaterThan(1);
    for (const at of sentAts) expect(at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('honours Retry-After when retrying in-process, and throws a retryable error with the wait when it may not', async () => {
    let calls = 0;
    const root = await serve(() => (++calls === 1 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
    const client = new TrackingClient({ apiRoot: root, writeKey: 'wk' });
    const slept: number[] = [];
    const result = await client.send(events(2), { retries: 3, sleep: async (ms) => void slept.push(ms) });
    expect(result.accepted).toBe(2);
    expect(slept).toEqual([1000]);

    calls = 0;
    const error = await client.send(events(2)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrackingRetryableError);
    expect((error as TrackingRetryableError).delayMs).toBe(1000);
  });
});

describe('only 2xx is delivery', () => {
  it.each([301, 302, 307, 308, 304, 399])('%i is fatal and names SEGMENT_TRACKING_URL', (status) => {
    const decision = classifyTrackingResponse({ status, headers: { location: 'https://elsewhere.example/v1/batch' } });
    expect(decision.action).toBe('fatal');
    if (decision.action === 'fatal') expect(decision.reason).toMatch(/SEGMENT_TRACKING_URL.*elsewhere\.example/);
  });
});

describe('one rate-limit parser for both APIs', () => {
  const now = Date.parse('2024-05-01T08:00:00.000Z');
  it.each<[string, Record<string, string>]>([
    ['Retry-After seconds', { 'retry-after': '7' }],
    ['Retry-After date', { 'retry-after': 'Wed, 01 May 2024 08:00:30 GMT' }],
    ['reset as seconds to wait', { 'x-ratelimit-reset': '30' }],
    ['reset as a large count of seconds', { 'x-ratelimit-reset': '5000000' }],
    ['reset epoch seconds', { 'x-ratelimit-reset': String(now / 1000 + 20) }],
    ['reset epoch ms', { 'x-ratelimit-reset': String(now + 20_000) }],
    ['reset RFC 5322 date', { 'x-ratelimit-reset': 'Wed, 01 May 2024 08:01:00 GMT' }],
    ['reset in the past', { 'x-ratelimit-reset': 'Wed, 01 May 2024 07:00:00 GMT' }],
    ['both', { 'retry-after': '3', 'x-ratelimit-reset': '50' }],
  ])('%s: the Tracking and Public API clients wait alike', (_name, headers) => {
    const tracking = classifyTrackingResponse({ status: 429, headers }, new Date(now));
    const publicApi = classifyFailure(429, headers, '', { method: 'GET', path: '/' }, now) as unknown as { retryAfterMs: number };
    expect(tracking.action).toBe('retry');
    expect(tracking.action === 'retry' && tracking.delayMs).toBe(publicApi.retryAfterMs);
    expect(publicApi.retryAfterMs).toBe(rateLimitDelayMs({ headers }, new Date(now)));
  });
});

describe('API roots must be https', () => {
  it.each([
    ['SEGMENT_TRACKING_URL', trackingApiRoot],
    ['SEGMENT_API_URL', publicApiRoot],
  ] as const)('%s: refuses http to a non-loopback host unless the host is allowed', (variable, root) => {
    expect(root({ [variable]: 'https://api.example.com/' })).toBe('https://api.example.com');
    expect(root({ [variable]: 'http://127.0.0.1:9000' })).toBe('http://127.0.0.1:9000');
    expect(root({ [variable]: 'http://localhost:9000' })).toBe('http://localhost:9000');
    expect(root({ [variable]: 'http://[::1]:9000' })).toBe('http://[::1]:9000');
    expect(() => root({ [variable]: 'http://api.segment.io' })).toThrow(new RegExp(`${variable}.*https.*SEGFLOW_ALLOW_INSECURE_HOSTS`));
    expect(() => root({ [variable]: 'ftp://api.segment.io' })).toThrow(/https/);
    expect(() => root({ [variable]: 'http://10.200.1.2:9000' })).toThrow(/https/);
    expect(root({ [variable]: 'http://10.200.1.2:9000', SEGFLOW_ALLOW_INSECURE_HOSTS: '10.200.1.2, other' })).toBe('http://10.200.1.2:9000');
  });
});

describe('one sender', () => {
  it('no code outside src/segment posts to the Tracking API or classifies its answers', () => {
    const srcRoot = resolve(__dirname, '../../src');
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else if (
          path.endsWith('.ts') &&
          !path.includes(`${join('src', 'segment')}`) &&
          !path.endsWith(join('core', 'retry-policy.ts')) &&
          !path.endsWith(join('core', 'batch-builder.ts'))
        ) {
          const text = readFileSync(path, 'utf8');
          if (/postBatch\(|classifyTrackingResponse\(|renderBatchBody\(|sentAt:\s*(new Date|now)/.test(text)) offenders.push(path);
        }
      }
    };
    walk(srcRoot);
    expect(offenders).toEqual([]);
  });
});
