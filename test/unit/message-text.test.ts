import { describe, expect, it } from 'vitest';
import { validateMessage } from '../../src/core/message-schema';
import { MessageTextReader } from '../../src/core/message-text';
import { seededRandom } from '../support/seeded-random';

/** Far ahead: whether a timestamp is in the future is RowConverter's rule, not the text path's (test/unit/row-to-message.test.ts). */
const now = new Date('2100-01-01T00:00:00.000Z');
const ts = '2024-01-02T03:04:05.678Z';

/**
 * The text path may only accept what JSON.parse's path accepts, as the same message: for every row it accepts,
 * JSON.parse must read the row, validateMessage must accept it, and the text it sends must parse to exactly that
 * message with the same summary and server-set fields.
 */
function expectAgreement(reader: MessageTextReader, raw: string): boolean {
  const event = reader.accept(raw);
  if (event === undefined) return false;
  const accepted = { event, text: reader.textToSend(), serverFields: reader.serverFieldsFound() };
  let parsed: unknown;
  expect(() => (parsed = JSON.parse(raw)), raw).not.toThrow();
  const validated = validateMessage(parsed, { now, allowMissingTimestamp: true });
  expect(validated.ok, raw).toBe(true);
  if (!validated.ok) return false;
  expect(JSON.parse(accepted.text), raw).toEqual(validated.message);
  expect(accepted.serverFields, raw).toEqual(validated.serverFields);
  const { type, messageId, timestamp } = validated.message;
  expect(accepted.event, raw).toEqual({ type, ...(messageId !== undefined ? { messageId } : {}), ...(timestamp !== undefined ? { timestamp } : {}) });
  return true;
}

