/**
 * The fast path of row validation: a row whose every field plainly meets the schema in src/core/message-schema.ts is
 * accepted without running the zod schema and its intermediate objects (most rows of a real import are valid; the
 * per-row cost is in bench/README.md). Any doubt returns undefined and the row goes through the schema, which alone
 * rejects and words why; test/unit/message-schema.test.ts checks that both paths agree.
 */
import { SEGMENT_LIMITS } from '../shared/limits';
import { isCanonicalTimestamp, parseTimestamp } from './timestamp';
import { SERVER_SET_CONTEXT_FIELD, SERVER_SET_FIELDS } from './types';

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * The fields each call type's strict schema (src/core/message-schema.ts) allows. No server-set field is among them.
 * The text path reads the same table (src/core/message-text.ts).
 */
const COMMON_FIELDS = ['type', 'userId', 'anonymousId', 'messageId', 'timestamp', 'context', 'integrations'];
export const FIELDS_BY_TYPE: Readonly<Record<string, ReadonlySet<string>>> = {
  track: new Set([...COMMON_FIELDS, 'event', 'properties']),
  identify: new Set([...COMMON_FIELDS, 'traits']),
  page: new Set([...COMMON_FIELDS, 'name', 'category', 'properties']),
  screen: new Set([...COMMON_FIELDS, 'name', 'category', 'properties']),
  group: new Set([...COMMON_FIELDS, 'groupId', 'traits']),
  alias: new Set([...COMMON_FIELDS, 'previousId']),
};

/**
 * One bit per SERVER_SET_FIELDS entry, by position: the row's keys come in any order, and the names must be reported
 * in SERVER_SET_FIELDS order (as stripServerSetFields in src/core/message-schema.ts reports them).
 */
const SERVER_SET_FIELD_BITS: ReadonlyMap<string, number> = new Map(SERVER_SET_FIELDS.map((field, index) => [field, 1 << index]));

/** The names of the server-set fields a row had: SERVER_SET_FIELDS order, then context.library. A new array each time: callers may sort it. */
export function serverFieldNames(fieldBits: number, libraryInContext: boolean): string[] {
  const names: string[] = [];
  for (let index = 0; index < SERVER_SET_FIELDS.length; index++) if ((fieldBits & (1 << index)) !== 0) names.push(SERVER_SET_FIELDS[index]!);
  if (libraryInContext) names.push(SERVER_SET_CONTEXT_FIELD);
  return names;
}

/** `{ [without]: _, ...rest } = source`, or undefined when that leaves nothing. */
export function copyWithoutKey(source: Record<string, unknown>, without: string): Record<string, unknown> | undefined {
  let copy: Record<string, unknown> | undefined;
  for (const key of Object.keys(source)) if (key !== without) setOwn((copy ??= {}), key, source[key]);
  return copy;
}

/** `target[key] = value` as spreading does it: an own `__proto__` key of parsed JSON stays a key, not a prototype. */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, configurable: true, writable: true });
  else target[key] = value;
}

/** Marks a value the fast path cannot judge: the row goes through the schema. */
const UNSURE = Symbol('unsure');

/** An id field as the schema reads it: absent, its string, or UNSURE (wrong type, blank, inexact number). */
function acceptId(value: unknown): string | undefined | typeof UNSURE {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.trim() === '' ? UNSURE : value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return UNSURE;
}

function acceptObject(value: unknown): Record<string, unknown> | undefined | typeof UNSURE {
  if (value === undefined || value === null) return undefined;
  return isPlainObject(value) ? value : UNSURE;
}

function acceptOptionalText(value: unknown): string | undefined | typeof UNSURE {
  if (value === undefined || value === null) return undefined;
  return typeof value === 'string' ? value : UNSURE;
}

/** What acceptValidMessage accepted: the normalised message, and the server-set fields the row had (undefined when none). */
export interface AcceptedMessage {
  message: Record<string, unknown>;
  serverFields: string[] | undefined;
}

/**
 * The normalised message the schema would produce for `raw` (same keys, same order, same values), when every rule
 * of the schema is plainly met; undefined when in any doubt, so that only the schema ever rejects a row and words
 * why. Runs once per row: it reads the row's fields once and builds only the output object.
 *
 * A row with server-set fields (a Segment export's row) is judged as validateMessage judges the copy that
 * stripServerSetFields (src/core/message-schema.ts) makes of it, without making that copy: the server-set keys are
 * skipped while reading, originalTimestamp stands in for a missing timestamp under the same rule, and only a context
 * holding library is copied (library must not be sent, and the row must not be modified).
 */
