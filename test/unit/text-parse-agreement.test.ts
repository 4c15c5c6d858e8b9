/**
 * The text path (src/core/message-text.ts) and JSON.parse's path (src/core/row-to-message.ts, validateMessage,
 * src/core/message-id.ts) must give every row the same answer: accepted by both or by neither, and when accepted,
 * the same message with the same messageId. test/unit/message-text.test.ts generates rows from a fixed set of
 * pieces; this file puts every whitespace and control character (every C0, DEL, every C1, U+FEFF, U+2028/2029, NBSP
 * and every character String.prototype.trim removes) at every kind of place in a row, raw and escaped.
 */
import { describe, expect, it } from 'vitest';
import { messageIdNamespace } from '../../src/core/message-id';
import { MessageTextReader } from '../../src/core/message-text';
import { RowConverter, type ConvertResult } from '../../src/core/row-to-message';

const namespace = messageIdNamespace('text-parse-agreement');
const now = new Date('2030-01-01T00:00:00.000Z');
const options = { format: 'ndjson' as const, namespace, allowMissingTimestamp: true, maxEventBytes: 32_000, now };
/** Both paths: the text path first, JSON.parse's when it declines. */
const withTextPath = new RowConverter(options);
/** A field to ignore switches the text path off (RowConverter), and this one is in no row. */
const parsePathOnly = new RowConverter({ ...options, ignoreFields: ['notInAnyRow'] });

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** Every UTF-16 code unit String.prototype.trim removes: the one definition of a blank the parse path applies. */
const TRIMMED = range(0, 0xffff).filter((code) => String.fromCharCode(code).trim() === '');
const CHARACTERS = [
  ...new Set([
    ...range(0x00, 0x1f), // C0
    0x7f, // DEL
    ...range(0x80, 0x9f), // C1 (0x85 NEL, 0x9b CSI)
    0xa0,
    0xfeff,
    0x2028,
    0x2029,
    ...TRIMMED,
    // Near misses that trim keeps: zero-width space and joiner, word joiner, the old Mongolian vowel separator.
    0x200b,
    0x200d,
    0x2060,
    0x180e,
  ]),
].map((code) => String.fromCharCode(code));

const escaped = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/** Row templates; `X` marks where the character goes. Each is a valid message when X is an ordinary letter. */
const TEMPLATES = [
  'X{"type":"track","userId":"u","event":"E"}',
  '{"type":"track","userId":"u","event":"E"}X',
  '{X"type":"track","userId":"u","event":"E"}',
  '{"type"X:"track","userId":"u","event":"E"}',
  '{"type":X"track","userId":"u","event":"E"}',
  '{"type":"track",X"userId":"u","event":"E"}',
  '{"type":"track","userId":"u","event":"E"X}',
  '{"typeX":"track","userId":"u","event":"E"}',
  '{"type":"trackX","userId":"u","event":"E"}',
  '{"type":"track","userId":"X","event":"E"}',
  '{"type":"track","userId":"uX","event":"E"}',
  '{"type":"track","userId":"Xu","event":"E"}',
  '{"type":"track","userId":"XX","event":"E"}',
  '{"type":"track","anonymousId":"X","event":"E"}',
  '{"type":"track","userId":"u","event":"X"}',
  '{"type":"track","userId":"u","event":"EX"}',
  '{"type":"track","userId":"u","event":"E","messageId":"X"}',
  '{"type":"track","userId":"u","event":"E","messageId":"mX"}',
  '{"type":"track","userId":"u","event":"E","timestamp":"X2024-01-02T03:04:05.678Z"}',
  '{"type":"track","userId":"u","event":"E","timestamp":"2024-01-02T03:04:05.678ZX"}',
  '{"type":"track","userId":"u","event":"E","properties":{"k":"X"}}',
  '{"type":"track","userId":"u","event":"E","properties":{"kX":1}}',
  '{"type":"track","userId":"u","event":"E","properties":{"k":[1,X2]}}',
  '{"type":"track","userId":"u","event":"E","context":{"ipX":"1.2.3.4"}}',
  '{"type":"track","userId":"u","event":"E","context":{"ip":"X","library":{"name":"x"}}}',
  '{"type":"identify","userId":"X","traits":{"email":"a@b.c"}}',
  '{"type":"group","userId":"u","groupId":"X"}',
  '{"type":"alias","userId":"u","previousId":"X"}',
  '{"type":"page","userId":"u","name":"X"}',
  '{"type":"track","userId":"u","event":"E","receivedAt":"X","sentAt":"2024-01-02T03:04:05.678Z"}',
];

/** The parse path's message as the text path summarises it. */
function summary(result: Extract<ConvertResult, { ok: true }>) {
  const { type, messageId, timestamp } = result.event;
  return { type, messageId, ...(timestamp !== undefined ? { timestamp } : {}) };
}

