/**
 * The product's own Segment limits, pinned with literal values: a test that compares with SEGMENT_LIMITS itself
 * follows any change of the constant (maxBatchBytes 480,000 -> 512,000 kept every other unit test green).
 * Each limit is also checked at its boundary where the product applies it.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PUBLIC_API_URL, DEFAULT_TRACKING_URL, SEGMENT_LIMITS } from '../../src/shared/limits';
import { IMPORT_DEFAULTS } from '../../src/client/import-start';
import { validateJobSpec } from '../../src/core/job-spec';
import { validateMessage } from '../../src/core/message-schema';
import { RowConverter } from '../../src/core/row-to-message';
import { messageIdNamespace } from '../../src/core/message-id';

const utf8 = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

/** A track message whose validated JSON is exactly `bytes` bytes (padding in properties.blob). */
function messageOfBytes(bytes: number): Record<string, unknown> {
  const base = { type: 'track', userId: 'u', event: 'E', properties: { blob: '' } };
  const validated = validateMessage(base, { allowMissingTimestamp: true });
  if (!validated.ok) throw new Error(validated.reason);
  const pad = bytes - utf8(validated.message);
  const message = { ...base, properties: { blob: 'x'.repeat(pad) } };
  const check = validateMessage(message, { allowMissingTimestamp: true });
  if (!check.ok || utf8(check.message) !== bytes) throw new Error(`could not build a message of ${bytes} bytes`);
  return message;
}

describe('Segment limits (src/shared/limits.ts), pinned', () => {
  it('are 32,000 bytes per event, 480,000 per batch, 2,500 events per batch and 100-character messageIds', () => {
    expect(SEGMENT_LIMITS).toEqual({ maxEventBytes: 32_000, maxBatchBytes: 480_000, maxEventsPerBatch: 2_500, maxMessageIdLength: 100 });
  });

  it("name Segment's US API roots as the default roots", () => {
    expect(DEFAULT_TRACKING_URL).toBe('https://api.segment.io');
    expect(DEFAULT_PUBLIC_API_URL).toBe('https://api.segmentapis.com');
  });

  it('are what an import uses when not told otherwise: 480,000-byte batches of at most 2,500 events', () => {
    expect(IMPORT_DEFAULTS.maxBatchBytes).toBe(480_000);
    expect(IMPORT_DEFAULTS.maxEventsPerBatch).toBe(2_500);
  });

  it('a send step takes a message of exactly 32,000 bytes and refuses one of 32,001', () => {
    expect(validateJobSpec({ steps: [{ op: 'send', messages: [messageOfBytes(32_000)] }] }).ok).toBe(true);
    expect(validateJobSpec({ steps: [{ op: 'send', messages: [messageOfBytes(32_001)] }] })).toMatchObject({
      ok: false,
      issues: [{ field: 'messages.0', message: expect.stringContaining('32001 bytes') }],
    });
  });

  it('a send step may add up to exactly 480,000 bytes (each message plus its comma) and not one byte more', () => {
    // 15 messages: 14 of 32,000 bytes and one of 31,985, plus 15 separators, is 480,000.
    const full = [...Array.from({ length: 14 }, () => messageOfBytes(32_000)), messageOfBytes(31_985)];
    expect(validateJobSpec({ steps: [{ op: 'send', messages: full }] }).ok).toBe(true);
    const over = [...full.slice(0, 14), messageOfBytes(31_986)];
    expect(validateJobSpec({ steps: [{ op: 'send', messages: over }] })).toMatchObject({
      ok: false,
      issues: [{ field: 'messages', message: expect.stringContaining('480001 bytes; one send step must stay under 480000') }],
    });
  });

  it('a messageId of 100 characters is sent and one of 101 is refused, by both paths of an NDJSON row', () => {
    const row = (id: string) => JSON.stringify({ type: 'track', userId: 'u', event: 'E', messageId: id, timestamp: '2024-01-02T03:04:05.678Z' });
    const namespace = messageIdNamespace('pinned-limits');
    const now = new Date('2025-01-01T00:00:00.000Z');
    // The text path and, with a field to ignore (which switches the text path off), JSON.parse's path.
    for (const ignoreFields of [[], ['unused']]) {
      const converter = new RowConverter({ format: 'ndjson', namespace, allowMissingTimestamp: false, maxEventBytes: 32_000, now, ignoreFields });
      expect(converter.convert(1, row('m'.repeat(100)))).toMatchObject({ ok: true, event: { messageId: 'm'.repeat(100) } });
      expect(converter.convert(2, row('m'.repeat(101)))).toMatchObject({ ok: false, reject: { field: 'messageId' } });
    }
  });
});
