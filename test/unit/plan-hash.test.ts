import { describe, expect, it } from 'vitest';
import { canonicalJson, contentHash, sha256Hex } from '../../src/core/plan-hash';

describe('canonicalJson', () => {
  it.each<[string, unknown, string]>([
    ['sorts keys at every depth', { b: 1, a: { d: [1, { z: 1, y: 2 }], c: null } }, '{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}'],
    ['drops undefined properties like JSON.stringify', { a: undefined, b: 1 }, '{"b":1}'],
    ['turns undefined in arrays into null', [1, undefined, 3], '[1,null,3]'],
    ['escapes strings like JSON', { 'k"ey': 'line\nbreak' }, '{"k\\"ey":"line\\nbreak"}'],
    ['keeps scalars', ['x', 1.5, true, false, null], '["x",1.5,true,false,null]'],
    ['accepts null-prototype objects', Object.assign(Object.create(null) as object, { b: 2, a: 1 }), '{"a":1,"b":2}'],
  ])('%s', (_name, value, expected) => {
    expect(canonicalJson(value)).toBe(expected);
  });

  it.each<[string, unknown]>([
    ['NaN', { a: Number.NaN }],
    ['Infinity', [Number.POSITIVE_INFINITY]],
    ['bigint', { a: 1n }],
    ['function', { a: () => 1 }],
    ['Date', { a: new Date(0) }],
    ['Map', new Map()],
  ])('refuses %s instead of encoding it lossily', (_name, value) => {
    expect(() => canonicalJson(value)).toThrow(TypeError);
  });
});

describe('hashes', () => {
  it('sha256Hex matches the known vector', () => {
    expect(sha256Hex('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('contentHash ignores key order but not values', () => {
    expect(contentHash({ a: 1, b: [1, 2] })).toBe(contentHash({ b: [1, 2], a: 1 }));
    expect(contentHash({ a: 1, b: [1, 2] })).not.toBe(contentHash({ a: 1, b: [2, 1] }));
  });
});