export function acceptValidMessage(raw: unknown): AcceptedMessage | undefined {
  if (!isPlainObject(raw)) return undefined;
  const type = raw['type'];
  const allowed = typeof type === 'string' ? FIELDS_BY_TYPE[type] : undefined;
  if (allowed === undefined) return undefined;
  let serverFieldBits = 0;
  for (const key in raw) {
    if (allowed.has(key)) continue;
    const bit = SERVER_SET_FIELD_BITS.get(key);
    // An inherited key is one stripServerSetFields (which asks Object.hasOwn) would not name: left to that path.
    if (bit === undefined || !Object.hasOwn(raw, key)) return undefined;
    serverFieldBits |= bit;
  }

  const context = acceptObject(raw['context']);
  if (context === UNSURE) return undefined;
  const libraryInContext = context !== undefined && Object.hasOwn(context, 'library');
  const hasServerFields = serverFieldBits !== 0 || libraryInContext;

  const userId = acceptId(raw['userId']);
  const anonymousId = acceptId(raw['anonymousId']);
  const previousId = acceptId(raw['previousId']);
  const groupId = acceptId(raw['groupId']);
  if (userId === UNSURE || anonymousId === UNSURE || previousId === UNSURE || groupId === UNSURE) return undefined;
  if (type === 'alias' ? userId === undefined || previousId === undefined : userId === undefined && anonymousId === undefined) return undefined;
  if (type === 'group' && groupId === undefined) return undefined;

  const messageIdValue = raw['messageId'];
  let messageId: string | undefined;
  if (messageIdValue !== undefined && messageIdValue !== null) {
    if (typeof messageIdValue !== 'string' || messageIdValue.length < 1 || messageIdValue.length > SEGMENT_LIMITS.maxMessageIdLength)
      return undefined;
    messageId = messageIdValue;
  }

  let event: string | undefined;
  if (type === 'track') {
    const value = raw['event'];
    if (typeof value !== 'string' || value.trim() === '') return undefined;
    event = value;
  }
  const name = acceptOptionalText(raw['name']);
  const category = acceptOptionalText(raw['category']);
  if (name === UNSURE || category === UNSURE) return undefined;

  let timestampValue = raw['timestamp'];
  // stripServerSetFields' rule, read the same way: a row with a server-set field and no timestamp takes originalTimestamp.
  if (hasServerFields && (timestampValue === undefined || timestampValue === null)) {
    const original = raw['originalTimestamp'];
    if (original !== undefined && original !== null) timestampValue = original;
  }
  let timestamp: string | undefined;
  if (timestampValue !== undefined && timestampValue !== null) {
    if (typeof timestampValue !== 'string') return undefined;
    // Most exports already hold the canonical form, which parseTimestamp would return as it is.
    if (isCanonicalTimestamp(timestampValue)) timestamp = timestampValue;
    else {
      const parsed = parseTimestamp(timestampValue);
      if (!parsed.ok) return undefined;
      timestamp = parsed.iso;
    }
  }

  const properties = acceptObject(raw['properties']);
  const traits = acceptObject(raw['traits']);
  const integrations = acceptObject(raw['integrations']);
  if (properties === UNSURE || traits === UNSURE || integrations === UNSURE) return undefined;

  // OUTPUT_ORDER, spelled out: the same key order the schema path builds, so the same bytes are sent.
  const message: Record<string, unknown> = { type };
  if (messageId !== undefined) message['messageId'] = messageId;
  if (userId !== undefined) message['userId'] = userId;
  if (anonymousId !== undefined) message['anonymousId'] = anonymousId;
  if (previousId !== undefined) message['previousId'] = previousId;
  if (groupId !== undefined) message['groupId'] = groupId;
  if (event !== undefined) message['event'] = event;
  if (name !== undefined) message['name'] = name;
  if (category !== undefined) message['category'] = category;
  if (timestamp !== undefined) message['timestamp'] = timestamp;
  if (properties !== undefined) message['properties'] = properties;
  if (traits !== undefined) message['traits'] = traits;
  // Copied only now that the row is accepted; a context of nothing but library is left out, as stripServerSetFields leaves it out.
  const sentContext = libraryInContext ? copyWithoutKey(context!, 'library') : context;
  if (sentContext !== undefined) message['context'] = sentContext;
  if (integrations !== undefined) message['integrations'] = integrations;
  return { message, serverFields: hasServerFields ? serverFieldNames(serverFieldBits, libraryInContext) : undefined };
}
