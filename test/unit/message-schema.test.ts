import { describe, it, expect, onTestFinished, vi } from 'vitest';
import { acceptValidMessage } from '../../src/core/message-fast-path';
import { messageSchema, validateMessage, validateMessageWithSchema } from '../../src/core/message-schema';
import { isCanonicalTimestamp, parseTimestamp } from '../../src/core/timestamp';
import { seededRandom } from '../support/seeded-random';

const now = new Date('2024-06-01T00:00:00.000Z');
const ts = '2024-01-02T03:04:05.678Z';

function validate(raw: unknown, allowMissingTimestamp = false) {
  return validateMessage(raw, { now, allowMissingTimestamp });
}

describe('validateMessage: accepted messages are normalised', () => {
  const cases: Array<[string, Record<string, unknown>, Record<string, unknown>]> = [
    [
      'track with properties, context, integrations',
      {
        type: 'track',
        userId: 'u1',
        event: 'Order Completed',
        timestamp: ts,
        properties: { revenue: 9.5 },
        context: { ip: '1.2.3.4' },
        integrations: { All: false },
      },
      {
        type: 'track',
        userId: 'u1',
        event: 'Order Completed',
        timestamp: ts,
        properties: { revenue: 9.5 },
        context: { ip: '1.2.3.4' },
        integrations: { All: false },
      },
    ],
    [
      'identify by anonymousId',
      { type: 'identify', anonymousId: 'a1', traits: { email: 'a@b.c' }, timestamp: ts },
      { type: 'identify', anonymousId: 'a1', traits: { email: 'a@b.c' }, timestamp: ts },
    ],
    [
      'page with name and category',
      { type: 'page', userId: 'u', name: 'Home', category: 'Docs', timestamp: ts },
      { type: 'page', userId: 'u', name: 'Home', category: 'Docs', timestamp: ts },
    ],
    [
      'screen with properties',
      { type: 'screen', userId: 'u', name: 'Main', properties: { a: 1 }, timestamp: ts },
      { type: 'screen', userId: 'u', name: 'Main', properties: { a: 1 }, timestamp: ts },
    ],
    [
      'group',
      { type: 'group', userId: 'u', groupId: 'g', traits: { name: 'Acme' }, timestamp: ts },
      { type: 'group', userId: 'u', groupId: 'g', traits: { name: 'Acme' }, timestamp: ts },
    ],
    ['alias', { type: 'alias', userId: 'new', previousId: 'old', timestamp: ts }, { type: 'alias', userId: 'new', previousId: 'old', timestamp: ts }],
    [
      'alias with anonymousId (analytics.js sends one)',
      { type: 'alias', userId: 'n', previousId: 'o', anonymousId: 'a', timestamp: ts },
      { type: 'alias', userId: 'n', previousId: 'o', anonymousId: 'a', timestamp: ts },
    ],
    [
      'numeric ids become strings',
      { type: 'group', userId: 42, groupId: 7, timestamp: ts },
      { type: 'group', userId: '42', groupId: '7', timestamp: ts },
    ],
    [
      'numeric previousId and anonymousId',
      { type: 'alias', userId: 1, previousId: 0, anonymousId: -3, timestamp: ts },
      { type: 'alias', userId: '1', previousId: '0', anonymousId: '-3', timestamp: ts },
    ],
    [
      'null means absent',
      { type: 'track', userId: null, anonymousId: 'a', event: 'E', properties: null, context: null, messageId: null, timestamp: ts },
      { type: 'track', anonymousId: 'a', event: 'E', timestamp: ts },
    ],
    [
      'own messageId kept',
      { type: 'track', userId: 'u', event: 'E', messageId: 'm-1', timestamp: ts },
      { type: 'track', messageId: 'm-1', userId: 'u', event: 'E', timestamp: ts },
    ],
    [
      'messageId of exactly 100 characters',
      { type: 'track', userId: 'u', event: 'E', messageId: 'x'.repeat(100), timestamp: ts },
      { type: 'track', messageId: 'x'.repeat(100), userId: 'u', event: 'E', timestamp: ts },
    ],
    [
      'timestamp with offset normalised to UTC',
      { type: 'identify', userId: 'u', timestamp: '2024-01-02T03:04:05+02:00' },
      { type: 'identify', userId: 'u', timestamp: '2024-01-02T01:04:05.000Z' },
    ],
    [
      'date-only timestamp is UTC midnight',
      { type: 'identify', userId: 'u', timestamp: '2024-01-02' },
      { type: 'identify', userId: 'u', timestamp: '2024-01-02T00:00:00.000Z' },
    ],
    ['empty name is allowed', { type: 'page', userId: 'u', name: '', timestamp: ts }, { type: 'page', userId: 'u', name: '', timestamp: ts }],
  ];
  it.each(cases)('%s', (_label, raw, expected) => {
    const result = validate(raw);
    expect(result).toEqual({ ok: true, message: expected });
    if (result.ok) expect(Object.values(result.message)).not.toContain(null);
  });

  it('emits keys in a fixed order, whatever the input order', () => {
    const a = validate({ timestamp: ts, properties: { x: 1 }, event: 'E', userId: 'u', type: 'track' });
    const b = validate({ type: 'track', userId: 'u', event: 'E', timestamp: ts, properties: { x: 1 } });
    expect(a.ok && b.ok).toBe(true);
    if (a.ok && b.ok) {
      expect(JSON.stringify(a.message)).toBe(JSON.stringify(b.message));
      expect(Object.keys(a.message)).toEqual(['type', 'userId', 'event', 'timestamp', 'properties']);
    }
  });

  it('keeps nested data untouched', () => {
    const properties = { nested: { deep: [1, { a: null }] }, unicode: 'ü😀' };
    const result = validate({ type: 'track', userId: 'u', event: 'E', timestamp: ts, properties });
    expect(result.ok && result.message.properties).toEqual(properties);
  });
});

