import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { DNS_NAMESPACE, SEGFLOW_ROOT_NAMESPACE, deriveMessageId, messageIdNamespace, uuidV5, mayBeDerivedMessageId } from '../../src/core/message-id';
import { seededRandom } from '../support/seeded-random';

const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** Straightforward byte-level RFC 4122 §4.3 reference, to cross-check the hot-path implementation. */
function referenceUuidV5(name: string, namespace: string): string {
  const bytes = createHash('sha1')
    .update(Buffer.concat([Buffer.from(namespace.replace(/-/g, ''), 'hex'), Buffer.from(name, 'utf8')]))
    .digest()
    .subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

describe('uuidV5', () => {
  it('matches the well-known DNS vector', () => {
    expect(uuidV5('www.example.com', DNS_NAMESPACE)).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
  });

  it('matches the python uuid.uuid5 vector for python.org', () => {
    expect(uuidV5('python.org', DNS_NAMESPACE)).toBe('886313e1-3b8a-5372-9b90-0c9aee199e5d');
  });

  it.each(['', 'a', 'line\nbreak', 'ünïcødé 😀', 'x'.repeat(10_000)])('agrees with a byte-level reference for %j', (name) => {
    for (const ns of [DNS_NAMESPACE, SEGFLOW_ROOT_NAMESPACE, messageIdNamespace('s')]) {
      const id = uuidV5(name, ns);
      expect(id).toBe(referenceUuidV5(name, ns));
      expect(id).toMatch(UUID_V5);
    }
  });

  it('accepts upper-case namespaces and rejects non-UUID ones', () => {
    expect(uuidV5('www.example.com', DNS_NAMESPACE.toUpperCase())).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    expect(() => uuidV5('x', 'not-a-uuid')).toThrow(/namespace is not a UUID/);
  });
});

describe('messageIdNamespace', () => {
  it('is uuidV5("segflow:<key>") under the fixed segflow root', () => {
    expect(messageIdNamespace('orders')).toBe(uuidV5('segflow:orders', SEGFLOW_ROOT_NAMESPACE));
    expect(messageIdNamespace('orders')).toMatch(UUID_V5);
  });

  it('pins the root namespace: changing it would change every id ever sent', () => {
    expect(SEGFLOW_ROOT_NAMESPACE).toBe('0612ff93-e977-47fe-ad0e-0b3feba0106c');
    expect(messageIdNamespace('orders')).toBe(referenceUuidV5('segflow:orders', '0612ff93-e977-47fe-ad0e-0b3feba0106c'));
  });

  it('differs per source key', () => {
    expect(messageIdNamespace('a')).not.toBe(messageIdNamespace('b'));
  });
});

describe('deriveMessageId', () => {
  const ns = messageIdNamespace('test-source');
  const other = messageIdNamespace('other-source');
  const raw = '{"type":"track","userId":"u1","event":"E"}';

  it('is deterministic', () => {
    expect(deriveMessageId(ns, 7, raw)).toBe(deriveMessageId(ns, 7, raw));
    expect(deriveMessageId(ns, 7, raw)).toBe(uuidV5(`7\n${raw}`, ns));
  });

  it('is a 36-character UUIDv5 (Mixpanel $insert_id friendly)', () => {
    const id = deriveMessageId(ns, 1, raw);
    expect(id).toHaveLength(36);
    expect(id).toMatch(UUID_V5);
  });

  it.each([
    ['line', () => deriveMessageId(ns, 8, raw)],
    ['raw text', () => deriveMessageId(ns, 7, `${raw} `)],
    ['namespace', () => deriveMessageId(other, 7, raw)],
  ])('changes with the %s', (_label, variant) => {
    expect(variant()).not.toBe(deriveMessageId(ns, 7, raw));
  });

  it('does not confuse line/raw boundaries', () => {
    expect(deriveMessageId(ns, 1, '2\nx')).not.toBe(deriveMessageId(ns, 12, 'x'));
  });

  it('switching namespaces back and forth gives stable results', () => {
    const a = deriveMessageId(ns, 1, 'r');
    const b = deriveMessageId(other, 1, 'r');
    expect(deriveMessageId(ns, 1, 'r')).toBe(a);
    expect(deriveMessageId(other, 1, 'r')).toBe(b);
  });
});

describe('one-shot hashing into a reused buffer (the hot path) gives the reference ids', () => {
  const names = [
    '',
    'a',
    '1\n{"type":"track"}',
    'héllo wörld ✓ 日本語 🎉',
    'lone surrogates \ud800 and \udfff',
    'x'.repeat(4070),
    'y'.repeat(4096),
    '€'.repeat(5000),
    'z'.repeat(100_000),
  ];
  it.each(names.map((name) => [name.slice(0, 30), name]))('uuidV5 of %j', (_label, name) => {
    expect(uuidV5(name, DNS_NAMESPACE)).toBe(referenceUuidV5(name, DNS_NAMESPACE));
  });

  it('deriveMessageId equals uuidV5 of `<line>\\n<raw>`, before and after the buffer grows', () => {
    const namespace = messageIdNamespace('hot-path');
    const raws = ['{"a":1}', '€'.repeat(3000), '{"b":"ü"}', 'q'.repeat(20_000), '{"c":3}'];
    raws.forEach((raw, i) => {
      const line = 10 ** i + 7;
      expect(deriveMessageId(namespace, line, raw)).toBe(referenceUuidV5(`${line}\n${raw}`, namespace));
    });
  });
});

describe('ids agree with the byte-level reference on generated names and line numbers', () => {
  const random = seededRandom(20261128);
  const below = (n: number) => Math.floor(random() * n);
  // ASCII, Latin-1, the rest of the BMP (incl. lone surrogates), and astral characters.
  const ranges: readonly [number, number][] = [
    [0x20, 0x7f],
    [0x00, 0x20],
    [0x80, 0x100],
    [0x100, 0x10000],
    [0x10000, 0x110000],
  ];
  function randomName(): string {
    const length = random() < 0.05 ? 4_000 + below(20_000) : below(400);
    const range = ranges[below(ranges.length)]!;
    const mixed = random() < 0.5;
    let name = '';
    while (name.length < length) {
      const [low, high] = mixed ? ranges[below(ranges.length)]! : range;
      name += String.fromCodePoint(low + below(high - low));
    }
    return name;
  }
  const lines = [0, 1, 9, 10, 99, 100, 999_999, 1_000_000, 2 ** 31, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, -0, -1, 1.5, 2 ** 53, NaN, Infinity];

  it('uuidV5 and deriveMessageId on 2,000 random names', () => {
    const namespace = messageIdNamespace('generated');
    for (let i = 0; i < 2_000; i++) {
      const name = randomName();
      expect(uuidV5(name, namespace)).toBe(referenceUuidV5(name, namespace));
      const line = random() < 0.5 ? lines[below(lines.length)]! : 1 + below(10_000_000);
      expect(deriveMessageId(namespace, line, name), `line ${line}`).toBe(referenceUuidV5(`${line}\n${name}`, namespace));
    }
  });

  it.each(lines)('deriveMessageId writes line %d as `${line}` does', (line) => {
    const namespace = messageIdNamespace('lines');
    expect(deriveMessageId(namespace, line, '{"a":1}')).toBe(referenceUuidV5(`${line}\n{"a":1}`, namespace));
  });
});

describe('mayBeDerivedMessageId', () => {
  it('is true of every id deriveMessageId makes, so a chunk never skips a lookup it needs', () => {
    const namespace = messageIdNamespace('shape');
    for (let line = 1; line <= 2_000; line++) {
      expect(mayBeDerivedMessageId(deriveMessageId(namespace, line, `{"n":${line * 7919}}`))).toBe(true);
    }
  });

  it('is false of the ids rows usually bring', () => {
    for (const id of ['hist-0-8042c6', '', 'x'.repeat(36), '0612ff93-e977-47fe-ad0e-0b3feba0106c', '6ba7b810-9dad-11d1-80b4-00c04fd430c8']) {
      expect(mayBeDerivedMessageId(id), id).toBe(false);
    }
  });
});
