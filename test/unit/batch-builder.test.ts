import { describe, it, expect } from 'vitest';
import { BatchBuilder, EMPTY_BATCH_BODY_BYTES, batchBodyBytes, eventTooLarge, renderBatchBody } from '../../src/core/batch-builder';

const sentAt = '2024-05-01T08:00:00.123Z';

function event(payload: Record<string, unknown>): [string, number] {
  const serialized = JSON.stringify(payload);
  return [serialized, Buffer.byteLength(serialized)];
}

describe('renderBatchBody', () => {
  it('renders exactly {"batch":[...],"sentAt":"..."}, valid JSON equal to the object form', () => {
    const events = [JSON.stringify({ type: 'track', event: 'A' }), JSON.stringify({ type: 'identify', userId: 'u' })];
    const body = renderBatchBody(events, sentAt);
    expect(body).toBe(`{"batch":[${events.join(',')}],"sentAt":"${sentAt}"}`);
    expect(body).toBe(JSON.stringify({ batch: events.map((e) => JSON.parse(e) as unknown), sentAt }));
  });

  it('has no writeKey in the body (it travels in the Basic auth header)', () => {
    expect(renderBatchBody([], sentAt)).not.toContain('writeKey');
  });

  it('renders an empty batch of EMPTY_BATCH_BODY_BYTES bytes', () => {
    expect(Buffer.byteLength(renderBatchBody([], sentAt))).toBe(EMPTY_BATCH_BODY_BYTES);
    expect(EMPTY_BATCH_BODY_BYTES).toBe(48);
  });

  it.each(['2024-05-01T08:00:00Z', '', '+010000-01-01T00:00:00.000Z'])('refuses a sentAt that is not 24 characters: %j', (bad) => {
    expect(() => renderBatchBody([], bad)).toThrow(/24-character/);
  });
});

describe('BatchBuilder byte accounting', () => {
  const payloads: Record<string, unknown>[] = [
    { type: 'track', userId: 'u1', event: 'Order Completed', properties: { revenue: 9.5 } },
    { type: 'identify', userId: 'ü', traits: { name: 'Zoë', city: '東京', emoji: '😀🎉' } },
    { type: 'track', userId: 'u2', event: 'quote " and \\ backslash \n newline', properties: { s: '\u2028\u0000' } },
    { type: 'page', anonymousId: 'a', name: 'Ελληνικά' },
  ];

  it('predicts the exact UTF-8 size of the rendered body after every add, with multibyte text', () => {
    const builder = new BatchBuilder({ maxBatchBytes: 1_000_000, maxEventsPerBatch: 100 });
    expect(builder.bytes).toBe(Buffer.byteLength(renderBatchBody([], sentAt)));
    const added: string[] = [];
    for (const payload of payloads) {
      const [serialized, bytes] = event(payload);
      expect(builder.tryAdd(serialized, bytes)).toBe(true);
      added.push(serialized);
      expect(builder.size).toBe(added.length);
      expect(builder.bytes).toBe(Buffer.byteLength(renderBatchBody(added, sentAt), 'utf8'));
    }
    expect(builder.takeEvents()).toEqual(added);
  });

  it('batchBodyBytes agrees with rendering for 0..n events', () => {
    const serialized = payloads.map((p) => JSON.stringify(p));
    for (let n = 0; n <= serialized.length; n++) {
      const events = serialized.slice(0, n);
      const total = events.reduce((sum, e) => sum + Buffer.byteLength(e), 0);
      expect(batchBodyBytes(n, total)).toBe(Buffer.byteLength(renderBatchBody(events, sentAt)));
    }
  });

  it('accepts an event that lands exactly on maxBatchBytes and refuses one byte more', () => {
    const [first, firstBytes] = event({ type: 'track', event: 'a' });
    const exact = batchBodyBytes(1, firstBytes);
    const atLimit = new BatchBuilder({ maxBatchBytes: exact, maxEventsPerBatch: 10 });
    expect(atLimit.tryAdd(first, firstBytes)).toBe(true);
    expect(atLimit.bytes).toBe(exact);

    const [second, secondBytes] = event({ type: 'track', event: 'b' });
    const room = batchBodyBytes(2, firstBytes + secondBytes);
    const full = new BatchBuilder({ maxBatchBytes: room - 1, maxEventsPerBatch: 10 });
    expect(full.tryAdd(first, firstBytes)).toBe(true);
    expect(full.tryAdd(second, secondBytes)).toBe(false);
    expect(full.size).toBe(1);
    expect(full.bytes).toBe(exact);
  });

  it('stops at maxEventsPerBatch', () => {
    const builder = new BatchBuilder({ maxBatchBytes: 1_000_000, maxEventsPerBatch: 3 });
    const [e, bytes] = event({ type: 'track' });
    expect([1, 2, 3, 4].map(() => builder.tryAdd(e, bytes))).toEqual([true, true, true, false]);
    expect(builder.size).toBe(3);
  });

  it('takeEvents hands over the batch and resets size and bytes', () => {
    const builder = new BatchBuilder({ maxBatchBytes: 1_000, maxEventsPerBatch: 2 });
    const [e, bytes] = event({ type: 'track' });
    builder.tryAdd(e, bytes);
    builder.tryAdd(e, bytes);
    expect(builder.tryAdd(e, bytes)).toBe(false);
    expect(builder.takeEvents()).toEqual([e, e]);
    expect(builder.size).toBe(0);
    expect(builder.bytes).toBe(EMPTY_BATCH_BODY_BYTES);
    expect(builder.takeEvents()).toEqual([]);
    expect(builder.tryAdd(e, bytes)).toBe(true);
  });

  it('returns false even when empty if the event can never fit', () => {
    const builder = new BatchBuilder({ maxBatchBytes: 100, maxEventsPerBatch: 10 });
    const [big, bytes] = event({ type: 'track', properties: { s: 'x'.repeat(100) } });
    expect(builder.tryAdd(big, bytes)).toBe(false);
    expect(builder.size).toBe(0);
  });

  it('fills a realistic batch without ever exceeding the byte limit', () => {
    const limits = { maxBatchBytes: 20_000, maxEventsPerBatch: 2_500 };
    const builder = new BatchBuilder(limits);
    const batches: string[][] = [];
    for (let i = 0; i < 1_000; i++) {
      const [e, bytes] = event({ type: 'track', userId: `user-${i}`, event: 'Viewed 商品', properties: { i, pad: 'é'.repeat(i % 50) } });
      if (!builder.tryAdd(e, bytes)) {
        batches.push(builder.takeEvents());
        expect(builder.tryAdd(e, bytes)).toBe(true);
      }
    }
    batches.push(builder.takeEvents());
    expect(batches.flat()).toHaveLength(1_000);
    for (const batch of batches) {
      expect(Buffer.byteLength(renderBatchBody(batch, sentAt))).toBeLessThanOrEqual(limits.maxBatchBytes);
    }
  });

  it.each([
    [{ maxBatchBytes: 48, maxEventsPerBatch: 10 }, /maxBatchBytes must be above 48/],
    [{ maxBatchBytes: 1_000, maxEventsPerBatch: 0 }, /maxEventsPerBatch must be at least 1/],
  ])('refuses unusable limits %j', (limits, message) => {
    expect(() => new BatchBuilder(limits)).toThrow(message);
  });
});

describe('eventTooLarge', () => {
  it.each([
    [31_999, false],
    [32_000, false],
    [32_001, true],
  ])('%i bytes against 32,000 -> %s', (bytes, tooLarge) => {
    expect(eventTooLarge(bytes, 32_000)).toBe(tooLarge);
  });
});
