import { describe, expect, it } from 'vitest';
import { topLevelMemberCount } from '../../src/core/json-text';
import { seededRandom } from '../support/seeded-random';

describe('topLevelMemberCount', () => {
  const cases: Array<[string, number]> = [
    ['{}', 0],
    [' { } ', 0],
    ['{"a":1}', 1],
    ['{"a":1,"a":2}', 2],
    ['{"a":"x","\\u0061":"y"}', 2],
    ['{ "a" : [1, 2, {"b": 3, "c": [4]}] , "d" : {"e": {}} }', 2],
    ['{"a":",,{[","b":"\\"","c":"\\\\","d":"\\\\\\"}]"}', 4],
    ['{"a\\"b":1,"c\\\\":"}"}', 2],
  ];
  it.each(cases)('counts %s as %i', (text, count) => {
    expect(topLevelMemberCount(text)).toBe(count);
  });

  it('agrees with JSON.parse on 3,000 generated objects full of quotes, escapes and brackets in strings', () => {
    const random = seededRandom(20261207);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const pieces = ['a', '"', '\\', ',', '{', '}', '[', ']', ':', ' ', 'é', '😀', '\n', '\u2028'];
    const text = () => Array.from({ length: Math.floor(random() * 6) }, () => pick(pieces)).join('');
    const value = (depth: number): unknown => {
      const kind = Math.floor(random() * (depth > 2 ? 4 : 6));
      if (kind === 0) return text();
      if (kind === 1) return Math.floor(random() * 1000) - 500;
      if (kind === 2) return pick([true, false, null]);
      if (kind === 3) return 1.5;
      if (kind === 4) return Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1));
      return object(depth + 1);
    };
    const object = (depth: number): Record<string, unknown> => {
      const result: Record<string, unknown> = {};
      for (let i = Math.floor(random() * 5); i > 0; i--) result[text() + String(i)] = value(depth);
      return result;
    };
    for (let i = 0; i < 3_000; i++) {
      const members = Object.entries(object(0));
      // Repeat a member now and then: written twice, parsed once.
      if (members.length > 0 && random() < 0.3) members.push([members[0]![0], value(1)]);
      const spacing = random() < 0.5 ? '' : ' ';
      const written = `{${spacing}${members.map(([key, v]) => `${JSON.stringify(key)}${spacing}:${spacing}${JSON.stringify(v)}`).join(`${spacing},${spacing}`)}${spacing}}`;
      expect(topLevelMemberCount(written), written).toBe(members.length);
      expect(Object.keys(JSON.parse(written) as object).length).toBeLessThanOrEqual(members.length);
    }
  });
});