describe('validateMessage: every rule rejects with the offending field', () => {
  const base = { type: 'track', userId: 'u', event: 'E', timestamp: ts };
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['not an object', 'hello', '(message)', /must be a JSON object, got a string/],
    ['array', [base], '(message)', /got an array/],
    ['null', null, '(message)', /got null/],
    ['missing type', { userId: 'u', timestamp: ts }, 'type', /type is required: one of identify, track/],
    ['unknown type', { ...base, type: 'Track' }, 'type', /type "Track" is not one of/],
    ['non-string type', { ...base, type: 5 }, 'type', /type 5 is not one of/],
    ['no identity (track)', { type: 'track', event: 'E', timestamp: ts }, 'userId', /track calls need a userId or an anonymousId/],
    ['no identity (identify)', { type: 'identify', timestamp: ts }, 'userId', /identify calls need a userId or an anonymousId/],
    ['no identity (page)', { type: 'page', timestamp: ts }, 'userId', /page calls need/],
    ['no identity (screen)', { type: 'screen', timestamp: ts }, 'userId', /screen calls need/],
    ['no identity (group)', { type: 'group', groupId: 'g', timestamp: ts }, 'userId', /group calls need/],
    ['both ids null', { ...base, userId: null, anonymousId: null }, 'userId', /need a userId or an anonymousId/],
    ['empty userId', { ...base, userId: '' }, 'userId', /userId must not be empty/],
    ['blank anonymousId', { type: 'identify', anonymousId: '  ', timestamp: ts }, 'anonymousId', /must not be empty/],
    ['object userId', { ...base, userId: { id: 1 } }, 'userId', /userId must be a string, got a object/],
    ['boolean anonymousId', { ...base, anonymousId: true }, 'anonymousId', /must be a string, got a boolean/],
    ['fractional numeric userId', { ...base, userId: 1.5 }, 'userId', /quote it as a string/],
    ['unsafe integer userId', { ...base, userId: 2 ** 53 }, 'userId', /beyond 2\^53/],
    ['track without event', { type: 'track', userId: 'u', timestamp: ts }, 'event', /track calls need a non-empty event name/],
    ['track with empty event', { ...base, event: '' }, 'event', /non-empty event/],
    ['track with blank event', { ...base, event: '   ' }, 'event', /non-empty event/],
    ['track with null event', { ...base, event: null }, 'event', /non-empty event/],
    ['track with numeric event', { ...base, event: 3 }, 'event', /event must be a string, got a number/],
    ['group without groupId', { type: 'group', userId: 'u', timestamp: ts }, 'groupId', /group calls need a groupId/],
    ['group with empty groupId', { type: 'group', userId: 'u', groupId: '', timestamp: ts }, 'groupId', /group calls need a groupId/],
    ['alias without previousId', { type: 'alias', userId: 'u', timestamp: ts }, 'previousId', /alias calls need a previousId/],
    ['alias without userId', { type: 'alias', previousId: 'p', timestamp: ts }, 'userId', /alias calls need a userId/],
    ['alias with only anonymousId', { type: 'alias', anonymousId: 'a', previousId: 'p', timestamp: ts }, 'userId', /alias calls need a userId/],
    ['numeric name', { type: 'page', userId: 'u', name: 5, timestamp: ts }, 'name', /name must be a string, got a number/],
    ['numeric category', { type: 'screen', userId: 'u', category: false, timestamp: ts }, 'category', /category must be a string, got a boolean/],
    ['properties array', { ...base, properties: [1] }, 'properties', /properties must be a JSON object, got an array/],
    ['properties string', { ...base, properties: '{}' }, 'properties', /got a string/],
    ['traits number', { type: 'identify', userId: 'u', traits: 1, timestamp: ts }, 'traits', /traits must be a JSON object/],
    ['context array', { ...base, context: [] }, 'context', /context must be a JSON object/],
    ['integrations string', { ...base, integrations: 'All' }, 'integrations', /integrations must be a JSON object/],
    ['messageId number', { ...base, messageId: 5 }, 'messageId', /messageId must be a string/],
    ['messageId empty', { ...base, messageId: '' }, 'messageId', /messageId must not be empty/],
    ['messageId over 100 characters', { ...base, messageId: 'x'.repeat(101) }, 'messageId', /longer than 100 characters/],
    ['unknown top-level key', { ...base, user_id: 'u' }, 'user_id', /unknown field "user_id"/],
    ['field of another call type', { ...base, traits: { a: 1 } }, 'traits', /traits is not a field of track calls/],
    ['event on identify', { type: 'identify', userId: 'u', event: 'E', timestamp: ts }, 'event', /event is not a field of identify calls/],
    ['groupId on track', { ...base, groupId: 'g' }, 'groupId', /not a field of track/],
    ['previousId on identify', { type: 'identify', userId: 'u', previousId: 'p', timestamp: ts }, 'previousId', /not a field of identify/],
    ['name on track', { ...base, name: 'n' }, 'name', /not a field of track/],
    [
      'invalid originalTimestamp standing in for timestamp',
      { type: 'track', userId: 'u', event: 'E', originalTimestamp: 'yesterday' },
      'originalTimestamp',
      /is not an ISO-8601/,
    ],
    ['unknown field beside server-set ones', { ...base, receivedAt: ts, channel: 'server', email: 'a@b.c' }, 'email', /unknown field "email"/],
    ['missing timestamp', { type: 'track', userId: 'u', event: 'E' }, 'timestamp', /timestamp is required/],
    ['null timestamp', { ...base, timestamp: null }, 'timestamp', /timestamp is required/],
    ['numeric timestamp', { ...base, timestamp: 1700000000 }, 'timestamp', /must be an ISO-8601 string, got a number/],
    ['timestamp without zone', { ...base, timestamp: '2024-01-02T03:04:05' }, 'timestamp', /has no timezone/],
    ['timestamp garbage', { ...base, timestamp: 'yesterday' }, 'timestamp', /is not an ISO-8601 date-time/],
    ['timestamp impossible date', { ...base, timestamp: '2023-02-29T00:00:00Z' }, 'timestamp', /not a real calendar date/],
    ['timestamp before 1970', { ...base, timestamp: '0001-01-01T00:00:00Z' }, 'timestamp', /before 1970-01-01/],
    ['timestamp in the future', { ...base, timestamp: '2024-06-01T00:10:00Z' }, 'timestamp', /is in the future/],
  ];
  it.each(cases)('%s', (_label, raw, field, reason) => {
    const result = validate(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.field).toBe(field);
      expect(result.reason).toMatch(reason);
    }
  });

  it('reports field problems before unknown keys, and unknown keys before the identity rule', () => {
    const fieldFirst = validate({ type: 'track', userId: 'u', event: 5, foo: 1, timestamp: ts });
    expect(!fieldFirst.ok && fieldFirst.field).toBe('event');
    const unknownFirst = validate({ type: 'track', user_id: 'u', event: 'E', timestamp: ts });
    expect(!unknownFirst.ok && unknownFirst.field).toBe('user_id');
  });
});

