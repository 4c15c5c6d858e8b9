/**
 * The sanitiser's contract (src/shared/safe-text.ts): every C0 control, DEL and every C1 control (0x9B is a one-byte
 * CSI that terminals obey) is shown as a visible \u escape, never passed through, in plain and markdown text.
 */
import { describe, expect, it } from 'vitest';
import { hasUnsafeCharacters, jsonText, markdownText, plainText } from '../../src/shared/safe-text';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const hex = (code: number) => `\\u${code.toString(16).padStart(4, '0')}`;

describe('control characters are shown, never obeyed', () => {
  it.each([
    ['C0', range(0x00, 0x1f)],
    ['DEL', [0x7f]],
    ['C1', range(0x80, 0x9f)],
  ])('every %s character becomes its \\u escape in plainText and markdownText', (_set, codes) => {
    for (const code of codes) {
      const text = `a${String.fromCharCode(code)}b`;
      expect(plainText(text), hex(code)).toBe(`a${hex(code)}b`);
      expect(markdownText(text), hex(code)).toBe(`a\\${hex(code)}b`);
      expect(hasUnsafeCharacters(text), hex(code)).toBe(true);
    }
  });

  it('a one-byte CSI sequence (0x9B 3 1 m) is shown as text', () => {
    expect(plainText('ok\u009b31mRED')).toBe('ok\\u009b31mRED');
  });

  it('the printable characters around the C1 block are left as they are', () => {
    for (const code of [0x20, 0x7e, 0xa1, 0xff]) {
      expect(plainText(String.fromCharCode(code))).toBe(String.fromCharCode(code));
      expect(hasUnsafeCharacters(String.fromCharCode(code))).toBe(false);
    }
  });
});

describe('jsonText', () => {
  it('writes DEL and every C1 character as a \\u escape, which is still the same JSON', () => {
    for (const code of [0x7f, ...range(0x80, 0x9f)]) {
      const value = { k: `a${String.fromCharCode(code)}b` };
      const text = jsonText(value);
      expect(text, hex(code)).toBe(`{"k":"a${hex(code)}b"}`);
      expect(JSON.parse(text)).toEqual(value);
    }
  });

  it('keeps the newlines of its indentation and writes undefined as null', () => {
    expect(jsonText({ a: 1 }, 2)).toBe('{\n  "a": 1\n}');
    expect(jsonText(undefined)).toBe('null');
  });
});
