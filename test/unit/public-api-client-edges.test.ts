/**
 * Edges of the Public API client (src/segment/public-api-client.ts) that mutation testing found unchecked
 * (docs/mutation-testing.md): its options, the request it makes, secrets kept out of its errors, answers that are
 * not a success, broken pagination, and the DAY metrics window.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultDayWindowStart, PublicApiClient } from '../../src/segment/public-api-client';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

let server: Server | undefined;
afterEach(async () => {
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  server = undefined;
});

async function serve(answer: (seen: Seen) => { status: number; body: string }, seen: Seen[] = []): Promise<string> {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (piece) => (body += piece));
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
      seen.push(request);
      const { status, body: text } = answer(request);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(text);
    });
  });
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

const TOKEN = 'sgp_token_0123456789';

describe('PublicApiClient options', () => {
  it('needs a token and a page size from 1 to 1000', () => {
    expect(() => new PublicApiClient({ baseUrl: 'http://x', token: '' })).toThrow('PublicApiClient needs a token');
    for (const pageSize of [1, 1000]) expect(() => new PublicApiClient({ baseUrl: 'http://x', token: TOKEN, pageSize })).not.toThrow();
    for (const pageSize of [0, 1001, 1.5]) {
      expect(() => new PublicApiClient({ baseUrl: 'http://x', token: TOKEN, pageSize })).toThrow(
        `pageSize must be an integer in 1..1000, got ${pageSize}`,
      );
    }
  });
});

describe('the requests it makes', () => {
  it('method, path under the root whatever slashes end it, headers, body and query', async () => {
    const seen: Seen[] = [];
    const root = await serve(
      (request) =>
        request.method === 'POST'
          ? { status: 200, body: JSON.stringify({ data: { source: { id: 'src_1' } } }) }
          : { status: 200, body: JSON.stringify({ data: { sources: [{ id: 'src_1' }], pagination: {} } }) },
      seen,
    );
    const client = new PublicApiClient({ baseUrl: `${root}//`, token: TOKEN, pageSize: 7 });
    expect(await client.listSources()).toEqual([{ id: 'src_1' }]);
    expect(await client.createWriteKey('src_1')).toEqual({ id: 'src_1' });
    expect(seen.map((s) => `${s.method} ${s.url}`)).toEqual(['GET /sources?pagination.count=7', 'POST /sources/src_1/writekey']);
    expect(seen[0]!.headers).toMatchObject({
      accept: 'application/vnd.segment.v1+json',
      authorization: `Bearer ${TOKEN}`,
      'user-agent': 'segflow/0.1',
    });
    expect(seen[0]!.headers['content-type']).toBeUndefined();
    expect(seen[1]!.headers.accept).toBe('application/vnd.segment.v1alpha+json');
  });
});

describe('what its errors never show', () => {
  it('the token, or a write key being removed, even when Segment echoes them back', async () => {
    const writeKey = 'wk/secret key';
    const root = await serve((request) => ({
      status: 404,
      body: JSON.stringify({ errors: [{ type: 'not-found', message: `${TOKEN} ${writeKey} ${encodeURIComponent(writeKey)} ${request.url}` }] }),
    }));
    const error = (await new PublicApiClient({ baseUrl: root, token: TOKEN }).removeWriteKey('src_1', writeKey).catch((e: unknown) => e)) as Error;
    expect(error.message).toContain('***');
    for (const secret of [TOKEN, writeKey, encodeURIComponent(writeKey)]) expect(error.message).not.toContain(secret);
  });

  it('the token in a network error', async () => {
    const root = await serve(() => ({ status: 200, body: '{}' }));
    await new Promise<void>((done) => server!.close(() => done()));
    server = undefined;
    const error = (await new PublicApiClient({ baseUrl: root, token: TOKEN }).getDestination(TOKEN).catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^Segment Public API GET \/destinations\/\*\*\* failed: ECONNREFUSED /);
  });
});

describe('answers that are not a success', () => {
  it('a 300 is a failure, and a 200 that is not JSON names itself', async () => {
    let status = 300;
    const root = await serve(() => ({ status, body: status === 300 ? '{"data":{"destination":{"id":"d"}}}' : 'not json' }));
    const client = new PublicApiClient({ baseUrl: root, token: TOKEN });
    await expect(client.getDestination('d')).rejects.toThrow('answered 300');
    status = 200;
    await expect(client.getDestination('d')).rejects.toThrow('Segment Public API GET /destinations/d answered 200 with a body that is not JSON');
  });

  it('a list answer without its list, or with a cursor that repeats, fails instead of looping', async () => {
    let answer = { data: { pagination: {} } } as Record<string, unknown>;
    const root = await serve(() => ({ status: 200, body: JSON.stringify(answer) }));
    const client = new PublicApiClient({ baseUrl: root, token: TOKEN });
    await expect(client.listSources()).rejects.toThrow('Segment Public API GET /sources: answer has no "sources" list');
    answer = { data: { sources: [{ id: 's' }], pagination: { next: 'same' } } };
    await expect(client.listSources()).rejects.toThrow('Segment Public API GET /sources: pagination cursor repeats');
  });
});

describe('defaultDayWindowStart', () => {
  it('counts 14 days (less 10 minutes) back from the end or from now, whichever is later', () => {
    const now = Date.parse('2026-03-15T00:00:00.000Z');
    expect(defaultDayWindowStart(undefined, now)).toBe('2026-03-01T00:10:00.000Z');
    expect(defaultDayWindowStart('2026-03-10T00:00:00.000Z', now)).toBe('2026-03-01T00:10:00.000Z');
    expect(defaultDayWindowStart('2026-03-20T00:00:00.000Z', now)).toBe('2026-03-06T00:10:00.000Z');
  });
});