describe('timestamp policy', () => {
  const row = (timestamp?: string) => ({ type: 'identify', userId: 'u', ...(timestamp === undefined ? {} : { timestamp }) });

  it('allows a missing timestamp only when asked to', () => {
    expect(validate(row(), true)).toEqual({ ok: true, message: { type: 'identify', userId: 'u' } });
    expect(validate(row(), false).ok).toBe(false);
  });

  it('accepts up to 5 minutes after now, and rejects one millisecond more', () => {
    // Literal values: compared with MAX_FUTURE_SKEW_MS itself, the test would follow any change of the constant.
    const edge = new Date(now.getTime() + 300_000).toISOString();
    const beyond = new Date(now.getTime() + 300_001).toISOString();
    expect(validate(row(edge)).ok).toBe(true);
    expect(validate(row(beyond)).ok).toBe(false);
  });

  it('measures the future from the injected clock', () => {
    const later = new Date('2030-01-01T00:00:00Z');
    expect(validateMessage(row('2029-01-01T00:00:00Z'), { now: later }).ok).toBe(true);
    expect(validateMessage(row('2029-01-01T00:00:00Z'), { now }).ok).toBe(false);
  });

  it('uses the real clock when none is injected', () => {
    expect(validateMessage(row(new Date().toISOString())).ok).toBe(true);
    expect(validateMessage(row(new Date(Date.now() + 3_600_000).toISOString())).ok).toBe(false);
  });
});

