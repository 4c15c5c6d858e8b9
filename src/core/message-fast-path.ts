/**
 * The fast path of row validation: a row whose every field plainly meets the schema in src/core/message-schema.ts is
 * accepted without running the zod schema and its intermediate objects (most rows of a real import are valid; the
 * per-row cost is in bench/README.md). Any doubt returns undefined and the row goes through the schema, which alone
 * rejects and words why; test/unit/message-schema.test.ts checks that both paths agree.
 */
import { SEGMENT_LIMITS } from '../shared/limits';
import { isCanonicalTimestamp, parseTimestamp } from './timestamp';

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * The fields each call type's strict schema (src/core/message-schema.ts) allows. No server-set field is among them:
 * validateMessage relies on that to skip looking for fields to strip in every row this path accepts.
 */
const COMMON_FIELDS = ['type', 'userId', 'anonymousId', 'messageId', 'timestamp', 'context', 'integrations'];
const FIELDS_BY_TYPE: Record<string, ReadonlySet<string>> = {
  track: new Set([...COMMON_FIELDS, 'event', 'properties']),
  identify: new Set([...COMMON_FIELDS, 'traits']),
  page: new Set([...COMMON_FIELDS, 'name', 'category', 'properties']),
  screen: new Set([...COMMON_FIELDS, 'name', 'category', 'properties']),
  group: new Set([...COMMON_FIELDS, 'groupId', 'traits']),
  alias: new Set([...COMMON_FIELDS, 'previousId']),
};

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

/**
 * The normalised message the schema would produce for `raw` (same keys, same order, same values), when every rule
 * of the schema is plainly met; undefined when in any doubt, so that only the schema ever rejects a row and words
 * why, and undefined for a row holding a server-set field (SERVER_SET_FIELDS or context.library), which validateMessage
 * strips before asking again. Runs once per row: it reads the row's fields once and builds only the output object.
 */
export function acceptValidMessage(raw: unknown): Record<string, unknown> | undefined {
  if (!isPlainObject(raw)) return undefined;
  const type = raw['type'];
  const allowed = typeof type === 'string' ? FIELDS_BY_TYPE[type] : undefined;
  if (allowed === undefined) return undefined;
  for (const key in raw) if (!allowed.has(key)) return undefined;
  // context.library is server-set too (an export's sending library): validateMessage must drop it and name it.
  const contextValue = raw['context'];
  if (isPlainObject(contextValue) && Object.hasOwn(contextValue, 'library')) return undefined;

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

  const timestampValue = raw['timestamp'];
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
  const context = acceptObject(contextValue);
  const integrations = acceptObject(raw['integrations']);
  if (properties === UNSURE || traits === UNSURE || context === UNSURE || integrations === UNSURE) return undefined;

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
  if (context !== undefined) message['context'] = context;
  if (integrations !== undefined) message['integrations'] = integrations;
  return message;
}
