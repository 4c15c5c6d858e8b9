/**
 * Edges of src/core that mutation testing found unchecked (docs/mutation-testing.md): a row's write key kept out of
 * a size rejection, digits past 2^53 kept, the rate-limit header rules at their bounds, redirect wording, the paths
 * canonicalJson names, long messageId inputs, and batch indexes.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BatchBuffer, EventList } from '../../src/core/batch-builder';
import { deriveMessageId, mayBeDerivedMessageId, messageIdNamespace } from '../../src/core/message-id';
import { canonicalJson } from '../../src/core/plan-hash';
import { classifyTrackingResponse, parseRateLimitReset, parseRetryAfter, rateLimitDelayMs } from '../../src/core/retry-policy';
import { RowConverter } from '../../src/core/row-to-message';

const namespace = messageIdNamespace('core-edges');

/** RFC 4122 UUIDv5 straight from its definition, for comparison. */
function referenceUuidV5(name: string, namespaceUuid: string): string {
  const digest = createHash('sha1')
    .update(Buffer.from(namespaceUuid.replace(/-/g, ''), 'hex'))
    .update(name, 'utf8')
    .digest();
  digest[6] = (digest[6]! & 0x0f) | 0x50;
  digest[8] = (digest[8]! & 0x3f) | 0x80;
  const hex = digest.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

describe('messageIds of long rows', () => {
  it('are right for rows of multi-byte characters around the size of the reused input buffer', () => {
    for (const length of [1_360, 1_364, 1_365, 1_366, 1_370, 2_800]) {
      const raw = '€'.repeat(length);
      expect(deriveMessageId(namespace, 123_456, raw), String(length)).toBe(referenceUuidV5(`123456\n${raw}`, namespace));
    }
  });

  it('look derived only when 36 characters long with a 5 at 15 and a - at 9', () => {
    const id = deriveMessageId(namespace, 1, '{}');
    expect(mayBeDerivedMessageId(id)).toBe(true);
    expect(mayBeDerivedMessageId(`${id}x`)).toBe(false);
    expect(mayBeDerivedMessageId(`${id.slice(0, 8)}x${id.slice(9)}`)).toBe(false);
  });
});

describe('RowConverter', () => {
  const options = { format: 'ndjson' as const, namespace, allowMissingTimestamp: true, maxEventBytes: 200 };

  it("keeps a row's write key out of a size rejection", () => {
    const raw = JSON.stringify({ type: 'track', userId: 'u', event: 'E', writeKey: 'wk_secret_1', properties: { pad: 'x'.repeat(300) } });
    const result = new RowConverter(options).convert(1, raw);
    expect(result).toMatchObject({ ok: false, reject: { field: '(message)' } });
    if (!result.ok) expect(result.reject.raw).toBe(raw.replace('wk_secret_1', '[writeKey removed]'));
  });

  it('leaves a rejected row as it is when its writeKey is empty or not a string', () => {
    for (const writeKey of ['', 5]) {
      const raw = JSON.stringify({ type: 'track', userId: 'u', event: 'E', writeKey, properties: { pad: 'x'.repeat(300) } });
      const result = new RowConverter(options).convert(1, raw);
      expect(result.ok || result.reject.raw).toBe(raw);
    }
  });

  it('sends integers past 2^53 with every digit', () => {
    const raw = '{"type":"track","userId":"u","event":"E","properties":{"id":12345678901234567891}}';
    const result = new RowConverter({ ...options, maxEventBytes: 32_000 }).convert(1, raw);
    expect(result.ok && result.serialized).toContain('"id":12345678901234567891');
  });
});

describe('rate-limit headers at their bounds', () => {
  const now = new Date('2026-01-01T00:00:00.000Z');

  it('are read up to 100 characters, and blank is nothing', () => {
    expect(parseRetryAfter(`${' '.repeat(98)}5`, now)).toBe(5_000);
    expect(parseRetryAfter(`${' '.repeat(99)}5`, now)).toBe(5_000);
    expect(parseRateLimitReset(`${' '.repeat(99)}7`, now)).toBe(7_000);
    expect(parseRetryAfter(`${' '.repeat(100)}5`, now)).toBeUndefined();
    expect(parseRetryAfter('   ', now)).toBeUndefined();
    expect(parseRateLimitReset(`${' '.repeat(98)}7`, now)).toBe(7_000);
    expect(parseRateLimitReset(`${' '.repeat(100)}7`, now)).toBeUndefined();
  });

  it('X-RateLimit-Reset of exactly 1e9 is epoch seconds and of exactly 1e12 epoch milliseconds (both long past)', () => {
    expect(parseRateLimitReset('1000000000', now)).toBe(0);
    expect(parseRateLimitReset('1000000000000', now)).toBe(0);
  });

  it('a msBeforeNext that is not a number leaves the headers to say the wait', () => {
    expect(rateLimitDelayMs({ headers: { 'retry-after': '3' }, msBeforeNext: Number.NaN }, now)).toBe(3_000);
  });
});

describe('classifyTrackingResponse wording', () => {
  it('names a 4xx it has no rule for, and a redirect without a Location, and clips a long one', () => {
    expect(classifyTrackingResponse({ status: 450, headers: {} })).toEqual({
      action: 'fatal',
      reason: 'Segment rejected the request with HTTP 450; not retrying',
    });
    expect(classifyTrackingResponse({ status: 302, headers: {} })).toMatchObject({
      reason: expect.stringContaining('a redirect to no Location given: nothing was delivered (only a 2xx is delivery'),
    });
    const long = `https://elsewhere.example/${'p'.repeat(400)}`;
    const decision = classifyTrackingResponse({ status: 302, headers: { location: long } });
    expect(decision).toMatchObject({ reason: expect.stringContaining(`a redirect to ${long.slice(0, 200)}: nothing`) });
  });
});

describe('canonicalJson refusals name where', () => {
  it.each<[unknown, string]>([
    [{ a: [1, Number.NaN] }, 'canonicalJson: non-finite number at $.a[1]'],
    [{ b: { c: () => 1 } }, 'canonicalJson: cannot encode a function at $.b.c'],
    [[new Date(0)], 'canonicalJson: only plain objects and arrays can be encoded (at $[0])'],
    [Symbol('s'), 'canonicalJson: cannot encode a symbol at $'],
  ])('%s', (value, message) => {
    expect(() => canonicalJson(value)).toThrow(message);
  });
});

describe('batch indexes', () => {
  it('an event outside a batch is refused, naming the index and the size', () => {
    const list = new EventList([{ serialized: '{}' }]);
    expect(() => list.event(1)).toThrow('no event 1 in a batch of 1');
    const buffer = new BatchBuffer({ maxBatchBytes: 10_000, maxEventsPerBatch: 10 });
    buffer.tryAdd('{"a":1}', 1, 'row 1');
    buffer.tryAdd('{"a":2}', 2, 'row 2');
    const [, second] = buffer.batch().halves();
    expect(second.event(0)).toEqual({ line: 2, raw: 'row 2' });
    expect(() => second.event(1)).toThrow('no event 1 in a batch of 1');
    expect(() => second.event(-1)).toThrow('no event -1 in a batch of 1');
    expect(() => buffer.batch().renderBody('2026-01-01')).toThrow('sentAt must be a 24-character ISO timestamp');
  });
});