describe('parseTimestamp', () => {
  const accepted: Array<[string, string]> = [
    ['2024-01-02T03:04:05.678Z', '2024-01-02T03:04:05.678Z'],
    ['2024-01-02T03:04:05Z', '2024-01-02T03:04:05.000Z'],
    ['2024-01-02T03:04Z', '2024-01-02T03:04:00.000Z'],
    ['2024-01-02 03:04:05Z', '2024-01-02T03:04:05.000Z'],
    ['2024-01-02t03:04:05z', '2024-01-02T03:04:05.000Z'],
    ['2024-01-02T03:04:05.1Z', '2024-01-02T03:04:05.100Z'],
    ['2024-01-02T03:04:05.123456789Z', '2024-01-02T03:04:05.123Z'],
    ['2024-01-02T03:04:05,5Z', '2024-01-02T03:04:05.500Z'],
    ['2024-01-02T03:04:05+02:00', '2024-01-02T01:04:05.000Z'],
    ['2024-01-02T03:04:05+0200', '2024-01-02T01:04:05.000Z'],
    ['2024-01-02T03:04:05+02', '2024-01-02T01:04:05.000Z'],
    ['2024-01-02T03:04:05-05:30', '2024-01-02T08:34:05.000Z'],
    ['2024-01-02T00:30:00+01:00', '2024-01-01T23:30:00.000Z'],
    ['2024-12-31T23:30:00-01:00', '2025-01-01T00:30:00.000Z'],
    ['2024-02-29', '2024-02-29T00:00:00.000Z'],
    ['2000-02-29T12:00:00Z', '2000-02-29T12:00:00.000Z'],
    ['1970-01-01T00:00:00.000Z', '1970-01-01T00:00:00.000Z'],
  ];
  it.each(accepted)('accepts %s', (text, iso) => {
    const parsed = parseTimestamp(text);
    expect(parsed).toEqual({ ok: true, iso, epochMs: Date.parse(iso) });
  });

  const rejected: Array<[string, RegExp]> = [
    ['2024-01-02T03:04:05', /no timezone/],
    ['2024-01-02T03:04', /no timezone/],
    ['2024-01-02T03:04:05.000', /no timezone/],
    ['2024-01-02T03:04:05 Z', /not an ISO-8601/],
    ['2024-1-2', /not an ISO-8601/],
    ['02/01/2024', /not an ISO-8601/],
    ['1704164645', /not an ISO-8601/],
    ['', /not an ISO-8601/],
    ['2024-01-02T03:04:05+2:00', /not an ISO-8601/],
    ['2024-01-02T03:04:05Z ', /not an ISO-8601/],
    ['2024-13-01', /not a real calendar date/],
    ['2024-00-10', /not a real calendar date/],
    ['2024-04-31', /not a real calendar date/],
    ['2023-02-29T00:00:00.000Z', /not a real calendar date/],
    ['1900-02-29', /not a real calendar date/],
    ['2024-01-02T24:00:00Z', /time of day out of range/],
    ['2024-01-02T23:60:00Z', /time of day out of range/],
    ['2024-12-31T23:59:60Z', /time of day out of range/],
    ['2024-01-02T03:04:05+24:00', /invalid UTC offset/],
    ['2024-01-02T03:04:05+01:60', /invalid UTC offset/],
    ['1969-12-31T23:59:59.999Z', /before 1970-01-01/],
    ['1970-01-01T00:30:00+01:00', /before 1970-01-01/],
    ['1900-01-01', /before 1970-01-01/],
  ];
  it.each(rejected)('rejects %j', (text, reason) => {
    const parsed = parseTimestamp(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.reason).toMatch(reason);
  });

  it('agrees with Date on canonical toISOString() text, including near-misses (fast path vs Date)', () => {
    // Deterministic pseudo-random instants and single-character mutations of their text: the fast path
    // (isCanonicalTimestamp) must accept exactly the strings Date round-trips (from 1970 on) and nothing else.
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const alphabet = '0123456789-:.TZ x';
    for (let i = 0; i < 3_000; i++) {
      const text = new Date(Math.floor(random() * 8e12) - 1e12).toISOString();
      const position = Math.floor(random() * text.length);
      const mutated = text.slice(0, position) + alphabet[Math.floor(random() * alphabet.length)] + text.slice(position + 1);
      for (const candidate of [text, mutated]) {
        const ms = Date.parse(candidate);
        const roundTrips = ms >= 0 && new Date(ms).toISOString() === candidate;
        const parsed = parseTimestamp(candidate);
        expect(isCanonicalTimestamp(candidate), candidate).toBe(roundTrips);
        if (roundTrips) expect(parsed).toEqual({ ok: true, iso: candidate, epochMs: ms });
        else if (parsed.ok) expect(parsed.iso).not.toBe(candidate);
      }
    }
  });

  it('clips very long input in the reason', () => {
    const parsed = parseTimestamp('x'.repeat(500));
    expect(!parsed.ok && parsed.reason.length).toBeLessThan(200);
  });
});

describe('messageSchema (the declared zod schema)', () => {
  it('is usable on its own and agrees with validateMessage on shape errors', () => {
    expect(messageSchema.safeParse({ type: 'track', userId: 'u', event: 'E' }).success).toBe(true);
    expect(messageSchema.safeParse({ type: 'track', userId: 'u' }).success).toBe(false);
    expect(messageSchema.safeParse({ type: 'nope' }).success).toBe(false);
  });
});

