/**
 * Edges of the one Tracking API sender (src/segment/tracking-client.ts) that mutation testing found unchecked
 * (docs/mutation-testing.md): the URL it posts to, its headers, how many retries it makes, what of Segment's answer
 * its errors quote, and network errors and aborts.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TrackingClient, TrackingFatalError, TrackingRetryableError } from '../../src/segment/tracking-client';

interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  server = undefined;
});

/** A Tracking API double: answers each post with the next answer (the last repeats); `hang` never answers. */
async function serve(
  answers: Array<{ status: number; body?: string; headers?: Record<string, string> } | 'hang'>,
  seen: Seen[] = [],
): Promise<string> {
  let post = 0;
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ url: req.url ?? '', headers: req.headers });
      const answer = answers[Math.min(post++, answers.length - 1)]!;
      if (answer === 'hang') return;
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

const events = (n: number) => Array.from({ length: n }, (_, i) => ({ serialized: `{"type":"track","userId":"u","event":"E","messageId":"m${i}"}` }));
const noWait = async () => {};

describe('where and how it posts', () => {
  it('posts to <root>/v1/batch whatever slashes end the root, with segflow/0.1 as the default user agent', async () => {
    const seen: Seen[] = [];
    const root = await serve([{ status: 200 }], seen);
    for (const apiRoot of [root, `${root}/`, `${root}//`, `${root}/prefix//`]) await new TrackingClient({ apiRoot, writeKey: 'wk' }).send(events(1));
    await new TrackingClient({ apiRoot: root, writeKey: 'wk', userAgent: 'custom/1' }).send(events(1));
    expect(seen.map((s) => s.url)).toEqual(['/v1/batch', '/v1/batch', '/v1/batch', '/prefix/v1/batch', '/v1/batch']);
    expect(seen.map((s) => s.headers['user-agent'])).toEqual(['segflow/0.1', 'segflow/0.1', 'segflow/0.1', 'segflow/0.1', 'custom/1']);
  });

  it('sends X-Retry-Count only on retries, counting from the attempts already made', async () => {
    const seen: Seen[] = [];
    const root = await serve([{ status: 503 }, { status: 503 }, { status: 200 }], seen);
    await new TrackingClient({ apiRoot: root, writeKey: 'wk' }).send(events(1), { retries: 2, sleep: noWait });
    expect(seen.map((s) => s.headers['x-retry-count'])).toEqual([undefined, '1', '2']);
    seen.length = 0;
    await new TrackingClient({ apiRoot: root, writeKey: 'wk' }).send(events(1), { retryCount: 4 });
    expect(seen.map((s) => s.headers['x-retry-count'])).toEqual(['4']);
  });

  it('posts nothing for no events', async () => {
    const seen: Seen[] = [];
    const root = await serve([{ status: 200 }], seen);
    expect(await new TrackingClient({ apiRoot: root, writeKey: 'wk' }).send([])).toEqual({ accepted: 0, refused: 0, batches: 0 });
    expect(seen).toEqual([]);
  });
});

describe('retries and errors', () => {
  it('makes exactly `retries` retries, then throws a TrackingRetryableError', async () => {
    const seen: Seen[] = [];
    const root = await serve([{ status: 503, body: 'busy' }], seen);
    const error = await new TrackingClient({ apiRoot: root, writeKey: 'wk' }).send(events(1), { retries: 1, sleep: noWait }).catch((e: unknown) => e);
    expect(seen).toHaveLength(2);
    expect(error).toBeInstanceOf(TrackingRetryableError);
    expect(error).toMatchObject({
      name: 'TrackingRetryableError',
      message: 'Segment batch not accepted, will retry: Segment server error 503 (Segment said: busy)',
    });
  });

  it('waits with its own timer when no sleep is given (Retry-After 0 is raised to 1 s)', async () => {
    const root = await serve([{ status: 503, headers: { 'retry-after': '0' } }, { status: 200 }]);
    const started = performance.now();
    expect(await new TrackingClient({ apiRoot: root, writeKey: 'wk' }).send(events(1), { retries: 1 })).toMatchObject({ accepted: 1 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
  });

  it('quotes the first 200 characters of what Segment said, trimmed, and nothing when it said nothing', async () => {
    const said = `  ${'b'.repeat(300)}  `;
    const root = await serve([
      { status: 404, body: said },
      { status: 404, body: '' },
    ]);
    const client = new TrackingClient({ apiRoot: root, writeKey: 'wk' });
    const first = (await client.send(events(1)).catch((e: unknown) => e)) as Error;
    expect(first).toBeInstanceOf(TrackingFatalError);
    expect(first.name).toBe('TrackingFatalError');
    expect(first.message.endsWith(` (Segment said: ${'b'.repeat(200)})`)).toBe(true);
    const second = (await client.send(events(1)).catch((e: unknown) => e)) as Error;
    expect(second.message).not.toContain('Segment said');
    expect(second.message.endsWith('(it must be the API root, e.g. https://api.segment.io)')).toBe(true);
  });

  it('counts an event Segment refuses alone even without an onRefused callback', async () => {
    const root = await serve([{ status: 400 }]);
    expect(await new TrackingClient({ apiRoot: root, writeKey: 'wk' }).send(events(1))).toEqual({ accepted: 0, refused: 1, batches: 0 });
  });

  it('a request that gets no answer within requestTimeoutMs is a retryable network error', async () => {
    const root = await serve(['hang']);
    const started = performance.now();
    const error = await new TrackingClient({ apiRoot: root, writeKey: 'wk', requestTimeoutMs: 300 }).send(events(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrackingRetryableError);
    expect((error as Error).message).toMatch(/network error: UND_ERR_HEADERS_TIMEOUT: /);
    expect(performance.now() - started).toBeLessThan(10_000);
  }, 20_000);

  it('a refused connection is a retryable network error naming its code', async () => {
    const root = await serve([{ status: 200 }]);
    await new Promise<void>((done) => server!.close(() => done()));
    server = undefined;
    const error = await new TrackingClient({ apiRoot: root, writeKey: 'wk' }).send(events(1)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrackingRetryableError);
    expect((error as Error).message).toMatch(/network error: ECONNREFUSED: /);
  });

  it('an aborted send throws the abort, not a retryable error', async () => {
    const root = await serve([{ status: 200 }]);
    const controller = new AbortController();
    controller.abort();
    const error = await new TrackingClient({ apiRoot: root, writeKey: 'wk' }).send(events(1), { signal: controller.signal }).catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(TrackingRetryableError);
    expect((error as Error).name).toMatch(/Abort/);
  });
});
