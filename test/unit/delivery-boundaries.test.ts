/**
 * Delivery at its edges (src/core/retry-policy.ts, src/segment/tracking-client.ts): exactly 200-299 is delivery, and
 * every post carries the time it is made as sentAt, retries included.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { classifyTrackingResponse } from '../../src/core/retry-policy';
import { TrackingClient, TrackingFatalError } from '../../src/segment/tracking-client';

let server: Server | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await new Promise<void>((done) => (server ? server.close(() => done()) : done()));
  server = undefined;
});

/** A Tracking API double answering each post with the next status of `statuses` (the last one repeats). */
async function serve(statuses: number[], sentAts: string[]): Promise<string> {
  let post = 0;
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (piece) => (text += piece));
    req.on('end', () => {
      sentAts.push((JSON.parse(text) as { sentAt: string }).sentAt);
      res.writeHead(statuses[Math.min(post++, statuses.length - 1)]!, { location: 'https://elsewhere.example/v1/batch' });
      res.end('{}');
    });
  });
  await new Promise<void>((done) => server!.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
}

const events = [{ serialized: '{"type":"track","userId":"u","event":"E","messageId":"m0"}' }];

describe('only 2xx is delivery, at both ends of the range', () => {
  it.each([
    [199, 'fatal'],
    [200, 'success'],
    [299, 'success'],
    [300, 'fatal'],
    [399, 'fatal'],
    [400, 'split'],
  ])('status %i -> %s', (status, action) => {
    expect(classifyTrackingResponse({ status, headers: {} }).action).toBe(action);
  });

  it('a 300 answer fails the send, counting nothing as accepted', async () => {
    const root = await serve([300], []);
    const accepted: unknown[] = [];
    const error = await new TrackingClient({ apiRoot: root, writeKey: 'wk' })
      .send(events, { onAccepted: (batch) => void accepted.push(batch.length) })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrackingFatalError);
    expect((error as Error).message).toContain('answered 300');
    expect(accepted).toEqual([]);
  });
});

describe('sentAt', () => {
  it('is the clock at each post: a retry 1.5 s and then 4 s later carries a sentAt 1.5 s and 5.5 s after the first', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2026-01-01T00:00:00.000Z'));
    const sentAts: string[] = [];
    const root = await serve([503, 503, 200], sentAts);
    const waits = [1_500, 4_000];
    const result = await new TrackingClient({ apiRoot: root, writeKey: 'wk' }).send(events, {
      retries: 2,
      // Waiting moves the clock by exactly the wait, so each post's sentAt is known in advance.
      sleep: async () => void vi.setSystemTime(Date.now() + waits.shift()!),
    });
    expect(result).toMatchObject({ accepted: 1, batches: 1 });
    expect(sentAts).toEqual(['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.500Z', '2026-01-01T00:00:05.500Z']);
  });
});