describe('Segment export rows: server-set fields', () => {
  const now = new Date('2024-06-01T00:00:00.000Z');
  // Shaped like a row of a Segment storage export (segment-docs spec/common.md).
  const exported = {
    _metadata: { bundled: ['Segment.io'], unbundled: [] },
    anonymousId: 'anon-1',
    channel: 'server',
    context: { library: { name: 'analytics-node', version: '1.0.0' }, ip: '10.0.0.1' },
    event: 'Order Completed',
    messageId: 'ajs-next-0a1b2c',
    originalTimestamp: '2024-01-02T03:04:04.000Z',
    projectId: 'proj-1',
    properties: { revenue: 9.5 },
    receivedAt: '2024-01-02T03:04:06.120Z',
    sentAt: '2024-01-02T03:04:05.500Z',
    timestamp: '2024-01-02T03:04:05.000Z',
    type: 'track',
    userId: null,
    version: 2,
    writeKey: 'exported-write-key-123',
  };

  it('drops every server-set field, keeps timestamp as the event time and the messageId, and names what it dropped', () => {
    const result = validateMessage(exported, { now });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.message).toEqual({
      type: 'track',
      messageId: 'ajs-next-0a1b2c',
      anonymousId: 'anon-1',
      event: 'Order Completed',
      timestamp: '2024-01-02T03:04:05.000Z',
      properties: { revenue: 9.5 },
      context: { ip: '10.0.0.1' },
    });
    expect(result.serverFields?.sort()).toEqual(
      ['_metadata', 'channel', 'context.library', 'originalTimestamp', 'projectId', 'receivedAt', 'sentAt', 'version', 'writeKey'].sort(),
    );
    expect(JSON.stringify(result.message)).not.toContain('exported-write-key-123');
    // The input row is not modified.
    expect(exported.writeKey).toBe('exported-write-key-123');
  });

  it('uses originalTimestamp as the event time when the row has no timestamp', () => {
    const { timestamp: _t, ...withoutTimestamp } = exported;
    for (const row of [withoutTimestamp, { ...exported, timestamp: null }]) {
      const result = validateMessage(row, { now });
      expect(result.ok).toBe(true);
      if (result.ok) expect(result.message.timestamp).toBe('2024-01-02T03:04:04.000Z');
    }
  });

  it('drops a context that held nothing but library', () => {
    const result = validateMessage(
      { type: 'identify', userId: 'u', timestamp: '2024-01-02T03:04:05.000Z', context: { library: { name: 'x' } } },
      { now },
    );
    expect(result.ok && result.message).toEqual({ type: 'identify', userId: 'u', timestamp: '2024-01-02T03:04:05.000Z' });
  });

  it('reports no server-set fields for an ordinary row', () => {
    const result = validateMessage({ type: 'identify', userId: 'u', timestamp: '2024-01-02T03:04:05.000Z' }, { now });
    expect(result.ok && result.serverFields).toBeUndefined();
  });
});

