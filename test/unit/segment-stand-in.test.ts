/** `segflow dev`'s Segment stand-in (src/dev/segment-stand-in.ts): accepts segflow's batches, counts, dedupes. */
import { afterEach, describe, expect, it } from 'vitest';
import { startSegmentStandIn, type SegmentStandIn, type StandInRequest } from '../../src/dev/segment-stand-in';

let standIn: SegmentStandIn | undefined;
afterEach(async () => {
  await standIn?.stop();
  standIn = undefined;
});

const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;
async function post(url: string, body: string, headers: Record<string, string>, path = '/v1/batch') {
  return fetch(`${url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
}

describe('segment stand-in', () => {
  it('accepts a batch with its write key, counts events and drops repeated messageIds', async () => {
    const seen: StandInRequest[] = [];
    standIn = await startSegmentStandIn({ writeKey: 'k', onRequest: (r) => seen.push(r) });
    const batch = (ids: string[]) => JSON.stringify({ batch: ids.map((messageId) => ({ type: 'track', event: 'e', userId: 'u', messageId })) });
    expect((await post(standIn.url, batch(['a', 'b', 'a']), { authorization: basic('k') })).status).toBe(200);
    expect((await post(standIn.url, batch(['b', 'c']), { authorization: basic('k') })).status).toBe(200);
    expect(standIn.stats()).toEqual({ requests: 2, accepted: 3, duplicates: 2, refused: 0 });
    expect(seen.map((r) => [r.status, r.events, r.accepted, r.duplicates])).toEqual([
      [200, 3, 2, 1],
      [200, 2, 1, 1],
    ]);
  });

  it('takes the write key from the body when there is no Basic header', async () => {
    standIn = await startSegmentStandIn({ writeKey: 'k' });
    const response = await post(standIn.url, JSON.stringify({ writeKey: 'k', batch: [{ type: 'track', messageId: 'x' }] }), {}, '/v1/import');
    expect(response.status).toBe(200);
    expect(standIn.stats().accepted).toBe(1);
  });

  it('refuses a wrong write key, non-JSON, a malformed body and other paths, and counts nothing from them', async () => {
    standIn = await startSegmentStandIn({ writeKey: 'k' });
    const ok = JSON.stringify({ batch: [{ type: 'track', messageId: 'x' }] });
    expect((await post(standIn.url, ok, { authorization: basic('other') })).status).toBe(401);
    expect((await post(standIn.url, ok, { authorization: basic('k'), 'content-type': 'text/plain' })).status).toBe(400);
    expect((await post(standIn.url, '{"batch":', { authorization: basic('k') })).status).toBe(400);
    expect((await post(standIn.url, '{"events":[]}', { authorization: basic('k') })).status).toBe(400);
    expect((await post(standIn.url, ok, { authorization: basic('k') }, '/v1/track')).status).toBe(404);
    expect((await post(standIn.url, JSON.stringify({ batch: [], pad: 'x'.repeat(600_000) }), { authorization: basic('k') })).status).toBe(400);
    expect(standIn.stats()).toEqual({ requests: 6, accepted: 0, duplicates: 0, refused: 6 });
  });
});