describe('MessageTextReader agrees with JSON.parse and validateMessage', () => {
  const reader = new MessageTextReader();

  it('on 20,000 generated rows: exported, spaced, escaped, repeated, nested and broken', () => {
    const random = seededRandom(20261207);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const pieces = ['a', 'Z', '0', ' ', '"', '\\', '/', ',', ':', '{', '}', '[', ']', 'é', '😀', '\u2028', '\u00a0', '\t'];
    const text = () => Array.from({ length: Math.floor(random() * 5) }, () => pick(pieces)).join('');
    const value = (depth: number): unknown => {
      const kind = Math.floor(random() * (depth > 3 ? 5 : 7));
      if (kind === 0) return text();
      if (kind === 1) return pick([0, -1, 1.5, 1e21, 12345678901234567000, -0.25]);
      if (kind === 2) return pick([true, false, null]);
      if (kind === 3) return pick(['x', '', ' ']);
      if (kind === 4) return 42;
      if (kind === 5) return Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1));
      const object: Record<string, unknown> = {};
      for (let i = Math.floor(random() * 4); i > 0; i--) object[pick(['k', 'library', text(), 'ip'])] = value(depth + 1);
      return object;
    };
    const fieldValues: Record<string, readonly unknown[]> = {
      type: ['track', 'identify', 'page', 'screen', 'group', 'alias', 'Track', '', null, 3],
      userId: ['u1', ' ', '\u00a0', '\u3000x', 42, null, '', 'é'],
      anonymousId: ['a1', '', null, 7],
      previousId: ['old', ' ', null],
      groupId: ['g1', '\u2028', null],
      messageId: ['m-1', 'x'.repeat(100), 'x'.repeat(101), '', null, 5, 'é😀'],
      event: ['Order Completed', ' ', '', null, 3],
      name: ['Home', '', null, 4],
      category: ['Docs', null, []],
      timestamp: [ts, ts, '2024-01-02T03:04:05Z', '2024-02-30T00:00:00.000Z', '2030-01-01T00:00:00.000Z', 'soon', null, 1],
      properties: [{ revenue: 9.5 }, {}, null, [], 'x'],
      traits: [{ email: 'a@b.c' }, null, 3],
      context: [
        { ip: '1.2.3.4' },
        { library: { name: 'analytics.js' }, ip: '1.2.3.4' },
        { library: 'x' },
        { ip: '1', library: null, x: [] },
        {},
        null,
        [],
      ],
      integrations: [{ All: false }, null, 'all'],
      receivedAt: [ts, null],
      sentAt: [ts, null],
      originalTimestamp: [ts, 'not a time', null],
      version: [2],
      channel: ['server'],
      projectId: ['p'],
      writeKey: ['secret'],
      _metadata: [{ bundled: ['Segment.io'] }],
      extra: [1],
    };
    const names = Object.keys(fieldValues);
    const escapedName = (name: string) => name.replace(/[a-z]/, (letter) => `\\u00${letter.charCodeAt(0).toString(16)}`);
    const space = () => pick(['', '', '', ' ', '\t', '\r\n ', '  ']);

    let accepted = 0;
    let exported = 0;
    for (let round = 0; round < 20_000; round++) {
      const type = pick(['track', 'track', 'identify', 'page', 'screen', 'group', 'alias']);
      const members: Array<[string, unknown]> = [
        ['type', type],
        ['userId', `u${round % 50}`],
        ['timestamp', ts],
      ];
      if (type === 'track') members.push(['event', 'Order Completed']);
      if (type === 'group') members.push(['groupId', 'g1']);
      if (type === 'alias') members.push(['previousId', 'old']);
      for (let i = Math.floor(random() * 5); i > 0; i--) {
        const name = pick(names);
        const change = random();
        if (change < 0.15) members.splice(members.findIndex(([n]) => n === name) >>> 0, 1);
        else if (change < 0.2)
          members.push([name, pick(fieldValues[name]!)]); // possibly repeated
        else {
          const at = members.findIndex(([n]) => n === name);
          const chosen: [string, unknown] = [name, name === 'properties' && random() < 0.5 ? value(0) : pick(fieldValues[name]!)];
          if (at >= 0) members[at] = chosen;
          else members.splice(Math.floor(random() * (members.length + 1)), 0, chosen);
        }
      }
      let raw =
        space() +
        '{' +
        members
          .map(
            ([name, v]) => `${space()}"${random() < 0.03 ? escapedName(name) : name}"${space()}:${space()}${JSON.stringify(v) ?? 'null'}${space()}`,
          )
          .join(',') +
        '}' +
        space();
      // Now and then, break the JSON itself: a character dropped, doubled or put in.
      if (random() < 0.25) {
        const at = Math.floor(random() * raw.length);
        const edit = random();
        raw =
          edit < 0.33
            ? raw.slice(0, at) + raw.slice(at + 1)
            : edit < 0.66
              ? raw.slice(0, at) + raw[at] + raw.slice(at)
              : raw.slice(0, at) + pick(['"', '\\', ',', '}', ']', '{', '0', '-', 'e', '.', 'n', '\u0001', '\\u12G4', '\\x']) + raw.slice(at);
      }
      if (expectAgreement(reader, raw)) {
        accepted += 1;
        if (/receivedAt|sentAt|writeKey|library|version|channel|_metadata|projectId/.test(raw)) exported += 1;
      }
    }
    // The comparison means something only if the text path took many rows, exported ones among them, and left many.
    expect(accepted).toBeGreaterThan(4_000);
    expect(accepted).toBeLessThan(16_000);
    expect(exported).toBeGreaterThan(1_000);
  });

  const notJson: Array<[string, string]> = [
    ['a number with a leading zero', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"n":01}}`],
    ['a number ending in a dot', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"n":1.}}`],
    ['a number starting with a dot', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"n":.5}}`],
    ['a minus alone', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"n":-}}`],
    ['an exponent without digits', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"n":1e+}}`],
    ['a plus sign', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"n":+1}}`],
    ['a tab inside a string', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"n":"a\tb"}}`],
    ['an unknown escape', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"n":"\\x41"}}`],
    ['a short unicode escape', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"n":"\\u12G4"}}`],
    ['a cut literal', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"n":tru}}`],
    ['a trailing comma in an object', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"n":1,}}`],
    ['a trailing comma in an array', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"n":[1,]}}`],
    ['a trailing comma at the top', `{"type":"identify","userId":"u","timestamp":"${ts}",}`],
    ['text after the object', `{"type":"identify","userId":"u","timestamp":"${ts}"} x`],
    ['a second object', `{"type":"identify","userId":"u","timestamp":"${ts}"}{}`],
    ['an unclosed object', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"n":1}`],
    ['a single-quoted string', `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{'n':1}}`],
    ['a vertical tab as spacing', `{"type":"identify",\u000b"userId":"u","timestamp":"${ts}"}`],
  ];
  it.each(notJson)('leaves %s to JSON.parse, which refuses it', (_label, raw) => {
    expect(() => JSON.parse(raw)).toThrow();
    expect(reader.accept(raw)).toBeUndefined();
  });

  it('accepts the JSON that JSON.parse does at the edges of the grammar', () => {
    const traits = '{"a":-0,"b":0.5e-3,"c":1E+2,"d":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00E9","e":[[],{}],"f":true,"g":false,"h":null,"i":"\u2028"}';
    const raw = ` \t{ "type" : "identify" ,\r\n"userId":"u" , "timestamp":"${ts}" ,"traits" : ${traits} }\n `;
    expect(expectAgreement(reader, raw)).toBe(true);
  });

  it('leaves nesting deeper than it reads to JSON.parse', () => {
    const deep = `{"type":"identify","userId":"u","timestamp":"${ts}","traits":{"a":${'['.repeat(100)}${']'.repeat(100)}}}`;
    expect(reader.accept(deep)).toBeUndefined();
    expect(validateMessage(JSON.parse(deep), { now }).ok).toBe(true);
  });
});