describe('validateMessage fast path (acceptValidMessage) agrees with the schema', () => {
  const pools: Record<string, unknown[]> = {
    type: ['track', 'identify', 'page', 'screen', 'group', 'alias', 'Track', '', null, 1],
    userId: ['u1', 42, 0, -3, 1.5, 2 ** 60, '', '  ', null, true, [], {}],
    anonymousId: ['a1', 7, '', null, false],
    previousId: ['old', 9, '', null],
    groupId: ['g1', 11, ' ', null, {}],
    messageId: ['m-1', 'x'.repeat(100), 'x'.repeat(101), '', null, 5],
    event: ['Order Completed', '', ' ', null, 3],
    name: ['Home', '', null, 4],
    category: ['Docs', null, []],
    timestamp: [
      '2024-01-02T03:04:05.678Z',
      '2024-01-02T03:04:05Z',
      '2024-01-02T05:04:05+02:00',
      '2024-01-02',
      '2024-02-30',
      '2024-01-02T03:04:05',
      '1969-12-31T23:59:59.000Z',
      '2030-01-01T00:00:00.000Z',
      'soon',
      null,
      1700000000,
    ],
    properties: [{ revenue: 9.5 }, {}, null, [], 'x'],
    traits: [{ email: 'a@b.c' }, null, 3],
    context: [{ ip: '1.2.3.4' }, { library: { name: 'analytics.js' }, ip: '1.2.3.4' }, { library: 'x' }, { library: null }, null, []],
    integrations: [{ All: false }, null, 'all'],
    receivedAt: ['2024-01-02T03:04:06.000Z'],
    sentAt: ['2024-01-02T03:04:05.500Z', null],
    originalTimestamp: ['2024-01-02T03:04:04.000Z', 'not a time', null],
    version: [2],
    channel: ['server'],
    projectId: ['proj-1'],
    writeKey: ['secret-key'],
    _metadata: [{ bundled: ['Segment.io'] }],
    extra: [1],
    __proto__: ['polluted'],
  };
  const fields = Object.keys(pools).concat('__proto__');

  function randomRow(random: () => number): Record<string, unknown> {
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
    // Mostly rows a real import holds (few fields, valid values), some with any field at all.
    const type = pick(['track', 'track', 'track', 'identify', 'page', 'screen', 'group', 'alias']);
    const row: Record<string, unknown> = { type, userId: `u${Math.floor(random() * 100)}`, timestamp: '2024-01-02T03:04:05.678Z' };
    if (type === 'track') row.event = 'Order Completed';
    if (type === 'group') row.groupId = 'g1';
    if (type === 'alias') row.previousId = 'old';
    const changes = Math.floor(random() * 4);
    for (let i = 0; i < changes; i++) {
      const field = pick(fields);
      const value = pick(pools[field === '__proto__' ? '__proto__' : field] ?? [null]);
      if (random() < 0.15) delete row[field];
      else if (field === '__proto__') Object.defineProperty(row, '__proto__', { value, enumerable: true, configurable: true, writable: true });
      else row[field] = value;
    }
    // Parsed JSON is what the importer validates: it has own `__proto__` keys and plain objects only.
    return JSON.parse(JSON.stringify(row)) as Record<string, unknown>;
  }

  it('gives the same result, key order included, for 10,000 generated and mutated rows', () => {
    const random = seededRandom(20261127);
    let fast = 0;
    for (let i = 0; i < 10_000; i++) {
      const row = randomRow(random);
      for (const allowMissingTimestamp of [false, true]) {
        const opts = { now, allowMissingTimestamp };
        const expected = validateMessageWithSchema(structuredClone(row), opts);
        const actual = validateMessage(structuredClone(row), opts);
        expect(actual, JSON.stringify(row)).toEqual(expected);
        if (actual.ok && expected.ok) expect(JSON.stringify(actual.message)).toBe(JSON.stringify(expected.message));
      }
      if (acceptValidMessage(row) !== undefined) fast += 1;
    }
    // The comparison means something only if both paths ran often.
    expect(fast).toBeGreaterThan(2_500);
    expect(fast).toBeLessThan(9_500);
  });

  it('strips server-set fields and context.library on both paths, for valid and invalid rows alike', () => {
    // Export-shaped rows: a valid row (or one with a single mutation) plus some server-set fields. validateMessage
    // accepts rows without such fields as they are, so this is where skipping the stripping would show.
    const random = seededRandom(20261128);
    const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
    const serverSet = ['receivedAt', 'sentAt', 'originalTimestamp', 'version', 'channel', 'projectId', 'writeKey', '_metadata'];
    const contexts = [undefined, { ip: '1.2.3.4' }, { library: { name: 'analytics.js' } }, { library: { name: 'a' }, ip: '1.2.3.4', locale: 'de' }];
    const seen = { fastAfterStripping: 0, contextLibraryOnly: 0, rejected: 0 };
    const schemaRuns = vi.spyOn(messageSchema, 'safeParse');
    onTestFinished(() => schemaRuns.mockRestore());
    for (let i = 0; i < 3_000; i++) {
      const row = randomRow(random);
      for (const field of serverSet) if (random() < 0.15) row[field] = pick(pools[field]!);
      const context = pick(contexts);
      if (context !== undefined) row['context'] = context;
      if (random() < 0.3) delete row['timestamp'];
      const hasServerFields = serverSet.some((field) => Object.hasOwn(row, field)) || (context !== undefined && 'library' in context);
      if (!hasServerFields) continue;

      const opts = { now, allowMissingTimestamp: random() < 0.5 };
      const expected = validateMessageWithSchema(structuredClone(row), opts);
      const schemaRunsBefore = schemaRuns.mock.calls.length;
      const actual = validateMessage(structuredClone(row), opts);
      expect(actual, JSON.stringify(row)).toEqual(expected);
      if (!actual.ok || !expected.ok) {
        seen.rejected += 1;
        continue;
      }
      expect(JSON.stringify(actual.message)).toBe(JSON.stringify(expected.message));
      // What the stripping must achieve, whichever path ran: nothing server-set is sent, and all of it is named.
      expect(actual.serverFields?.length).toBeGreaterThan(0);
      for (const field of serverSet) expect(actual.message).not.toHaveProperty(field);
      expect(actual.message.context ?? {}).not.toHaveProperty('library');
      if (actual.serverFields?.length === 1 && actual.serverFields[0] === 'context.library') seen.contextLibraryOnly += 1;
      if (schemaRuns.mock.calls.length === schemaRunsBefore) seen.fastAfterStripping += 1;
    }
    // Every kind of row must have come up often enough for the comparison to mean something.
    expect(seen.fastAfterStripping).toBeGreaterThan(300);
    expect(seen.contextLibraryOnly).toBeGreaterThan(50);
    expect(seen.rejected).toBeGreaterThan(300);
  });

  it('keeps an own __proto__ key of parsed JSON a key when stripping, on both paths', () => {
    const rows = [
      '{"type":"track","userId":"u","event":"E","timestamp":"2024-01-02T03:04:05.678Z","sentAt":"x","__proto__":{"a":1}}',
      '{"type":"track","userId":"u","event":"E","timestamp":"2024-01-02T03:04:05.678Z","context":{"library":{},"__proto__":{"a":1}}}',
      '{"type":"track","userId":"u","event":"E","timestamp":"2024-01-02T03:04:05.678Z","context":{"__proto__":{"a":1},"library":{}}}',
      '{"type":"track","userId":"u","event":"E","timestamp":"2024-01-02T03:04:05.678Z","writeKey":"k","__proto__":"polluted"}',
    ];
    for (const text of rows) {
      const expected = validateMessageWithSchema(JSON.parse(text), { now });
      const actual = validateMessage(JSON.parse(text), { now });
      expect(actual, text).toEqual(expected);
      if (actual.ok && expected.ok) {
        expect(JSON.stringify(actual.message)).toBe(JSON.stringify(expected.message));
        expect(Object.getPrototypeOf(actual.message.context)).toBe(Object.prototype);
      }
    }
    const sent = (text: string) => {
      const result = validateMessage(JSON.parse(text), { now });
      return result.ok ? JSON.stringify(result.message.context) : result.reason;
    };
    expect(sent(rows[1]!)).toBe('{"__proto__":{"a":1}}');
    expect(sent(rows[2]!)).toBe('{"__proto__":{"a":1}}');
    expect(validateMessage(JSON.parse(rows[0]!), { now })).toMatchObject({ ok: false, field: '__proto__' });
    expect(validateMessage(JSON.parse(rows[3]!), { now })).toMatchObject({ ok: false, field: '__proto__' });
  });

  describe('export rows the fast path judges itself: exactly what stripping and the schema give', () => {
    const time = '2024-01-02T03:04:05.000Z';
    const original = '2024-01-02T03:04:04.000Z';
    const allServerFields = [
      'receivedAt',
      'sentAt',
      'originalTimestamp',
      'version',
      'channel',
      'projectId',
      'writeKey',
      '_metadata',
      'context.library',
    ];
    type Expected = { ok: true; message: string; serverFields: string[] } | { ok: false; field: string; reason: RegExp };
    // Rows as JSON text (parsed JSON is what the importer validates), then the result stated outright: agreement with
    // the schema path alone would pass if the fast path refused them all, so valid rows must also skip the schema.
    const cases: Array<[string, string, { allowMissingTimestamp?: boolean }, Expected]> = [
      [
        'server-set fields in reverse order, context first: named in SERVER_SET_FIELDS order, context.library last',
        `{"context":{"library":{"name":"x"},"ip":"1.2.3.4"},"_metadata":{},"writeKey":"k","projectId":"p","channel":"server","version":2,` +
          `"originalTimestamp":"${original}","sentAt":"${time}","receivedAt":"${time}","type":"track","userId":"u","event":"E","timestamp":"${time}"}`,
        {},
        {
          ok: true,
          message: `{"type":"track","userId":"u","event":"E","timestamp":"${time}","context":{"ip":"1.2.3.4"}}`,
          serverFields: allServerFields,
        },
      ],
      [
        'context.library before a server-set field in the row: still named last',
        `{"type":"identify","userId":"u","context":{"library":{}},"channel":"server","receivedAt":"${time}","timestamp":"${time}"}`,
        {},
        { ok: true, message: `{"type":"identify","userId":"u","timestamp":"${time}"}`, serverFields: ['receivedAt', 'channel', 'context.library'] },
      ],
      [
        'no timestamp: originalTimestamp is the event time, normalised',
        `{"type":"track","userId":"u","event":"E","originalTimestamp":"2024-01-02T05:04:04+02:00"}`,
        {},
        { ok: true, message: `{"type":"track","userId":"u","event":"E","timestamp":"${original}"}`, serverFields: ['originalTimestamp'] },
      ],
      [
        'null timestamp: originalTimestamp is the event time',
        `{"type":"track","userId":"u","event":"E","timestamp":null,"sentAt":"${time}","originalTimestamp":"${original}"}`,
        {},
        { ok: true, message: `{"type":"track","userId":"u","event":"E","timestamp":"${original}"}`, serverFields: ['sentAt', 'originalTimestamp'] },
      ],
      [
        'both: timestamp wins',
        `{"type":"track","userId":"u","event":"E","originalTimestamp":"${original}","timestamp":"${time}"}`,
        {},
        { ok: true, message: `{"type":"track","userId":"u","event":"E","timestamp":"${time}"}`, serverFields: ['originalTimestamp'] },
      ],
      [
        'both, originalTimestamp invalid: timestamp wins and originalTimestamp is only dropped',
        `{"type":"track","userId":"u","event":"E","originalTimestamp":"yesterday","timestamp":"${time}"}`,
        {},
        { ok: true, message: `{"type":"track","userId":"u","event":"E","timestamp":"${time}"}`, serverFields: ['originalTimestamp'] },
      ],
      [
        'invalid originalTimestamp standing in for timestamp: rejected under that name',
        `{"type":"track","userId":"u","event":"E","receivedAt":"${time}","originalTimestamp":"yesterday"}`,
        {},
        { ok: false, field: 'originalTimestamp', reason: /is not an ISO-8601/ },
      ],
      [
        'invalid originalTimestamp standing in for timestamp, missing timestamps allowed: still rejected',
        `{"type":"track","userId":"u","event":"E","originalTimestamp":"2024-01-02T03:04:05"}`,
        { allowMissingTimestamp: true },
        { ok: false, field: 'originalTimestamp', reason: /has no timezone/ },
      ],
      [
        'numeric originalTimestamp standing in for a null timestamp',
        `{"type":"track","userId":"u","event":"E","timestamp":null,"originalTimestamp":1700000000}`,
        {},
        { ok: false, field: 'originalTimestamp', reason: /must be an ISO-8601 string, got a number/ },
      ],
      [
        'invalid timestamp beside a valid originalTimestamp: the timestamp is rejected',
        `{"type":"track","userId":"u","event":"E","timestamp":"soon","originalTimestamp":"${original}"}`,
        {},
        { ok: false, field: 'timestamp', reason: /is not an ISO-8601/ },
      ],
      [
        'null originalTimestamp and no timestamp: the timestamp is missing',
        `{"type":"track","userId":"u","event":"E","originalTimestamp":null}`,
        {},
        { ok: false, field: 'timestamp', reason: /timestamp is required/ },
      ],
      [
        'null originalTimestamp and no timestamp, missing timestamps allowed',
        `{"type":"track","userId":"u","event":"E","originalTimestamp":null}`,
        { allowMissingTimestamp: true },
        { ok: true, message: `{"type":"track","userId":"u","event":"E"}`, serverFields: ['originalTimestamp'] },
      ],
      [
        'originalTimestamp in the future: reported as the timestamp, as finishValidated words it',
        `{"type":"track","userId":"u","event":"E","originalTimestamp":"2030-01-01T00:00:00.000Z"}`,
        {},
        { ok: false, field: 'timestamp', reason: /is in the future/ },
      ],
      [
        'context.library among other context keys: the rest kept in order',
        `{"type":"track","userId":"u","event":"E","timestamp":"${time}","context":{"ip":"1.2.3.4","library":{"name":"x"},"locale":"de"}}`,
        {},
        {
          ok: true,
          message: `{"type":"track","userId":"u","event":"E","timestamp":"${time}","context":{"ip":"1.2.3.4","locale":"de"}}`,
          serverFields: ['context.library'],
        },
      ],
      [
        'context of nothing but a null library: context left out',
        `{"type":"page","userId":"u","timestamp":"${time}","context":{"library":null},"version":2}`,
        {},
        { ok: true, message: `{"type":"page","userId":"u","timestamp":"${time}"}`, serverFields: ['version', 'context.library'] },
      ],
      [
        'empty context without library beside a server-set field: kept as it is',
        `{"type":"page","userId":"u","timestamp":"${time}","context":{},"writeKey":"k"}`,
        {},
        { ok: true, message: `{"type":"page","userId":"u","timestamp":"${time}","context":{}}`, serverFields: ['writeKey'] },
      ],
      [
        'context __proto__ key beside library stays a key',
        `{"type":"track","userId":"u","event":"E","timestamp":"${time}","sentAt":"${time}","context":{"__proto__":{"a":1},"library":{}}}`,
        {},
        {
          ok: true,
          message: `{"type":"track","userId":"u","event":"E","timestamp":"${time}","context":{"__proto__":{"a":1}}}`,
          serverFields: ['sentAt', 'context.library'],
        },
      ],
      [
        'top-level __proto__ key beside server-set fields: rejected by name',
        `{"type":"track","userId":"u","event":"E","timestamp":"${time}","receivedAt":"${time}","__proto__":{"a":1},"context":{"library":{}}}`,
        {},
        { ok: false, field: '__proto__', reason: /unknown field "__proto__"/ },
      ],
    ];
    it.each(cases)('%s', (_label, text, options, expected) => {
      const opts = { now, ...options };
      const schemaOnly = validateMessageWithSchema(JSON.parse(text), opts);
      const row = JSON.parse(text) as Record<string, unknown>;
      const safeParse = vi.spyOn(messageSchema, 'safeParse');
      onTestFinished(() => safeParse.mockRestore());
      const actual = validateMessage(row, opts);
      expect(actual).toEqual(schemaOnly);
      if (expected.ok) {
        expect(actual.ok).toBe(true);
        if (!actual.ok || !schemaOnly.ok) return;
        expect(safeParse).not.toHaveBeenCalled();
        expect(JSON.stringify(actual.message)).toBe(expected.message);
        expect(JSON.stringify(schemaOnly.message)).toBe(expected.message);
        expect(actual.serverFields).toEqual(expected.serverFields);
        if (actual.message.context !== undefined) expect(Object.getPrototypeOf(actual.message.context)).toBe(Object.prototype);
      } else {
        expect(actual).toMatchObject({ ok: false, field: expected.field });
        if (!actual.ok) expect(actual.reason).toMatch(expected.reason);
      }
      // The row itself is not modified (its context.library in particular).
      expect(JSON.stringify(row)).toBe(JSON.stringify(JSON.parse(text)));
    });
  });

  it('accepts a typical valid row without running the zod schema, and leaves every invalid row to it', () => {
    const safeParse = vi.spyOn(messageSchema, 'safeParse');
    try {
      const valid = {
        type: 'track',
        userId: 'u',
        event: 'E',
        timestamp: ts,
        properties: { a: 1 },
        context: { ip: '1.2.3.4', library: { name: 'x' } },
      };
      expect(validate(valid).ok).toBe(true);
      expect(safeParse).not.toHaveBeenCalled();
      expect(validate({ type: 'track', userId: 'u', event: '', timestamp: ts })).toMatchObject({ ok: false, field: 'event' });
      expect(safeParse).toHaveBeenCalledTimes(1);
    } finally {
      safeParse.mockRestore();
    }
  });
});