/** Asserts the two answers agree; returns whether the text path itself accepted the row. */
function expectAgreement(raw: string, line: number, reader: MessageTextReader): boolean {
  const both = withTextPath.convert(line, raw);
  const parsed = parsePathOnly.convert(line, raw);
  const label = JSON.stringify(raw);
  expect(both.ok, label).toBe(parsed.ok);
  if (!both.ok || !parsed.ok) {
    expect(both, label).toEqual(parsed);
    return false;
  }
  // What is sent must be JSON as it stands (no BOM or other character JSON.parse refuses), and the same message.
  expect(() => JSON.parse(both.serialized) as unknown, label).not.toThrow();
  expect(JSON.parse(both.serialized), label).toEqual(JSON.parse(parsed.serialized));
  expect(summary(both), label).toEqual(summary(parsed));
  expect(both.idDerived, label).toBe(parsed.idDerived);
  expect(both.serverFields, label).toEqual(parsed.serverFields);
  return reader.accept(raw) !== undefined;
}

describe('the text path and JSON.parse path agree on every whitespace and control character', () => {
  it(`covers ${CHARACTERS.length} characters: all C0, DEL, all C1, U+FEFF, U+2028/2029, NBSP and all ${TRIMMED.length} that trim removes`, () => {
    const codes = CHARACTERS.map((c) => c.charCodeAt(0));
    for (const code of [...range(0, 0x1f), 0x7f, ...range(0x80, 0x9f), 0xa0, 0xfeff, 0x2028, 0x2029, 0x3000, 0x1680, 0x205f])
      expect(codes).toContain(code);
    expect(TRIMMED.length).toBeGreaterThanOrEqual(25);
  });

  it('the same acceptance, message and messageId for each character, raw, at every place of the templates', () => {
    const reader = new MessageTextReader();
    let line = 0;
    let viaText = 0;
    for (const template of TEMPLATES) {
      for (const c of CHARACTERS) if (expectAgreement(template.replaceAll('X', c), ++line, reader)) viaText++;
    }
    // The text path really judged rows here (JSON whitespace at structural places, spaces inside values).
    expect(viaText).toBeGreaterThan(200);
  });

  it('the same for each character written as a \\u escape inside strings', () => {
    const reader = new MessageTextReader();
    let line = 100_000;
    for (const template of TEMPLATES) {
      // Escapes mean something only inside strings: the templates whose X sits inside quotes.
      if (!/"[^",:{}[\]]*X[^",:{}[\]]*"/.test(template)) continue;
      for (const c of CHARACTERS) expectAgreement(template.replaceAll('X', escaped(c)), ++line, reader);
    }
  });

  it('a row with spacing around it takes the text path and gets the messageId of the row as read, spacing included', () => {
    const reader = new MessageTextReader();
    const row = '{"type":"track","userId":"u","event":"E"}';
    const ids = new Set<string>();
    for (const spaced of [row, ` ${row}`, `${row} `, `\t${row}\r`, `  ${row}\t\t`]) {
      expect(reader.accept(spaced), JSON.stringify(spaced)).toBeDefined();
      const both = withTextPath.convert(7, spaced);
      const parsed = parsePathOnly.convert(7, spaced);
      if (!both.ok || !parsed.ok) throw new Error(`${JSON.stringify(spaced)} was rejected`);
      expect(both.event.messageId).toBe(parsed.event.messageId);
      ids.add(both.event.messageId!);
    }
    // Different text on the same line is a different row, so a different id.
    expect(ids.size).toBe(5);
  });

  it('rows the parse path refuses are never accepted by the text path: raw controls inside strings, stray characters between members', () => {
    const reader = new MessageTextReader();
    const refused = [
      ...range(0x00, 0x1f).map((code) => `{"type":"track","userId":"u${String.fromCharCode(code)}","event":"E"}`),
      ...range(0x00, 0x1f).map((code) => `{"type":"track","userId":"u","event":"E","properties":{"k":"${String.fromCharCode(code)}"}}`),
      ...[0x0b, 0x0c, 0x7f, 0x85, 0x9b, 0xa0, 0xfeff, 0x2028, 0x3000].map(
        (code) => `{"type":"track",${String.fromCharCode(code)}"userId":"u","event":"E"}`,
      ),
      '{"type":"track","userId":"u","event":"E"}\u0000',
    ];
    for (const raw of refused) {
      expect(parsePathOnly.convert(1, raw).ok, JSON.stringify(raw)).toBe(false);
      expect(reader.accept(raw), JSON.stringify(raw)).toBeUndefined();
      expect(withTextPath.convert(1, raw).ok, JSON.stringify(raw)).toBe(false);
    }
  });
});
