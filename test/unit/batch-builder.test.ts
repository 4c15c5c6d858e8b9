import { describe, it, expect } from 'vitest';
import {
  BatchBuffer,
  EMPTY_BATCH_BODY_BYTES,
  batchBodyBytes,
  eventTooLarge,
  renderBatchBody,
  type BufferedEvent,
  type OutgoingBatch,
} from '../../src/core/batch-builder';
import { seededRandom } from '../support/seeded-random';

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

describe('BatchBuffer byte accounting', () => {
  const payloads: Record<string, unknown>[] = [
    { type: 'track', userId: 'u1', event: 'Order Completed', properties: { revenue: 9.5 } },
    { type: 'identify', userId: 'ü', traits: { name: 'Zoë', city: '東京', emoji: '😀🎉' } },
    { type: 'track', userId: 'u2', event: 'quote " and \\ backslash \n newline', properties: { s: '\u2028\u0000' } },
    { type: 'page', anonymousId: 'a', name: 'Ελληνικά' },
  ];
  const bodyOf = (batch: OutgoingBatch<BufferedEvent>, at = sentAt) => Buffer.from(batch.renderBody(at)).toString('utf8');
  const eventsOf = <E>(batch: OutgoingBatch<E>): E[] => Array.from({ length: batch.length }, (_, i) => batch.event(i));
  const add = (buffer: BatchBuffer, payload: Record<string, unknown>, line = 1, raw = JSON.stringify(payload)) =>
    buffer.tryAdd(JSON.stringify(payload), line, raw);

  it('renders the very body renderBatchBody would, and predicts its UTF-8 size after every add, with multibyte text', () => {
    const buffer = new BatchBuffer({ maxBatchBytes: 1_000_000, maxEventsPerBatch: 100 });
    expect(buffer.bytes).toBe(Buffer.byteLength(renderBatchBody([], sentAt)));
    const added: string[] = [];
    for (const payload of payloads) {
      expect(add(buffer, payload)).toBe(true);
      added.push(JSON.stringify(payload));
      expect(buffer.size).toBe(added.length);
      expect(bodyOf(buffer.batch())).toBe(renderBatchBody(added, sentAt));
      expect(buffer.bytes).toBe(Buffer.byteLength(renderBatchBody(added, sentAt), 'utf8'));
    }
    // A retry renders the same batch again with its own sentAt.
    expect(bodyOf(buffer.batch(), '2030-01-01T00:00:00.000Z')).toBe(renderBatchBody(added, '2030-01-01T00:00:00.000Z'));
  });

  it('halves into the bodies of each half, down to single events that give back their line and row text', () => {
    const buffer = new BatchBuffer({ maxBatchBytes: 1_000_000, maxEventsPerBatch: 100 });
    const raws = payloads.map((p, i) => `  ${JSON.stringify(p)} // row ${i} ü`);
    payloads.forEach((payload, i) => add(buffer, payload, 10 + i, raws[i]));
    const serialized = payloads.map((p) => JSON.stringify(p));
    const [first, second] = buffer.batch().halves();
    expect(bodyOf(first)).toBe(renderBatchBody(serialized.slice(0, 2), sentAt));
    expect(bodyOf(second)).toBe(renderBatchBody(serialized.slice(2), sentAt));
    const [third, fourth] = second.halves();
    expect(bodyOf(fourth)).toBe(renderBatchBody(serialized.slice(3), sentAt));
    expect(third.event(0)).toEqual({ line: 12, raw: raws[2] });
    expect(eventsOf(buffer.batch())).toEqual(raws.map((raw, i) => ({ line: 10 + i, raw })));
    // Rendering a half did not disturb the whole.
    expect(bodyOf(buffer.batch())).toBe(renderBatchBody(serialized, sentAt));
  });

  it('keeps row texts of any size (its row buffer grows)', () => {
    const buffer = new BatchBuffer({ maxBatchBytes: 1_000_000, maxEventsPerBatch: 100 });
    const long = 'ü'.repeat(50_000);
    for (let i = 0; i < 5; i++) expect(add(buffer, { type: 'track', i }, i + 1, `${i}${long}`)).toBe(true);
    expect(eventsOf(buffer.batch()).map((e) => e.raw)).toEqual([0, 1, 2, 3, 4].map((i) => `${i}${long}`));
  });

  it('fills every batch to exactly what fits, whether an event is written first (room left) or measured first (near the limit)', () => {
    const random = seededRandom(11);
    const alphabet = ['a', 'é', '東', '😀', '"', '\\'];
    for (const maxBatchBytes of [300, 1_000, 4_096, 4_097, 4_099]) {
      const buffer = new BatchBuffer({ maxBatchBytes, maxEventsPerBatch: 1_000 });
      let added: string[] = [];
      for (let i = 0; i < 2_000; i++) {
        // Mostly one kind of character per event, so some events take exactly 3 bytes per UTF-16 unit (the most there is).
        const kind = alphabet[Math.floor(random() * alphabet.length)]!;
        const text = Array.from({ length: 1 + Math.floor(random() * 80) }, () =>
          random() < 0.9 ? kind : alphabet[Math.floor(random() * alphabet.length)],
        ).join('');
        // Bare JSON strings too: almost no ASCII, so nearly 3 bytes per unit (the batch does not read what it holds).
        const serialized = i % 2 === 0 ? JSON.stringify({ type: 'track', i, text }) : JSON.stringify(text);
        if (buffer.tryAdd(serialized, i, text)) {
          added.push(serialized);
          continue;
        }
        // Refused only when it really does not fit, and the batch so far is byte for byte what renderBatchBody makes.
        const total = added.reduce((sum, e) => sum + Buffer.byteLength(e), 0);
        expect(batchBodyBytes(added.length + 1, total + Buffer.byteLength(serialized))).toBeGreaterThan(maxBatchBytes);
        expect(bodyOf(buffer.batch())).toBe(renderBatchBody(added, sentAt));
        expect(buffer.bytes).toBe(Buffer.byteLength(renderBatchBody(added, sentAt)));
        buffer.clear();
        added = [];
        // An event too large for any batch is refused by an empty one too.
        const fitsAlone = batchBodyBytes(1, Buffer.byteLength(serialized)) <= maxBatchBytes;
        expect(buffer.tryAdd(serialized, i, text)).toBe(fitsAlone);
        if (fitsAlone) added.push(serialized);
      }
      expect(bodyOf(buffer.batch())).toBe(renderBatchBody(added, sentAt));
    }
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
    const first = { type: 'track', event: 'a' };
    const [, firstBytes] = event(first);
    const exact = batchBodyBytes(1, firstBytes);
    const atLimit = new BatchBuffer({ maxBatchBytes: exact, maxEventsPerBatch: 10 });
    expect(add(atLimit, first)).toBe(true);
    expect(atLimit.bytes).toBe(exact);
    expect(Buffer.from(atLimit.batch().renderBody(sentAt)).length).toBe(exact);

    const second = { type: 'track', event: 'b' };
    const room = batchBodyBytes(2, firstBytes + event(second)[1]);
    const full = new BatchBuffer({ maxBatchBytes: room - 1, maxEventsPerBatch: 10 });
    expect(add(full, first)).toBe(true);
    expect(add(full, second)).toBe(false);
    expect(full.size).toBe(1);
    expect(full.bytes).toBe(exact);
    expect(bodyOf(full.batch())).toBe(renderBatchBody([JSON.stringify(first)], sentAt));
  });

  it('stops at maxEventsPerBatch', () => {
    const buffer = new BatchBuffer({ maxBatchBytes: 1_000_000, maxEventsPerBatch: 3 });
    expect([1, 2, 3, 4].map(() => add(buffer, { type: 'track' }))).toEqual([true, true, true, false]);
    expect(buffer.size).toBe(3);
  });

  it('clear() starts an empty batch', () => {
    const buffer = new BatchBuffer({ maxBatchBytes: 1_000, maxEventsPerBatch: 2 });
    add(buffer, { type: 'track' });
    add(buffer, { type: 'track' });
    expect(add(buffer, { type: 'track' })).toBe(false);
    buffer.clear();
    expect(buffer.size).toBe(0);
    expect(buffer.bytes).toBe(EMPTY_BATCH_BODY_BYTES);
    expect(bodyOf(buffer.batch())).toBe(renderBatchBody([], sentAt));
    expect(add(buffer, { type: 'identify' }, 7, 'row')).toBe(true);
    expect(bodyOf(buffer.batch())).toBe(renderBatchBody([JSON.stringify({ type: 'identify' })], sentAt));
    expect(buffer.batch().event(0)).toEqual({ line: 7, raw: 'row' });
  });

  it('returns false even when empty if the event can never fit', () => {
    const buffer = new BatchBuffer({ maxBatchBytes: 100, maxEventsPerBatch: 10 });
    expect(add(buffer, { type: 'track', properties: { s: 'x'.repeat(100) } })).toBe(false);
    expect(buffer.size).toBe(0);
  });

  it('fills realistic batches without ever exceeding the byte limit', () => {
    const limits = { maxBatchBytes: 20_000, maxEventsPerBatch: 2_500 };
    const buffer = new BatchBuffer(limits);
    const bodies: string[] = [];
    let sent = 0;
    const take = () => {
      const body = bodyOf(buffer.batch());
      expect(Buffer.byteLength(body)).toBeLessThanOrEqual(limits.maxBatchBytes);
      sent += (JSON.parse(body) as { batch: unknown[] }).batch.length;
      bodies.push(body);
      buffer.clear();
    };
    for (let i = 0; i < 1_000; i++) {
      const payload = { type: 'track', userId: `user-${i}`, event: 'Viewed 商品', properties: { i, pad: 'é'.repeat(i % 50) } };
      if (!add(buffer, payload)) {
        take();
        expect(add(buffer, payload)).toBe(true);
      }
    }
    take();
    expect(sent).toBe(1_000);
    expect(bodies.length).toBeGreaterThan(1);
  });

  it.each([
    [{ maxBatchBytes: 48, maxEventsPerBatch: 10 }, /maxBatchBytes must be above 48/],
    [{ maxBatchBytes: 1_000, maxEventsPerBatch: 0 }, /maxEventsPerBatch must be at least 1/],
  ])('refuses unusable limits %j', (limits, message) => {
    expect(() => new BatchBuffer(limits)).toThrow(message);
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
